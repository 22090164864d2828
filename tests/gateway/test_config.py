"""Config parsing: unknown keys named with their file, secrets only by env-var name, `sluice config check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gateway.config import load_config
from gateway.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data) -> Path:
    p = tmp_path / "sluice.yaml"
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data))
    return p


def dep(**kw):
    return {"provider": "openai", "model": "m", **kw}


def test_example_config_is_valid() -> None:
    cfg = load_config(ROOT / "examples" / "sluice.yaml")
    assert {g.name for g in cfg.models} >= {"smollm2", "mock", "minilm"}


@pytest.mark.parametrize(("data", "needle"), [
    ({"models": [{"name": "a", "deployments": [dep(weigth=2)]}]}, "models.0.deployments.0.weigth: unknown key 'weigth'"),
    ({"servre": {}}, "servre: unknown key 'servre'"),
    ({"models": [{"name": "a", "deployments": [dep(api_key="sk-123")]}]}, "api_key_env"),
    ({"models": [{"name": "a", "deployments": []}]}, "models.0.deployments"),
    ({"models": [{"name": "a", "deployments": [dep()], "fallbacks": ["b"]}]}, "unknown group 'b'"),
    ({"models": [{"name": "a", "deployments": [dep()]}, {"name": "a", "deployments": [dep()]}]}, "unique"),
    ({"models": [{"name": "rag:x", "deployments": [dep()]}]}, "reserved"),
    ({"models": [{"name": "a", "strategy": "fastest", "deployments": [dep()]}]}, "models.0.strategy"),
    ({"server": {"port": "eighty"}}, "server.port"),
    ("[1, 2", "not valid YAML"),
    ("- a\n- b\n", "top level must be a mapping"),
])
def test_invalid_configs_name_the_file_and_the_key(tmp_path: Path, data, needle: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(path) in str(exc.value)
    assert needle in str(exc.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.yaml")


def _sluice(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gateway.cli", *args], capture_output=True, text=True, cwd=ROOT, check=False)


def test_config_check_cli_exit_codes(tmp_path: Path) -> None:
    ok = _sluice("config", "check", str(ROOT / "examples" / "sluice.yaml"))
    assert ok.returncode == 0 and "OK" in ok.stdout
    bad = _sluice("config", "check", str(write(tmp_path, {"models": [{"name": "a", "deployments": [dep(x=1)]}]})))
    assert bad.returncode == 2 and "unknown key 'x'" in bad.stderr
    unknown = _sluice("config", "check", str(write(tmp_path, {"models": [{"name": "a", "deployments": [
        {"provider": "nosuch", "model": "m"}]}]})))
    assert unknown.returncode == 2 and "unknown provider 'nosuch'" in unknown.stderr


def test_models_command_lists_routes() -> None:
    out = _sluice("models", "--config", str(ROOT / "examples" / "sluice.yaml"))
    assert out.returncode == 0 and "smollm2" in out.stdout and "llamacpp" in out.stdout


def test_azure_provider_builds_deployment_urls_and_api_key_header(monkeypatch) -> None:
    from gateway.config import Deployment
    from gateway.providers.openai_compat import AzureOpenAIProvider

    monkeypatch.setenv("SLUICE_TEST_AZURE", "az-key")
    p = AzureOpenAIProvider(Deployment(provider="azure", model="gpt4o-prod", api_base="https://x.openai.azure.com/",
                                       api_key_env="SLUICE_TEST_AZURE", api_version="2024-10-21"))
    assert p.chat_url == "https://x.openai.azure.com/openai/deployments/gpt4o-prod/chat/completions?api-version=2024-10-21"
    assert p.headers["api-key"] == "az-key" and "authorization" not in p.headers

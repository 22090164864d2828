"""The compose file and the Dockerfile, checked statically (no Docker engine runs here)."""

from __future__ import annotations

import re
import shlex

import yaml

from gateway.config import parse_config

from .conftest import DEPLOY, ROOT, load_yaml

PINNED_TAG = re.compile(r"^[\w./-]+:v?\d+\.\d+(\.\d+)?[\w.-]*(@sha256:[0-9a-f]{64})?$")


def _compose():
    return load_yaml(DEPLOY / "docker-compose.yml")


def _drain(path) -> float:
    return parse_config(load_yaml(path)).server.drain_timeout_s


def _seconds(text: str) -> float:
    m = re.fullmatch(r"(\d+)(s|m)", text)
    assert m, text
    return int(m.group(1)) * (60 if m.group(2) == "m" else 1)


def test_compose_has_the_whole_stack_with_pinned_images() -> None:
    services = _compose()["services"]
    gateways = [n for n, s in services.items() if s.get("build", {}).get("dockerfile") == "deploy/Dockerfile"
                and "mock-upstream" not in (s.get("command") or [])]
    assert len(gateways) >= 2
    for needed in ("redis", "postgres", "chroma", "otel-collector", "prometheus", "grafana"):
        assert needed in services
    for name, svc in services.items():
        image = svc["image"]
        assert PINNED_TAG.match(image) and not image.endswith(":latest"), f"{name}: unpinned image {image}"


def test_compose_secrets_come_from_the_environment() -> None:
    for name, svc in _compose()["services"].items():
        for var, value in (svc.get("environment") or {}).items():
            if re.search(r"(?i)PASSWORD|SECRET|MASTER_KEY|API_KEY", var):
                assert isinstance(value, str) and value.startswith("${"), f"{name}.{var} is inlined"
            if var == "SLUICE_DATABASE_URL":
                assert "${POSTGRES_PASSWORD" in value


def test_compose_grace_period_and_health_agree_with_the_gateway() -> None:
    drain = _drain(DEPLOY / "sluice.yaml")
    services = _compose()["services"]
    for name in ("gateway-1", "gateway-2"):
        svc = services[name]
        assert _seconds(svc["stop_grace_period"]) >= drain + 5
        assert "/readyz" in " ".join(svc["healthcheck"]["test"])
        assert any(v.startswith("./sluice.yaml:") for v in svc["volumes"])


def test_compose_mounts_exist_and_configs_are_consistent() -> None:
    for name, svc in _compose()["services"].items():
        for vol in svc.get("volumes") or []:
            src = vol.split(":")[0]
            if src.startswith("./"):
                assert (DEPLOY / src).exists(), f"{name} mounts missing {src}"
    cfg = parse_config(load_yaml(DEPLOY / "sluice.yaml"))
    assert cfg.telemetry.exporter == "otlp" and "otel-collector:4318" in (cfg.telemetry.otlp_endpoint or "")
    prom = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    targets = {t for job in prom["scrape_configs"] if job["job_name"] == "sluicegate"
               for sc in job["static_configs"] for t in sc["targets"]}
    port = cfg.server.metrics.port  # /metrics on a listener of its own, not published by compose
    assert port and port != cfg.server.port and cfg.server.metrics.host == "0.0.0.0"
    assert targets == {f"gateway-1:{port}", f"gateway-2:{port}"}
    assert not [p for svc in _compose()["services"].values() for p in svc.get("ports") or [] if str(port) in str(p)]
    nginx = (DEPLOY / "compose" / "nginx.conf").read_text()
    assert "server gateway-1:4000" in nginx and "server gateway-2:4000" in nginx


# --- Dockerfile ---------------------------------------------------------------------------------

def _instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text().replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            op, _, rest = line.partition(" ")
            out.append((op.upper(), rest.strip()))
    return out


def test_dockerfile_is_multistage_and_pinned() -> None:
    ins = _instructions()
    args = dict(a.split("=", 1) for op, a in ins if op == "ARG" and "=" in a)
    base = args["PYTHON_IMAGE"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", base), base
    froms = [a for op, a in ins if op == "FROM"]
    assert len(froms) >= 2 and all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    runs = " ".join(a for op, a in ins if op == "RUN")
    # the bootstrap is hash-pinned like the rest: no bare `pip install uv==X`
    assert "pip install --require-hashes -r requirements-bootstrap.txt" in runs
    assert not re.search(r"pip install uv==", runs)
    assert "--require-hashes requirements.lock" in runs
    assert "--require-hashes -r requirements-nodeps.lock" in runs
    assert any("--from=build" in a for op, a in ins if op == "COPY")


def test_dockerfile_runs_as_non_root_with_a_healthcheck() -> None:
    ins = _instructions()
    users = [a for op, a in ins if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    last_user = max(i for i, (op, _) in enumerate(ins) if op == "USER")
    assert last_user > max(i for i, (op, _) in enumerate(ins) if op == "FROM")  # set in the final stage
    health = [a for op, a in ins if op == "HEALTHCHECK"]
    assert len(health) == 1 and "/healthz" in health[0]
    port = int(next(a for op, a in ins if op == "EXPOSE"))
    assert f"127.0.0.1:{port}/healthz" in health[0]
    assert ("STOPSIGNAL", "SIGTERM") in ins
    cmd = " ".join(a for op, a in ins if op in ("ENTRYPOINT", "CMD"))
    assert "serve" in cmd and str(port) in cmd


def test_dockerfile_copies_only_files_that_exist() -> None:
    for op, args in _instructions():
        if op == "COPY" and "--from=" not in args:
            *sources, _dest = shlex.split(args)
            for src in sources:
                assert (ROOT / src).exists(), f"COPY {src}: not in the repository"


def test_dockerfile_copies_every_distributed_package_and_no_tools() -> None:
    """The image runs the packages from source: each one pyproject distributes (packages.find) is
    copied, and the training code under tools/ (outside the wheel) is not."""
    import tomllib

    find = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]
    packages = {pattern.rstrip("*").rstrip(".") for pattern in find["include"]}
    copied = {shlex.split(a)[0] for op, a in _instructions() if op == "COPY" and "--from=" not in a}
    assert packages <= copied, f"packages not copied into the image: {sorted(packages - copied)}"
    assert not any(src == "tools" or src.startswith("tools/") for src in copied)


def test_dockerignore_keeps_secrets_and_state_out_of_the_context() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().split()
    for pattern in ("**/.env", "**/.venv", ".git", "**/*.db"):
        assert pattern in ignore
    baked = yaml.safe_load((DEPLOY / "sluice.yaml").read_text())
    assert "api_key" not in str(baked).replace("api_key_env", "")


def test_dockerfile_apt_packages_are_pinned() -> None:
    for op, args in _instructions():
        if op == "RUN" and "apt-get install" in args:
            packages = [w for w in args.split("apt-get install", 1)[1].split("&&")[0].split()
                        if not w.startswith("-")]
            assert packages and all("=" in p for p in packages), packages


def test_replicas_share_state_through_the_services() -> None:
    """Several replicas only agree if the cache lives in Redis and the semantic index in Chroma."""
    for path, chroma in ((DEPLOY / "sluice.yaml", "chroma"),
                         (DEPLOY / "k8s" / "config" / "sluice.yaml", "chroma.sluicegate.svc")):
        cfg = parse_config(load_yaml(path))
        assert cfg.cache.enabled and cfg.cache.backend == "redis", path
        assert cfg.cache.semantic.index == "chroma" and cfg.cache.semantic.chroma_host == chroma, path


def test_replicas_share_counters_and_ledger() -> None:
    for path in (DEPLOY / "sluice.yaml", DEPLOY / "k8s" / "config" / "sluice.yaml"):
        cfg = parse_config(load_yaml(path))
        assert cfg.auth.counters.backend == "redis", path  # limits hold across replicas
        assert cfg.spend.ledger.backend == "postgres", path  # one ledger
        assert cfg.spend.ledger.spool_dir.startswith("/var/lib/sluice/"), path  # the writable volume

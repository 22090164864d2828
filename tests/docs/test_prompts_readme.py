"""prompts/README.md as a test.

Convention (shared by tests/docs/test_*_readme.py, extending the root README's ```bash test):
a fenced block whose info string is `LANG test id=NAME [file=PATH] [background]` is an example
that runs here, in README order, in a temporary copy of examples/ (tests/docs/readme.py):
bash blocks run as one terminal session (exported variables carry over) with this venv's `sluice`
first on PATH; python blocks run with this venv's python; a block with file=PATH is written there
first (YAML is then loaded by the real config/suite/prompt models, so a wrong key fails); a
`background` block is `sluice serve ...`, kept running on a free port that replaces 127.0.0.1:4000 in
every block. Each block has a check below (CHECKS, same order), and a runnable block without the
mark fails the test. `<!-- fields: module:name -->` before a table: the table lists exactly that
object's fields, with the code's defaults.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.docs.readme import (
    ROOT,
    Result,
    Session,
    check_field_tables,
    read_json_docs,
    undocumented_options,
    unmarked_examples,
    walk,
)

README = ROOT / "prompts" / "README.md"


def _hash12(ws: Path, name: str, version: int) -> str:
    from prompts import PromptRegistry

    return PromptRegistry(ws / "examples" / "prompts").get(name, version).content_hash()[7:19]


def _prompt_file(r: Result, s: Session) -> None:
    from prompts import render
    from prompts.model import PromptSpec
    from prompts.registry import load_prompt_file

    spec = load_prompt_file(s.ws / "demo/prompts/welcome/v1.yaml")
    shown = set(yaml.safe_load(r.out))
    assert shown == set(PromptSpec.model_fields) - {"tools"}, "the example shows every field but tools"
    out = render(spec, {"name": "Ada", "team": "ml"})
    assert out.messages[-1]["content"] == "Welcome Ada to the ML team."
    assert out.parameters["response_format"] == {"type": "json_object"} and out.model == "mock"


def _inspect(r: Result, s: Session) -> None:
    h1, h2 = _hash12(s.ws, "support-answer", 1), _hash12(s.ws, "support-answer", 2)
    assert re.search(r"support-answer\s*│\s*v1 v2", r.out) and "extract-order" in r.out
    assert f"# support-answer@1  sha256:{h1}" in r.out
    assert f"content hash: {h1} -> {h2}" in r.out
    assert '"content": "Where is order B-12345?"' in r.out and '"max_tokens": 12' in r.out


def _gate(r: Result, s: Session) -> None:
    from prompts import PromptRegistry, attestations_for

    assert r.out.count("refused: exit 1") == 2
    assert "has no valid eval attestation" in r.err and "FAIL refund-window" in r.err
    assert "pass_rate = 0  (needs >= 0.5)" in r.err and "To fix" in r.err  # readable, and says how
    assert "support-answer: production - -> 1" in r.out
    assert "eval pass" in r.out and "eval fail" in r.out  # history lists both runs
    reg = PromptRegistry(s.ws / "examples" / "prompts")
    assert reg.labels("support-answer") == {"production": 1}
    atts = attestations_for(reg, "support-answer")
    assert [(a.version, a.passed, a.mode, a.suite_file) for a in atts] == [
        (1, True, "replay", "support-answer.yaml"), (2, False, "replay", "support-answer.yaml")]


def _force_rollback(r: Result, s: Session) -> None:
    assert "FORCED (no passing attestation)" in r.out
    assert "support-answer: production v2 -> v1 (rollback)" in r.out
    moves = [json.loads(line) for line in r.out.splitlines() if line.startswith("{")]
    assert [(m["kind"], m["from"], m["to"]) for m in moves] == [("promote", None, 1), ("force", 1, 2), ("rollback", 2, 1)]
    assert moves[1]["actor"] == "alice" and moves[1]["reason"] == "incident 42: v1 times out"
    assert moves[0]["attestation_id"] and moves[1]["attestation_id"] is None


def _integrity(r: Result, s: Session) -> None:
    assert re.search(r"support-answer\s*│\s*v1\s*│\s*production\s*│\s*edited", r.out), r.out
    assert "drift: exit 1" in r.out
    assert "history verifies" in r.out, r.out + r.err


def _unreleased(r: Result, s: Session) -> None:
    (refused,) = read_json_docs(r.out)
    assert refused["error"]["code"] == "prompt_not_released"


def _config(r: Result, s: Session) -> None:
    from gateway.config import load_config

    cfg = load_config(s.ws / "demo" / "sluice.yaml")
    assert cfg.prompts.enabled and cfg.prompts.registry_dir == "prompts"
    assert cfg.group("mock") is not None and cfg.group("mock").deployments[0].provider == "mock"


def _suite(r: Result, s: Session) -> None:
    from evals.runner import check_suite
    from evals.suite import load_suite
    from evals.targets import TargetPlan

    suite = load_suite(s.ws / "demo" / "evals" / "welcome.yaml")
    check_suite(suite)
    assert TargetPlan(suite).info.ref == "welcome@1"


def _env(r: Result, s: Session) -> None:
    assert "SLUICE_MASTER_KEY=" in s.envfile.read_text()


def _serve(r: Result, s: Session) -> None:
    assert s.server is not None and s.server.poll() is None


def _requests(r: Result, s: Session) -> None:
    head, _, rest = r.out.partition("\n\n")  # curl -i: headers, a blank line, the body
    assert re.search(r"^x-sluice-prompt: welcome@1$", head, re.MULTILINE | re.IGNORECASE), head
    first, second, refused = read_json_docs(rest)
    assert "reply" in json.loads(first["choices"][0]["message"]["content"])
    assert second["object"] == "chat.completion" and second["choices"][0]["message"]["content"]
    assert refused["error"]["code"] == "prompt_label_not_found" and "production" in refused["error"]["message"]


def _promote_live(r: Result, s: Session) -> None:
    assert re.search(r"attestation \w+ recorded: pass", r.out) and "welcome: production - -> 1" in r.out
    start = next(i for i, line in enumerate(r.out.splitlines()) if line.startswith("{"))
    answer, history = read_json_docs("\n".join(r.out.splitlines()[start:]))
    assert "reply" in json.loads(answer["choices"][0]["message"]["content"])
    assert [m["to"] for m in history["label_moves"]] == [1]
    (att,) = history["attestations"]
    assert att["mode"] == "live" and att["passed"] and att["suite_file"] == "welcome.yaml"


def _python(r: Result, s: Session) -> None:
    lines = r.out.splitlines()
    assert lines[0].startswith("welcome@1 sha256:") and lines[0].endswith("{'production': 1}"), lines
    assert lines[1] == "mock 0 Welcome Ada to the ML team."
    assert lines[2] == "welcome.yaml True 1.0"
    assert lines[3] == "welcome@1"
    assert lines[4].startswith("refused:") and "team" in lines[4]


CHECKS = {"prompt-file": _prompt_file, "inspect": _inspect, "gate": _gate, "force-rollback": _force_rollback,
          "integrity": _integrity, "config": _config, "suite": _suite, "env": _env, "serve": _serve,
          "unreleased": _unreleased, "promote-live": _promote_live, "requests": _requests, "python": _python}


@pytest.mark.slow
def test_readme_examples_run(tmp_path: Path) -> None:
    session = Session(tmp_path)
    try:
        walk(session, README, CHECKS)
    finally:
        session.close()


def test_every_example_is_marked() -> None:
    assert unmarked_examples(README) == []


def test_field_tables_match_the_code() -> None:
    check_field_tables(README, ["prompts.model:PromptSpec", "prompts.model:Message", "prompts.config:PromptsConfig",
                                "prompts.config:LabelPolicy",
                                "prompts.attestations:Attestation", "gateway.integrations.prompts:PromptField"])


def test_label_journal_keys_are_documented() -> None:
    from prompts import LabelMove

    record = LabelMove("p", "production", None, 1, "me", "", 0.0, "promote", "sha256:x").to_record()
    table = README.read_text(encoding="utf-8").split("Each line of `labels.jsonl` is one move:")[1].split("\n\n")[1]
    assert [k for k in record if f"`{k}`" not in table] == []


def test_cli_options_and_commands_are_documented() -> None:
    from gateway.cli.prompts import app as composed
    from prompts.cli import app as leaf

    assert undocumented_options(README, composed) == []
    assert undocumented_options(README, leaf) == []
    text = README.read_text(encoding="utf-8")
    for command in ("list", "show", "diff", "render", "history", "status", "verify", "promote", "rollback"):
        assert f"| `{command}" in text, command


def test_gateway_error_codes_are_documented() -> None:
    source = (ROOT / "gateway" / "integrations" / "prompts.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'code="(\w+)"', source))
    assert codes and [c for c in sorted(codes) if f"`{c}`" not in README.read_text(encoding="utf-8")] == []

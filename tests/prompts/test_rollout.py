import os

import pytest

from gateway.context import RequestContext
from gateway.integrations.prompts import PromptHook
from prompts import PromotionRefused, PromptError, PromptRegistry, promote
from prompts import rollout as ro_mod
from prompts.config import PromptsConfig
from tests.prompts.helpers import guard_suite, write_prompt
from tests.prompts.test_gate import attest


@pytest.fixture
def reg(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_ATTEST_KEY", "k" * 40)
    suite = guard_suite(tmp_path)
    for v in (1, 2):
        write_prompt(tmp_path, "qa", v, system=f"System v{v}", suite=suite)
    r = PromptRegistry(tmp_path)
    attest(r, "qa", 1, True)
    promote(r, "qa", 1, "production", actor="ann")
    return r


def test_start_refused_without_attestation(reg):
    with pytest.raises(PromotionRefused, match="no valid eval attestation"):
        ro_mod.start(reg, "qa", 2, percent=10, actor="ann")
    assert ro_mod.active(reg, "qa", "production") is None


def test_bad_percent_and_second_rollout_refused(reg):
    attest(reg, "qa", 2, True)
    for bad in (0, 101, 5.5):
        with pytest.raises(PromptError, match="percent"):
            ro_mod.start(reg, "qa", 2, percent=bad, actor="ann")
    ro_mod.start(reg, "qa", 2, percent=10, actor="ann")
    with pytest.raises(PromptError, match="already has an active rollout"):
        ro_mod.start(reg, "qa", 2, percent=20, actor="ann")


def test_sticky_share_monotone_abort_and_promote(reg, tmp_path):
    attest(reg, "qa", 2, True)
    ro = ro_mod.start(reg, "qa", 2, percent=25, actor="ann")
    other = PromptRegistry(tmp_path)  # a second process on the same state dir
    units = [f"u{i}" for i in range(20000)]
    first = {u: reg.serve("qa", "production", unit=u).variant for u in units[:300]}
    assert first == {u: other.serve("qa", "production", unit=u).variant for u in units[:300]}
    share = sum(ro_mod.assign(ro, u) == "candidate" for u in units) / len(units)
    assert abs(share - 0.25) < 0.02
    before = {u for u in units if ro_mod.assign(ro, u) == "candidate"}
    ro = ro_mod.step(reg, "qa", percent=60, actor="ann")
    after = {u for u in units if ro_mod.assign(ro, u) == "candidate"}
    assert before < after and abs(len(after) / len(units) - 0.6) < 0.02
    cand = next(u for u in units if u in before)
    assert reg.serve("qa", unit=cand).spec.version == 2 and reg.serve("qa", unit=cand).header == "qa@2; candidate"
    assert reg.serve("qa").variant is None and reg.serve("qa").spec.version == 1
    ro_mod.abort(reg, "qa", actor="ann")
    assert {other.serve("qa", unit=u).spec.version for u in units[:300]} == {1}
    ro_mod.start(reg, "qa", 2, percent=5, actor="ann")
    move = ro_mod.promote(reg, "qa", actor="ann")
    assert move.to_version == 2 and reg.labels("qa") == {"production": 2}
    assert ro_mod.active(reg, "qa", "production") is None
    assert reg.serve("qa", unit=cand).variant is None


def test_content_edited_after_start_is_not_served(reg, tmp_path):
    attest(reg, "qa", 2, True)
    ro_mod.start(reg, "qa", 2, percent=100, actor="ann")
    write_prompt(tmp_path, "qa", 2, system="EDITED", suite="../guard.yaml")
    os.utime(tmp_path / "qa" / "v2.yaml", ns=(5, 5))
    served = PromptRegistry(tmp_path).serve("qa", unit="anyone").spec
    assert served.messages[0].content == "System v2"


async def test_prompt_hook_marks_candidate_header(reg, tmp_path):
    attest(reg, "qa", 2, True)
    ro_mod.start(reg, "qa", 2, percent=100, actor="ann")
    ctx = RequestContext(request_id="r1", route="chat.completions",
                         body={"model": "prompt:qa@production", "variables": {"question": "hi"}},
                         headers={"x-sluice-session": "s1"}, started_mono=0.0, started_wall=0.0)
    await PromptHook(PromptRegistry(tmp_path), PromptsConfig()).before(ctx)
    assert ctx.response_headers["x-sluice-prompt"] == "qa@2; candidate" and ctx.prompt_variant == "candidate"


def test_cli_round_trip(reg, tmp_path):
    from typer.testing import CliRunner

    from prompts.cli import app

    attest(reg, "qa", 2, True)
    run = CliRunner().invoke
    base = ["--registry", str(tmp_path), "rollout"]
    r = run(app, [*base, "start", "qa", "--candidate", "2", "--percent", "10"])
    assert r.exit_code == 0, r.output
    assert run(app, [*base, "step", "qa", "--percent", "0"]).exit_code == 2
    assert run(app, [*base, "step", "qa", "--percent", "40"]).exit_code == 0
    r = run(app, [*base, "status", "qa"])
    assert "baseline v1, candidate v2, 40%, active" in r.output and "rollout_step" in r.output
    assert run(app, [*base, "promote", "qa"]).exit_code == 0
    assert PromptRegistry(tmp_path).labels("qa") == {"production": 2}
    assert run(app, [*base, "abort", "qa"]).exit_code == 2

import pytest

from prompts import (
    Attestation,
    PromotionRefused,
    PromptError,
    PromptRegistry,
    promote,
    record_attestation,
    rollback,
)
from tests.prompts.helpers import binding, guard_suite, write_prompt


def attest(reg, name, version, passed, t=10.0):
    spec = reg.get(name, version)
    return record_attestation(reg, Attestation(
        prompt=name, version=version, content_hash=spec.content_hash(), suite="s", **binding(reg),
        passed=passed, scores={"pass_rate": 1.0 if passed else 0.5}, thresholds={"pass_rate": {"min": 0.9}},
        failures=[] if passed else [{"case": "c1", "reasons": ["icontains: missing ['30']"]}], time=t))


@pytest.fixture
def reg(tmp_path):
    suite = guard_suite(tmp_path)
    for v in (1, 2, 3):
        write_prompt(tmp_path, "qa", v, system=f"System v{v}", suite=suite)
    clock = iter(range(100, 200))
    return PromptRegistry(tmp_path, now=lambda: float(next(clock)))


def test_promote_refused_without_attestation(reg):
    with pytest.raises(PromotionRefused, match="no valid eval attestation"):
        promote(reg, "qa", 1, "production", actor="ann")
    assert reg.labels("qa") == {}


def test_promote_refused_when_latest_attestation_failed(reg):
    attest(reg, "qa", 2, True)
    attest(reg, "qa", 2, False)
    with pytest.raises(PromotionRefused) as e:
        promote(reg, "qa", 2, "production", actor="ann")
    assert e.value.details["attestation"].failures[0]["case"] == "c1"


def test_promote_with_passing_attestation_records_who_when_why(reg):
    att = attest(reg, "qa", 1, True)
    move = promote(reg, "qa", 1, "production", actor="ann", reason="first release")
    assert (move.from_version, move.to_version, move.kind, move.attestation_id) == (None, 1, "promote", att.id)
    assert move.actor == "ann" and move.reason == "first release" and move.time == 100.0
    assert reg.labels("qa") == {"production": 1}


def test_editing_prompt_invalidates_attestation(reg, tmp_path):
    attest(reg, "qa", 1, True)
    write_prompt(tmp_path, "qa", 1, system="System v1, edited", suite="../guard.yaml")
    import os
    os.utime(tmp_path / "qa" / "v1.yaml", ns=(5, 5))
    with pytest.raises(PromotionRefused, match="no valid eval attestation"):
        promote(reg, "qa", 1, "production", actor="ann")


def test_force_needs_reason_and_is_recorded(reg):
    with pytest.raises(PromptError, match="--force needs --reason"):
        promote(reg, "qa", 3, "production", actor="ann", force=True)
    move = promote(reg, "qa", 3, "production", actor="ann", force=True, reason="hotfix, suite flaky")
    assert move.kind == "force" and move.attestation_id is None
    recorded = reg.label_moves("qa")[-1]
    assert recorded.kind == "force" and recorded.reason == "hotfix, suite flaky"


def test_rollback_walks_back_the_stack(reg):
    for v in (1, 2, 3):
        attest(reg, "qa", v, True)
    promote(reg, "qa", 1, "production", actor="a")
    promote(reg, "qa", 2, "production", actor="a")
    promote(reg, "qa", 3, "production", actor="a")
    m = rollback(reg, "qa", "production", actor="b", reason="bad answers")
    assert (m.from_version, m.to_version, m.kind) == (3, 2, "rollback")
    assert reg.labels("qa")["production"] == 2
    rollback(reg, "qa", "production", actor="b")
    assert reg.labels("qa")["production"] == 1
    with pytest.raises(PromptError, match="no earlier version"):
        rollback(reg, "qa", "production", actor="b")
    with pytest.raises(PromptError, match="no label 'staging'"):
        rollback(reg, "qa", "staging", actor="b")


def test_only_the_guarding_suite_counts(tmp_path):
    import hashlib

    write_prompt(tmp_path / "reg", "g", 1, suite="../../suites/guard.yaml")
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "guard.yaml").write_text("name: guard\n")
    guard_hash = "sha256:" + hashlib.sha256(b"name: guard\n").hexdigest()
    reg = PromptRegistry(tmp_path / "reg")
    spec = reg.get("g", 1)

    def att(suite_path, suite_hash=guard_hash):
        return Attestation(prompt="g", version=1, content_hash=spec.content_hash(), suite="x",
                           suite_file=suite_path.rsplit("/", 1)[-1], suite_path=suite_path, suite_hash=suite_hash,
                           dataset_hash="sha256:d", passed=True, time=1.0)
    record_attestation(reg, att("../elsewhere/guard.yaml"))  # same file name, another suite
    with pytest.raises(PromotionRefused, match="from its suite ../../suites/guard.yaml.*another suite file"):
        promote(reg, "g", 1, "production", actor="a")
    record_attestation(reg, att("../suites/guard.yaml", "sha256:" + "0" * 64))  # the suite, before an edit
    with pytest.raises(PromotionRefused, match="earlier version of its suite"):
        promote(reg, "g", 1, "production", actor="a")
    record_attestation(reg, att("../suites/guard.yaml"))
    assert promote(reg, "g", 1, "production", actor="a").kind == "promote"

"""Issue 16 regressions at the registry: releases serve snapshots, history is chained and signed,
the gate binds a run to its suite, dataset and cassette, and rollback launders nothing."""

from __future__ import annotations

import hashlib
import json
import os
import shutil

import orjson
import pytest

from prompts import (
    Attestation,
    InvalidName,
    LabelPolicy,
    NotReleased,
    PromotionRefused,
    PromptRegistry,
    Signer,
    attestations_for,
    promote,
    record_attestation,
    rollback,
    verify,
)
from tests.prompts.helpers import binding, guard_suite, write_prompt


def attest(reg, name, version, passed=True, *, mode="live", cassette=None, **extra):
    spec = reg.get(name, version)
    return record_attestation(reg, Attestation(
        prompt=name, version=version, content_hash=spec.content_hash(), suite="s", **binding(reg),
        passed=passed, scores={"pass_rate": 1.0 if passed else 0.2}, thresholds={"pass_rate": {"min": 0.9}},
        mode=mode, cassette_hash=cassette, time=10.0, **extra))


@pytest.fixture
def reg(tmp_path):
    suite = guard_suite(tmp_path)
    for v in (1, 2):
        write_prompt(tmp_path, "qa", v, system=f"System v{v}", suite=suite)
    clock = iter(range(100, 10_000))
    return PromptRegistry(tmp_path, now=lambda: float(next(clock)))


def _edit(path, old, new):
    path.write_text(path.read_text().replace(old, new))
    os.utime(path, ns=(7, 7))  # a new mtime even within the filesystem's timestamp granularity


def test_editing_a_promoted_file_does_not_change_what_the_label_serves(reg, tmp_path):
    attest(reg, "qa", 1)
    promote(reg, "qa", 1, "production", actor="ann")
    _edit(tmp_path / "qa" / "v1.yaml", "System v1", "System v1 EDITED")
    served = reg.serve("qa", "production")
    assert served.spec.messages[0].content == "System v1" and served.header == "qa@1"
    assert reg.serve("qa", 1).spec.messages[0].content == "System v1"  # a pin serves the snapshot too
    (drift,) = reg.status()
    assert (drift["prompt"], drift["version"], drift["label"], drift["state"]) == ("qa", 1, "production", "edited")


def test_a_prompt_with_no_release_is_not_served(reg):
    with pytest.raises(NotReleased, match="no released version"):
        reg.serve("qa")
    with pytest.raises(NotReleased, match="never released"):
        reg.serve("qa", 2)
    assert reg.serve("qa", None, unreleased=True).spec.version == 2  # the development switch


def test_a_hand_appended_label_move_is_refused_and_the_verified_state_serves(reg, tmp_path):
    attest(reg, "qa", 1)
    promote(reg, "qa", 1, "production", actor="ann")
    journal = tmp_path / ".sluice" / "labels.jsonl"
    last = orjson.loads(journal.read_bytes().splitlines()[-1])
    forged = {**last, "from": 1, "to": 2, "kind": "promote"}  # an "ordinary promote" by hand
    with journal.open("ab") as f:
        f.write(orjson.dumps(forged) + b"\n")
    fresh = PromptRegistry(tmp_path)
    assert fresh.labels("qa") == {"production": 1} and fresh.serve("qa").spec.version == 1
    assert "line 2" in fresh.problems()[0]
    with pytest.raises(PromotionRefused, match="does not verify"):
        promote(fresh, "qa", 1, "staging", actor="ann")


def test_a_hand_appended_move_with_a_correct_chain_hash_still_needs_the_key(reg, tmp_path):
    from prompts.journal import record_hash

    attest(reg, "qa", 1)
    promote(reg, "qa", 1, "production", actor="ann")
    journal = tmp_path / ".sluice" / "labels.jsonl"
    last = orjson.loads(journal.read_bytes().splitlines()[-1])
    forged = {k: v for k, v in last.items() if k not in ("sig", "key_id")}
    forged.update({"to": 2, "from": 1, "prev": last["hash"]})
    forged["hash"] = record_hash(forged)
    with journal.open("ab") as f:
        f.write(orjson.dumps(forged) + b"\n")
    fresh = PromptRegistry(tmp_path)
    assert fresh.labels("qa") == {"production": 1} and "not signed" in fresh.problems()[0]


def test_a_forged_passing_attestation_is_not_accepted(reg, tmp_path):
    line = {"type": "attestation", "id": "f0f0f0f0f0f0", "prompt": "qa", "version": 2,
            "content_hash": reg.get("qa", 2).content_hash(), "suite": "s", "dataset_hash": "sha256:d",
            "passed": True, "time": 1.0}
    path = tmp_path / ".sluice" / "attestations.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps(line) + b"\n")
    with pytest.raises(PromotionRefused):
        promote(PromptRegistry(tmp_path), "qa", 2, "production", actor="mallory")
    assert verify(PromptRegistry(tmp_path))


def test_flipping_passed_in_place_is_detected(reg, tmp_path):
    attest(reg, "qa", 2, passed=False)
    path = tmp_path / ".sluice" / "attestations.jsonl"
    path.write_bytes(path.read_bytes().replace(b'"passed":false', b'"passed":true'))
    fresh = PromptRegistry(tmp_path)
    with pytest.raises(PromotionRefused, match="does not match its hash"):
        promote(fresh, "qa", 2, "production", actor="mallory")


def test_an_attestation_signed_with_another_key_does_not_count(reg, tmp_path):
    other = PromptRegistry(tmp_path, signer=Signer("someone-elses-key-0123456789"))
    attest(other, "qa", 1)
    with pytest.raises(PromotionRefused, match="another key"):
        promote(PromptRegistry(tmp_path), "qa", 1, "production", actor="ann")


def test_without_the_key_no_label_moves(reg, monkeypatch, tmp_path):
    attest(reg, "qa", 1)
    monkeypatch.delenv("SLUICE_ATTEST_KEY")
    keyless = PromptRegistry(tmp_path)
    with pytest.raises(PromotionRefused, match="SLUICE_ATTEST_KEY"):
        promote(keyless, "qa", 1, "production", actor="ann")
    with pytest.raises(PromotionRefused, match="SLUICE_ATTEST_KEY"):
        promote(keyless, "qa", 1, "production", actor="ann", force=True, reason="no key")


def test_a_replay_counts_only_for_a_cassette_a_signed_recording_wrote(reg):
    recorded, tampered = "sha256:" + "a" * 64, "sha256:" + "b" * 64
    attest(reg, "qa", 1, mode="replay", cassette=tampered)
    with pytest.raises(PromotionRefused, match="not written by a signed recording run"):
        promote(reg, "qa", 1, "production", actor="ann")
    attest(reg, "qa", 1, passed=False, mode="record", cassette=recorded)  # the live run failed...
    attest(reg, "qa", 1, mode="replay", cassette=recorded)  # ...its faithful replay cannot pass then,
    assert promote(reg, "qa", 1, "production", actor="ann").kind == "promote"  # but a replay of it counts
    with pytest.raises(PromotionRefused, match="accepts live runs only"):
        promote(reg, "qa", 1, "canary", actor="ann", policy=LabelPolicy(evidence="live"))


def test_the_dataset_the_suite_reads_now_is_the_one_that_counts(tmp_path):
    write_prompt(tmp_path / "reg", "g", 1, suite="../../suites/g.yaml")
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "g.yaml").write_text("name: g\n")
    suite_hash = "sha256:" + hashlib.sha256(b"name: g\n").hexdigest()
    reg = PromptRegistry(tmp_path / "reg")
    record_attestation(reg, Attestation(
        prompt="g", version=1, content_hash=reg.get("g", 1).content_hash(), suite="g", suite_file="g.yaml",
        suite_path="../suites/g.yaml", suite_hash=suite_hash, dataset_hash="sha256:old", passed=True, time=1.0))
    with pytest.raises(PromotionRefused, match="earlier version of its suite or dataset"):
        promote(reg, "g", 1, "production", actor="a", fingerprint=lambda p: (suite_hash, "sha256:new"))
    assert promote(reg, "g", 1, "production", actor="a", fingerprint=lambda p: (suite_hash, "sha256:old"))


def test_rollback_cannot_launder_a_forced_version(reg):
    attest(reg, "qa", 1)
    promote(reg, "qa", 1, "production", actor="a")
    promote(reg, "qa", 2, "production", actor="a", force=True, reason="hotfix")
    promote(reg, "qa", 1, "production", actor="a")
    with pytest.raises(PromotionRefused, match="rollback .* refused"):
        rollback(reg, "qa", "production", actor="b")
    assert reg.labels("qa") == {"production": 1}
    move = rollback(reg, "qa", "production", actor="b", force=True, reason="v1 broke billing")
    assert move.to_version == 2 and move.forced and reg.serve("qa").forced
    assert reg.serve("qa").header == "qa@2; forced"


def test_rollback_returns_to_the_snapshot_not_to_an_edited_file(reg, tmp_path):
    attest(reg, "qa", 1)
    promote(reg, "qa", 1, "production", actor="a")
    promote(reg, "qa", 2, "production", actor="a", force=True, reason="hotfix")
    _edit(tmp_path / "qa" / "v1.yaml", "System v1", "System v1 EDITED")
    with pytest.raises(PromotionRefused):
        promote(reg, "qa", 1, "production", actor="a")  # the edited content has no attestation
    rollback(reg, "qa", "production", actor="a")  # allowed: the snapshot of v1 was attested
    assert reg.serve("qa").spec.messages[0].content == "System v1"


def test_overwriting_the_journal_in_place_keeps_the_last_verified_state(reg, tmp_path):
    attest(reg, "qa", 1)
    attest(reg, "qa", 2)
    promote(reg, "qa", 1, "production", actor="a")
    journal = tmp_path / ".sluice" / "labels.jsonl"
    backup = journal.read_bytes()
    promote(reg, "qa", 2, "production", actor="a")
    gateway_view = PromptRegistry(tmp_path)
    assert gateway_view.serve("qa").spec.version == 2
    ino = journal.stat().st_ino
    with open(journal, "r+b") as f:  # `cp backup labels.jsonl`: same inode, shorter file
        f.write(backup)
        f.truncate()
    assert journal.stat().st_ino == ino
    assert gateway_view.serve("qa").spec.version == 2 and "rewritten" in gateway_view.problems()[0]
    # the same length, another history: still detected
    data = journal.read_bytes()
    lines = data.splitlines(keepends=True)
    rec = orjson.loads(lines[0])
    rec["actor"] = "z"
    journal.write_bytes(orjson.dumps(rec) + b"\n" if len(orjson.dumps(rec)) + 1 == len(lines[0]) else data)
    assert gateway_view.serve("qa").spec.version == 2 and gateway_view.problems()
    with pytest.raises(PromotionRefused, match="rewritten"):
        promote(gateway_view, "qa", 1, "staging", actor="a")


def test_verify_checks_the_whole_history(reg, tmp_path):
    attest(reg, "qa", 1)
    promote(reg, "qa", 1, "production", actor="a")
    assert verify(reg) == []
    (snapshot,) = list((tmp_path / ".sluice" / "objects").rglob("*.json"))
    os.chmod(snapshot, 0o644)
    snapshot.write_bytes(snapshot.read_bytes().replace(b"System v1", b"System XX"))
    problems = verify(PromptRegistry(tmp_path))
    assert len(problems) == 1 and "was modified" in problems[0]
    snapshot.unlink()
    assert "missing" in verify(PromptRegistry(tmp_path))[0]


def test_every_run_is_kept(reg):
    for passed in (False, False, True):
        attest(reg, "qa", 1, passed=passed)
    assert [a.passed for a in attestations_for(reg, "qa", reg.get("qa", 1).content_hash())] == [False, False, True]


def test_forced_releases_and_claimed_actors_are_marked(reg):
    move = promote(reg, "qa", 2, "production", actor="ann", force=True, reason="hotfix")
    record = reg.label_moves("qa")[-1].to_record()
    assert move.forced and record["forced"] is True and record["actor_claimed"] is True
    assert record["snapshot"].startswith("sha256:")


@pytest.mark.parametrize("name", ["../qa", "/etc", "qa/../qa", "x" * 300, "Qa", ""])
def test_names_stay_inside_the_registry(reg, tmp_path, name):
    outside = tmp_path.parent / "outside"
    write_prompt(outside, "evil", 1)
    with pytest.raises(InvalidName) as e:
        reg.resolve(name, 1)
    assert str(tmp_path) not in e.value.message and len(e.value.message) < 300


@pytest.mark.parametrize("ref", ["²", "1" * 40, "v0", "../x", "lab el"])
def test_refs_are_validated(reg, ref):
    with pytest.raises(InvalidName):
        reg.serve("qa", ref)


def test_the_snapshot_store_is_content_addressed(reg, tmp_path):
    attest(reg, "qa", 1)
    move = promote(reg, "qa", 1, "production", actor="a")
    (path,) = list((tmp_path / ".sluice" / "objects").rglob("*.json"))
    assert "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest() == move.snapshot
    assert json.loads(path.read_bytes())["messages"][0]["content"] == "System v1"
    assert not os.access(path, os.W_OK) or os.geteuid() == 0  # read-only (root may write anyway)
    shutil.rmtree(tmp_path / "qa")  # even the file gone: the release still serves
    assert PromptRegistry(tmp_path).serve("qa").spec.version == 1


def test_a_key_too_short_to_sign_with_is_a_clear_cli_error(reg, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from gateway.cli.prompts import app

    monkeypatch.setenv("SLUICE_ATTEST_KEY", "short")
    res = CliRunner().invoke(app, ["--registry", str(tmp_path), "list"])
    assert res.exit_code == 2 and "at least 16 bytes" in res.output and "Traceback" not in res.output


def test_a_prompt_that_names_no_suite_is_refused_unless_the_policy_allows_it(tmp_path):
    write_prompt(tmp_path, "bare", 1)  # no `suite:`: any suite's run would do, so none does by default
    reg = PromptRegistry(tmp_path)
    spec = reg.get("bare", 1)
    record_attestation(reg, Attestation(prompt="bare", version=1, content_hash=spec.content_hash(), suite="any",
                                        dataset_hash="sha256:d", passed=True, time=1.0))
    with pytest.raises(PromotionRefused, match="names no suite"):
        promote(reg, "bare", 1, "production", actor="a")
    assert promote(reg, "bare", 1, "dev", actor="a", policy=LabelPolicy(require_suite=False)).kind == "promote"
    assert promote(reg, "bare", 1, "production", actor="a", force=True, reason="no suite yet").forced

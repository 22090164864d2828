import os

import pytest

from prompts import (
    LabelMove,
    LabelNotFound,
    MissingVariable,
    PromptFileError,
    PromptNotFound,
    PromptRegistry,
    RenderError,
    VersionNotFound,
    parse_ref,
)
from prompts.journal import Journal
from tests.prompts.helpers import write_prompt


def move(reg, name, label, to, frm=None, kind="promote", t=1.0):
    spec = reg.get(name, to)
    reg.record_move(LabelMove(name, label, frm, to, "tester", "", t, kind, spec.content_hash()))


def test_versions_names_and_resolution(tmp_path):
    write_prompt(tmp_path, "qa", 1)
    write_prompt(tmp_path, "qa", 2, system="Be brief.")
    reg = PromptRegistry(tmp_path)
    assert reg.names() == ["qa"]
    assert reg.versions("qa") == [1, 2]
    assert reg.resolve("qa").version == 2  # no production label yet: latest
    assert reg.resolve("qa", "1").version == 1 and reg.resolve("qa", "v1").version == 1
    move(reg, "qa", "production", 1)
    assert reg.resolve("qa").version == 1  # production wins over latest
    assert reg.resolve("qa", "production").version == 1


def test_unknown_prompt_version_label_are_named(tmp_path):
    write_prompt(tmp_path, "qa", 1)
    reg = PromptRegistry(tmp_path)
    with pytest.raises(PromptNotFound, match="'nope'"):
        reg.resolve("nope", "1")
    with pytest.raises(VersionNotFound, match="no version 7"):
        reg.resolve("qa", "7")
    with pytest.raises(LabelNotFound, match="no label 'staging'"):
        reg.resolve("qa", "staging")


def test_content_hash_covers_output_fields_only(tmp_path):
    write_prompt(tmp_path, "qa", 1)
    reg = PromptRegistry(tmp_path)
    h1 = reg.get("qa", 1).content_hash()
    write_prompt(tmp_path, "qa", 1, metadata={"owner": "someone"})  # metadata does not affect output
    os.utime(tmp_path / "qa" / "v1.yaml", ns=(1, 1))
    assert reg.get("qa", 1).content_hash() == h1
    write_prompt(tmp_path, "qa", 1, system="You are rude.")
    assert reg.get("qa", 1).content_hash() != h1  # re-read on change; message text is covered


def test_render_strict_and_sandboxed(tmp_path):
    write_prompt(tmp_path, "qa", 1, user="Q: {{ question }} ({{ extra }})")
    reg = PromptRegistry(tmp_path)
    with pytest.raises(MissingVariable) as e:
        reg.render("qa", "1", {"question": "hi"})
    assert e.value.details["variable"] == "extra"
    with pytest.raises(MissingVariable, match="question"):
        reg.render("qa", "1", {})  # the schema's required list is checked first
    write_prompt(tmp_path, "qa", 2, user="{{ question.__class__.__mro__ }}")
    with pytest.raises(RenderError, match="unsafe"):
        reg.render("qa", "2", {"question": "x"})
    write_prompt(tmp_path, "qa", 3)
    with pytest.raises(RenderError, match="question"):
        reg.render("qa", "3", {"question": 42})  # schema says string


def test_render_body_applies_model_and_params_with_overrides(tmp_path):
    write_prompt(tmp_path, "qa", 1, response_format={"type": "json_object"})
    rendered = PromptRegistry(tmp_path).render("qa", "1", {"question": "Why?"})
    body = rendered.request_body({"temperature": 0.7, "model": None})
    assert body["model"] == "small" and body["temperature"] == 0.7 and body["max_tokens"] == 64
    assert body["messages"][-1] == {"role": "user", "content": "Why?"}
    assert body["response_format"] == {"type": "json_object"}
    assert rendered.ref == "qa@1" and rendered.content_hash.startswith("sha256:")


def test_invalid_file_names_file_and_field(tmp_path):
    p = write_prompt(tmp_path, "qa", 1)
    p.write_text(p.read_text() + "temprature: 1\n")
    with pytest.raises(PromptFileError, match=r"v1.yaml: temprature"):
        PromptRegistry(tmp_path).get("qa", 1)
    write_prompt(tmp_path, "other", 2)
    (tmp_path / "other" / "v2.yaml").rename(tmp_path / "other" / "v3.yaml")
    with pytest.raises(PromptFileError, match="path says other@3"):
        PromptRegistry(tmp_path).get("other", 3)


def test_label_move_visible_to_other_registry_instance(tmp_path):
    """Two replicas share the state dir: a move by one is seen by the other on its next lookup."""
    write_prompt(tmp_path, "qa", 1)
    write_prompt(tmp_path, "qa", 2)
    a, b = PromptRegistry(tmp_path), PromptRegistry(tmp_path)
    move(a, "qa", "production", 1)
    assert b.resolve("qa", "production").version == 1
    move(a, "qa", "production", 2, frm=1)
    assert b.resolve("qa", "production").version == 2


def test_journal_reads_only_complete_lines_and_keeps_its_verified_state(tmp_path):
    import orjson

    from prompts.journal import record_hash

    j = Journal(tmp_path / "j.jsonl")
    first = j.append({"n": 1})
    second = {"n": 2, "prev": first["hash"]}
    second["hash"] = record_hash(second)
    line = orjson.dumps(second) + b"\n"
    with open(tmp_path / "j.jsonl", "ab") as f:
        f.write(line[:7])  # a writer mid-line
    assert [r["n"] for r in j.records()] == [1]
    with open(tmp_path / "j.jsonl", "ab") as f:
        f.write(line[7:])
    assert [r["n"] for r in j.records()] == [1, 2] and j.problem is None
    (tmp_path / "j.jsonl").write_bytes(b'{"n": 9}\n')  # replaced: refused, the verified state stays
    assert [r["n"] for r in j.records()] == [1, 2] and "rewritten" in (j.problem or "")


def test_parse_ref():
    assert parse_ref("qa@production") == ("qa", "production")
    assert parse_ref("qa") == ("qa", None)


def _append_many(path: str, writer: int) -> None:
    j = Journal(__import__("pathlib").Path(path))
    for i in range(50):
        j.append({"writer": writer, "i": i, "pad": "x" * 2000})


def test_journal_appends_from_several_processes_stay_whole(tmp_path):
    import multiprocessing

    path = str(tmp_path / "labels.jsonl")
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_many, args=(path, w)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    records = Journal(tmp_path / "labels.jsonl").records()
    assert len(records) == 200
    for w in range(4):
        assert [r["i"] for r in records if r["writer"] == w] == list(range(50))

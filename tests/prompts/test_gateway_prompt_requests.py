"""Prompt requests through the in-process gateway over the mock upstream."""

from __future__ import annotations

import pytest

from prompts import LabelMove, PromptRegistry
from tests.gateway_fixtures import gateway_client, mock_config
from tests.prompts.helpers import write_prompt


@pytest.fixture
def registry_dir(tmp_path):
    write_prompt(tmp_path, "support", 1, system="Policy v1", user="Q: {{ question }}", model="mock-chat")
    write_prompt(tmp_path, "support", 2, system="Policy v2", user="Question: {{ question }}", model="mock-chat")
    reg = PromptRegistry(tmp_path)
    release(reg, "support", 1)
    release(reg, "support", 2, label="staging")  # so the pin @2 has a release to serve
    return tmp_path


def release(reg, name, version, label="production"):
    """A label move recorded as the gate would (record_move snapshots the file)."""
    return reg.record_move(LabelMove(name, label, None, version, "t", "", 1.0, "promote",
                                     reg.get(name, version).content_hash()))


def config(mock, registry_dir, **prompts):
    return mock_config(mock, prompts={"registry_dir": str(registry_dir), **prompts})


async def test_prompt_by_body_field(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={
            "prompt": {"name": "support", "label": "production", "variables": {"question": "refunds?"}}})
    assert r.status_code == 200, r.text
    sent = mock.last_body
    assert sent["messages"] == [{"role": "system", "content": "Policy v1"}, {"role": "user", "content": "Q: refunds?"}]
    assert sent["temperature"] == 0 and sent["max_tokens"] == 64  # the prompt's parameters
    assert "prompt" not in sent and r.headers["x-sluice-prompt"] == "support@1"


async def test_prompt_by_model_name_with_overrides(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={
            "model": "prompt:support@2", "variables": {"question": "hours?"}, "temperature": 0.5,
            "messages": [{"role": "assistant", "content": "earlier turn"}]})
    assert r.status_code == 200, r.text
    sent = mock.last_body
    assert sent["temperature"] == 0.5 and sent["max_tokens"] == 64  # request overrides, prompt fills the rest
    assert [m["content"] for m in sent["messages"]] == ["Policy v2", "Question: hours?", "earlier turn"]
    assert r.headers["x-sluice-prompt"] == "support@2"


async def test_label_move_seen_without_restart(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        body = {"model": "prompt:support@production", "variables": {"question": "x"}}
        assert (await client.post("/v1/chat/completions", json=body)).headers["x-sluice-prompt"] == "support@1"
        other = PromptRegistry(registry_dir)  # e.g. `sluice prompts promote` on another machine
        other.record_move(LabelMove("support", "production", 1, 2, "t", "", 2.0, "promote",
                                    other.get("support", 2).content_hash()))
        assert (await client.post("/v1/chat/completions", json=body)).headers["x-sluice-prompt"] == "support@2"


async def test_streaming_prompt_request(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={
            "model": "prompt:support@1", "variables": {"question": "x"}, "stream": True})
    assert r.status_code == 200 and "data: [DONE]" in r.text
    assert mock.last_body["messages"][1]["content"] == "Q: x"


@pytest.mark.parametrize("body, status, code, names", [
    ({"prompt": {"name": "nope", "variables": {}}}, 404, "prompt_not_found", "'nope'"),
    ({"model": "prompt:support@canary", "variables": {"question": "x"}}, 404, "prompt_label_not_found", "'canary'"),
    ({"prompt": {"name": "support", "version": 9, "variables": {"question": "x"}}}, 404, "prompt_version_not_found", "9"),
    ({"model": "prompt:support@1"}, 400, "prompt_variable_missing", "question"),
    ({"prompt": {"name": "support", "label": "production", "variables": {"question": 3}}}, 400, "prompt_render_error", "question"),
    ({"prompt": {"label": "production"}}, 400, "prompt_name_missing", "prompt.name"),
    ({"prompt": {"name": "support", "lable": "x"}}, 400, "invalid_value", "lable"),
])
async def test_prompt_errors_name_the_cause(mock, registry_dir, body, status, code, names):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    err = r.json()["error"]
    assert err["code"] == code and names in err["message"] + str(err["param"])
    assert mock.requests_seen == 0


async def test_prompts_admin_api(mock, registry_dir, monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", "sk-master")
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        assert (await client.get("/sluice/v1/prompts")).status_code == 401
        auth = {"authorization": "Bearer sk-master"}
        listing = (await client.get("/sluice/v1/prompts", headers=auth)).json()
        assert listing["data"][0]["labels"] == {"production": 1, "staging": 2}
        assert listing["data"][0]["forced"] == [] and listing["integrity"] == {"verified": True, "problems": []}
        shown = (await client.get("/sluice/v1/prompts/support?ref=2", headers=auth)).json()
        assert shown["ref"] == "support@2" and shown["content_hash"].startswith("sha256:")
        rendered = await client.post("/sluice/v1/prompts/support/render", headers=auth,
                                     json={"label": "production", "variables": {"question": "q"}})
        assert rendered.json()["body"]["messages"][1]["content"] == "Q: q"
        missing = await client.post("/sluice/v1/prompts/support/render", headers=auth, json={"variables": {}})
        assert missing.status_code == 400 and missing.json()["error"]["code"] == "prompt_variable_missing"
        history = (await client.get("/sluice/v1/prompts/support/history", headers=auth)).json()
        assert history["label_moves"][0]["to"] == 1
        assert (await client.get("/sluice/v1/prompts/ghost", headers=auth)).status_code == 404


async def test_request_model_overrides_prompt_model(mock, registry_dir):
    write_prompt(registry_dir, "elsewhere", 1, model="no-such-group")
    release(PromptRegistry(registry_dir), "elsewhere", 1)
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={
            "model": "mock-chat", "prompt": {"name": "elsewhere", "version": 1, "variables": {"question": "q"}}})
        assert r.status_code == 200, r.text
        r2 = await client.post("/v1/chat/completions", json={
            "prompt": {"name": "elsewhere", "version": 1, "variables": {"question": "q"}}})
    assert r2.status_code == 404 and "no-such-group" in r2.text  # the prompt's own model is used otherwise


@pytest.mark.parametrize("body, status, code", [
    ({"model": "prompt:support@1", "prompt": {"name": "other"}, "variables": {"question": "x"}}, 400, "prompt_conflict"),
    ({"prompt": {"name": "support", "label": "production", "version": 1}}, 400, "prompt_conflict"),
    ({"model": "prompt:support@1", "variables": ["x"]}, 400, "invalid_value"),
    ({"prompt": {"name": "nomodel", "version": 1, "variables": {"question": "x"}}}, 400, "prompt_model_missing"),
])
async def test_more_prompt_error_paths(mock, registry_dir, body, status, code):
    write_prompt(registry_dir, "nomodel", 1, model=None)
    release(PromptRegistry(registry_dir), "nomodel", 1)
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json=body)
    assert r.status_code == status, r.text
    assert r.json()["error"]["code"] == code
    assert mock.requests_seen == 0


async def test_a_broken_unreleased_file_is_a_500_that_names_no_path_and_no_content(mock, registry_dir):
    broken = write_prompt(registry_dir, "broken", 1)
    broken.write_text(broken.read_text().replace("version: 1", "version: [one, SECRET-LINE"))
    async with gateway_client(config(mock, registry_dir, serve_unreleased=True)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={
            "prompt": {"name": "broken", "version": 1, "variables": {"question": "x"}}})
    assert r.status_code == 500 and r.json()["error"]["code"] == "prompt_file_invalid"
    assert str(registry_dir) not in r.text and "SECRET-LINE" not in r.text and "v1.yaml" not in r.text


async def test_requests_without_prompt_pass_through_untouched(mock, registry_dir):
    async with gateway_client(config(mock, registry_dir)) as (_app, client):
        r = await client.post("/v1/chat/completions", json={"model": "mock-chat",
                                                            "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 200 and "x-sluice-prompt" not in r.headers
    assert mock.last_body["messages"] == [{"role": "user", "content": "hi"}]

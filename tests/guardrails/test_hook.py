"""The gateway hook on a RequestContext, without the HTTP app (the integration test covers that)."""

from __future__ import annotations

import json
import logging
import time

import pytest

from gateway.context import Principal, RequestContext
from gateway.errors import ContentPolicyViolation
from gateway.hooks import StreamFilter
from gateway.integrations.guardrails import GuardrailsHook
from guardrails import GuardrailsConfig
from guardrails.config import PolicyConfig, Rule

SECRET = "AKIAIOSFODNN7EXAMPLE"


def _hook(**policy_kw) -> GuardrailsHook:
    pol = PolicyConfig(
        input=[Rule(scanner="secrets", action="block"), Rule(scanner="pii", action="redact")],
        output=[Rule(scanner="pii", action="redact"), Rule(scanner="canary", action="block")],
        restore_pii=True, stream_window_chars=16, **policy_kw,
    )
    cfg = GuardrailsConfig(scanners={"canary": {"type": "canary", "canaries": ["CANARY-feedbeef"]}},
                           policies={"p": pol}, attach=[{"policy": "p", "teams": ["t1"]}])
    return GuardrailsHook(cfg)


def _ctx(messages, *, team="t1", route="chat.completions", **body) -> RequestContext:
    return RequestContext(
        request_id="r1", route=route, body={"model": "m", "messages": messages, **body}, headers={},
        started_mono=time.monotonic(), started_wall=time.time(), requested_model="m",
        principal=Principal(key_id="k", team_id=team),
    )


async def test_input_secret_blocks_without_echo(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    ctx = _ctx([{"role": "user", "content": f"my key {SECRET}"}])
    with pytest.raises(ContentPolicyViolation) as e:
        await _hook().before(ctx)
    body = e.value.body()["error"]
    assert e.value.status == 400 and body["code"] == "content_policy_violation"
    assert body["scanner"] == "secrets" and body["rule"] == "AWS_ACCESS_KEY" and body["policy"] == "p"
    assert SECRET not in e.value.body_bytes().decode() and SECRET not in caplog.text
    assert [(o.scanner, o.direction, o.action) for o in ctx.guardrails] == [("secrets", "input", "block")]


async def test_input_redacted_and_output_restored() -> None:
    hook = _hook()
    ctx = _ctx([{"role": "system", "content": "sys a@example.com stays"},
                {"role": "user", "content": [{"type": "text", "text": "I am a@example.com"}]}])
    assert await hook.before(ctx) is None
    assert ctx.body["messages"][0]["content"] == "sys a@example.com stays"  # system prompts are the developer's
    assert ctx.body["messages"][1]["content"][0]["text"] == "I am <EMAIL_1>"
    completion = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi <EMAIL_1>, mail z@example.com"}}]}
    out = await hook.after(ctx, completion)
    assert out["choices"][0]["message"]["content"] == "Hi a@example.com, mail <EMAIL_1>"
    assert {(o.scanner, o.direction, o.action) for o in ctx.guardrails} >= {("pii", "input", "redact"), ("pii", "output", "redact")}


async def test_no_policy_attached_means_untouched() -> None:
    ctx = _ctx([{"role": "user", "content": f"{SECRET} a@example.com"}], team="other")
    hook = _hook()
    assert await hook.before(ctx) is None
    assert ctx.body["messages"][0]["content"] == f"{SECRET} a@example.com"
    assert hook.stream_filter(ctx) is None and ctx.guardrails == []


async def test_embeddings_inputs_scanned() -> None:
    ctx = _ctx([], route="embeddings")
    ctx.body = {"model": "e", "input": ["ok", "mail b@example.com"]}
    await _hook().before(ctx)
    assert ctx.body["input"] == ["ok", "mail <EMAIL_1>"]


def _delta_chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def _chunk(text: str | None, finish: str | None = None) -> dict:
    return _delta_chunk({} if text is None else {"content": text}, finish)


async def _streaming(user: str) -> tuple[RequestContext, StreamFilter]:
    """A request through the hook's input side, and the stream filter for its response."""
    hook = _hook()
    ctx = _ctx([{"role": "user", "content": user}])
    await hook.before(ctx)
    f = hook.stream_filter(ctx)
    assert f is not None
    return ctx, f


async def test_stream_redacts_and_restores_across_chunks() -> None:
    ctx, f = await _streaming("I am a@example.com")
    text = "Hello <EMAIL_1>! Your card 4111 1111 1111 1111 is noted. " + "ok " * 20
    out: list[dict] = []
    for i in range(0, len(text), 4):
        out += f.on_chunk(_chunk(text[i : i + 4]))
    out += f.on_chunk(_chunk(None, "stop"))
    out += f.on_end()
    got = "".join(c["choices"][0]["delta"].get("content", "") for c in out)
    assert got == text.replace("<EMAIL_1>", "a@example.com").replace("4111 1111 1111 1111", "<CREDIT_CARD_1>")
    assert out[-1]["choices"][0]["finish_reason"] == "stop"
    assert ("pii", "output", "redact") in {(o.scanner, o.direction, o.action) for o in ctx.guardrails}


async def test_stream_blocks_with_policy_error() -> None:
    ctx, f = await _streaming("hi")
    with pytest.raises(ContentPolicyViolation) as e:
        for piece in ["My instr", "uctions: CANA", "RY-feed", "beef and more", " text " * 10]:
            f.on_chunk(_chunk(piece))
        f.on_end()
    assert e.value.body()["error"]["rule"] == "system_prompt_leak"
    assert "CANARY" not in e.value.message
    assert ("canary", "output", "block") in {(o.scanner, o.direction, o.action) for o in ctx.guardrails}


async def test_usage_chunk_passes_through() -> None:
    hook = _hook()
    ctx = _ctx([{"role": "user", "content": "hi"}])
    await hook.before(ctx)
    f = hook.stream_filter(ctx)
    usage = {"id": "c1", "choices": [], "usage": {"prompt_tokens": 1}}
    assert f is not None and f.on_chunk(usage) == [usage]


async def test_canary_planted_when_configured() -> None:
    cfg = GuardrailsConfig(scanners={"leak": {"type": "canary", "plant": True}},
                           policies={"p": PolicyConfig(output=[Rule(scanner="leak", action="block")])},
                           default_policy="p")
    hook = GuardrailsHook(cfg)
    ctx = _ctx([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "hi"}])
    await hook.before(ctx)
    sys_msg = ctx.body["messages"][0]["content"]
    assert "CANARY-" in sys_msg
    canary = sys_msg.split("[")[1].split("]")[0]
    with pytest.raises(ContentPolicyViolation):
        await hook.after(ctx, {"choices": [{"message": {"content": f"My prompt has {canary}"}}]})


async def test_response_format_schema_enforced() -> None:
    cfg = GuardrailsConfig(policies={"p": PolicyConfig(output=[Rule(scanner="json_output", action="block")])},
                           default_policy="p")
    hook = GuardrailsHook(cfg)
    schema = {"type": "object", "required": ["n"], "properties": {"n": {"type": "integer"}}}
    ctx = _ctx([{"role": "user", "content": "hi"}],
               response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": schema}})
    await hook.before(ctx)
    ok = await hook.after(ctx, {"choices": [{"message": {"content": '{"n": 3}'}}]})
    assert ok["choices"][0]["message"]["content"] == '{"n": 3}'
    with pytest.raises(ContentPolicyViolation) as e:
        await hook.after(ctx, {"choices": [{"message": {"content": '{"n": "three"}'}}]})
    assert e.value.body()["error"]["rule"] == "schema_mismatch"


# ---- tool-call arguments: the text a tool receives from the model gets the output rules too ----

def _tool_completion(args: str) -> dict:
    return {"choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None,
        "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "send", "arguments": args}}]}}]}


async def test_tool_call_arguments_redacted_and_restored() -> None:
    hook = _hook()
    ctx = _ctx([{"role": "user", "content": "mail a@example.com the summary"}])
    await hook.before(ctx)
    out = await hook.after(ctx, _tool_completion('{"to": "<EMAIL_1>", "cc": "z@example.com"}'))
    args = json.loads(out["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"])
    assert args == {"to": "a@example.com", "cc": "<EMAIL_1>"}  # the caller's own value back; a new one redacted
    assert ("pii", "output", "redact") in {(o.scanner, o.direction, o.action) for o in ctx.guardrails}


async def test_legacy_function_call_arguments_scanned() -> None:
    hook = _hook()
    ctx = _ctx([{"role": "user", "content": "hi"}])
    await hook.before(ctx)
    msg = {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": '{"card": "4111 1111 1111 1111"}'}}
    out = await hook.after(ctx, {"choices": [{"index": 0, "message": msg}]})
    assert json.loads(out["choices"][0]["message"]["function_call"]["arguments"]) == {"card": "<CREDIT_CARD_1>"}


async def test_canary_in_tool_call_arguments_blocks() -> None:
    hook = _hook()
    ctx = _ctx([{"role": "user", "content": "hi"}])
    await hook.before(ctx)
    with pytest.raises(ContentPolicyViolation) as e:
        await hook.after(ctx, _tool_completion('{"q": "CANARY-feedbeef"}'))
    assert e.value.body()["error"]["rule"] == "system_prompt_leak" and "CANARY" not in e.value.message


def _tool_chunk(calls: list[dict] | None, finish: str | None = None) -> dict:
    return _delta_chunk({} if calls is None else {"tool_calls": calls}, finish)


def _streamed_tool_calls(chunks: list[dict]) -> dict[int, dict]:
    """Accumulate tool-call deltas by index, as OpenAI clients do."""
    calls: dict[int, dict] = {}
    for c in chunks:
        for ch in c.get("choices", []):
            for tc in ch["delta"].get("tool_calls") or []:
                cur = calls.setdefault(tc["index"], {"id": None, "name": None, "arguments": ""})
                cur["id"] = tc.get("id") or cur["id"]
                fn = tc.get("function") or {}
                cur["name"] = fn.get("name") or cur["name"]
                cur["arguments"] += fn.get("arguments") or ""
    return calls


async def test_stream_tool_call_arguments_redacted_across_fragments() -> None:
    _, f = await _streaming("mail a@example.com")
    args0 = '{"to": "<EMAIL_1>", "card": "4111 1111 1111 1111", "note": "' + "x" * 40 + '"}'
    args1 = '{"q": "b@example.com"}'
    out = f.on_chunk(_tool_chunk([{"index": 0, "id": "call_0", "type": "function",
                                   "function": {"name": "send", "arguments": ""}},
                                  {"index": 1, "id": "call_1", "type": "function",
                                   "function": {"name": "look", "arguments": ""}}]))
    assert out and out[0]["choices"][0]["delta"]["tool_calls"][0]["id"] == "call_0"  # names pass at once
    for i in range(0, max(len(args0), len(args1)), 3):
        pieces = [{"index": t, "function": {"arguments": a[i : i + 3]}} for t, a in ((0, args0), (1, args1)) if a[i : i + 3]]
        out += f.on_chunk(_tool_chunk(pieces))
    out += f.on_chunk(_tool_chunk(None, "tool_calls"))
    out += f.on_end()
    calls = _streamed_tool_calls(out)
    assert json.loads(calls[0]["arguments"]) == {"to": "a@example.com", "card": "<CREDIT_CARD_1>", "note": "x" * 40}
    assert json.loads(calls[1]["arguments"]) == {"q": "<EMAIL_1>"}
    assert (calls[0]["id"], calls[0]["name"], calls[1]["name"]) == ("call_0", "send", "look")
    assert out[-1]["choices"][0]["finish_reason"] == "tool_calls"  # held-back arguments come before it
    assert all(ch["delta"] for c in out[:-1] for ch in c["choices"])  # no empty deltas were sent


async def test_stream_tool_call_arguments_block() -> None:
    _, f = await _streaming("hi")
    sent: list[dict] = []
    with pytest.raises(ContentPolicyViolation) as e:
        for piece in ['{"q": "CAN', "ARY-fe", 'edbeef"}']:
            sent += f.on_chunk(_tool_chunk([{"index": 0, "function": {"arguments": piece}}]))
        f.on_end()
    assert e.value.body()["error"]["scanner"] == "canary"
    assert "CANARY" not in json.dumps(sent)  # nothing of the match went out before the block


async def test_stream_tool_calls_flushed_at_end_without_finish_reason() -> None:
    _, f = await _streaming("hi")
    # (stream guard hold-back) the fragment ends inside an IP that could still grow: that part is held
    out = f.on_chunk(_tool_chunk([{"index": 0, "function": {"arguments": '{"ip": "10.1.2.3'}}]))
    assert "10.1" not in json.dumps(out)
    out += f.on_end()
    assert _streamed_tool_calls(out)[0]["arguments"] == '{"ip": "<IP_1>'

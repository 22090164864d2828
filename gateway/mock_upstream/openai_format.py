"""OpenAI wire format: chat completions (whole and chunked), embeddings, models.

`omit=True` leaves out what OpenAI's schema requires but some compatible upstreams skip
(`object`, `created`, `system_fingerprint`, `usage`, choice `logprobs`, a null `finish_reason`), so
the gateway's patching can be tested.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import orjson

from gateway.mock_upstream import content as C


class ChatPlan:
    """What the mock will answer to one chat request, computed once."""

    __slots__ = ("choices", "completion_tokens", "include_usage", "logprobs", "model", "prompt_tokens", "rid",
                 "top_logprobs")

    def __init__(self, body: dict[str, Any], reply_words: int, counter: int) -> None:
        messages = body["messages"]
        self.model = str(body.get("model") or "mock-gpt")
        key = C.digest(messages, body.get("seed"), body.get("tools"), body.get("response_format"))
        self.rid = f"{key[:6].hex()}{counter:08x}"
        limit = body.get("max_completion_tokens") or body.get("max_tokens")
        n = body.get("n") or 1
        stop = body.get("stop")
        stops = [stop] if isinstance(stop, str) else list(stop or [])
        tools = [t for t in (body.get("tools") or []) if isinstance(t, dict)]
        names = [str((t.get("function") or {}).get("name") or "") for t in tools]
        # A tool's result as the last message is answered in text, whatever tool_choice says: an
        # agent loop against the mock ends after one round.
        tool_i = None if C.ends_with_tool_result(messages) else C.pick_tool(
            tools, body.get("tool_choice"), C.last_user_text(messages), names)
        fmt = body.get("response_format")
        self.choices: list[dict[str, Any]] = []
        for i in range(int(n)):
            seed = C.digest(key, i)
            if tool_i is not None:
                args = orjson.dumps(C.args_for((tools[tool_i].get("function") or {}).get("parameters"), seed)).decode()
                self.choices.append({"tool": {"id": f"call_{seed[:12].hex()}", "name": names[tool_i], "arguments": args},
                                     "finish": "tool_calls", "tokens": C.approx_tokens(args) + 3})
                continue
            words = C.reply_words(seed, reply_words)
            finish = "stop"
            kind = fmt.get("type") if isinstance(fmt, dict) else None
            if kind == "json_schema":  # the schema's own JSON; max_tokens cuts it like a real model's
                pieces = C.pieces_of(C.structured_json(fmt, seed, "".join(C.split_pieces(words))) or "")
                if isinstance(limit, int) and 0 < limit < len(pieces):
                    pieces, finish = pieces[:limit], "length"
            else:
                if isinstance(limit, int) and 0 < limit < len(words):
                    words, finish = words[:limit], "length"
                pieces = C.split_pieces(words)
                if kind == "json_object":
                    pieces = ['{"reply": "', *pieces, '"}']
            text = "".join(pieces)
            for s in stops:
                if s and s in text:
                    text, finish = text[: text.index(s)], "stop"
                    pieces = C.pieces_of(text)
            self.choices.append({"pieces": pieces, "text": text, "finish": finish, "tokens": len(pieces)})
        self.prompt_tokens = C.prompt_tokens(messages) + (C.approx_tokens(orjson.dumps(tools).decode()) if tools else 0)
        self.completion_tokens = sum(c["tokens"] for c in self.choices)
        so = body.get("stream_options")
        self.include_usage = bool(isinstance(so, dict) and so.get("include_usage"))
        self.logprobs = bool(body.get("logprobs"))
        top = body.get("top_logprobs")
        self.top_logprobs = top if isinstance(top, int) and not isinstance(top, bool) and 0 < top <= 20 else 0

    def renumbered(self, counter: int) -> ChatPlan:
        """The same answer under a new response id (plans are shared, never mutated after this)."""
        twin = copy.copy(self)
        twin.rid = f"{self.rid[:12]}{counter:08x}"
        return twin

    def usage(self) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                          "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0},
        }


def _logprobs(pieces: list[str], top: int) -> dict[str, Any]:
    """`choices[].logprobs`: one entry per piece with `top` alternatives (a pure function of the
    piece, so each stream chunk's entries describe exactly that chunk's text)."""
    return {"content": C.token_logprobs(pieces, top), "refusal": None}


def completion(plan: ChatPlan, *, omit: bool = False) -> dict[str, Any]:
    choices = []
    for i, c in enumerate(plan.choices):
        msg: dict[str, Any] = {"role": "assistant", "content": None, "refusal": None}
        if "tool" in c:
            t = c["tool"]
            msg["tool_calls"] = [{"id": t["id"], "type": "function",
                                  "function": {"name": t["name"], "arguments": t["arguments"]}}]
        else:
            msg["content"] = c["text"]
        choice: dict[str, Any] = {"index": i, "message": msg, "finish_reason": None if omit else c["finish"]}
        if not omit:
            choice["logprobs"] = _logprobs(c.get("pieces", []), plan.top_logprobs) if plan.logprobs else None
        choices.append(choice)
    out: dict[str, Any] = {"id": f"chatcmpl-{plan.rid}", "model": plan.model, "choices": choices}
    if not omit:
        out.update(object="chat.completion", created=int(time.time()), system_fingerprint="fp_mock",
                   service_tier="default", usage=plan.usage())
    return out


def chunks(plan: ChatPlan, *, omit: bool = False) -> list[dict[str, Any]]:
    """The stream as OpenAI sends it: role chunk, one chunk per token, finish chunk, usage chunk."""
    base: dict[str, Any] = {"id": f"chatcmpl-{plan.rid}", "model": plan.model}
    if not omit:
        base.update(object="chat.completion.chunk", created=int(time.time()), system_fingerprint="fp_mock")
    if plan.include_usage and not omit:
        base["usage"] = None

    def chunk(i: int, delta: dict[str, Any], finish: str | None = None, lp: Any = None) -> dict[str, Any]:
        choice: dict[str, Any] = {"index": i, "delta": delta, "finish_reason": finish}
        if not omit:
            choice["logprobs"] = lp
        return {**base, "choices": [choice]}

    out: list[dict[str, Any]] = []
    for i, c in enumerate(plan.choices):
        if "tool" in c:
            t = c["tool"]
            out.append(chunk(i, {"role": "assistant", "content": None, "tool_calls": [
                {"index": 0, "id": t["id"], "type": "function", "function": {"name": t["name"], "arguments": ""}}]}))
            a = t["arguments"]
            step = max(1, len(a) // 4)
            for j in range(0, len(a), step):
                out.append(chunk(i, {"tool_calls": [{"index": 0, "function": {"arguments": a[j:j + step]}}]}))
        else:
            out.append(chunk(i, {"role": "assistant", "content": "", "refusal": None}))
            for p in c["pieces"]:
                out.append(chunk(i, {"content": p}, lp=_logprobs([p], plan.top_logprobs) if plan.logprobs else None))
        out.append(chunk(i, {}, None if omit else c["finish"]))
    if plan.include_usage and not omit:
        out.append({**base, "choices": [], "usage": plan.usage()})
    return out


def embeddings(body: dict[str, Any], dims: int, seed: int) -> dict[str, Any]:
    """Raises ValueError with an OpenAI-style message for a bad `input`."""
    inp = body.get("input")
    if isinstance(inp, str) or (isinstance(inp, list) and inp and all(isinstance(x, int) for x in inp)):
        items: list[Any] = [inp]
    elif isinstance(inp, list) and inp and all(isinstance(x, str) or (isinstance(x, list) and x and all(
            isinstance(y, int) for y in x)) for x in inp):
        items = inp
    else:
        raise ValueError("'input' must be a non-empty string, array of strings, or array of token arrays")
    d = body.get("dimensions", dims)
    if not isinstance(d, int) or isinstance(d, bool) or not 1 <= d <= 8192:
        raise ValueError("'dimensions' must be a positive integer")
    fmt = body.get("encoding_format") or "float"
    if fmt not in ("float", "base64"):
        raise ValueError("'encoding_format' must be 'float' or 'base64'")
    tokens = sum(C.approx_tokens(x) if isinstance(x, str) else len(x) for x in items)
    data = [{"object": "embedding", "index": i, "embedding": C.encode_vector(C.embedding(x, d, seed), fmt)}
            for i, x in enumerate(items)]
    return {"object": "list", "data": data, "model": str(body.get("model") or "mock-embed"),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


def models(names: list[str]) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": n, "object": "model", "created": 1700000000, "owned_by": "sluice-mock"}
                                       for n in names]}


def error(status: int, message: str, code: str | None = None) -> dict[str, Any]:
    kind = {400: "invalid_request_error", 404: "invalid_request_error", 405: "invalid_request_error",
            429: "rate_limit_error"}.get(status, "server_error")
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}

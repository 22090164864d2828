"""Routes, fault injection and pacing for the mock upstream.

Routing is by path suffix so OpenAI (`/v1/chat/completions`, `/v1/responses`), Azure-style
(`/openai/deployments/X/chat/completions`) and Anthropic (`/v1/messages`,
`/v1/messages/count_tokens`) clients all land.

Per-request headers override the config:
  x-mock-fault: 429 | 500 | 503 | hang | slow-first-byte | disconnect-mid-stream | malformed-json | omit-fields
  x-mock-retry-after: seconds sent in Retry-After with 429/503
  x-mock-latency-ms: delay before the first byte
  x-mock-tokens-per-s: stream pacing (and whole-response delay for non-streams)
  x-mock-reply-words: natural reply length (max_tokens still cuts it)
  x-mock-cache: write — Anthropic prompt caching reports a cache write instead of a read
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Coroutine
from typing import Any

import orjson

from gateway.mock_upstream import anthropic_format as A
from gateway.mock_upstream import openai_format as O
from gateway.mock_upstream import responses_format as R
from gateway.mock_upstream.config import FAULTS, MockConfig
from gateway.mock_upstream.http import Request, Writer

_JSON = ("content-type", "application/json")
_SSE = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
_DONE = b"data: [DONE]\n\n"


class MockState:
    """What tests read back: counters and the last request."""

    def __init__(self) -> None:
        self.requests_seen = 0
        self.inference_seen = 0
        self.faults_injected = 0
        self.fault_window = 0  # inference requests since the config fault was (re)set
        self.paths: Counter[str] = Counter()
        self.last_path: str | None = None
        self.last_headers: dict[str, str] = {}
        self.last_body: Any = None

    def reset(self) -> None:
        self.__init__()  # type: ignore[misc]


class _Reply:
    __slots__ = ("api", "body", "end", "events", "status", "tokens")

    def __init__(self, api: str, status: int = 200, body: bytes = b"", events: list[bytes] | None = None,
                 end: bytes = b"", tokens: int = 0) -> None:
        self.api, self.status, self.body, self.events, self.end, self.tokens = api, status, body, events, end, tokens


def _num(headers: dict[str, str], name: str) -> float | None:
    v = headers.get(name)
    if v is None:
        return None
    try:
        return float(v)
    except ValueError:
        return None


class MockApp:
    def __init__(self, config: MockConfig | None = None) -> None:
        self.config = config or MockConfig()
        self.state = MockState()
        self._rng = random.Random(self.config.seed)
        # The plan for a chat body is a pure function of (body bytes, reply length): computed once.
        self._plans: dict[tuple[bytes, int], O.ChatPlan] = {}

    def set_fault(self, fault: str | None, *, first_n: int | None = None, rate: float = 1.0) -> None:
        self.config.fault = fault  # type: ignore[assignment]
        self.config.fault_first_n = first_n
        self.config.fault_rate = rate
        self.state.fault_window = 0

    # entry point called by the HTTP layer
    def __call__(self, req: Request, w: Writer) -> Coroutine[Any, Any, None] | None:
        st = self.state
        st.requests_seen += 1
        st.paths[req.path] += 1
        st.last_path, st.last_headers = req.path, req.headers
        p = req.path
        if req.method == "GET":
            if p.endswith("/models"):
                self._send(w, 200, orjson.dumps(O.models(self.config.models)))
                return None
            if p in ("/healthz", "/health", "/"):
                self._send(w, 200, b'{"status":"ok"}')
                return None
        elif req.method == "POST":
            if p.endswith("/chat/completions"):
                return self._inference(req, w, "openai", self._chat)
            if p.endswith("/embeddings"):
                return self._inference(req, w, "openai", self._embeddings)
            if p.endswith("/responses"):
                return self._inference(req, w, "openai", self._responses)
            if p.endswith("/messages/count_tokens"):
                return self._inference(req, w, "anthropic", self._count_tokens)
            if p.endswith("/messages"):
                return self._inference(req, w, "anthropic", self._messages)
        self._send(w, 404, orjson.dumps(O.error(404, f"no route {req.method} {p} on the mock upstream")))
        return None

    @staticmethod
    def _send(w: Writer, status: int, body: bytes) -> None:
        w.respond(status, body, [_JSON])

    def _error(self, w: Writer, api: str, status: int, msg: str, extra: list[tuple[str, str]] | None = None) -> None:
        body = A.error(status, msg) if api == "anthropic" else O.error(status, msg)
        w.respond(status, orjson.dumps(body), [_JSON, *(extra or [])])

    # ---- inference -------------------------------------------------------------------------------
    def _inference(self, req: Request, w: Writer, api: str, build: Any) -> Coroutine[Any, Any, None] | None:
        st, cfg, h = self.state, self.config, req.headers
        st.inference_seen += 1
        try:
            body = orjson.loads(req.body)
        except orjson.JSONDecodeError:
            st.last_body = req.body
            self._error(w, api, 400, "request body is not valid JSON")
            return None
        st.last_body = body
        if not isinstance(body, dict):
            self._error(w, api, 400, "request body must be a JSON object")
            return None
        fault = h.get("x-mock-fault")
        if fault is not None and fault not in FAULTS:
            self._error(w, api, 400, f"unknown x-mock-fault {fault!r}; one of {', '.join(FAULTS)}")
            return None
        if fault is None and cfg.fault is not None:
            st.fault_window += 1
            in_window = cfg.fault_first_n is None or st.fault_window <= cfg.fault_first_n
            if in_window and (cfg.fault_rate >= 1 or self._rng.random() < cfg.fault_rate):
                fault = cfg.fault
        if fault is not None:
            st.faults_injected += 1
        words = _num(h, "x-mock-reply-words")
        try:
            reply = build(body, fault == "omit-fields", int(words) if words and words >= 1 else cfg.reply_words,
                          req)
        except (ValueError, TypeError, KeyError) as e:
            self._error(w, api, 400, str(e))
            return None
        latency_ms = _num(h, "x-mock-latency-ms")
        latency = latency_ms / 1000 if latency_ms is not None else (
            cfg.slow_first_byte_s if fault == "slow-first-byte" else cfg.latency_s)
        tps = _num(h, "x-mock-tokens-per-s") or cfg.tokens_per_s
        if fault in (None, "omit-fields") and not latency and (tps is None or reply.tokens == 0):
            if reply.events is None:  # the fast path: no task, one write
                w.respond(reply.status, reply.body, [_JSON])
                return None
            self._stream_now(w, reply)
            return None
        retry_after = h.get("x-mock-retry-after") or f"{cfg.retry_after_s:g}"
        return self._deliver(w, reply, fault, latency, tps, retry_after)

    def _stream_now(self, w: Writer, r: _Reply) -> None:
        w.start(200, _SSE, b"".join(r.events or ()) + r.end)
        w.end()

    async def _deliver(self, w: Writer, r: _Reply, fault: str | None, latency: float, tps: float | None,
                       retry_after: str) -> None:
        cfg = self.config
        if fault == "hang":
            await asyncio.sleep(cfg.hang_s)
            w.abort()
            return
        if latency:
            await asyncio.sleep(latency)
        if fault in ("429", "500", "503"):
            status = int(fault)
            extra = [("retry-after", retry_after)] if status in (429, 503) else []
            msg = {429: "Rate limit reached (mock)", 500: "The server had an error (mock)",
                   503: "The server is overloaded (mock)"}[status]
            self._error(w, r.api, status, msg, extra)
            return
        if r.events is None:
            body = r.body
            if tps:
                await asyncio.sleep(r.tokens / tps)
            if fault == "malformed-json":
                w.respond(200, body[: len(body) // 2], [_JSON])
                return
            if fault == "disconnect-mid-stream":
                w.write_raw(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n\r\n%s"
                            % (len(body), body[: len(body) // 2]))
                w.abort()
                return
            w.respond(r.status, body, [_JSON])
            return
        events = list(r.events)
        if fault == "malformed-json":
            events.insert(min(1, len(events)), b'data: {"id": "broken", "choices": [{"delta": \n\n')
        delay = 1 / tps if tps else 0.0
        w.start(200, _SSE)
        for i, ev in enumerate(events):
            if fault == "disconnect-mid-stream" and i >= cfg.disconnect_after_chunks:
                w.abort()
                return
            if delay and i:
                await asyncio.sleep(delay)
            if w.closed:
                return
            w.send(ev)
        w.end(r.end)

    # ---- builders: body -> _Reply ----------------------------------------------------------------
    def _chat(self, body: dict[str, Any], omit: bool, words: int, req: Request) -> _Reply:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise ValueError("'messages' must be a non-empty array")
        if not isinstance(body.get("model"), str):
            raise TypeError("'model' is required and must be a string")
        n, raw = self.state.inference_seen, req.body
        cached = self._plans.get((raw, words))
        if cached is not None:
            plan = cached.renumbered(n)
        else:
            plan = O.ChatPlan(body, words, n)
            if len(self._plans) >= 1024:  # bounded: benches repeat one body, tests vary
                self._plans.clear()
            self._plans[(raw, words)] = plan
        if body.get("stream") is True:
            evs = [b"data: " + orjson.dumps(c) + b"\n\n" for c in O.chunks(plan, omit=omit)]
            return _Reply("openai", events=evs, end=_DONE, tokens=plan.completion_tokens)
        return _Reply("openai", body=orjson.dumps(O.completion(plan, omit=omit)), tokens=plan.completion_tokens)

    def _embeddings(self, body: dict[str, Any], omit: bool, words: int, req: Request) -> _Reply:
        if not isinstance(body.get("model"), str):
            raise TypeError("'model' is required and must be a string")
        out = O.embeddings(body, self.config.embedding_dims, self.config.seed)
        if omit:
            out.pop("usage", None)
            out.pop("object", None)
        return _Reply("openai", body=orjson.dumps(out))

    def _messages(self, body: dict[str, Any], omit: bool, words: int, req: Request) -> _Reply:
        A.validate(body)
        plan = A.MessagePlan(body, words, self.state.inference_seen, cache_mode=req.headers.get("x-mock-cache", "read"))
        if body.get("stream") is True:
            evs = [b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(d)) for name, d in A.events(plan)]
            return _Reply("anthropic", events=evs, tokens=plan.output_tokens)
        return _Reply("anthropic", body=orjson.dumps(A.message(plan)), tokens=plan.output_tokens)

    def _count_tokens(self, body: dict[str, Any], omit: bool, words: int, req: Request) -> _Reply:
        A.validate(body, need_max_tokens=False)
        return _Reply("anthropic", body=orjson.dumps(A.count_tokens(body)))

    def _responses(self, body: dict[str, Any], omit: bool, words: int, req: Request) -> _Reply:
        plan = R.ResponsePlan(body, words, self.state.inference_seen)
        if body.get("stream") is True:
            evs = [b"event: %s\ndata: %s\n\n" % (name.encode(), orjson.dumps(d)) for name, d in R.events(plan)]
            return _Reply("openai", events=evs, tokens=plan.output_tokens)
        return _Reply("openai", body=orjson.dumps(R.response(plan)), tokens=plan.output_tokens)

"""The harness's only way to a model: the `openai` SDK against any OpenAI-compatible base URL.

Every call carries `x-sluice-tags: eval,suite=NAME` so the gateway's ledger keeps eval spend apart,
and reads the cost the gateway reports in `x-sluice-cost-usd`. Replies are cached (see cache.py; the key also
holds the base URL) before the SDK is touched, so a cached re-run costs no HTTP and almost no CPU.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import openai
import orjson

from evals.cache import ResultCache
from evals.cassette import (
    LATENCY_HEADER,
    REPEAT_HEADER,
    SOURCE_HEADER,
    Cassette,
    RecordingTransport,
    ReplayTransport,
    request_key,
)
from evals.errors import CassetteMiss, ModelCallError

Mode = Literal["live", "record", "replay"]
TAGS_HEADER = "x-sluice-tags"
COST_HEADER = "x-sluice-cost-usd"


@dataclass(slots=True)
class Reply:
    text: str
    latency_ms: float
    cost_usd: float | None = None
    usage: dict[str, Any] | None = None
    model: str | None = None
    finish_reason: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    source: str = "model"  # "model" | "cassette" | "cache"
    headers: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class CallStats:
    model_calls: int = 0
    cache_hits: int = 0
    replayed: int = 0
    errors: int = 0
    cost_usd: float = 0.0


class EvalClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "sk-eval",
        suite: str,
        mode: Mode = "live",
        cassette_path: Path | None = None,
        cache: ResultCache | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout_s: float = 60.0,
        retries: int = 2,
        extra_tags: list[str] | None = None,
    ) -> None:
        self.mode = mode
        self.base_url = base_url  # part of the cache key: another endpoint may map an alias elsewhere
        self.cache = cache if mode == "live" else None  # record re-asks the model; replay has its cassette
        self.stats = CallStats()
        self.extensions: dict[str, Any] = {}  # per-client state of assertion types (e.g. ragas metrics)
        self.cassette: Cassette | None = None
        inner: httpx.AsyncBaseTransport
        if mode in ("record", "replay"):
            if cassette_path is None:
                raise ValueError(f"{mode} needs a cassette path")
            self.cassette = Cassette.load(cassette_path) if mode == "replay" else Cassette(cassette_path)
        if mode == "replay":
            assert self.cassette is not None
            inner = ReplayTransport(self.cassette)
            retries = 0
        else:
            inner = transport or httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=512))
            if mode == "record":
                assert self.cassette is not None
                inner = RecordingTransport(inner, self.cassette)
        self.transport = inner
        tags = ",".join(["eval", f"suite={suite}", *(extra_tags or [])])
        self.http = httpx.AsyncClient(transport=inner, timeout=timeout_s)
        self.sdk = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, http_client=self.http, max_retries=retries,
            default_headers={TAGS_HEADER: tags}, timeout=timeout_s,
        )

    async def chat(self, body: dict[str, Any], *, repeat: int = 0) -> Reply:
        key = request_key(f"{self.base_url} chat/completions", body, repeat)
        if self.cache is not None:
            hit = self.cache.get(key)
            reply_or_none = _reply_from(hit) if hit is not None else None
            if reply_or_none is not None:
                self.stats.cache_hits += 1
                reply_or_none.source = "cache"
                return reply_or_none
        payload = dict(body)
        extra = {k: payload.pop(k) for k in list(payload) if k not in _SDK_CHAT_PARAMS}
        t0 = time.perf_counter()
        raw = await self._call(self.sdk.chat.completions.with_raw_response.create,
                               extra_headers={REPEAT_HEADER: str(repeat)}, extra_body=extra or None, **payload)
        latency_ms = (time.perf_counter() - t0) * 1000.0
        completion = raw.parse()
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice else None
        reply = Reply(
            text=(message.content or "") if message else "",
            latency_ms=float(raw.headers.get(LATENCY_HEADER, latency_ms)),
            cost_usd=_float_or_none(raw.headers.get(COST_HEADER)),
            usage=completion.usage.model_dump() if completion.usage else None,
            model=completion.model,
            finish_reason=choice.finish_reason if choice else None,
            tool_calls=[t.model_dump() for t in message.tool_calls] if message and message.tool_calls else None,
            source=raw.headers.get(SOURCE_HEADER, "model"),
        )
        self._count(reply)
        if self.cache is not None:
            self.cache.put(key, reply.to_dict())
        return reply

    async def embed(self, model: str, inputs: list[str]) -> list[list[float]]:
        key = request_key(f"{self.base_url} embeddings", {"model": model, "input": inputs}, 0)
        if self.cache is not None:
            hit = self.cache.get(key)
            if hit is not None:
                self.stats.cache_hits += 1
                return hit["vectors"]  # type: ignore[no-any-return]
        raw = await self._call(self.sdk.embeddings.with_raw_response.create, model=model, input=inputs)
        result = raw.parse()
        vectors = [d.embedding for d in sorted(result.data, key=lambda d: d.index)]
        if raw.headers.get(SOURCE_HEADER) == "cassette":
            self.stats.replayed += 1
        else:
            self.stats.model_calls += 1
        if self.cache is not None:
            self.cache.put(key, {"vectors": vectors})
        return vectors

    async def _call(self, fn: Any, **kwargs: Any) -> Any:
        try:
            return await fn(**kwargs)
        except openai.APIStatusError as e:
            self.stats.errors += 1
            code = _error_code(e.response)
            if code == "cassette_miss":
                raise CassetteMiss(_error_message(e.response) or "cassette miss") from e
            raise ModelCallError(f"{e.status_code} {code or ''}: {_error_message(e.response) or e.message}".strip(),
                                 status=e.status_code) from e
        except openai.APIConnectionError as e:  # includes timeouts, after the SDK's retries
            self.stats.errors += 1
            raise ModelCallError(f"could not reach the model endpoint: {e.message}") from e

    def _count(self, reply: Reply) -> None:
        if reply.source == "cassette":
            self.stats.replayed += 1
        else:
            self.stats.model_calls += 1
        if reply.cost_usd is not None:
            self.stats.cost_usd += reply.cost_usd

    async def aclose(self) -> None:
        if self.cassette is not None and self.mode == "record":
            self.cassette.save()
        if self.cache is not None:
            self.cache.flush()
        await self.http.aclose()


_SDK_CHAT_PARAMS = {
    "messages", "model", "audio", "frequency_penalty", "function_call", "functions", "logit_bias", "logprobs",
    "max_completion_tokens", "max_tokens", "metadata", "modalities", "n", "parallel_tool_calls", "prediction",
    "presence_penalty", "reasoning_effort", "response_format", "seed", "service_tier", "stop", "store",
    "temperature", "tool_choice", "tools", "top_logprobs", "top_p", "user",
}


def _reply_from(data: dict[str, Any]) -> Reply | None:
    """A cached reply, or None if it was written by a version of Reply with other fields (a miss)."""
    try:
        return Reply(**data)
    except TypeError:
        return None


def _float_or_none(v: str | None) -> float | None:
    try:
        return float(v) if v is not None else None
    except ValueError:
        return None


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def _error_code(response: httpx.Response) -> str | None:
    code = _error_body(response).get("code")
    return str(code) if code is not None else None


def _error_message(response: httpx.Response) -> str | None:
    msg = _error_body(response).get("message")
    return str(msg) if msg is not None else None

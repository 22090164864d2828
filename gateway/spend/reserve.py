"""A request's worst case: the model groups it may reach, and the most it can cost and use there.

Budgets and TPM limits hold this before the upstream call and settle to the real usage after, so
concurrent requests can never commit more than a budget holds. (Reserving a key's average cost,
or nothing for `prompt:`/`rag:` models, let 50 parallel requests spend 11x a budget.)

The bound is deliberately an over-estimate, computed without a tokenizer (this runs on every
request): a byte-level BPE token is at least one UTF-8 byte, so a text's byte count bounds its
tokens for every model; images count as the largest tile grid a provider bills, tool schemas
and response formats by their JSON bytes. A deployment's `max_input_tokens` caps the prompt (an
upstream refuses a longer one, and a refused request costs nothing). The output is the request's
own `max_completion_tokens`/`max_tokens`, else the model's output limit from the price table,
else `spend.reserve_max_output_tokens`; times `n`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from gateway.spend.pricing import Price, PriceTable, Usage, cost_usd

if TYPE_CHECKING:
    from gateway.config import Config, ModelGroup

# The most prompt tokens one image part can bill: OpenAI's high-detail grid (2048x768 -> 8 tiles of
# 170 + 85) is 1,445; Anthropic's ~1.15 megapixel cap is ~1,600.
IMAGE_TOKENS = 1_600
_FRAMING = 8  # per message: role, name and the chat template's separators
# a RAG chunk is cut in MiniLM wordpieces; other tokenizers split the same text into at most ~2x as many
_CHUNK_TOKEN_FACTOR = 2
_CHUNK_OVERHEAD = 64  # its title/heading line and citation marker


def _text_bytes(value: Any) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else 0


def _content_bound(content: Any) -> int:
    if isinstance(content, str):
        return _text_bytes(content)
    if not isinstance(content, list):
        return 0
    n = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            n += _text_bytes(part.get("text"))
        elif kind in ("image_url", "image", "input_image"):
            n += IMAGE_TOKENS
        elif kind in ("input_audio", "file", "document"):
            # audio bills ~10 tokens a second, far below its base64 size; a document its text
            n += len(orjson.dumps(part))
        else:
            n += len(orjson.dumps(part))
    return n


def prompt_bound(body: dict[str, Any]) -> int:
    """An upper bound on the prompt tokens of a chat or embeddings request body."""
    n = 0
    msgs = body.get("messages")
    if isinstance(msgs, list):
        for m in msgs:
            if not isinstance(m, dict):
                continue
            n += _FRAMING + _content_bound(m.get("content")) + _text_bytes(m.get("name"))
            if m.get("tool_calls"):
                n += len(orjson.dumps(m["tool_calls"]))
    for key in ("tools", "functions", "response_format"):
        if body.get(key):
            n += len(orjson.dumps(body[key]))
    inp = body.get("input")
    if isinstance(inp, str):
        n += _text_bytes(inp)
    elif isinstance(inp, list):
        for x in inp:
            n += _text_bytes(x) if isinstance(x, str) else len(x) if isinstance(x, list) else 0
    q = body.get("question")  # the RAG query API
    if isinstance(q, str):
        n += _text_bytes(q)
    return n + 3  # the reply primer


def requested_output(body: dict[str, Any]) -> int | None:
    for key in ("max_completion_tokens", "max_tokens"):
        v = body.get(key)
        if isinstance(v, int) and not isinstance(v, bool) and v > 0:
            return v
    return None


def _choices(body: dict[str, Any]) -> int:
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


@dataclass(frozen=True, slots=True)
class Target:
    """One deployment a request may reach, with what the budget and TPM reserve for it."""

    group: str
    deployment_id: str
    price: Price | None


@dataclass(frozen=True, slots=True)
class Route:
    """The groups a model name resolves to, in the order the router tries them.

    `chains` holds, per upstream call the request makes (a `rag:` pipeline's answer, and its query
    embedding when that goes through a model group), the primary group and its fallbacks.
    `context_tokens` is what a RAG pipeline adds to the prompt (its retrieved chunks and template).
    """

    chains: tuple[tuple[ModelGroup, ...], ...]
    embedding_chains: tuple[tuple[ModelGroup, ...], ...] = ()
    context_tokens: int = 0
    output_cap: int | None = None  # a RAG pipeline's own max_tokens


def _chain(config: Config, name: str | None) -> tuple[ModelGroup, ...]:
    g = config.group(name) if name else None
    if g is None:
        return ()
    out, seen = [g], {g.name}
    for fb in g.fallbacks:  # the router tries the primary's own fallbacks, in order (one level)
        fg = config.group(fb)
        if fg is not None and fg.name not in seen:
            seen.add(fg.name)
            out.append(fg)
    return tuple(out)


def route_of(config: Config, model: str, body: dict[str, Any]) -> Route:
    """Where `model` (after a `prompt:` was rendered) sends the request; empty when unknown."""
    if model.startswith("rag:"):
        cfg = config.rag.pipelines.get(model[4:])
        if cfg is None:
            return Route(chains=())
        asked = body.get("top_k")
        top_k: int = asked if isinstance(asked, int) else cfg.retriever.top_k
        chunk = _CHUNK_TOKEN_FACTOR * config.rag.chunking.max_tokens + _CHUNK_OVERHEAD
        template = _text_bytes(cfg.template()) + _text_bytes(cfg.system_prompt)
        gen = _chain(config, cfg.model)
        emb = _chain(config, cfg.embedding_model)
        return Route(chains=(gen,) if gen else (), embedding_chains=(emb,) if emb else (),
                     context_tokens=max(0, top_k) * chunk + template, output_cap=cfg.max_tokens)
    chain = _chain(config, model)
    return Route(chains=(chain,) if chain else ())


class WorstCase:
    """Prices the worst case of a request over the deployments it may reach."""

    def __init__(self, prices: PriceTable, deployment_prices: dict[str, Any], default_max_output: int) -> None:
        self.prices = prices
        self.deployment_prices = deployment_prices
        self.default_max_output = default_max_output

    def price_of(self, group: ModelGroup, i: int) -> Price | None:
        d = group.deployments[i]
        return self.prices.lookup(d.model, d.provider, self.deployment_prices.get(d.id or ""))

    def bound(self, route: Route, groups: list[ModelGroup], body: dict[str, Any], *,
              chat: bool) -> tuple[float, int]:
        """(USD, tokens): the most one request can cost and use on any of `groups` (the permitted
        part of `route`); the embedding call of a RAG query adds its own."""
        prompt = prompt_bound(body) + route.context_tokens
        asked = requested_output(body)
        if route.output_cap is not None:
            asked = min(asked, route.output_cap) if asked is not None else route.output_cap
        usd, tokens = 0.0, 0
        allowed = {g.name for g in groups}
        for chain in route.chains:
            for g in chain:
                if g.name not in allowed:
                    continue
                for i in range(len(g.deployments)):
                    price = self.price_of(g, i)
                    p = prompt if price is None or price.max_input_tokens is None else min(prompt, price.max_input_tokens)
                    if chat and g.mode == "chat":
                        out = asked or (price.max_output_tokens if price and price.max_output_tokens else None) \
                            or self.default_max_output
                        out *= _choices(body)
                    else:
                        out = 0
                    tokens = max(tokens, p + out)
                    if price is not None:
                        usd = max(usd, cost_usd(Usage(prompt=p, completion=out), price))
        emb_prompt = prompt_bound({"input": body.get("question") or _last_user_text(body)}) \
            if route.embedding_chains else 0
        for chain in route.embedding_chains:
            worst = 0.0
            for g in chain:
                if g.name in allowed:
                    for i in range(len(g.deployments)):
                        price = self.price_of(g, i)
                        if price is not None:
                            worst = max(worst, cost_usd(Usage(prompt=emb_prompt), price))
            usd += worst
        return usd, tokens


def _last_user_text(body: dict[str, Any]) -> str:
    msgs = body.get("messages")
    if isinstance(msgs, list):
        for m in reversed(msgs):
            if isinstance(m, dict) and m.get("role") == "user":
                c = m.get("content")
                return c if isinstance(c, str) else ""
    return ""

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

# The most prompt tokens one image part can bill. OpenAI's high-detail grid (2048x768 -> 8 tiles of
# 170 + 85) is 1,445 and Anthropic's ~1.15 megapixel cap ~1,600; some models bill images at a
# multiple of that (priced low per token to match): gpt-4o-mini 2,833 + 5,667 a tile, the patch-based
# gpt-4.1-mini/nano and o4-mini up to ~3.8k.
IMAGE_TOKENS = 1_600
_IMAGE_TOKENS_BY_PREFIX = (("gpt-4o-mini", 48_200), ("gpt-4.1-mini", 4_000), ("gpt-4.1-nano", 4_000),
                           ("o4-mini", 4_000))
_FRAMING = 8  # per message: role, name and the chat template's separators
# a RAG chunk is cut in MiniLM wordpieces; other tokenizers split the same text into at most ~2x as many
_CHUNK_TOKEN_FACTOR = 2
_CHUNK_OVERHEAD = 64  # its title/heading line and citation marker


def _text_bytes(value: Any) -> int:
    return len(value.encode("utf-8", "surrogatepass")) if isinstance(value, str) else 0


def image_tokens(model: str) -> int:
    m = model.rsplit("/", 1)[-1].lower()
    for prefix, n in _IMAGE_TOKENS_BY_PREFIX:
        if m.startswith(prefix):
            return n
    return IMAGE_TOKENS


def _content_bound(content: Any) -> tuple[int, int]:
    """(text tokens bound, image parts)."""
    if isinstance(content, str):
        return _text_bytes(content), 0
    if not isinstance(content, list):
        return 0, 0
    n = images = 0
    for part in content:
        if not isinstance(part, dict):
            continue
        kind = part.get("type")
        if kind == "text":
            n += _text_bytes(part.get("text"))
        elif kind in ("image_url", "image", "input_image"):
            images += 1
        else:  # audio bills ~10 tokens a second, far below its base64 size; a document its text
            n += len(orjson.dumps(part))
    return n, images


@dataclass(frozen=True, slots=True)
class PromptBound:
    tokens: int  # text, tools, schemas: an upper bound for every byte-level tokenizer
    images: int = 0  # image parts: their tokens depend on the model (`image_tokens`)
    inputs: int = 1  # embeddings: how many inputs (a model's input limit is per input)
    output_extra: int = 0  # `prediction` content: rejected predicted tokens bill as output


def prompt_bound(body: dict[str, Any]) -> int:
    """An upper bound on the prompt tokens of a request body, images at the default rate."""
    b = bound_parts(body)
    return b.tokens + b.images * IMAGE_TOKENS


def bound_parts(body: dict[str, Any]) -> PromptBound:
    """The parts of a chat, embeddings or RAG query body's prompt bound."""
    n = images = 0
    msgs = body.get("messages")
    if isinstance(msgs, list):
        for m in msgs:
            if not isinstance(m, dict):
                continue
            text, imgs = _content_bound(m.get("content"))
            n += _FRAMING + text + _text_bytes(m.get("name"))
            images += imgs
            for key in ("tool_calls", "function_call", "audio"):
                if m.get(key):
                    n += len(orjson.dumps(m[key]))
    for key in ("tools", "functions", "response_format"):
        if body.get(key):
            n += len(orjson.dumps(body[key]))
    inputs = 1
    inp = body.get("input")
    if isinstance(inp, str):
        n += _text_bytes(inp)
    elif isinstance(inp, list):
        if inp and all(isinstance(x, int) for x in inp):  # one input as token ids
            n += len(inp)
        else:
            inputs = max(1, len(inp))
            for x in inp:
                n += _text_bytes(x) if isinstance(x, str) else len(x) if isinstance(x, list) else 0
    q = body.get("question")  # the RAG query API
    if isinstance(q, str):
        n += _text_bytes(q)
    extra = 0
    pred = body.get("prediction")
    if isinstance(pred, dict) and pred.get("content"):
        extra = len(orjson.dumps(pred["content"]))
    return PromptBound(n + 3, images, inputs, extra)  # + the reply primer


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
    output_default: int | None = None  # a RAG pipeline's own max_tokens (the request's wins)


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


def route_of(config: Config, model: str, body: dict[str, Any], *, query_api: bool = False) -> Route:
    """Where `model` (after a `prompt:` was rendered) sends the request; empty when unknown.

    For a `rag:` pipeline it mirrors what the pipeline sends upstream (gateway/integrations/rag.py):
    the query API's `top_k` (the chat route always retrieves the pipeline's own), and an output
    limit of the request's max_tokens, else the pipeline's."""
    if model.startswith("rag:"):
        cfg = config.rag.pipelines.get(model[4:])
        if cfg is None:
            return Route(chains=())
        asked = body.get("top_k") if query_api else None
        top_k: int = asked if isinstance(asked, int) and not isinstance(asked, bool) else cfg.retriever.top_k
        chunk = _CHUNK_TOKEN_FACTOR * config.rag.chunking.max_tokens + _CHUNK_OVERHEAD
        template = _text_bytes(cfg.template()) + _text_bytes(cfg.system_prompt)
        gen = _chain(config, cfg.model)
        emb = _chain(config, cfg.embedding_model)
        return Route(chains=(gen,) if gen else (), embedding_chains=(emb,) if emb else (),
                     context_tokens=max(0, top_k) * chunk + template, output_default=cfg.max_tokens)
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
        part of `route`); the embedding call of a RAG query adds its own. Each side is priced at
        its dearest rate (cache writes and audio for the prompt; audio and reasoning for output)."""
        parts = bound_parts(body)
        asked = requested_output(body) or route.output_default
        usd, tokens = 0.0, 0
        allowed = {g.name for g in groups}
        for chain in route.chains:
            for g in chain:
                if g.name not in allowed:
                    continue
                for i, d in enumerate(g.deployments):
                    price = self.price_of(g, i)
                    p = parts.tokens + parts.images * image_tokens(d.model) + route.context_tokens
                    limit = price.max_input_tokens if price is not None else None
                    if limit is not None:  # an upstream refuses more (a refused request costs nothing)
                        p = min(p, limit * parts.inputs if g.mode == "embedding" else limit)
                    if chat and g.mode == "chat":
                        top = price.max_output_tokens if price is not None else None
                        out = asked or top or self.default_max_output
                        if top is not None:
                            out = min(out, top)
                        out = out * _choices(body) + parts.output_extra
                    else:
                        out = 0
                    tokens = max(tokens, p + out)
                    if price is not None:
                        usd = max(usd, _dearest(p, out, price))
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


def _dearest(prompt: int, output: int, price: Price) -> float:
    """The cost of `prompt` and `output` tokens, every one at its side's dearest rate."""
    rate_in = max(r for r in (price.input_per_mtok, price.cache_write_per_mtok, price.input_audio_per_mtok,
                              price.input_image_per_mtok) if r is not None)
    rate_out = max(r for r in (price.output_per_mtok, price.reasoning_per_mtok, price.output_audio_per_mtok,
                               price.output_image_per_mtok) if r is not None)
    return round((prompt * rate_in + output * rate_out) / 1_000_000, 10)


def _last_user_text(body: dict[str, Any]) -> str:
    msgs = body.get("messages")
    if isinstance(msgs, list):
        for m in reversed(msgs):
            if isinstance(m, dict) and m.get("role") == "user":
                c = m.get("content")
                return c if isinstance(c, str) else ""
    return ""

"""Prices: litellm's bundled price table read as data, overridden and extended from config.

`import litellm` costs ~4.5 s, so the JSON file is located with importlib and parsed directly.
A model with no price is *unpriced*: its cost is None (never a silent $0), a warning is logged
once per model and a counter counts every unpriced request.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import logging
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("sluice.spend.pricing")

_LITELLM_FILE = "model_prices_and_context_window_backup.json"


# litellm's per-token fields, by our token class (USD per token in the table, per million here)
_TABLE_RATES = {
    "input_per_mtok": "input_cost_per_token",
    "output_per_mtok": "output_cost_per_token",
    "cached_input_per_mtok": "cache_read_input_token_cost",
    "cache_write_per_mtok": "cache_creation_input_token_cost",
    "reasoning_per_mtok": "output_cost_per_reasoning_token",
    "input_audio_per_mtok": "input_cost_per_audio_token",
    "output_audio_per_mtok": "output_cost_per_audio_token",
    "input_image_per_mtok": "input_cost_per_image_token",
    "output_image_per_mtok": "output_cost_per_image_token",
}
_OPTIONAL_RATES = tuple(k for k in _TABLE_RATES if k not in ("input_per_mtok", "output_per_mtok"))


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens, per token class; None: no rate of its own (see `cost_usd`)."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    cache_write_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    input_audio_per_mtok: float | None = None
    output_audio_per_mtok: float | None = None
    input_image_per_mtok: float | None = None
    output_image_per_mtok: float | None = None
    max_input_tokens: int | None = None
    max_output_tokens: int | None = None
    source: str = "config"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts in OpenAI's shape: `cached`, `cache_write`, `audio_in` and `image_in` are parts of
    `prompt`; `reasoning`, `audio_out` and `image_out` are parts of `completion`."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    reasoning: int = 0
    cache_write: int = 0
    audio_in: int = 0
    audio_out: int = 0
    image_in: int = 0
    image_out: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @classmethod
    def from_openai(cls, usage: dict[str, Any] | None) -> Usage:
        if not usage:
            return cls()
        ptd = usage.get("prompt_tokens_details") or {}
        ctd = usage.get("completion_tokens_details") or {}
        # Anthropic's cache writes: litellm reports them at the top level, newer shapes in the details
        write = usage.get("cache_creation_input_tokens") or ptd.get("cache_creation_tokens") or 0
        return cls(
            prompt=_int(usage.get("prompt_tokens")),
            completion=_int(usage.get("completion_tokens")),
            cached=_int(ptd.get("cached_tokens")),
            reasoning=_int(ctd.get("reasoning_tokens")),
            cache_write=_int(write),
            audio_in=_int(ptd.get("audio_tokens")),
            audio_out=_int(ctd.get("audio_tokens")),
            image_in=_int(ptd.get("image_tokens")),
            image_out=_int(ctd.get("image_tokens")),
        )


def _int(v: Any) -> int:
    return v if isinstance(v, int) and v > 0 else 0


def price_usage(usage: Usage, price: Price) -> tuple[float, tuple[str, ...]]:
    """(cost in USD, token classes the usage has but the price has no rate of its own for).

    Each class is charged at its own rate when the price has one, else at the plain input (or
    output) rate; a class in the second value makes the row *partially priced*. The special
    classes are parts of prompt/completion, and never count for more tokens than there are."""
    if not (usage.cached or usage.cache_write or usage.audio_in or usage.image_in
            or usage.reasoning or usage.audio_out or usage.image_out):  # the common case
        micro = usage.prompt * price.input_per_mtok + usage.completion * price.output_per_mtok
        return round(micro / 1_000_000, 10), ()
    missing: list[str] = []
    micro = 0.0
    for side, total, plain, parts in (
        ("in", usage.prompt, price.input_per_mtok,
         ((usage.cached, price.cached_input_per_mtok, "cached"), (usage.cache_write, price.cache_write_per_mtok, "cache_write"),
          (usage.audio_in, price.input_audio_per_mtok, "audio_in"), (usage.image_in, price.input_image_per_mtok, "image_in"))),
        ("out", usage.completion, price.output_per_mtok,
         ((usage.reasoning, price.reasoning_per_mtok, "reasoning"), (usage.audio_out, price.output_audio_per_mtok, "audio_out"),
          (usage.image_out, price.output_image_per_mtok, "image_out"))),
    ):
        left = total
        for n, own, cls in parts:
            n = min(n, left)
            left -= n
            if own is None:
                # a reasoning rate missing is not a gap: OpenAI bills reasoning as output tokens
                if n and cls != "reasoning":
                    missing.append(cls)
                micro += n * plain
            else:
                micro += n * own
        micro += left * plain
    # Round to 1e-10 USD so sums over many rows stay exact to the cent and reprs stay short.
    return round(micro / 1_000_000, 10), tuple(missing)


def cost_usd(usage: Usage, price: Price) -> float:
    """Cost of one request (see `price_usage`)."""
    return price_usage(usage, price)[0]


def unpriced_classes(usage: Usage, price: Price) -> tuple[str, ...]:
    """Token classes this usage has but the price has no rate for: the row is partially priced."""
    return price_usage(usage, price)[1]


def litellm_price_file() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / _LITELLM_FILE
    return p if p.exists() else None


def _litellm_version() -> str:
    try:
        return importlib.metadata.version("litellm")
    except importlib.metadata.PackageNotFoundError:
        return "none"


@lru_cache(maxsize=1)
def _load_litellm_table() -> dict[str, Price]:
    path = litellm_price_file()
    if path is None:
        log.warning("litellm's price table was not found; only configured prices are known")
        return {}
    raw: dict[str, Any] = orjson.loads(path.read_bytes())
    out: dict[str, Price] = {}
    for name, entry in raw.items():
        if not isinstance(entry, dict) or name == "sample_spec":
            continue
        inp, outp = entry.get("input_cost_per_token"), entry.get("output_cost_per_token")
        if not isinstance(inp, (int, float)) or not isinstance(outp, (int, float)):
            continue
        rates = {ours: entry[theirs] * 1e6 for ours, theirs in _TABLE_RATES.items()
                 if isinstance(entry.get(theirs), (int, float))}
        price = Price(**rates, max_input_tokens=_limit(entry.get("max_input_tokens")),
                      max_output_tokens=_limit(entry.get("max_output_tokens")), source="litellm")
        out[name] = price
        provider = entry.get("litellm_provider")
        if isinstance(provider, str) and "/" not in name:
            out.setdefault(f"{provider}/{name}", price)
    return out


def _limit(v: Any) -> int | None:
    return v if isinstance(v, int) and v > 0 else None


class PriceTable:
    """Looks a deployment's price up: deployment price > config override > litellm's table."""

    def __init__(self, overrides: dict[str, Any] | None = None, *, use_litellm: bool = True) -> None:
        self._base = _load_litellm_table() if use_litellm else {}
        self._overrides: dict[str, Price] = {}
        for model, p in (overrides or {}).items():
            self._overrides[model] = self._inherit(p, self._base_lookup(model, None), "config")
        self.unpriced = Counter[str]()
        self._warned: set[str] = set()
        self._memo: dict[tuple[str | None, str | None, int], tuple[Any, Price | None]] = {}
        overrides_blob = orjson.dumps(
            {k: v.__repr__() for k, v in sorted(self._overrides.items())}, option=orjson.OPT_SORT_KEYS
        )
        self.version = f"litellm-{_litellm_version() if use_litellm else 'off'}+cfg-" + hashlib.sha256(
            overrides_blob
        ).hexdigest()[:12]

    @staticmethod
    def _inherit(given: Any, base: Price | None, source: str) -> Price:
        """A configured price; the rates and limits it leaves unset come from the table's row."""
        d = given if isinstance(given, dict) else given.model_dump()
        d = {k: v for k, v in d.items() if v is not None}
        if base is not None:
            for k in (*_OPTIONAL_RATES, "max_input_tokens", "max_output_tokens"):
                if k not in d:
                    d[k] = getattr(base, k)
        return Price(**d, source=source)

    @staticmethod
    def _candidates(model: str, provider: str | None) -> list[str]:
        out = [f"{provider}/{model}", model] if provider and not model.startswith(f"{provider}/") else [model]
        if "/" in model:
            out.append(model.split("/", 1)[1])
        return out

    def _base_lookup(self, model: str | None, provider: str | None) -> Price | None:
        if not model:
            return None
        for c in self._candidates(model, provider):
            hit = self._base.get(c)
            if hit is not None:
                return hit
        return None

    def lookup(self, model: str | None, provider: str | None = None, deployment_price: Any = None) -> Price | None:
        """The price of a deployment: its own `price` > spend.prices > litellm's table, each
        inheriting the rates it leaves unset from the table. Memoised: it runs on every request."""
        memo_key = (model, provider, id(deployment_price))
        hit = self._memo.get(memo_key)
        if hit is not None and hit[0] is deployment_price:
            return hit[1]
        price = self._lookup(model, provider, deployment_price)
        if len(self._memo) > 4096:
            self._memo.clear()
        self._memo[memo_key] = (deployment_price, price)  # the object is kept, so its id is not reused
        return price

    def _lookup(self, model: str | None, provider: str | None, deployment_price: Any) -> Price | None:
        if deployment_price is not None:
            return self._inherit(deployment_price, self._base_lookup(model, provider), "deployment")
        if not model:
            return None
        for c in self._candidates(model, provider):
            hit = self._overrides.get(c)
            if hit is not None:
                return hit
        return self._base_lookup(model, provider)

    def note_unpriced(self, model: str | None) -> None:
        name = model or "<none>"
        self.unpriced[name] += 1
        if name not in self._warned:
            self._warned.add(name)
            log.warning("model %r has no price: its requests are recorded as unpriced (cost NULL); "
                        "add it under spend.prices or the deployment's price", name)

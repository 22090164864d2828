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


@dataclass(frozen=True, slots=True)
class Price:
    """USD per million tokens."""

    input_per_mtok: float
    output_per_mtok: float
    cached_input_per_mtok: float | None = None
    reasoning_per_mtok: float | None = None
    source: str = "config"


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts. `cached` is part of `prompt`; `reasoning` is part of `completion` (OpenAI's shape)."""

    prompt: int = 0
    completion: int = 0
    cached: int = 0
    reasoning: int = 0

    @property
    def total(self) -> int:
        return self.prompt + self.completion

    @classmethod
    def from_openai(cls, usage: dict[str, Any] | None) -> Usage:
        if not usage:
            return cls()
        ptd = usage.get("prompt_tokens_details") or {}
        ctd = usage.get("completion_tokens_details") or {}
        return cls(
            prompt=int(usage.get("prompt_tokens") or 0),
            completion=int(usage.get("completion_tokens") or 0),
            cached=int(ptd.get("cached_tokens") or 0),
            reasoning=int(ctd.get("reasoning_tokens") or 0),
        )


def cost_usd(usage: Usage, price: Price) -> float:
    """Cost of one request. Cached prompt tokens and reasoning tokens use their own rates when set."""
    cached = min(usage.cached, usage.prompt)
    reasoning = min(usage.reasoning, usage.completion)
    cached_rate = price.cached_input_per_mtok if price.cached_input_per_mtok is not None else price.input_per_mtok
    reasoning_rate = price.reasoning_per_mtok if price.reasoning_per_mtok is not None else price.output_per_mtok
    micro = (
        (usage.prompt - cached) * price.input_per_mtok
        + cached * cached_rate
        + (usage.completion - reasoning) * price.output_per_mtok
        + reasoning * reasoning_rate
    )
    # Round to 1e-10 USD so sums over many rows stay exact to the cent and reprs stay short.
    return round(micro / 1_000_000, 10)


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
        cached = entry.get("cache_read_input_token_cost")
        reasoning = entry.get("output_cost_per_reasoning_token")
        price = Price(
            input_per_mtok=inp * 1e6,
            output_per_mtok=outp * 1e6,
            cached_input_per_mtok=cached * 1e6 if isinstance(cached, (int, float)) else None,
            reasoning_per_mtok=reasoning * 1e6 if isinstance(reasoning, (int, float)) else None,
            source="litellm",
        )
        out[name] = price
        provider = entry.get("litellm_provider")
        if isinstance(provider, str) and "/" not in name:
            out.setdefault(f"{provider}/{name}", price)
    return out


class PriceTable:
    """Looks a deployment's price up: deployment price > config override > litellm's table."""

    def __init__(self, overrides: dict[str, Any] | None = None, *, use_litellm: bool = True) -> None:
        self._overrides: dict[str, Price] = {}
        for model, p in (overrides or {}).items():
            d = p if isinstance(p, dict) else p.model_dump()
            self._overrides[model] = Price(**d, source="config")
        self._base = _load_litellm_table() if use_litellm else {}
        self.unpriced = Counter[str]()
        self._warned: set[str] = set()
        overrides_blob = orjson.dumps(
            {k: v.__repr__() for k, v in sorted(self._overrides.items())}, option=orjson.OPT_SORT_KEYS
        )
        self.version = f"litellm-{_litellm_version() if use_litellm else 'off'}+cfg-" + hashlib.sha256(
            overrides_blob
        ).hexdigest()[:12]

    def lookup(self, model: str | None, provider: str | None = None, deployment_price: Any = None) -> Price | None:
        if deployment_price is not None:
            d = deployment_price if isinstance(deployment_price, dict) else deployment_price.model_dump()
            return Price(**d, source="deployment")
        if not model:
            return None
        candidates = [f"{provider}/{model}", model] if provider and not model.startswith(f"{provider}/") else [model]
        if "/" in model:
            candidates.append(model.split("/", 1)[1])
        for table in (self._overrides, self._base):
            for c in candidates:
                hit = table.get(c)
                if hit is not None:
                    return hit
        return None

    def note_unpriced(self, model: str | None) -> None:
        name = model or "<none>"
        self.unpriced[name] += 1
        if name not in self._warned:
            self._warned.add(name)
            log.warning("model %r has no price: its requests are recorded as unpriced (cost NULL); "
                        "add it under spend.prices or the deployment's price", name)

"""What a capability is: one unit per feature (keys and spend, prompts, guardrails, cache, RAG,
telemetry), listed by the composition root (gateway/composition.py) and special-cased nowhere else.

A capability contributes, for each config generation, pipeline stages in a declared slot (the
pipeline runs them in slot order, whatever order the capabilities are listed in), its virtual
models, and per-generation parts the routes read; once per process, its admin routers (mounted at
start and resolving the live generation, so a reload that turns a capability on or off needs no
restart) and the config settings it reads only at start-up (a reload that changes them says they
apply at the next restart). Warm-ups are started from `build` (gateway/engine/warmup.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum
from typing import TYPE_CHECKING

from fastapi import APIRouter

from gateway.config import Config
from gateway.hooks import Hook

if TYPE_CHECKING:
    from gateway.engine.router import Router
    from gateway.runtime import Gateway
    from prompts import PromptRegistry


class Slot(IntEnum):
    """Where a stage runs. `before` runs in this order; `after` and `finished` too, so the ledger
    (last) sees what output guardrails and the cache did."""

    AUTH = 10  # who is calling: the virtual key
    PROMPTS = 20  # a registered prompt rendered into the request
    ADMISSION = 25  # allow-lists, rate limits, budgets: on the model the request resolved to
    GUARDRAILS = 30  # input scanners before, output scanners after
    CACHE = 40  # lookup before the upstream, store after
    CAPTURE = 70  # a sampled, redacted copy of the exchange for eval datasets
    LEDGER = 80  # pricing and the spend ledger


@dataclass
class Build:
    """What one generation's build hands each capability, and what they add to it."""

    config: Config
    gateway: Gateway
    router: Router  # the new generation's (a reload builds everything before swapping it in)
    stages: list[tuple[Slot, Hook]] = field(default_factory=list)
    # per-generation parts other capabilities and routes read (set by the capability that owns them)
    prompt_registry: PromptRegistry | None = None
    injection_scanner: Callable[..., bool] | None = None  # (text, threshold=None) -> is an injection

    def add(self, slot: Slot, hook: Hook) -> None:
        self.stages.append((slot, hook))

    def ordered_hooks(self) -> list[Hook]:
        return [hook for _slot, hook in sorted(self.stages, key=lambda s: s[0])]


class Capability:
    name: str = "capability"
    restart_only: tuple[str, ...] = ()  # dotted config paths read once at start-up

    def build(self, b: Build) -> None:
        """Add this generation's stages, virtual models and parts (nothing when it is off)."""

    def wrap(self, hooks: list[Hook], b: Build) -> list[Hook]:
        """Wrap the ordered stages (telemetry's spans); most capabilities leave them as they are."""
        return hooks

    def admin_routers(self, gateway: Gateway) -> list[APIRouter]:
        """Mounted once per process; they must resolve the live generation at request time."""
        return []

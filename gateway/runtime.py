"""The running gateway: the current config generation (providers, router, hooks) and its reload.

A reload builds the whole new generation first; only if that succeeds is it swapped in with one
assignment. Requests hold the generation they started with, so a swap never changes a request
midway; the old generation is closed once the drain period has passed. What a generation is made
of is the composition root's business (gateway/composition.py): the gateway is handed the
function that builds one and the settings that apply only at start-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gateway.clock import Clock, SystemClock
from gateway.config import Config, load_config
from gateway.engine.pipeline import Pipeline
from gateway.engine.router import Router
from gateway.engine.warmup import Warmups
from gateway.errors import ConfigError
from gateway.providers.base import Provider, provider_class
from gateway.providers.http_pool import close_session
from gateway.services import Services

if TYPE_CHECKING:
    from prompts import PromptRegistry

log = logging.getLogger("sluice.runtime")


def restart_only_changes(old: Config, new: Config, paths: tuple[str, ...]) -> list[str]:
    """Which of `paths` (dotted config paths read once at start-up) differ between two configs."""
    def pick(cfg: Config, path: str) -> Any:
        node: Any = cfg
        for part in path.split("."):
            node = getattr(node, part)
        return node.model_dump() if hasattr(node, "model_dump") else node

    return [p for p in paths if pick(old, p) != pick(new, p)]


class Generation:
    """One config's router and pipeline, and the per-generation parts routes read."""

    def __init__(self, config: Config, router: Router, pipeline: Pipeline, *,
                 prompt_registry: PromptRegistry | None = None) -> None:
        self.config = config
        self.router = router
        self.pipeline = pipeline
        self.prompt_registry = prompt_registry  # None when prompts are off in this config

    async def aclose(self) -> None:
        for hook in self.pipeline.hooks:
            try:
                await hook.aclose()
            except Exception:
                log.exception("closing hook %s failed", hook.name)
        await self.router.aclose()


def build_providers(config: Config, shared: dict[str, Any]) -> dict[str, Provider]:
    providers: dict[str, Provider] = {}
    for group in config.models:
        for d in group.deployments:
            try:
                cls = provider_class(d.provider)
            except KeyError:
                from gateway.providers.base import provider_kinds

                raise ConfigError(f"model group {group.name!r}: unknown provider {d.provider!r}; "
                                  f"known: {', '.join(provider_kinds())}") from None
            if group.mode == "embedding" and not cls.supports_embeddings:
                raise ConfigError(f"model group {group.name!r}: provider {d.provider!r} cannot serve embeddings")
            if group.mode == "chat" and not cls.supports_chat:
                raise ConfigError(f"model group {group.name!r}: provider {d.provider!r} cannot serve chat")
            providers[d.id] = cls(d, shared=shared)  # type: ignore[index]
    return providers


BuildGeneration = Callable[["Gateway", Config], Awaitable[Generation]]


class Gateway:
    def __init__(self, config: Config, *, build: BuildGeneration, restart_only: tuple[str, ...] = (),
                 clock: Clock | None = None, config_path: str | Path | None = None) -> None:
        self.clock = clock or SystemClock()
        self.config_path = Path(config_path) if config_path else None
        self._build_generation = build
        self.restart_only = restart_only  # settings a reload cannot change (they apply at the next restart)
        self.shared: dict[str, Any] = {}  # process-wide provider resources (the HTTP pool)
        self.services = Services()  # long-lived components that outlive generations (gateway/services.py)
        self.generation: Generation | None = None
        self._initial = config
        self._retired: list[asyncio.Task[None]] = []
        self.draining = False
        self.started_wall = self.clock.time()
        self.warmups = Warmups()  # background loads /readyz waits for (gateway/engine/warmup.py)

    @property
    def config(self) -> Config:
        return self.generation.config if self.generation else self._initial

    @property
    def router(self) -> Router:
        assert self.generation is not None, "gateway not started"
        return self.generation.router

    @property
    def hooks(self) -> list[Any]:
        assert self.generation is not None, "gateway not started"
        return self.generation.pipeline.hooks

    def virtual_model_names(self) -> list[str]:
        return list(self.generation.router.virtual_names) if self.generation else []

    async def _build(self, config: Config) -> Generation:
        return await self._build_generation(self, config)

    async def start(self) -> None:
        self.generation = await self._build(self._initial)

    async def reload(self, config: Config | None = None) -> bool:
        """Swap in a new config; on any error keep serving the old one and log why."""
        try:
            if config is None:
                if self.config_path is None:
                    raise ConfigError("no config file to reload from")
                config = load_config(self.config_path)
            new = await self._build(config)
        except (ConfigError, ValueError, OSError) as exc:
            log.error("config reload rejected, still serving the previous config: %s", exc)
            return False
        except Exception:  # a bug in a build must not end the file watch or the SIGHUP handler
            log.exception("config reload failed unexpectedly, still serving the previous config")
            return False
        old, self.generation = self.generation, new
        log.info("config reloaded: %d model groups", len(config.models))
        if old is not None:
            self._apply_live_telemetry(old.config, config)
            if pending := restart_only_changes(old.config, config, self.restart_only):
                log.warning("config reload: %s changed; those settings apply at the next restart",
                            ", ".join(pending))
        if old is not None:
            self._retired.append(asyncio.ensure_future(self._retire(old)))
        return True

    def _apply_live_telemetry(self, old: Config, new: Config) -> None:
        tel = self.services.telemetry
        if tel is not None:
            tel.reconfigure(new.telemetry)
        o, n = old.telemetry, new.telemetry
        if (o.log_level, o.log_format) != (n.log_level, n.log_format):
            from gateway.telemetry.logs import reconfigure_logging

            reconfigure_logging(n.log_level, n.log_format)

    async def watch_config(self, interval_s: float = 1.0) -> None:
        """Reload when the config file changes (mtime or size); a cheap stat per interval."""
        assert self.config_path is not None

        def signature() -> tuple[float, int] | None:
            try:
                st = self.config_path.stat()  # type: ignore[union-attr]
            except OSError:
                return None
            return (st.st_mtime, st.st_size)

        last = signature()
        while True:
            await asyncio.sleep(interval_s)
            now = signature()
            if now is not None and now != last:
                last = now
                await self.reload()

    async def _retire(self, gen: Generation) -> None:
        try:
            await asyncio.sleep(self.config.server.drain_timeout_s)  # let requests on it finish
        finally:  # and at shutdown at once: its providers stop what still runs (a local model's generation)
            await gen.aclose()

    async def aclose(self) -> None:
        for t in self._retired:
            t.cancel()
        await asyncio.gather(*self._retired, return_exceptions=True)
        if self.generation is not None:
            await self.generation.aclose()
        await self.services.aclose()
        await close_session(self.shared)

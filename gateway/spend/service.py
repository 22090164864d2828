"""SpendService: the database, ledger writer, key store, counters, budgets and alerts of one gateway.

Built once by the composition root from the Config; the hooks, the admin/spend routers and the
CLI all use it. `start()` migrates the database and starts the ledger writer; `aclose()` flushes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from gateway.clock import Clock, SystemClock
from gateway.errors import ConfigError
from gateway.spend.alerts import BudgetAlerter
from gateway.spend.auth import KeyAuthenticator, KeyHasher
from gateway.spend.budgets import BudgetEnforcer
from gateway.spend.db import database_url, make_engine, migrate
from gateway.spend.keystore import KeyStore
from gateway.spend.ledger import LedgerWriter
from gateway.spend.limits import Counters, MemoryCounters, RateLimiter, RedisCounters
from gateway.spend.pricing import PriceTable

if TYPE_CHECKING:
    from gateway.config import Config


def check_workers(config: Config) -> None:
    """Several workers cannot share in-process counters: refuse to start instead of under-limiting."""
    if config.auth.enabled and config.server.workers > 1 and config.auth.counters.backend == "memory":
        raise ConfigError(f"server.workers is {config.server.workers} but auth.counters.backend is memory: "
                          "rate limits and budgets would hold per worker only. Set auth.counters.backend: "
                          "redis (and $SLUICE_REDIS_URL) or run one worker.")


def make_counters(config: Config, clock: Clock) -> Counters:
    c = config.auth.counters
    if c.backend == "redis":
        url = os.environ.get(c.redis_url_env) or c.redis_url
        if not url:
            raise ConfigError(f"auth.counters.backend is redis but neither ${c.redis_url_env} nor "
                              "auth.counters.redis_url is set")
        return RedisCounters(url, prefix=c.key_prefix)
    return MemoryCounters(clock)


class SpendService:
    def __init__(self, config: Config, *, clock: Clock | None = None, engine: sa.Engine | None = None,
                 counters: Counters | None = None) -> None:
        check_workers(config)
        self.config = config
        self.clock = clock or SystemClock()
        base = Path(config.base_dir)
        self.engine = engine or make_engine(database_url(config.spend.ledger, base))
        spool = Path(config.spend.ledger.spool_dir)
        lc = config.spend.ledger
        self.writer = LedgerWriter(self.engine, spool if spool.is_absolute() else base / spool,
                                   batch_size=lc.batch_size, flush_interval_s=lc.flush_interval_s, fsync=lc.fsync,
                                   retention_days=config.spend.retention.raw_days,
                                   prune_batch_rows=config.spend.retention.batch_rows,
                                   prune_interval_s=config.spend.retention.interval_s)
        self.prices = PriceTable(config.spend.prices)
        self.deployment_prices: dict[str, Any] = {
            d.id: d.price for g in config.models for d in g.deployments if d.id and d.price is not None
        }
        self.master_key = os.environ.get(config.auth.master_key_env) or None
        self._hasher: KeyHasher | None = None
        self.counters = counters or make_counters(config, self.clock)
        self.limiter = RateLimiter(self.counters, self.clock)
        self.alerter = BudgetAlerter(self.engine, config.spend.alerts.thresholds,
                                     webhook_url=config.spend.alerts.webhook_url,
                                     webhook_timeout_s=config.spend.alerts.webhook_timeout_s, clock=self.clock)
        self.budgets = BudgetEnforcer(self.counters, self.engine, clock=self.clock, on_spend=self.alerter)
        self._auth: KeyAuthenticator | None = None
        self._store: KeyStore | None = None
        self.started = False
        self._users = 0

    @property
    def hasher(self) -> KeyHasher:
        if self._hasher is None:
            self._hasher = KeyHasher.from_env(self.config.auth)
        return self._hasher

    @property
    def store(self) -> KeyStore:
        if self._store is None:
            self._store = KeyStore(self.engine, self.hasher, clock=self.clock)
        return self._store

    @property
    def authenticator(self) -> KeyAuthenticator:
        if self._auth is None:
            self._auth = KeyAuthenticator(self.store, self.hasher, master_key=self.master_key,
                                          cache_ttl_s=self.config.auth.cache_ttl_s, clock=self.clock)
        return self._auth

    def migrate(self) -> None:
        migrate(self.engine)

    def reconfigure(self, config: Config) -> None:
        """A config reload: prices and auth switches change; storage and counters need a restart."""
        self.config = config
        self.prices = PriceTable(config.spend.prices)
        r = config.spend.retention  # retention applies at once: the writer reads it every turn
        self.writer.retention_days, self.writer.prune_batch_rows = r.raw_days, r.batch_rows
        self.writer.prune_interval_s = r.interval_s
        self.deployment_prices = {
            d.id: d.price for g in config.models for d in g.deployments if d.id and d.price is not None
        }
        # the master key the new config names (auth.master_key_env), as the admin guard reads it
        self.master_key = os.environ.get(config.auth.master_key_env) or None
        if self._auth is not None:
            self._auth.cache_ttl_s = config.auth.cache_ttl_s
            self._auth.master_key = self.master_key

    def open(self) -> None:
        """Blocking start-up: migrate the database, recover dead processes' spools, open ours."""
        if self.started:
            return
        self.migrate()
        if self.config.auth.enabled:
            _ = self.authenticator  # fail at startup, not on the first request, when the secret is missing
        self.writer.open()
        self.started = True

    def ensure_running(self) -> None:
        """Start the ledger's background writer on the running loop (idempotent)."""
        if self.writer._task is None:
            import asyncio

            self.writer._task = asyncio.get_running_loop().create_task(self.writer._run(), name="sluice-ledger")

    async def start(self) -> None:
        import asyncio

        await asyncio.to_thread(self.open)
        self.ensure_running()

    def acquire(self) -> None:
        self._users += 1

    async def release(self) -> None:
        """One generation's hooks are done with the service; the last one closes it (flushes)."""
        self._users -= 1
        if self._users <= 0:
            await self.aclose()

    async def aclose(self) -> None:
        await self.writer.aclose()
        await self.alerter.aclose()
        await self.counters.aclose()
        self.engine.dispose()
        self.started = False


def spend_service(gateway: Any, config: Any = None) -> SpendService:
    """The gateway's one SpendService (it outlives config reloads), created and opened on first use
    from `config` (the generation being built; default the current one)."""
    svc: SpendService | None = gateway.services.spend
    if svc is None or not svc.started:  # none yet, or closed when a reload turned keys and spend off
        svc = SpendService(config if config is not None else gateway.config, clock=gateway.clock)
        svc.open()
        gateway.services.spend = svc
    return svc

"""Stored responses for the Responses API: in the gateway's database, else in memory.

A response is its owner's alone: the virtual key that created it (`""` with auth off, `admin`
for the master key). Another key asking for it gets 404, as if it did not exist. Each expires
`responses.ttl_s` after it was made; expired rows are deleted as new ones are written.
Database calls run on a worker thread: the event loop never waits on SQLite or PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.clock import Clock
from gateway.config import ResponsesConfig
from gateway.context import Principal
from gateway.spend.schema import stored_responses as T

_PURGE_EVERY = 200  # writes between deletions of expired rows


def owner_of(principal: Principal | None) -> str:
    if principal is None:
        return ""
    if principal.key_id:
        return principal.key_id
    return "admin" if principal.is_admin else ""


@dataclass(frozen=True, slots=True)
class Stored:
    response: dict[str, Any]
    turns: list[dict[str, Any]]


class ResponseStore:
    def __init__(self, cfg: ResponsesConfig, clock: Clock, engine: sa.Engine | None) -> None:
        self.cfg = cfg
        self.clock = clock
        self.engine = engine
        self._memory: OrderedDict[str, tuple[str, float, bytes, bytes]] = OrderedDict()
        self._writes = 0

    async def put(self, owner: str, response: dict[str, Any], turns: list[dict[str, Any]]) -> bool:
        """Store; False when the conversation is over `max_stored_bytes` (then it is not kept)."""
        resp_raw, turns_raw = orjson.dumps(response), orjson.dumps(turns)
        if len(resp_raw) + len(turns_raw) > self.cfg.max_stored_bytes:
            return False
        now = self.clock.time()
        expires = now + self.cfg.ttl_s
        if self.engine is None:
            self._memory[response["id"]] = (owner, expires, resp_raw, turns_raw)
            while len(self._memory) > self.cfg.memory_entries:
                self._memory.popitem(last=False)
            return True
        self._writes += 1
        purge = self._writes % _PURGE_EVERY == 1
        row = {"id": response["id"], "owner": owner, "created_at": now, "expires_at": expires,
               "model": str(response.get("model", ""))[:256], "response": resp_raw.decode(),
               "turns": turns_raw.decode()}
        await asyncio.to_thread(self._insert, row, now if purge else None)
        return True

    def _insert(self, row: dict[str, Any], purge_before: float | None) -> None:
        assert self.engine is not None
        with self.engine.begin() as conn:
            conn.execute(T.insert().values(**row))
            if purge_before is not None:
                conn.execute(T.delete().where(T.c.expires_at < purge_before))

    async def get(self, owner: str, resp_id: str) -> Stored | None:
        now = self.clock.time()
        if self.engine is None:
            hit = self._memory.get(resp_id)
            if hit is None or hit[0] != owner or hit[1] < now:
                return None
            return Stored(orjson.loads(hit[2]), orjson.loads(hit[3]))
        row = await asyncio.to_thread(self._select, resp_id)
        if row is None or row.owner != owner or row.expires_at < now:
            return None
        return Stored(orjson.loads(row.response), orjson.loads(row.turns))

    def _select(self, resp_id: str) -> Any:
        assert self.engine is not None
        with self.engine.connect() as conn:
            return conn.execute(sa.select(T).where(T.c.id == resp_id)).first()

    async def delete(self, owner: str, resp_id: str) -> bool:
        if self.engine is None:
            hit = self._memory.get(resp_id)
            if hit is None or hit[0] != owner:
                return False
            del self._memory[resp_id]
            return True
        return await asyncio.to_thread(self._delete, owner, resp_id)

    def _delete(self, owner: str, resp_id: str) -> bool:
        assert self.engine is not None
        with self.engine.begin() as conn:
            res = conn.execute(T.delete().where(T.c.id == resp_id, T.c.owner == owner))
            return bool(res.rowcount)


def response_store(gateway: Any) -> ResponseStore:
    """The gateway's store, made on first use: in the spend database when spend or auth is on."""
    store: ResponseStore | None = gateway.services.responses
    if store is None:
        cfg = gateway.config
        engine = None
        if cfg.auth.enabled or cfg.spend.enabled:
            from gateway.spend.service import spend_service

            engine = spend_service(gateway).engine
        store = ResponseStore(cfg.responses, gateway.clock, engine)
        gateway.services.responses = store
    return store

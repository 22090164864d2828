"""Server-side console sessions: a random id in an HttpOnly cookie, state kept here in memory."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass

IDLE_S = 30 * 60.0


@dataclass(slots=True)
class Session:
    sid: str
    csrf: str
    team_id: str | None  # None: the admin (master key) sees every team
    label: str
    last_seen: float

    @property
    def is_admin(self) -> bool:
        return self.team_id is None


class SessionStore:
    """In-memory, per process; a session idle for longer than `idle_s` is gone."""

    def __init__(self, now: Callable[[], float], idle_s: float = IDLE_S, max_sessions: int = 10_000) -> None:
        self._now = now
        self.idle_s = idle_s
        self._max = max_sessions
        self._by_id: dict[str, Session] = {}

    def create(self, team_id: str | None, label: str) -> Session:
        now = self._now()
        if len(self._by_id) >= self._max:
            self._by_id = {k: s for k, s in self._by_id.items() if now - s.last_seen <= self.idle_s}
            if len(self._by_id) >= self._max:  # still full: drop the longest idle
                oldest = min(self._by_id.values(), key=lambda s: s.last_seen)
                del self._by_id[oldest.sid]
        s = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), team_id, label, now)
        self._by_id[s.sid] = s
        return s

    def get(self, sid: str | None) -> Session | None:
        if not sid:
            return None
        s = self._by_id.get(sid)
        if s is None:
            return None
        now = self._now()
        if now - s.last_seen > self.idle_s:
            del self._by_id[sid]
            return None
        s.last_seen = now
        return s

    def drop(self, sid: str) -> None:
        self._by_id.pop(sid, None)


def csrf_ok(session: Session, presented: str | None) -> bool:
    return bool(presented) and hmac.compare_digest(session.csrf.encode(), str(presented).encode())

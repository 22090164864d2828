"""Build the ledger row for one request from its RequestContext, and bound it to the schema.

Every value in a row can come from a client (its request id, model name, tags) or an upstream
(token counts), so `bound_row` makes each one fit its column before the row reaches the spool:
text is cut to the column's size (`schema.text_bounds`) keeping the first characters and ending in
TRUNCATED, NUL and unpaired surrogates become U+FFFD, integers are clamped to a 32-bit INTEGER,
non-finite floats become null, unknown keys are dropped. A row that fits cannot be refused for its
size or encoding, on SQLite or PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
from typing import Any

import orjson
import sqlalchemy as sa

from gateway.context import RequestContext
from gateway.ids import random_hex16
from gateway.spend.pricing import Usage
from gateway.spend.schema import ledger, text_bounds

TRUNCATED = "…[truncated]"  # ends a value cut to its column's size
ROW_ID_CHARS = 64  # the row_id column

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1  # PostgreSQL INTEGER
_TEXT, _INT, _FLOAT, _BOOL = "text", "int", "float", "bool"


def new_row_id() -> str:
    """A server-made id, unique per row: what makes replaying a spool idempotent (128 random bits,
    buffered: gateway/ids.py)."""
    return random_hex16()


def clean_text(value: object, limit: int) -> str:
    """`value` as text of at most `limit` characters that SQLite and PostgreSQL both store."""
    s = value if isinstance(value, str) else str(value)
    if len(s) > limit:
        s = s[: limit - len(TRUNCATED)] + TRUNCATED if limit > len(TRUNCATED) else s[:limit]
    if "\x00" in s:
        s = s.replace("\x00", "\ufffd")
    if not s.isascii():
        try:
            s.encode("utf-8")
        except UnicodeEncodeError:  # an unpaired surrogate (from a JSON \ud800 escape)
            s = "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in s)
    return s


def _to_int(value: object) -> int | None:
    if value is None:
        return None
    try:
        n = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return None
    return min(max(n, _INT_MIN), _INT_MAX)


def _to_float(value: object) -> float | None:
    if value is None or isinstance(value, bool):
        return None if value is None else float(value)
    try:
        f = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None
    return f if math.isfinite(f) else None


def _column_plan() -> list[tuple[str, str, int, Any]]:
    """(name, kind, text bound, default for a missing value) for each ledger column a row carries."""
    bounds = text_bounds(ledger)
    plan = []
    for c in ledger.columns:
        if c.name in ("id", "row_id"):
            continue
        default = c.default.arg if isinstance(c.default, sa.ColumnDefault) and c.default.is_scalar else None
        if isinstance(c.type, sa.String):
            kind = _TEXT
            if c.name not in bounds:  # pragma: no cover - caught by the first import
                raise TypeError(f"ledger column {c.name} is unbounded text: give it a length or info['max_chars']")
        elif isinstance(c.type, sa.Boolean):
            kind = _BOOL
        elif isinstance(c.type, sa.Integer):
            kind = _INT
        elif isinstance(c.type, sa.Float):
            kind = _FLOAT
        else:  # pragma: no cover - a new column type must say how it is bounded
            raise TypeError(f"ledger column {c.name} has type {c.type!r}, which bound_row does not know")
        plan.append((str(c.name), kind, bounds.get(c.name, 0), default))
    return plan


_PLAN = _column_plan()
_TEXTS = [(n, limit) for n, k, limit, _ in _PLAN if k is _TEXT]
_INTS = [(n, d) for n, k, _, d in _PLAN if k is _INT]
_FLOATS = [n for n, k, _, _ in _PLAN if k is _FLOAT]
_BOOLS = [(n, d) for n, k, _, d in _PLAN if k is _BOOL]


def row_key(row: dict[str, Any]) -> str:
    """The row's dedupe key. A row spooled before row ids existed (migration m002) is keyed by its
    request id, as it was then and as m002 backfilled the rows already written; one too long for
    the column, or with no id at all, by a hash (of the id, or of the whole row)."""
    rid = row.get("row_id")
    if not isinstance(rid, str) or not rid:
        rid = row.get("request_id")
        if not isinstance(rid, str) or not rid:
            return hashlib.sha256(orjson.dumps(row, default=str, option=orjson.OPT_SORT_KEYS)).hexdigest()
    if len(rid) <= ROW_ID_CHARS and (rid.isascii() and "\x00" not in rid or clean_text(rid, ROW_ID_CHARS) == rid):
        return rid
    return hashlib.sha256(rid.encode("utf-8", "surrogatepass")).hexdigest()


def bound_row(row: dict[str, Any]) -> dict[str, Any]:
    """A copy of `row` with every ledger column present and every value fitting its column.

    About 6 µs a row: the common values (short ASCII text, small ints, finite floats) are checked
    cheaply and kept as they are."""
    out: dict[str, Any] = {"row_id": row_key(row)}
    get = row.get
    for name, limit in _TEXTS:
        v = get(name)
        if v is None or (type(v) is str and len(v) <= limit and v.isascii() and "\x00" not in v):
            out[name] = v
        else:
            out[name] = clean_text(v, limit)
    for name, default in _INTS:
        v = get(name)
        if type(v) is not int or not _INT_MIN <= v <= _INT_MAX:
            v = _to_int(v)
            if v is None:
                v = default
        out[name] = v
    for name in _FLOATS:
        v = get(name)
        out[name] = v if v is None or (type(v) is float and math.isfinite(v)) else _to_float(v)
    for name, default in _BOOLS:
        v = get(name)
        out[name] = v if type(v) is bool else (default if v is None else bool(v))
    ts = out.get("ts")
    if ts is not None and -62_135_596_800 <= ts < 253_402_300_800:  # years 1..9999: `day` is the UTC
        out["day"] = _utc_day(int(ts // 86_400))  # date of `ts`, whatever the row said (reports take whole days from the rollups)
    return out


_GUARD_ORDER = {"pass": 0, "flag": 1, "redact": 2, "error": 3, "block": 4}


def guardrail_summary(ctx: RequestContext) -> str | None:
    """The strongest guardrail action taken on the request, or None when no guardrail ran."""
    if not ctx.guardrails:
        return None
    return max((g.action for g in ctx.guardrails), key=lambda a: _GUARD_ORDER.get(a, 0))


@functools.lru_cache(maxsize=1024)
def _utc_day(day: int) -> str:
    return dt.datetime.fromtimestamp(day * 86_400, dt.UTC).strftime("%Y-%m-%d")


def ledger_row(
    ctx: RequestContext,
    *,
    usage: Usage,
    usage_source: str,
    cost_usd: float | None,
    unpriced: bool,
    price_version: str,
    partially_priced: bool = False,
    latency_ms: float | None = None,
) -> dict[str, Any]:
    p = ctx.principal
    day = _utc_day(int(ctx.started_wall // 86_400))
    return {
        "row_id": new_row_id(),
        "request_id": ctx.request_id,
        "ts": ctx.started_wall,
        "day": day,
        "route": ctx.route,
        "key_id": p.key_id if p else None,
        "team_id": p.team_id if p else None,
        "user_id": p.user_id if p else None,
        "requested_model": ctx.requested_model or None,
        "model_group": ctx.model_group,
        "served_deployment": ctx.served_deployment,
        "served_provider": ctx.served_provider,
        "served_model": ctx.served_model,
        "prompt_ref": ctx.prompt_ref,
        "prompt_hash": ctx.prompt_hash,
        "prompt_forced": ctx.prompt_forced,
        "rag_pipeline": ctx.rag_pipeline,
        "tags": ",".join(ctx.tags) if ctx.tags else None,
        "stream": ctx.stream,
        "prompt_tokens": usage.prompt,
        "completion_tokens": usage.completion,
        "cached_tokens": usage.cached,
        "reasoning_tokens": usage.reasoning,
        "cache_write_tokens": usage.cache_write,
        "usage_source": usage_source,
        "cost_usd": cost_usd,
        "unpriced": unpriced,
        "partially_priced": partially_priced,
        "price_version": price_version,
        "latency_ms": latency_ms if latency_ms is not None else ctx.latency_ms,
        "status_code": ctx.status_code,
        "error_code": ctx.error_code,
        "cache_status": ctx.cache_status,
        "cost_saved_usd": ctx.cost_saved_usd,
        "guardrail": guardrail_summary(ctx),
        "client_disconnected": ctx.client_disconnected,
    }

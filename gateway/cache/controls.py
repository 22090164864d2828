"""Per-request cache controls from the `Cache-Control` header and the body's `cache` field.

    Cache-Control: no-cache        do not serve from the cache (the fresh answer is still stored)
    Cache-Control: no-store        do not store this answer
    Cache-Control: max-age=600     serve only entries at most 600 s old
    "cache": {"no_cache": true, "no_store": true, "ttl": 600, "semantic": false, "max_age": 60}

`ttl` is how long this answer is kept. The body field wins over the header where both speak.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidRequest

_BODY_KEYS = {"no_cache", "no_store", "ttl", "semantic", "max_age"}


@dataclass(slots=True)
class CacheControls:
    no_cache: bool = False
    no_store: bool = False
    max_age_s: float | None = None
    ttl_s: float | None = None
    semantic: bool | None = None


def parse_controls(header: str | None, body_field: Any) -> CacheControls:
    c = CacheControls()
    if header:
        for part in header.split(","):
            name, _, value = part.strip().partition("=")
            name = name.strip().lower()
            if name == "no-cache":
                c.no_cache = True
            elif name == "no-store":
                c.no_store = True
            elif name in ("max-age", "s-maxage"):
                try:
                    c.max_age_s = max(0.0, float(value.strip().strip('"')))
                except ValueError:
                    raise InvalidRequest(f"Cache-Control {name}={value!r} is not a number of seconds; "
                                         "send e.g. 'Cache-Control: max-age=600'",
                                         param="cache-control", code="invalid_cache_control") from None
    if body_field is None:
        return c
    if not isinstance(body_field, dict):
        raise InvalidRequest("'cache' must be an object such as {\"no_cache\": true, \"ttl\": 600}",
                             param="cache", code="invalid_cache_field")
    unknown = set(body_field) - _BODY_KEYS
    if unknown:
        raise InvalidRequest(f"unknown key(s) in 'cache': {sorted(unknown)}; allowed: {sorted(_BODY_KEYS)}",
                             param="cache", code="invalid_cache_field")
    body_field = {k: v for k, v in body_field.items() if v is not None}  # null = not given
    for flag in ("no_cache", "no_store", "semantic"):
        if flag in body_field and not isinstance(body_field[flag], bool):
            raise InvalidRequest(f"'cache.{flag}' must be true or false", param=f"cache.{flag}",
                                 code="invalid_cache_field")
    for num in ("ttl", "max_age"):
        v = body_field.get(num)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int | float) or v < 0
                              or (num == "ttl" and v == 0)):
            raise InvalidRequest(f"'cache.{num}' must be a positive number of seconds", param=f"cache.{num}",
                                 code="invalid_cache_field")
    c.no_cache = bool(body_field.get("no_cache", c.no_cache))
    c.no_store = bool(body_field.get("no_store", c.no_store))
    if body_field.get("ttl") is not None:
        c.ttl_s = float(body_field["ttl"])
    if body_field.get("max_age") is not None:
        c.max_age_s = float(body_field["max_age"])
    if "semantic" in body_field:
        c.semantic = bool(body_field["semantic"])
    return c

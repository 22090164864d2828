"""Chroma-style metadata `where` filters, evaluated in Python for the BM25 side of retrieval.

Supported: `{"key": value}`, `{"key": {"$eq"|"$ne"|"$gt"|"$gte"|"$lt"|"$lte"|"$in"|"$nin": v}}`,
`{"$and": [...]}`, `{"$or": [...]}` — the same dict is passed to Chroma for the dense side.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any


class FilterError(ValueError):
    """The filter uses an operator or shape that is not supported; the message names it."""


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "$eq": operator.eq, "$ne": operator.ne, "$gt": operator.gt, "$gte": operator.ge,
    "$lt": operator.lt, "$lte": operator.le,
    "$in": lambda a, b: a in b, "$nin": lambda a, b: a not in b,
}


def validate(where: dict[str, Any]) -> None:
    matches(where, {})


def matches(where: dict[str, Any] | None, meta: dict[str, Any]) -> bool:
    if not where:
        return True
    if not isinstance(where, dict):
        raise FilterError(f"a filter must be an object, got {type(where).__name__}")
    results = []
    for key, cond in where.items():
        if key in ("$and", "$or"):
            if not isinstance(cond, list) or not cond:
                raise FilterError(f"{key} takes a non-empty list of filters")
            parts = [matches(c, meta) for c in cond]
            results.append(all(parts) if key == "$and" else any(parts))
        elif key.startswith("$"):
            raise FilterError(f"unsupported filter operator {key!r}; use $and or $or at the top level")
        elif isinstance(cond, dict):
            if len(cond) != 1:
                raise FilterError(f"filter on {key!r} must have exactly one operator, got {sorted(cond)}")
            (op, value), = cond.items()
            fn = _OPS.get(op)
            if fn is None:
                raise FilterError(f"unsupported operator {op!r} on {key!r}; supported: {sorted(_OPS)}")
            if op in ("$in", "$nin") and not isinstance(value, list):
                raise FilterError(f"{op} on {key!r} takes a list")
            have = meta.get(key)
            try:
                results.append(have is not None and bool(fn(have, value)) if op != "$nin"
                               else have is None or bool(fn(have, value)))
            except TypeError:
                results.append(False)  # comparing e.g. str with int: no match, as in Chroma
        else:
            results.append(meta.get(key) == cond)
    return all(results)


def to_chroma(where: dict[str, Any] | None) -> dict[str, Any] | None:
    """Chroma wants several top-level keys wrapped in an explicit $and."""
    if not where:
        return None
    if len(where) > 1:
        return {"$and": [{k: v} for k, v in where.items()]}
    return where

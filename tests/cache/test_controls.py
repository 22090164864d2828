"""Cache-Control header and body `cache` field parsing; bad values are 400s that name the fix."""

from __future__ import annotations

import pytest

from gateway.cache.controls import parse_controls
from gateway.errors import InvalidRequest


def test_header_directives() -> None:
    c = parse_controls("no-cache, no-store, max-age=60", None)
    assert c.no_cache and c.no_store and c.max_age_s == 60
    assert parse_controls(None, None) == parse_controls("", None)
    assert parse_controls("public", None).no_cache is False  # unknown directives are ignored


def test_body_field_wins_over_header() -> None:
    c = parse_controls("no-cache, max-age=60", {"no_cache": False, "ttl": 30, "semantic": False, "max_age": 5})
    assert not c.no_cache and c.ttl_s == 30 and c.semantic is False and c.max_age_s == 5


@pytest.mark.parametrize("header,body,param", [
    ("max-age=abc", None, "cache-control"),
    (None, "yes", "cache"),
    (None, {"nocache": True}, "cache"),
    (None, {"no_cache": "true"}, "cache.no_cache"),
    (None, {"ttl": 0}, "cache.ttl"),
    (None, {"ttl": True}, "cache.ttl"),
    (None, {"max_age": -1}, "cache.max_age"),
])
def test_invalid_controls(header: str | None, body: object, param: str) -> None:
    with pytest.raises(InvalidRequest) as e:
        parse_controls(header, body)
    assert e.value.param == param and e.value.status == 400

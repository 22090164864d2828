"""Cache keys: equal for requests the upstream would answer the same, different otherwise."""

from __future__ import annotations

import pytest

from gateway.cache.keys import (
    PUBLIC_TENANT,
    exact_key,
    key_glob,
    key_matches,
    semantic_partition,
    split_last_user_turn,
    tenant_of,
)
from gateway.context import Principal

MSGS = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
TOOLS = [
    {"type": "function", "function": {"name": "a", "parameters": {"type": "object", "properties": {}}}},
    {"type": "function", "function": {"name": "b", "parameters": {"properties": {}, "type": "object"}}},
]


def key(body: dict, tenant: str = "t", model: str = "m") -> str:
    return exact_key(tenant, model, body)


def test_dict_key_order_tool_order_and_ignored_fields_do_not_change_the_key() -> None:
    base = key({"messages": MSGS, "tools": TOOLS, "temperature": 0, "model": "m"})
    same = key({"temperature": 0, "tools": list(reversed(TOOLS)),
                "messages": [{"content": m["content"], "role": m["role"]} for m in MSGS],
                "stream": True, "stream_options": {"include_usage": True}, "user": "u1",
                "metadata": {"x": 1}, "model": "other-name", "cache": {"ttl": 5}})
    assert base == same


def test_text_parts_equal_a_plain_string_and_none_fields_are_dropped() -> None:
    parts = [{"role": "user", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo"}],
              "name": None}]
    assert key({"messages": parts}) == key({"messages": [{"role": "user", "content": "Hello"}]})


def test_stop_sequences_are_a_set() -> None:
    assert key({"messages": MSGS, "stop": ["b", "a"]}) == key({"messages": MSGS, "stop": ["a", "b"]})
    assert key({"messages": MSGS, "stop": "a"}) == key({"messages": MSGS, "stop": ["a"]})


@pytest.mark.parametrize("change", [
    {"temperature": 0.5}, {"top_p": 0.9}, {"max_tokens": 5}, {"seed": 1}, {"n": 2},
    {"response_format": {"type": "json_object"}}, {"tools": TOOLS[:1]}, {"tool_choice": "required"},
    {"messages": [MSGS[0], {"role": "user", "content": "Hi!"}]}, {"some_new_param": True},
])
def test_anything_that_changes_the_answer_changes_the_key(change: dict) -> None:
    base = {"messages": MSGS, "temperature": 0}
    assert key({**base, **change}) != key(base)


def test_tenant_and_model_group_namespace_the_key() -> None:
    body = {"messages": MSGS}
    assert len({key(body, "a", "m"), key(body, "b", "m"), key(body, "a", "n")}) == 3
    k = key(body, "team:x|y", "gpt*")
    assert key_matches(k, "team:x|y", None) and key_matches(k, None, "gpt*") and key_matches(k, "team:x|y", "gpt*")
    assert not key_matches(k, "team:x", None) and not key_matches(k, None, "gpt")
    assert "*" not in key_glob("team:*", "m")[:-1]  # glob characters are encoded away


def test_tenant_of_principal() -> None:
    assert tenant_of(None, "team") == PUBLIC_TENANT
    p = Principal(key_id="k1", team_id="t1")
    assert tenant_of(p, "team") == "team:t1"
    assert tenant_of(p, "key") == "key:k1"
    assert tenant_of(Principal(key_id="k2"), "team") == "key:k2"  # no team: the key is the tenant
    assert tenant_of(Principal(), "key") == PUBLIC_TENANT


def test_semantic_partition_is_everything_but_the_last_user_turn() -> None:
    body = {"messages": MSGS, "temperature": 0}
    text, history = split_last_user_turn(MSGS)
    assert text == "Hi" and history == MSGS[:1]
    p = semantic_partition("t", "m", body, history)
    assert p == semantic_partition("t", "m", {**body, "messages": [MSGS[0], {"role": "user", "content": "Yo"}]},
                                   history)
    assert p != semantic_partition("t", "m", body, [{"role": "system", "content": "Be long."}])
    assert p != semantic_partition("t", "m", {**body, "temperature": 0.2}, history)
    assert p != semantic_partition("u", "m", body, history)
    assert split_last_user_turn([{"role": "assistant", "content": "x"}]) is None
    assert split_last_user_turn([{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]) is None

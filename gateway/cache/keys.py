"""Cache keys: a hash of the normalised request, namespaced by tenant and model group.

Two requests get the same key when the upstream would see the same question: dict key order,
tool order (tools are a set keyed by name), a text-only content list vs a plain string, and
fields that do not change the answer (stream, stream_options, user, metadata, ...) are ignored.
Anything not known to be irrelevant stays in the key, so an unknown parameter can only cause a
miss, never a wrong hit.

Keys look like `<tenant>|<model group>|<sha256>`; the first two parts are percent-encoded so
purging by tenant or model is a prefix match (also a safe Redis SCAN pattern).
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

import orjson

from gateway.context import Principal

# Body fields that do not change what the model answers.
_IGNORED = frozenset({
    "model", "stream", "stream_options", "user", "metadata", "cache", "store", "service_tier",
    "safety_identifier", "prompt_cache_key", "request_id",
})

PUBLIC_TENANT = "public"


def tenant_of(principal: Principal | None, by: str) -> str:
    """The namespace a principal's entries live in. Without a principal: the shared "public" one."""
    if principal is None:
        return PUBLIC_TENANT
    if by == "team" and principal.team_id:
        return f"team:{principal.team_id}"
    if principal.key_id:
        return f"key:{principal.key_id}"
    if principal.team_id:
        return f"team:{principal.team_id}"
    if principal.user_id:
        return f"user:{principal.user_id}"
    return PUBLIC_TENANT


def _norm_content(content: Any) -> Any:
    # [{"type": "text", "text": "hi"}, ...] sends the same prompt as "hi..." joined.
    if isinstance(content, list) and content and all(
            isinstance(p, dict) and p.get("type") == "text" and set(p) <= {"type", "text"} for p in content):
        return "".join(str(p.get("text", "")) for p in content)
    return content


def _drop_none(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def normalise_message(msg: Any) -> Any:
    if not isinstance(msg, dict):
        return msg
    out = _drop_none(msg)
    if "content" in out:
        out["content"] = _norm_content(out["content"])
    return out


def _tool_name(tool: Any) -> str:
    if isinstance(tool, dict):
        fn = tool.get("function")
        if isinstance(fn, dict) and isinstance(fn.get("name"), str):
            return fn["name"]
        if isinstance(tool.get("name"), str):
            return tool["name"]
    return orjson.dumps(tool, option=orjson.OPT_SORT_KEYS).decode()


def normalise_request(body: dict[str, Any], *, without_messages: bool = False) -> dict[str, Any]:
    """The parts of a chat body that determine the answer, in a canonical form."""
    out: dict[str, Any] = {}
    for k, v in body.items():
        if k in _IGNORED or v is None:
            continue
        if k == "messages":
            if not without_messages and isinstance(v, list):
                out[k] = [normalise_message(m) for m in v]
        elif k in ("tools", "functions") and isinstance(v, list):
            out[k] = sorted(v, key=_tool_name)
        elif k == "stop" and isinstance(v, str):
            out[k] = [v]
        elif k == "stop" and isinstance(v, list):
            out[k] = sorted(str(s) for s in v)  # stop sequences are a set
        else:
            out[k] = v
    return out


def _digest(obj: Any) -> str:
    return hashlib.sha256(orjson.dumps(obj, option=orjson.OPT_SORT_KEYS)).hexdigest()


def namespace(tenant: str, model_group: str) -> str:
    return f"{quote(tenant, safe='')}|{quote(model_group, safe='')}|"


def key_matches(key: str, tenant: str | None, model: str | None) -> bool:
    """Is `key` in the namespace of this tenant and/or model group (None: any)?"""
    t, _, rest = key.partition("|")
    m, _, _ = rest.partition("|")
    return (tenant is None or t == quote(tenant, safe="")) and (model is None or m == quote(model, safe=""))


def key_glob(tenant: str | None, model: str | None) -> str:
    """A Redis SCAN pattern for the same set (percent-encoding leaves no glob characters)."""
    t = quote(tenant, safe="") if tenant is not None else "*"
    m = quote(model, safe="") if model is not None else "*"
    return f"{t}|{m}|*"


def exact_key(tenant: str, model_group: str, body: dict[str, Any]) -> str:
    return namespace(tenant, model_group) + _digest(normalise_request(body))


def split_last_user_turn(messages: list[Any]) -> tuple[str, list[Any]] | None:
    """(text of the last message if it is a plain-text user turn, all messages before it)."""
    if not messages:
        return None
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return None
    content = _norm_content(last.get("content"))
    if not isinstance(content, str) or not content.strip():
        return None
    return content, messages[:-1]


def semantic_partition(tenant: str, model_group: str, body: dict[str, Any], history: list[Any]) -> str:
    """Everything except the last user turn: system prompt, earlier turns, tools, sampling params.

    Only the last user turn is compared by meaning; all the rest must be identical.
    """
    ctx = normalise_request(body, without_messages=True)
    ctx["_history"] = [normalise_message(m) for m in history]
    return namespace(tenant, model_group) + _digest(ctx)[:32]

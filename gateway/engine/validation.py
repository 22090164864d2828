"""Fast request validation for the hot path: type checks on known fields, messages that name the
field and say what to fix. Unknown fields pass through to the upstream (OpenAI adds fields often).
"""

from __future__ import annotations

from typing import Any

from gateway.errors import InvalidRequest

MAX_TOKENS = 2**31 - 1
# How deep a request body may nest. orjson refuses to serialise past 254 levels, so a deeper body
# would fail later, when it is forwarded or hashed for the cache (a 500); JSON schemas in tools and
# response_format stay far below this.
MAX_DEPTH = 100
# Model names are echoed in errors, logs, spans and ledger rows; real ones are a few dozen characters.
MAX_MODEL_CHARS = 256
_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _is_int(v: Any) -> bool:
    # JSON Schema's integer includes 6.0; an integral float is accepted as the integer it is
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


is_int = _is_int  # shared with the other APIs' validators (gateway/formats/)


def check_model(body: dict[str, Any]) -> None:
    """The one rule for `model`, on every API's request."""
    _model(body, required=True)


def _too_deep(value: Any, budget: int) -> bool:
    """True when `value` nests more than `budget` containers deep (recursion stops at the budget)."""
    if budget <= 0:
        return True
    children = value.values() if isinstance(value, dict) else value
    for c in children:
        if (type(c) is dict or type(c) is list) and _too_deep(c, budget - 1):
            return True
    return False


def _check_depth(body: dict[str, Any], raw: bytes | None) -> None:
    # A body cannot nest deeper than it has brackets, so counting them in the raw bytes (C speed)
    # clears nearly every request without walking the parsed one.
    if raw is not None and raw.count(b"{") + raw.count(b"[") <= MAX_DEPTH:
        return
    if _too_deep(body, MAX_DEPTH):
        raise InvalidRequest(f"the request body nests deeper than {MAX_DEPTH} levels; flatten it",
                             code="body_too_deep")


def _bad(param: str, what: str) -> InvalidRequest:
    return InvalidRequest(f"'{param}' {what}", param=param, code="invalid_value")


def _range(body: dict[str, Any], name: str, lo: float, hi: float, *, integer: bool = False) -> None:
    v = body.get(name)
    if v is None:
        return
    ok = _is_int(v) if integer else _is_num(v)
    if not ok or not (lo <= v <= hi):
        kind = "an integer" if integer else "a number"
        raise _bad(name, f"must be {kind} between {lo:g} and {hi:.0f}" if integer else
                   f"must be {kind} between {lo:g} and {hi:g}")


def _type(body: dict[str, Any], name: str, types: tuple[type, ...], label: str) -> None:
    v = body.get(name)
    if v is None:
        return
    if not isinstance(v, types) or (bool not in types and isinstance(v, bool)):
        raise _bad(name, f"must be {label}")


def _model(body: dict[str, Any], *, required: bool) -> None:
    model = body.get("model")
    if model is None and not required:
        return
    if not isinstance(model, str) or not model:
        raise InvalidRequest("'model' is required: a model name from GET /v1/models", param="model",
                             code="missing_model" if model is None else "invalid_value")
    if len(model) > MAX_MODEL_CHARS:
        raise _bad("model", f"must be at most {MAX_MODEL_CHARS} characters: a model name from GET /v1/models")


def validate_chat(body: Any, raw: bytes | None = None) -> None:
    """`raw`, the bytes `body` was parsed from, lets the nesting check skip its walk."""
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_body")
    _check_depth(body, raw)
    has_prompt = body.get("prompt") is not None
    model = body.get("model")
    has_prompt = has_prompt or (isinstance(model, str) and model.startswith("prompt:"))
    _model(body, required=not has_prompt)
    messages = body.get("messages")
    if messages is None and not has_prompt:
        raise InvalidRequest("'messages' is required: a non-empty list of {role, content} objects",
                             param="messages", code="missing_messages")
    if messages is not None:
        if not isinstance(messages, list) or (not messages and not has_prompt):
            raise _bad("messages", "must be a non-empty list of {role, content} objects")
        for i, m in enumerate(messages):
            p = f"messages[{i}]"
            if not isinstance(m, dict):
                raise _bad(p, "must be an object with 'role' and 'content'")
            role = m.get("role")
            if not isinstance(role, str) or role not in _ROLES:  # an object or list is unhashable
                raise _bad(f"{p}.role", f"must be one of {', '.join(sorted(_ROLES))}")
            content = m.get("content")
            if content is None:
                if role in ("assistant", "function") and (role == "assistant" or "content" in m):
                    continue  # an assistant turn may carry only tool calls; a function result may be null
                if "content" not in m:
                    raise _bad(f"{p}.content", "is required")
                raise _bad(f"{p}.content", "must be a string or a list of content parts")
            elif isinstance(content, list):
                for j, part in enumerate(content):
                    if not isinstance(part, dict) or not isinstance(part.get("type"), str):
                        raise _bad(f"{p}.content[{j}]", "must be an object with a 'type' (text, image_url, ...)")
            elif not isinstance(content, str):
                raise _bad(f"{p}.content", "must be a string or a list of content parts")
    _type(body, "stream", (bool,), "true or false")
    so = body.get("stream_options")
    if so is not None:
        if not isinstance(so, dict):
            raise _bad("stream_options", "must be an object like {\"include_usage\": true}")
        if so.get("include_usage") is not None and not isinstance(so["include_usage"], bool):
            raise _bad("stream_options.include_usage", "must be true or false")
    _range(body, "temperature", 0, 2)
    _range(body, "top_p", 0, 1)
    _range(body, "presence_penalty", -2, 2)
    _range(body, "frequency_penalty", -2, 2)
    _range(body, "n", 1, 128, integer=True)
    _range(body, "max_tokens", 1, MAX_TOKENS, integer=True)
    _range(body, "max_completion_tokens", 1, MAX_TOKENS, integer=True)
    _range(body, "top_logprobs", 0, 20, integer=True)
    seed = body.get("seed")
    if seed is not None and not _is_int(seed):
        raise _bad("seed", "must be an integer")
    _type(body, "logprobs", (bool,), "true or false")
    _type(body, "parallel_tool_calls", (bool,), "true or false")
    _type(body, "user", (str,), "a string")
    _type(body, "metadata", (dict,), "an object of string values")
    _type(body, "logit_bias", (dict,), "an object mapping token ids to numbers")
    stop = body.get("stop")
    if stop is not None and not isinstance(stop, str) and (
            not isinstance(stop, list) or len(stop) > 4 or not all(isinstance(s, str) for s in stop)):
        raise _bad("stop", "must be a string or a list of up to 4 strings")
    tools = body.get("tools")
    if tools is not None:
        if not isinstance(tools, list):
            raise _bad("tools", "must be a list of {type: function, function: {name, parameters}} objects")
        for i, t in enumerate(tools):
            fn = t.get("function") if isinstance(t, dict) else None
            if not isinstance(fn, dict) or not isinstance(fn.get("name"), str) or not fn["name"]:
                raise _bad(f"tools[{i}]", "must be {\"type\": \"function\", \"function\": {\"name\": ...}}")
    tc = body.get("tool_choice")
    if tc is not None:
        if isinstance(tc, str):
            if tc not in ("none", "auto", "required"):
                raise _bad("tool_choice", "must be none, auto, required, or {type: function, function: {name}}")
        elif not isinstance(tc, dict):
            raise _bad("tool_choice", "must be none, auto, required, or {type: function, function: {name}}")
    rf = body.get("response_format")
    if rf is not None:
        if not isinstance(rf, dict) or rf.get("type") not in ("text", "json_object", "json_schema"):
            raise _bad("response_format", "must be {\"type\": \"text\" | \"json_object\" | \"json_schema\"}")
        if rf["type"] == "json_schema" and not isinstance(rf.get("json_schema"), dict):
            raise _bad("response_format.json_schema", "is required when type is json_schema")
    if "api_base" in body or "base_url" in body or "api_key" in body:
        raise InvalidRequest("this gateway does not accept upstream URLs or keys from clients; remove "
                             "api_base/base_url/api_key from the body", param="api_base", code="forbidden_field")


def validate_embeddings(body: Any, raw: bytes | None = None) -> None:
    if not isinstance(body, dict):
        raise InvalidRequest("the request body must be a JSON object", code="invalid_body")
    _check_depth(body, raw)
    _model(body, required=True)
    inp = body.get("input")
    if inp is None:
        raise InvalidRequest("'input' is required: a string, a list of strings, or token-id arrays",
                             param="input", code="missing_input")
    if isinstance(inp, str):
        if not inp:
            raise _bad("input", "must not be empty")
    elif isinstance(inp, list):
        if not inp:
            raise _bad("input", "must not be an empty list")
        if len(inp) > 2048:
            raise _bad("input", "may hold at most 2048 items")
        first = inp[0]
        if isinstance(first, str):
            if not all(isinstance(s, str) and s for s in inp):
                raise _bad("input", "must be a list of non-empty strings")
        elif _is_int(first):
            if not all(_is_int(t) and t >= 0 for t in inp):
                raise _bad("input", "token arrays must hold non-negative integers")
        elif isinstance(first, list):
            if not all(isinstance(a, list) and a and all(_is_int(t) and t >= 0 for t in a) for a in inp):
                raise _bad("input", "must be a list of non-empty token arrays")
        else:
            raise _bad("input", "must be a string, a list of strings, or token arrays")
    else:
        raise _bad("input", "must be a string, a list of strings, or token-id arrays")
    ef = body.get("encoding_format")
    if ef is not None and ef not in ("float", "base64"):
        raise _bad("encoding_format", "must be float or base64")
    _range(body, "dimensions", 1, 100_000, integer=True)
    _type(body, "user", (str,), "a string")
    if "api_base" in body or "base_url" in body or "api_key" in body:
        raise InvalidRequest("this gateway does not accept upstream URLs or keys from clients",
                             param="api_base", code="forbidden_field")

"""Deterministic reply text, tool calls, token counts and embeddings derived from a request."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

import numpy as np
import orjson

_WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima", "mike", "november", "oscar", "papa", "quebec", "romeo", "sierra", "tango", "uniform", "victor", "whiskey", "xray", "yankee", "zulu", "river", "stone", "cloud", "ember", "maple", "harbor", "signal", "vector", "lantern", "meadow", "copper", "falcon", "garden", "orbit", "pepper", "quartz", "saddle", "timber", "violet", "willow", "zephyr", "anchor", "beacon", "canyon", "dune", "fable", "glacier", "horizon", "island", "jungle", "kernel", "ledger", "mosaic"]


def digest(*parts: Any) -> bytes:
    h = hashlib.blake2b(digest_size=32)
    for p in parts:
        h.update(p if isinstance(p, bytes) else orjson.dumps(p, option=orjson.OPT_SORT_KEYS))
        h.update(b"\x00")
    return h.digest()


def approx_tokens(text: str) -> int:
    """~4 characters per token, as OpenAI's rule of thumb; cheap enough for 20k req/s."""
    return max(1, (len(text) + 3) // 4) if text else 0


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: text ones count, images a flat 85 tokens' worth
        out = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    out.append(part["text"])
                elif part.get("type") in ("image_url", "image", "input_image"):
                    out.append("x" * 340)
                elif part.get("type") == "tool_result":
                    out.append(_text_of(part.get("content")))
                elif part.get("type") == "tool_use":
                    out.append(orjson.dumps(part.get("input")).decode())
        return " ".join(out)
    return ""


def prompt_tokens(messages: list[Any], system: Any = None) -> int:
    """Roughly what tiktoken + OpenAI's per-message overhead would give."""
    total = 3
    if system is not None:
        total += 4 + approx_tokens(_text_of(system))
    for m in messages:
        if isinstance(m, dict):
            total += 4 + approx_tokens(_text_of(m.get("content")))
            if m.get("tool_calls"):
                total += approx_tokens(orjson.dumps(m["tool_calls"]).decode())
    return total


def last_user_text(messages: list[Any]) -> str:
    for m in reversed(messages):
        if isinstance(m, dict) and m.get("role") == "user":
            return _text_of(m.get("content"))
    return ""


def reply_words(seed_bytes: bytes, n: int) -> list[str]:
    """`n` words; the first is a tag of the request so replies differ per request."""
    words = ["mock", "reply", "to:", seed_bytes[:4].hex()]
    i = 0
    while len(words) < n:
        b = seed_bytes[i % len(seed_bytes)] ^ (i // len(seed_bytes))
        words.append(_WORDS[b % len(_WORDS)])
        i += 1
    return words[:n]


def split_pieces(words: list[str]) -> list[str]:
    """Stream pieces, one per token: 'w1', ' w2', ' w3' ... (joined they give the text)."""
    return [w if i == 0 else " " + w for i, w in enumerate(words)]


# ---- tools and structured output ------------------------------------------------------------

_FORMATS = {"date-time": "2024-01-01T00:00:00Z", "date": "2024-01-01", "time": "00:00:00", "email": "mock@example.com",
            "uri": "https://example.com/mock", "url": "https://example.com/mock", "uuid": "00000000-0000-4000-8000-000000000000",
            "ipv4": "127.0.0.1", "hostname": "example.com"}


def _resolve(schema: Any, root: Any) -> Any:
    """Follow a local `$ref` (`#/$defs/X`, `#/definitions/X`); other refs resolve to `{}`."""
    seen = 0
    while isinstance(schema, dict) and isinstance(schema.get("$ref"), str) and seen < 32:
        node: Any = root
        ref = schema["$ref"]
        if not ref.startswith("#"):
            return {}
        for part in [p for p in ref[1:].split("/") if p]:
            node = node.get(part.replace("~1", "/").replace("~0", "~")) if isinstance(node, dict) else None
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        schema = {**node, **rest} if isinstance(node, dict) else rest
        seen += 1
    return schema


def _number(schema: dict[str, Any], value: float) -> float:
    lo, hi = schema.get("minimum"), schema.get("maximum")
    xlo, xhi = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(xlo, (int, float)) and not isinstance(xlo, bool):
        lo = xlo + 1 if lo is None or xlo + 1 > lo else lo
    if isinstance(xhi, (int, float)) and not isinstance(xhi, bool):
        hi = xhi - 1 if hi is None or xhi - 1 < hi else hi
    if isinstance(lo, (int, float)) and not isinstance(lo, bool) and value < lo:
        value = lo
    if isinstance(hi, (int, float)) and not isinstance(hi, bool) and value > hi:
        value = hi
    return value


def _string(schema: dict[str, Any], key: str, seed: bytes) -> str:
    fmt = schema.get("format")
    s = _FORMATS.get(fmt, f"mock-{key}-{seed[:2].hex()}") if isinstance(fmt, str) else f"mock-{key}-{seed[:2].hex()}"
    lo, hi = schema.get("minLength"), schema.get("maxLength")
    if isinstance(lo, int) and len(s) < lo:
        s += "x" * (lo - len(s))
    if isinstance(hi, int) and len(s) > hi:
        s = s[:hi]
    return s


def value_for(schema: Any, key: str, seed: bytes, root: Any = None, depth: int = 0) -> Any:
    """A value that validates against the JSON schema `schema` (the subset tools and structured
    outputs use: types, properties, required, enum, const, items, $ref/$defs, anyOf/oneOf/allOf,
    bounds, formats). `pattern` is not honoured. Deterministic in `seed`."""
    root = schema if root is None else root
    schema = _resolve(schema, root)
    if not isinstance(schema, dict):
        return f"mock-{key}"
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for combo in ("anyOf", "oneOf"):
        options = schema.get(combo)
        if isinstance(options, list) and options:
            picks = [o for o in options if not (isinstance(o, dict) and _resolve(o, root).get("type") == "null")]
            rest = {k: v for k, v in schema.items() if k != combo}
            return value_for({**rest, **_resolve((picks or options)[0], root)}, key, seed, root, depth)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part, root)
            if isinstance(part, dict):
                props = {**(merged.get("properties") or {}), **(part.get("properties") or {})}
                req = [*(merged.get("required") or []), *(part.get("required") or [])]
                merged = {**merged, **part, "properties": props, "required": req}
        return value_for(merged, key, seed, root, depth)
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "null")
    if t is None:
        t = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if t == "null":
        return None
    if t == "integer":
        return int(_number(schema, seed[0] % 100))
    if t == "number":
        return _number(schema, round(seed[1] / 7, 2))
    if t == "boolean":
        return bool(seed[2] & 1)
    if t == "array":
        lo, hi = schema.get("minItems"), schema.get("maxItems")
        n = max(1, lo if isinstance(lo, int) else 0) if depth < 6 else (lo if isinstance(lo, int) else 0)
        if isinstance(hi, int):
            n = min(n, hi)
        items = schema.get("items")
        item_schema = _resolve(items, root) if isinstance(items, dict) else {}
        if isinstance(item_schema, dict) and item_schema.get("enum") and n > 1:
            enum = item_schema["enum"]
            return [enum[i % len(enum)] for i in range(n)]
        return [value_for(items, f"{key}{i}" if i else key, digest(seed, i) if i else seed, root, depth + 1)
                for i in range(n)]
    if t == "object":
        return args_for(schema, seed, root, depth + 1)
    return _string(schema, key, seed)


def args_for(parameters: Any, seed: bytes, root: Any = None, depth: int = 0) -> dict[str, Any]:
    """Arguments that satisfy the JSON schema's required properties (and the others too, until a
    recursive schema gets deep)."""
    root = parameters if root is None else root
    parameters = _resolve(parameters, root)
    if not isinstance(parameters, dict):
        return {}
    props = parameters.get("properties") or {}
    if not isinstance(props, dict):
        return {}
    required = parameters.get("required") or []
    keep = props if depth < 6 else {k: v for k, v in props.items() if k in required}
    return {k: value_for(v, k, seed, root, depth) for k, v in keep.items()}


def structured_json(response_format: Any, seed: bytes, text: str) -> str | None:
    """The JSON text a `json_schema` / `json_object` format asks for, or None for plain text.

    `json_schema` (chat `response_format` or Responses `text.format`) gets a value built from the
    schema; `json_object`, or a schema the mock cannot read, gets `{"reply": text}`.
    """
    if not isinstance(response_format, dict):
        return None
    kind = response_format.get("type")
    if kind == "json_schema":
        nested = response_format.get("json_schema")
        spec: dict[str, Any] = nested if isinstance(nested, dict) else response_format  # Responses: flat
        schema = spec.get("schema")
        if isinstance(schema, dict) and schema:
            return orjson.dumps(value_for(schema, "value", seed)).decode()
        return orjson.dumps({"reply": text}).decode()
    if kind == "json_object":
        return orjson.dumps({"reply": text}).decode()
    return None


_PIECE = re.compile(r"\s*(?:\w+|[^\w\s])|\s+")


def pieces_of(text: str) -> list[str]:
    """Token-like pieces of any text (a word or one punctuation mark, with its leading space);
    joined they give the text back."""
    return _PIECE.findall(text)


def ends_with_tool_result(messages: list[Any]) -> bool:
    """The last message hands a tool's result back: OpenAI `tool`/`function` role, an Anthropic
    user turn of `tool_result` blocks, a Responses `function_call_output` item. The mock then answers
    in text, so an agent loop ends."""
    last = messages[-1] if messages else None
    if not isinstance(last, dict):
        return False
    if last.get("role") in ("tool", "function") or last.get("type") in ("function_call_output",
                                                                          "custom_tool_call_output"):
        return True
    c = last.get("content")
    return isinstance(c, list) and any(isinstance(b, dict) and b.get("type") == "tool_result" for b in c)


# ---- logprobs ----------------------------------------------------------------------------------

def token_logprobs(pieces: list[str], top: int, *, with_bytes: bool = True) -> list[dict[str, Any]]:
    """One entry per piece: its logprob and `top` alternatives, the piece itself first.

    A pure function of each piece, so a stream's per-chunk entries equal the whole response's.
    """
    out = []
    for p in pieces:
        h = digest(p)
        lp = -round(0.01 + (h[0] % 50) / 100, 4)
        alts: list[tuple[str, float]] = [(p, lp)]
        lead = p[: len(p) - len(p.lstrip())]
        j = 0
        while len(alts) < top:
            w = lead + _WORDS[(h[1] + j) % len(_WORDS)]
            j += 1
            if w != p and all(w != a for a, _ in alts):
                alts.append((w, round(lp - 1.0 - 0.5 * len(alts), 4)))
        entry: dict[str, Any] = {"token": p, "logprob": lp}
        if with_bytes:
            entry["bytes"] = list(p.encode())
        entry["top_logprobs"] = [{"token": a, "logprob": v, **({"bytes": list(a.encode())} if with_bytes else {})}
                                 for a, v in alts[:top]]
        out.append(entry)
    return out


def pick_tool(tools: list[dict[str, Any]], tool_choice: Any, last_user: str, names: list[str]) -> int | None:
    """Index of the tool to call, or None for a text answer.

    Calls a tool when tool_choice requires one (OpenAI "required" / a named function, Anthropic
    {"type": "any"|"tool"}), or when the choice is automatic and the last user message names a tool
    or asks to "call"/"use" one.
    """
    if not tools or tool_choice == "none":
        return None
    if isinstance(tool_choice, dict):
        name = (tool_choice.get("function") or {}).get("name") or tool_choice.get("name")
        if name in names:
            return names.index(name)
        if tool_choice.get("type") in ("any", "function", "tool"):
            return 0
        if tool_choice.get("type") == "none":
            return None
    if tool_choice == "required":
        return 0
    low = last_user.lower()
    for i, n in enumerate(names):
        if n and n.lower() in low:
            return i
    if "call" in low.split() or "use" in low.split() or "tool" in low:
        return 0
    return None


# ---- embeddings --------------------------------------------------------------------------------

def embedding(item: Any, dims: int, seed: int) -> np.ndarray:
    """A unit vector seeded by the input (a string or a token array)."""
    key = digest(seed, item)
    rng = np.random.default_rng(int.from_bytes(key[:8], "little"))
    v = rng.standard_normal(dims).astype(np.float32)
    v /= np.linalg.norm(v)
    return v


def encode_vector(v: np.ndarray, encoding_format: str) -> Any:
    if encoding_format == "base64":
        return base64.b64encode(v.astype("<f4").tobytes()).decode()
    return v.tolist()

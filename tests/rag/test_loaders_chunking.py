from pathlib import Path

import pytest
from pydantic import ValidationError

from rag.chunking import chunk_document
from rag.config import ChunkingConfig, PipelineConfig, RagConfig
from rag.loaders import LoadError, UnsupportedFile, load
from rag.tokens import minilm_token_counter


def make_pdf(text: str) -> bytes:
    """A one-page PDF showing `text`, with a correct xref table (built here, no PDF writer needed)."""
    stream = f"BT /F1 12 Tf 10 50 Td ({text}) Tj ET".encode()
    objs = [b"<</Type/Catalog/Pages 2 0 R>>", b"<</Type/Pages/Kids[3 0 R]/Count 1>>",
            b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 300 100]/Contents 4 0 R/Resources<</Font<</F1 5 0 R>>>>>>",
            b"<</Length %d>>stream\n" % len(stream) + stream + b"\nendstream",
            b"<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>"]
    out, offsets = b"%PDF-1.4\n", []
    for i, body in enumerate(objs, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj" % i + body + b"endobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def test_markdown_sections_keep_headings_and_title(tmp_path: Path) -> None:
    f = tmp_path / "guide.md"
    f.write_text("# Handbook\n\nWelcome.\n\n## Holidays\n\nWe get 30 days.\n\n### Carry over\n\nUp to 5 days.\n")
    doc = load(f)
    assert doc.title == "Handbook"
    assert [s.heading for s in doc.sections] == ["Handbook", "Handbook / Holidays", "Handbook / Holidays / Carry over"]
    assert "30 days" in doc.sections[1].text and "#" not in doc.sections[1].text


def test_html_drops_scripts_and_splits_on_headings(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text("<html><head><title>Ops</title><script>evil()</script></head><body>"
                 "<h1>Deploy</h1><p>Run make deploy.</p><ul><li>check <b>logs</b></li></ul>"
                 "<h2>Rollback</h2><p>Run make rollback.</p></body></html>")
    doc = load(f)
    assert doc.title == "Ops"
    assert [(s.heading, s.text) for s in doc.sections] == [
        ("Deploy", "Run make deploy.\ncheck logs"), ("Rollback", "Run make rollback.")]
    assert all("evil" not in s.text for s in doc.sections)


def test_pdf_text_per_page(tmp_path: Path) -> None:
    f = tmp_path / "doc.pdf"
    f.write_bytes(make_pdf("Hello PDF world"))
    doc = load(f)
    assert doc.sections[0].heading == "page 1"
    assert "Hello PDF world" in doc.sections[0].text


def test_broken_and_unsupported_files_raise_named_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"not a pdf at all")
    with pytest.raises(LoadError, match="bad.pdf"):
        load(bad)
    latin = tmp_path / "latin.txt"
    latin.write_bytes("caf\xe9".encode("latin-1"))
    with pytest.raises(LoadError, match="cannot parse as text"):
        load(latin)
    with pytest.raises(UnsupportedFile, match=r"'\.docx'"):
        load(tmp_path / "x.docx")


def test_chunks_fit_the_model_window_with_title_and_overlap(tmp_path: Path) -> None:
    count = minilm_token_counter()
    f = tmp_path / "long.md"
    sentences = " ".join(f"Sentence number {i} talks about topic {i % 7}." for i in range(400))
    f.write_text(f"# Long\n\n## Part\n\n{sentences}\n")
    cfg = ChunkingConfig(max_tokens=128, overlap_tokens=32)
    chunks = chunk_document(load(f), cfg, count)
    assert len(chunks) > 10
    assert max(count(c.indexed_text) for c in chunks) <= 128  # title/heading prefix included
    assert all(c.indexed_text.startswith("Long / Part\n") for c in chunks)
    # consecutive chunks overlap (the splitter carries trailing sentences over)
    assert chunks[1].text.split(".")[0] in chunks[0].text
    meta = chunks[3].metadata
    assert meta["position"] == 3 and meta["source"] == str(f) and len(meta["content_hash"]) == 64
    assert len({c.id for c in chunks}) == len(chunks)


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValidationError, match="overlap_tokens must be smaller"):
        ChunkingConfig(max_tokens=64, overlap_tokens=64)
    with pytest.raises(ValidationError, match="name@label"):
        PipelineConfig(collection="docs", prompt="answer")
    with pytest.raises(ValidationError, match="not both"):
        PipelineConfig(collection="docs", prompt="a@production", prompt_template="{question}")
    with pytest.raises(ValidationError, match="collection"):
        PipelineConfig(collection="a b")
    with pytest.raises(ValidationError, match="extra"):
        RagConfig.model_validate({"pipelines": {"p": {"collection": "docs", "colection": "x"}}})
    cfg = RagConfig.model_validate({"store": {"mode": "server", "port": 9000},
                                    "pipelines": {"p": {"collection": "docs", "per_tenant": True}}})
    assert cfg.store_for("p").port == 9000
    assert cfg.pipelines["p"].collection_for("acme") == "docs__acme"


def test_public_names() -> None:
    import rag

    assert sorted(rag.__all__) == sorted([
        "BM25Cache", "ChromaStore", "ChunkingConfig", "Citation", "Hit", "IngestResult", "Ingestor",
        "LoadError", "LoadedDocument", "Pipeline", "PipelineConfig", "PipelineError", "Prepared", "RagAnswer",
        "RagConfig", "Retriever", "RetrieverConfig", "Section", "StoreConfig", "StoreError", "UnsupportedFile",
        "load"])
    assert all(hasattr(rag, n) for n in rag.__all__)
    assert set(rag.__all__) == set(rag._WHERE)

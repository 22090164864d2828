import json
from pathlib import Path

from typer.testing import CliRunner

from rag.cli import make_app
from tests.rag.conftest import HashEmbedder


class _Emb:
    def __init__(self) -> None:
        self.embed = HashEmbedder()

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 2


def _app():  # type: ignore[no-untyped-def]
    emb = _Emb()
    return make_app(lambda: emb)


def test_ingest_then_query_json(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("# Holidays\n\nEmployees get 30 days of paid holiday.\n")
    (docs / "b.txt").write_text("Expenses are paid within 14 days.")
    (docs / "bad.pdf").write_bytes(b"nope")
    store = str(tmp_path / "store")
    runner = CliRunner()
    app = _app()
    r = runner.invoke(app, ["ingest", str(docs), "--collection", "handbook", "--store-path", store, "--root", str(docs)])
    assert r.exit_code == 1  # a failed file is reported, the others ingested
    assert "2 added" in r.output and "1 failed" in r.output and "skipped bad.pdf" in r.output
    (docs / "bad.pdf").unlink()
    r = runner.invoke(app, ["ingest", str(docs), "--collection", "handbook", "--store-path", store,
                            "--root", str(docs), "--prune"])
    assert r.exit_code == 0 and "2 unchanged" in r.output
    r = runner.invoke(app, ["query", "paid holiday days", "--collection", "handbook", "--store-path", store,
                            "--no-answer", "--json", "--top-k", "1"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["answer"] is None and [c["source"] for c in out["contexts"]] == ["a.md"]


def test_query_with_pipeline_from_config(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.md").write_text("Laptops must use disk encryption.")
    cfg = tmp_path / "sluice.yaml"
    cfg.write_text("rag:\n  store: {path: store}\n  pipelines:\n    sec: {collection: security, retriever: {mode: bm25}}\n")
    runner = CliRunner()
    app = _app()
    r = runner.invoke(app, ["ingest", str(docs), "-c", "security", "--config", str(cfg)])
    assert r.exit_code == 0, r.output
    assert (tmp_path / "store").is_dir()  # relative store path resolved from the config's folder
    r = runner.invoke(app, ["query", "encryption", "-p", "sec", "--config", str(cfg), "--no-answer"])
    assert r.exit_code == 0 and "disk encryption" in r.output


def test_cli_errors(tmp_path: Path) -> None:
    runner = CliRunner()
    app = _app()
    r = runner.invoke(app, ["query", "x", "--store-path", str(tmp_path)])
    assert r.exit_code == 2 and "--pipeline" in r.output
    r = runner.invoke(app, ["query", "x", "-c", "missing-col", "--store-path", str(tmp_path), "--no-answer"])
    assert r.exit_code == 1 and "ingest into it first" in r.output
    r = runner.invoke(app, ["ingest", str(tmp_path / "nope"), "-c", "col"])
    assert r.exit_code == 2 and "no such file" in r.output
    bad = tmp_path / "bad.yaml"
    bad.write_text("rag:\n  pipelines:\n    p: {collection: ok-name, bogus: 1}\n")
    r = runner.invoke(app, ["query", "x", "-p", "p", "--config", str(bad)])
    assert r.exit_code == 2 and "bogus" in r.output

"""`sluice rag ...`: ingest files into a collection and query a pipeline from the command line.

rag never imports gateway, so the embedding model comes in through `make_app(embedder_factory)`;
gateway/cli/rag.py builds the app with the local MiniLM model and mounts it as `sluice rag`.
The answer is written by any OpenAI-compatible endpoint (a running gateway by default).
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import typer

from rag.config import PipelineConfig, RagConfig, StoreConfig


class Embedder(Protocol):
    def embed(self, texts: list[str]) -> Any: ...


EmbedderFactory = Callable[[], Embedder]


def load_rag_config(path: Path | None) -> tuple[RagConfig, Path]:
    """The `rag:` section of a sluice config file (relative store paths resolve from its folder)."""
    if path is None:
        return RagConfig(), Path.cwd()
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return RagConfig.model_validate(data.get("rag") or {}), path.resolve().parent
    except (OSError, yaml.YAMLError, ValidationError) as e:
        typer.echo(f"{path}: invalid rag config: {e}", err=True)
        raise typer.Exit(2) from None


def _store_cfg(cfg: RagConfig, pipeline: str | None, store_path: str | None, server: str | None) -> StoreConfig:
    sc = cfg.store_for(pipeline) if pipeline else cfg.store
    if server:
        host, _, port = server.rpartition(":")
        return StoreConfig(mode="server", host=host or "127.0.0.1", port=int(port))
    if store_path:
        return StoreConfig(mode="embedded", path=store_path)
    return sc


def _count_tokens(embedder: Embedder) -> Callable[[str], int]:
    count = getattr(embedder, "count_tokens", None)
    if callable(count):
        return count  # type: ignore[no-any-return]
    from rag.tokens import minilm_token_counter

    return minilm_token_counter()


def make_app(embedder_factory: EmbedderFactory) -> typer.Typer:
    app = typer.Typer(help="RAG: ingest documents into a collection; query a pipeline.", no_args_is_help=True)

    @app.command()
    def ingest(
        paths: list[Path] = typer.Argument(..., help="files or folders (.md .txt .html .pdf)"),
        collection: str = typer.Option(..., "--collection", "-c", help="Chroma collection to fill"),
        prune: bool = typer.Option(False, "--prune", help="remove sources no longer present under PATHS"),
        config: Path | None = typer.Option(None, "--config", help="sluice config (its rag: store and chunking)"),
        store_path: str | None = typer.Option(None, "--store-path", help="embedded store folder"),
        server: str | None = typer.Option(None, "--server", help="Chroma server HOST:PORT"),
        root: Path | None = typer.Option(None, "--root", help="sources are named relative to this folder"),
    ) -> None:
        """Chunk, embed and store documents; unchanged files are skipped, changed ones re-embedded."""
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        from rag.ingest import Ingestor, discover
        from rag.store import ChromaStore, StoreError

        cfg, base = load_rag_config(config)
        console = Console(stderr=True)
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            console.print(f"[red]no such file or folder: {', '.join(missing)}")
            raise typer.Exit(2)
        try:
            store = ChromaStore(_store_cfg(cfg, None, store_path, server), base_dir=base)
        except StoreError as e:
            console.print(f"[red]{e}")
            raise typer.Exit(1) from None
        embedder = embedder_factory()
        ing = Ingestor(store, collection, embedder.embed, _count_tokens(embedder), cfg.chunking)
        files = discover(paths)
        started = time.perf_counter()
        with Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[tokens]} tokens, {task.fields[rate]} tok/s"), TimeElapsedColumn(),
                      console=console) as bar:
            task = bar.add_task("embedding chunks", total=None, tokens=0, rate=0)
            totals = {"tokens": 0, "chunks": 0}

            def progress(event: str, n: int, tokens: int) -> None:
                totals["tokens"] += tokens
                totals["chunks"] += n
                rate = int(totals["tokens"] / max(time.perf_counter() - started, 1e-6))
                bar.update(task, completed=totals["chunks"], tokens=totals["tokens"], rate=rate)

            res = ing.ingest_paths(files, prune=prune, progress=progress, root=root)
            bar.update(task, total=res.chunks)
        elapsed = time.perf_counter() - started
        console.print(f"{collection}: {len(res.added)} added, {len(res.updated)} updated, "
                      f"{len(res.unchanged)} unchanged, {len(res.removed)} removed, {len(res.failed)} failed; "
                      f"{res.chunks} chunks, {res.tokens} tokens in {elapsed:.1f} s")
        for src, why in res.failed.items():
            console.print(f"[yellow]skipped {src}: {why}")
        if res.failed:
            raise typer.Exit(1)

    @app.command()
    def query(
        question: str = typer.Argument(..., help="the question"),
        pipeline: str | None = typer.Option(None, "--pipeline", "-p", help="pipeline name from --config"),
        collection: str | None = typer.Option(None, "--collection", "-c", help="query a collection directly"),
        config: Path | None = typer.Option(None, "--config", help="sluice config with rag.pipelines"),
        store_path: str | None = typer.Option(None, "--store-path"),
        server: str | None = typer.Option(None, "--server", help="Chroma server HOST:PORT"),
        top_k: int | None = typer.Option(None, "--top-k", min=1, max=100),
        answer: bool = typer.Option(True, "--answer/--no-answer", help="write an answer with a chat model"),
        base_url: str = typer.Option(os.environ.get("SLUICE_BASE_URL", "http://127.0.0.1:4000/v1"), "--base-url",
                                     help="OpenAI-compatible endpoint for the answer (a running gateway)"),
        api_key_env: str = typer.Option("SLUICE_API_KEY", "--api-key-env", help="env var holding the API key"),
        as_json: bool = typer.Option(False, "--json", help="print JSON"),
    ) -> None:
        """Retrieve contexts (with sources) for QUESTION and, unless --no-answer, the cited answer."""
        from rag.pipeline import Pipeline, PipelineError
        from rag.retrieval import Retriever
        from rag.store import ChromaStore, StoreError

        cfg, base = load_rag_config(config)
        if pipeline:
            pcfg = cfg.pipeline(pipeline)
            if pcfg is None:
                typer.echo(f"pipeline {pipeline!r} is not in {config}; known: {sorted(cfg.pipelines)}", err=True)
                raise typer.Exit(2)
        elif collection:
            pcfg = PipelineConfig(collection=collection)
        else:
            typer.echo("name a --pipeline (with --config) or a --collection", err=True)
            raise typer.Exit(2)
        embedder = embedder_factory()
        try:
            store = ChromaStore(_store_cfg(cfg, pipeline, store_path, server), base_dir=base)
            retriever = Retriever(store, pcfg.collection, embedder.embed, pcfg.retriever)
            chat = _openai_chat(base_url, os.environ.get(api_key_env, "none")) if answer else None
            pipe = Pipeline(pipeline or collection or "", pcfg, retriever, chat=chat)
            res = asyncio.run(pipe.answer({"question": question, "top_k": top_k}, generate=answer))
        except (StoreError, PipelineError) as e:
            typer.echo(str(e), err=True)
            raise typer.Exit(1) from None
        out: dict[str, Any] = {"question": question, "answer": res.answer,
               "contexts": [{"chunk_id": h.id, "source": h.metadata.get("source"), "score": round(h.score, 4),
                             "similarity": None if h.similarity is None else round(h.similarity, 4), "text": h.text}
                            for h in res.contexts],
               "citations": [c.as_dict() for c in res.citations]}
        if as_json:
            typer.echo(json.dumps(out, indent=2))
            return
        for i, c in enumerate(out["contexts"], start=1):
            typer.echo(f"[{i}] {c['source']} (score {c['score']}, chunk {c['chunk_id']})\n    {c['text'][:200]}")
        if res.answer is not None:
            typer.echo(f"\n{res.answer}")

    return app


def _openai_chat(base_url: str, api_key: str) -> Callable[[dict[str, Any]], Any]:
    async def chat(body: dict[str, Any]) -> dict[str, Any]:
        from openai import APIError, AsyncOpenAI

        from rag.pipeline import PipelineError

        async with AsyncOpenAI(base_url=base_url, api_key=api_key, max_retries=1) as client:
            try:
                resp = await client.chat.completions.create(**body)
            except APIError as e:
                raise PipelineError(f"answer request to {base_url} failed: {e}") from e
        return resp.model_dump()

    return chat

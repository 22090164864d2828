"""A RAG pipeline: retrieve -> (scan) -> build the answer request -> cite.

The pipeline never calls a model itself except in `answer()`, which uses the `chat` callable it is
handed (OpenAI-shaped body -> completion dict). The gateway instead takes `prepare()`'s request
body through its own router (streamed or not) and calls `citations()` on the final text.
"""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rag.config import PipelineConfig
from rag.retrieval import Retriever
from rag.store import Hit

ChatFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]
# Renders a registered prompt 'name@label' with variables -> chat messages.
PromptRenderer = Callable[[str, dict[str, Any]], list[dict[str, Any]]]
# Returns True when a text looks like a prompt injection.
InjectionScanner = Callable[[str], bool]

_MARKER = re.compile(r"\[(\d{1,3})\]")


class PipelineError(ValueError):
    """The request cannot be answered as configured; the message says what to fix."""


@dataclass
class Citation:
    index: int  # the [n] marker
    source: str
    chunk_id: str
    score: float
    title: str = ""
    heading: str = ""
    cited: bool = True  # False when the answer carried no marker and all contexts are listed

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "source": self.source, "chunk_id": self.chunk_id,
                "score": round(self.score, 6), "title": self.title, "heading": self.heading, "cited": self.cited}


@dataclass
class Prepared:
    question: str
    contexts: list[Hit]
    body: dict[str, Any]  # the chat request to send for the answer
    dropped: list[str] = field(default_factory=list)  # chunk ids removed by the injection scanner


@dataclass
class RagAnswer:
    question: str
    contexts: list[Hit]
    answer: str | None
    citations: list[Citation]
    completion: dict[str, Any] | None = None
    dropped: list[str] = field(default_factory=list)


def last_user_text(messages: list[dict[str, Any]]) -> str:
    for m in reversed(messages):
        if m.get("role") == "user":
            c = m.get("content")
            if isinstance(c, str):
                return c
            if isinstance(c, list):
                return " ".join(p.get("text", "") for p in c if isinstance(p, dict) and p.get("type") == "text")
    raise PipelineError("a RAG request needs a user message holding the question")


def format_context(hits: list[Hit]) -> str:
    parts = []
    for i, h in enumerate(hits, start=1):
        label = " / ".join(x for x in (h.metadata.get("title"), h.metadata.get("heading")) if x)
        parts.append(f"[{i}] ({label or h.metadata.get('source', '')})\n{h.text}")
    return "\n\n".join(parts)


class Pipeline:
    def __init__(self, name: str, cfg: PipelineConfig, retriever: Retriever, *,
                 embed_query: Callable[[str], Any] | None = None, chat: ChatFn | None = None,
                 render_prompt: PromptRenderer | None = None, scanner: InjectionScanner | None = None) -> None:
        self.name, self.cfg, self.retriever = name, cfg, retriever
        self.chat, self.render_prompt, self.scanner = chat, render_prompt, scanner
        self._embed_query = embed_query  # may be async (the gateway's router); default: retriever.embed
        if cfg.prompt and render_prompt is None:
            raise PipelineError(f"pipeline {name!r} uses prompt {cfg.prompt!r} but no prompt registry is "
                                "available here; use prompt_template for an inline prompt")
        if cfg.scan_injection and scanner is None:
            raise PipelineError(f"pipeline {name!r} has scan_injection on but no injection scanner is "
                                "configured; enable guardrails or set scan_injection: false")

    async def _query_vector(self, question: str) -> np.ndarray | None:
        if self.retriever.cfg.mode == "bm25" and self.retriever.cfg.min_score is None and not self.retriever.cfg.mmr:
            return None
        if self._embed_query is None:
            return await asyncio.to_thread(self.retriever.embed_query, question)
        out = self._embed_query(question)
        if inspect.isawaitable(out):
            out = await out
        vec = np.asarray(out, dtype=np.float32).reshape(-1)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    async def retrieve(self, question: str, *, top_k: int | None = None,
                       where: dict[str, Any] | None = None) -> tuple[list[Hit], list[str]]:
        qvec = await self._query_vector(question)
        hits = await asyncio.to_thread(self.retriever.retrieve, question, top_k=top_k, where=where,
                                       query_embedding=qvec)
        dropped: list[str] = []
        if self.cfg.scan_injection and self.scanner is not None and hits:
            scan = self.scanner
            # the classifier is CPU work (milliseconds a chunk): off the event loop, as retrieval is
            flags = await asyncio.to_thread(lambda: [bool(scan(h.text)) for h in hits])
            dropped = [h.id for h, bad in zip(hits, flags, strict=True) if bad]
            hits = [h for h, bad in zip(hits, flags, strict=True) if not bad]
        return hits, dropped

    def build_messages(self, question: str, hits: list[Hit], history: list[dict[str, Any]]) -> list[dict[str, Any]]:
        cite = ("Cite the passages you use with their bracketed numbers, like [1] or [2][3]."
                if self.cfg.citation_style == "brackets" else "")
        variables = {"context": format_context(hits), "question": question, "citation_instruction": cite}
        if self.cfg.prompt:
            assert self.render_prompt is not None
            rendered = self.render_prompt(self.cfg.prompt, variables)
        else:
            try:
                content = self.cfg.template().format(**variables)
            except KeyError as e:
                raise PipelineError(f"pipeline {self.name!r}: prompt_template uses unknown variable {e}; "
                                    "available: {context}, {question}, {citation_instruction}") from e
            rendered = [{"role": "user", "content": content}]
        system = [{"role": "system", "content": self.cfg.system_prompt}] if self.cfg.system_prompt else []
        # Earlier turns keep the conversation; the last user turn is replaced by the grounded prompt.
        earlier = [m for m in history[:-1] if m.get("role") in ("user", "assistant")] if history else []
        return system + earlier + rendered

    async def prepare(self, request: dict[str, Any], *, where: dict[str, Any] | None = None) -> Prepared:
        """From an OpenAI-shaped chat request (or {"question": ...}) to the grounded answer request."""
        messages = request.get("messages") or []
        question = request.get("question") or last_user_text(messages)
        hits, dropped = await self.retrieve(question, top_k=request.get("top_k"), where=where)
        body: dict[str, Any] = {"model": self.cfg.model, "messages": self.build_messages(question, hits, messages)}
        for key in ("temperature", "max_tokens"):
            value = request.get(key, getattr(self.cfg, key))
            if value is not None:
                body[key] = value
        return Prepared(question, hits, body, dropped)

    def citations(self, answer: str | None, hits: list[Hit]) -> list[Citation]:
        def make(i: int, cited: bool) -> Citation:
            h = hits[i - 1]
            return Citation(i, str(h.metadata.get("source", "")), h.id, h.score,
                            str(h.metadata.get("title", "")), str(h.metadata.get("heading", "")), cited)

        if self.cfg.citation_style == "none":
            return [make(i, False) for i in range(1, len(hits) + 1)]
        used = sorted({int(m) for m in _MARKER.findall(answer or "") if 1 <= int(m) <= len(hits)})
        if used:
            return [make(i, True) for i in used]
        return [make(i, False) for i in range(1, len(hits) + 1)]

    async def answer(self, request: dict[str, Any], *, where: dict[str, Any] | None = None,
                     generate: bool = True) -> RagAnswer:
        prep = await self.prepare(request, where=where)
        if not generate:
            return RagAnswer(prep.question, prep.contexts, None, self.citations(None, prep.contexts), None, prep.dropped)
        if self.chat is None:
            raise PipelineError(f"pipeline {self.name!r}: no chat model is available to write the answer")
        if not self.cfg.model:
            raise PipelineError(f"pipeline {self.name!r} has no `model`; name the chat model group that answers")
        completion = await self.chat(prep.body)
        text = completion["choices"][0]["message"].get("content") or ""
        return RagAnswer(prep.question, prep.contexts, text, self.citations(text, prep.contexts), completion,
                         prep.dropped)

"""Output guardrails over a stream: a StreamGuard per choice and per tool call, as chunks pass."""

from __future__ import annotations

from typing import Any

from gateway.context import RequestContext
from gateway.hooks import Chunk, StreamFilter
from gateway.integrations.guardrails_common import State, args_context, record, violation
from guardrails import Blocked, StreamGuard


class GuardrailsStreamFilter(StreamFilter):
    """A StreamGuard per choice over `delta.content` and one per tool call over its
    `function.arguments` fragments; each flushes at its choice's finish_reason or the stream's end."""

    def __init__(self, ctx: RequestContext, st: State, hook_name: str) -> None:
        self.ctx = ctx
        self.st = st
        self._args_scan = args_context(st.scan)
        self._guards: dict[tuple[int, int | None], StreamGuard] = {}  # (choice, tool call index | None)
        self._done: set[int] = set()
        self._last: Chunk | None = None
        self._recorded = False
        # Logprobs held with their text: per choice, each fed piece's `logprobs.content` entries by
        # the tag it was fed under; they go out in the chunk that carries that piece's text.
        self._lp: dict[int, dict[int, list[Any]]] = {}
        self._serial = 0

    def _sg(self, choice: int, tool: int | None = None, *, align: bool = False) -> StreamGuard:
        sg = self._guards.get((choice, tool))
        if sg is None:
            restore = self.st.vault if self.st.guard.policy.restore_pii else None
            scan = self.st.scan if tool is None else self._args_scan
            sg = self._guards[(choice, tool)] = StreamGuard(self.st.guard, scan, out_vault=self.st.out_vault,
                                                            restore=restore, align=align)
        return sg

    def _feed(self, idx: int, text: str, ch: dict[str, Any]) -> tuple[str, list[Any] | None]:
        """Feed a choice's content; with logprobs (the guard then releases whole pieces only), hold
        the piece's entries with it and return those of the released text. A piece a redaction or a
        restored placeholder rewrote loses its entries: they would claim tokens the client never sees."""
        lp = ch.get("logprobs")
        entries = lp.get("content") if isinstance(lp, dict) else None
        sg = self._sg(idx, align=isinstance(entries, list))
        if not sg.align:
            return sg.feed(text), None
        self._serial += 1
        if isinstance(entries, list):
            self._lp.setdefault(idx, {})[self._serial] = entries
        return sg.feed(text, self._serial), self._released_entries(idx, sg)

    def _released_entries(self, idx: int, sg: StreamGuard) -> list[Any]:
        held = self._lp.get(idx, {})
        out: list[Any] = []
        for _, tags, rewritten in sg.released:
            for t in tags:
                got = held.pop(t, None)
                if got and not rewritten:
                    out += got
        return out

    def on_chunk(self, chunk: Chunk) -> list[Chunk]:
        choices = chunk.get("choices")
        if not choices:
            return [chunk]
        self._last = chunk
        keep = False
        before: list[Chunk] = []  # held-back tool-call arguments, sent just before their finish chunk
        try:
            for ch in choices:
                idx = int(ch.get("index", 0))
                delta = ch.get("delta") or {}
                text = delta.get("content")
                out, entries = self._feed(idx, text, ch) if isinstance(text, str) and text else ("", None)
                self._filter_tool_calls(idx, delta)
                if ch.get("finish_reason") is not None and idx not in self._done:
                    tail, calls = self._finish(idx)
                    out += tail
                    if (idx, None) in self._guards and self._guards[(idx, None)].align:
                        entries = (entries or []) + self._released_entries(idx, self._guards[(idx, None)])
                    if calls:
                        before.append(self._chunk(idx, {"tool_calls": calls}))
                if isinstance(text, str) or out:
                    delta["content"] = out
                    ch["delta"] = delta
                if entries is not None:
                    lp = ch.get("logprobs")
                    ch["logprobs"] = ({**lp, "content": entries} if isinstance(lp, dict) else
                                      {"content": entries, "refusal": None}) if entries else None
                if out or ch.get("finish_reason") is not None or any(k != "content" for k in delta) or ch.get("logprobs"):
                    keep = True
        except Blocked as b:
            self._record()
            raise violation(b, self.st.guard.name) from None
        return before + ([chunk] if keep else [])

    def _filter_tool_calls(self, idx: int, delta: dict[str, Any]) -> None:
        """Pass each tool call's argument fragments through its guard; entries left with nothing
        to say (their text held back) are dropped, and so is an emptied `tool_calls`."""
        calls = delta.get("tool_calls")
        if not isinstance(calls, list):
            return
        kept = []
        for tc in calls:
            fn = tc.get("function") if isinstance(tc, dict) else None
            if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
                tool = tc.get("index")
                fn["arguments"] = self._sg(idx, tool if isinstance(tool, int) else 0).feed(fn["arguments"])
                if not fn["arguments"] and set(tc) <= {"index", "function"} and set(fn) == {"arguments"}:
                    continue
            kept.append(tc)
        if kept:
            delta["tool_calls"] = kept
        else:
            del delta["tool_calls"]

    def _finish(self, idx: int) -> tuple[str, list[dict[str, Any]]]:
        """End choice `idx`: the rest of its content and of each tool call's arguments. The content
        guard runs (whole-text rules included) unless the choice only called tools."""
        self._done.add(idx)
        tools = sorted(t for (c, t) in self._guards if c == idx and t is not None)
        text = self._sg(idx).finish() if (idx, None) in self._guards or not tools else ""
        calls = []
        for t in tools:
            rest = self._guards[(idx, t)].finish()
            if rest:
                calls.append({"index": t, "function": {"arguments": rest}})
        return text, calls

    def _chunk(self, idx: int, delta: dict[str, Any]) -> Chunk:
        base = self._last or {}
        return ({k: base[k] for k in ("id", "object", "created", "model") if k in base}
                | {"choices": [{"index": idx, "delta": delta, "finish_reason": None}]})

    def on_end(self) -> list[Chunk]:
        out: list[Chunk] = []
        try:
            for idx in sorted({c for c, _ in self._guards} - self._done):
                text, calls = self._finish(idx)
                if calls:
                    out.append(self._chunk(idx, {"tool_calls": calls}))
                if text:
                    c = self._chunk(idx, {"content": text})
                    sg = self._guards.get((idx, None))
                    if sg is not None and sg.align:
                        c["choices"][0]["logprobs"] = {"content": self._released_entries(idx, sg), "refusal": None}
                    out.append(c)
        except Blocked as b:
            self._record()
            raise violation(b, self.st.guard.name) from None
        self._record()
        return out

    def _record(self) -> None:
        if self._recorded:
            return
        self._recorded = True
        record(self.ctx, [o for sg in self._guards.values() for o in sg.summary()])

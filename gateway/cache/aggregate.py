"""Rebuild a chat completion from its stream chunks, so a streamed answer can be cached once whole.

Used only when the pipeline does not hand the hook an aggregated completion itself.
"""

from __future__ import annotations

from typing import Any

from gateway.hooks import Chunk, StreamFilter


class StreamAggregator(StreamFilter):
    def __init__(self) -> None:
        self.meta: dict[str, Any] = {}
        self.choices: dict[int, dict[str, Any]] = {}
        self.usage: dict[str, Any] | None = None
        self.chunks = 0
        self.ended = False

    def on_chunk(self, chunk: Chunk) -> list[Chunk]:
        self.chunks += 1
        for k in ("id", "created", "model", "system_fingerprint", "service_tier"):
            if chunk.get(k) is not None and k not in self.meta:
                self.meta[k] = chunk[k]
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        for ch in chunk.get("choices") or ():
            idx = int(ch.get("index", 0))
            acc = self.choices.setdefault(idx, {"role": None, "content": None, "tool_calls": {},
                                                "finish_reason": None, "refusal": None})
            delta = ch.get("delta") or {}
            if delta.get("role"):
                acc["role"] = delta["role"]
            for field in ("content", "refusal"):
                if delta.get(field):
                    acc[field] = (acc[field] or "") + delta[field]
            for tc in delta.get("tool_calls") or ():
                slot = acc["tool_calls"].setdefault(int(tc.get("index", 0)),
                                                    {"id": None, "type": "function",
                                                     "function": {"name": "", "arguments": ""}})
                if tc.get("id"):
                    slot["id"] = tc["id"]
                fn = tc.get("function") or {}
                slot["function"]["name"] += fn.get("name") or ""
                slot["function"]["arguments"] += fn.get("arguments") or ""
            if ch.get("finish_reason"):
                acc["finish_reason"] = ch["finish_reason"]
        return [chunk]

    def on_end(self) -> list[Chunk]:
        self.ended = True
        return []

    def completion(self) -> dict[str, Any] | None:
        """The whole completion, or None when the stream did not finish (no finish_reason)."""
        if not self.ended or not self.choices or any(c["finish_reason"] is None for c in self.choices.values()):
            return None
        choices = []
        for idx in sorted(self.choices):
            acc = self.choices[idx]
            msg: dict[str, Any] = {"role": acc["role"] or "assistant", "content": acc["content"]}
            if acc["refusal"]:
                msg["refusal"] = acc["refusal"]
            if acc["tool_calls"]:
                msg["tool_calls"] = [acc["tool_calls"][i] for i in sorted(acc["tool_calls"])]
            choices.append({"index": idx, "message": msg, "finish_reason": acc["finish_reason"]})
        out: dict[str, Any] = {"id": self.meta.get("id"), "object": "chat.completion",
                               "created": self.meta.get("created"), "model": self.meta.get("model"),
                               "choices": choices}
        if self.meta.get("system_fingerprint"):
            out["system_fingerprint"] = self.meta["system_fingerprint"]
        if self.usage is not None:
            out["usage"] = self.usage
        return out

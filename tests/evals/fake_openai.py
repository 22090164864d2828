"""A scripted OpenAI-compatible endpoint on httpx.MockTransport: no sockets, no model.

`answer(body) -> str` decides each chat reply; the judge model's replies are scripted the same
way. Embeddings are a deterministic bag-of-words hash, so identical texts have cosine 1 and
unrelated texts score low. Every request is recorded for assertions on headers and bodies.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from typing import Any

import httpx


def bow_vector(text: str, dim: int = 64) -> list[float]:
    v = [0.0] * dim
    for word in text.lower().split():
        v[int(hashlib.md5(word.strip(".,!?").encode()).hexdigest(), 16) % dim] += 1.0
    n = math.sqrt(sum(x * x for x in v)) or 1.0
    return [x / n for x in v]


class FakeOpenAI:
    def __init__(self, answer: Callable[[dict[str, Any]], str], *, cost_usd: float | None = 0.0001,
                 fail_first: int = 0, fail_status: int = 503) -> None:
        self.answer = answer
        self.cost_usd = cost_usd
        self.requests: list[httpx.Request] = []
        self.bodies: list[dict[str, Any]] = []
        self.fail_first = fail_first
        self.fail_status = fail_status

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def chat_calls(self) -> list[dict[str, Any]]:
        return [b for r, b in zip(self.requests, self.bodies, strict=True) if r.url.path.endswith("/chat/completions")]

    def handle(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content or b"{}")
        self.requests.append(request)
        self.bodies.append(body)
        if self.fail_first > 0:
            self.fail_first -= 1
            return httpx.Response(self.fail_status, json={"error": {"message": "try again", "type": "server_error",
                                                                    "code": "overloaded", "param": None}})
        headers = {} if self.cost_usd is None else {"x-sluice-cost-usd": str(self.cost_usd)}
        if request.url.path.endswith("/embeddings"):
            data = [{"object": "embedding", "index": i, "embedding": bow_vector(t)} for i, t in enumerate(body["input"])]
            return httpx.Response(200, headers=headers, json={"object": "list", "data": data, "model": body["model"],
                                                              "usage": {"prompt_tokens": 1, "total_tokens": 1}})
        if request.url.path.endswith("/chat/completions"):
            text = self.answer(body)
            return httpx.Response(200, headers=headers, json={
                "id": "chatcmpl-1", "object": "chat.completion", "created": 1, "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": text}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}})
        return httpx.Response(404, json={"error": {"message": "no route", "type": "invalid_request_error",
                                                   "code": "not_found", "param": None}})


def last_user(body: dict[str, Any]) -> str:
    return next(m["content"] for m in reversed(body["messages"]) if m["role"] == "user")


def system_text(body: dict[str, Any]) -> str:
    return next((m["content"] for m in body["messages"] if m["role"] == "system"), "")

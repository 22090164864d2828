"""Shared builders for spend/auth tests."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

from gateway.config import Config, parse_config
from gateway.context import RequestContext


def make_config(tmp_path: Path, **sections: Any) -> Config:
    data: dict[str, Any] = {"spend": {"ledger": {"path": str(tmp_path / "spend.db"),
                                                 "spool_dir": str(tmp_path / "spool"),
                                                 "flush_interval_s": 0.05}}}
    for name, value in sections.items():
        if name == "spend":
            led = {**data["spend"]["ledger"], **value.get("ledger", {})}
            data["spend"] = {**value, "ledger": led}
        else:
            data[name] = value
    return parse_config(data, base_dir=tmp_path)


def make_ctx(*, model: str = "gpt-4o", stream: bool = False, headers: dict[str, str] | None = None,
             body: dict[str, Any] | None = None, wall: float | None = None, request_id: str | None = None,
             ) -> RequestContext:
    body = body or {"model": model, "messages": [{"role": "user", "content": "hello there"}]}
    return RequestContext(
        request_id=request_id or "req-" + uuid.uuid4().hex, route="chat.completions", body=body,
        headers=headers or {}, started_mono=time.monotonic(), started_wall=wall or time.time(),
        stream=stream, requested_model=model,
    )


def usage(prompt: int, completion: int, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": cached},
            "completion_tokens_details": {"reasoning_tokens": reasoning}}

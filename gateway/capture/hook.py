"""The capture stage: after a request finished, a sampled share of successful exchanges is
redacted (credentials and PII: gateway/telemetry/scrub.py, the rules logs use) and queued; a
writer thread appends them to the dataset files, so the request never waits on the disk.

Skipped: failed requests, teams in `capture.exclude_teams`, requests not sampled (a hash of the
request id against `sample_rate`, so a retried request id is captured the same way on every
replica), and eval traffic tagged `eval`."""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
import time
from pathlib import Path
from typing import Any

from gateway.capture import store
from gateway.capture.config import CaptureConfig
from gateway.context import RequestContext
from gateway.hooks import Hook
from gateway.telemetry.scrub import scrub_text, scrub_value

log = logging.getLogger("sluice.capture")
_QUEUE_MAX = 10_000


def sampled(request_id: str, rate: float) -> bool:
    if rate >= 1:
        return True
    h = int.from_bytes(hashlib.blake2b(request_id.encode(), digest_size=8).digest(), "big")
    return h % 1_000_000 < rate * 1_000_000


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str))
    return ""


def case_of(ctx: RequestContext, now: float) -> tuple[str, dict[str, Any]] | None:
    """(dataset name, the redacted evals case) for a finished request, or None if it has no answer."""
    completion = ctx.completion or {}
    choices = completion.get("choices") or []
    output = _text((choices[0].get("message") or {}).get("content")) if choices else ""
    messages = [m for m in (ctx.body.get("messages") or []) if isinstance(m, dict)]
    users = [m for m in messages if m.get("role") == "user"]
    if not users and not ctx.prompt_variables:
        return None
    if ctx.prompt_ref:
        name = store.dataset_name("prompt", ctx.prompt_ref.split("@", 1)[0])
    else:
        name = store.dataset_name("model", ctx.model_group or ctx.requested_model or "unknown")
    case: dict[str, Any] = {
        "id": ctx.request_id,
        "input": scrub_text(_text(users[-1].get("content"))) if users else None,
        "vars": scrub_value(dict(ctx.prompt_variables or {})),
        "metadata": {
            "source": "capture", "captured_ts": now,
            "captured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now)),
            "route": ctx.route, "model": ctx.requested_model, "prompt_ref": ctx.prompt_ref,
            "variant": ctx.prompt_variant, "team_id": ctx.principal.team_id if ctx.principal else None,
            "messages": [{"role": str(m.get("role")), "content": scrub_text(_text(m.get("content")))} for m in messages],
            "output": scrub_text(output),
        },
    }
    return name, case


class CaptureHook(Hook):
    name = "capture"

    def __init__(self, config: CaptureConfig, root: Path, clock: Any) -> None:
        self.config = config
        self.root = root
        self._clock = clock
        self._excluded = frozenset(config.exclude_teams)
        self._queue: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue(_QUEUE_MAX)
        self.dropped = 0
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(target=self._write_loop, name="sluice-capture", daemon=True)
        self._thread.start()

    async def finished(self, ctx: RequestContext) -> None:
        if ctx.status_code != 200 or ctx.kind != "chat" or not sampled(ctx.request_id, self.config.sample_rate):
            return
        p = ctx.principal
        if p is not None and p.team_id in self._excluded:
            return
        if "eval" in ctx.tags:
            return
        got = case_of(ctx, self._clock.time())
        if got is None:
            return
        with self._idle:
            self._pending += 1
        try:
            self._queue.put_nowait(got)
        except queue.Full:
            self._done(1)
            self.dropped += 1  # never block a request on the capture

    def _done(self, n: int) -> None:
        with self._idle:
            self._pending -= n
            self._idle.notify_all()

    def _write_loop(self) -> None:
        last_prune = 0.0
        while True:
            item = self._queue.get()
            if item is None:
                return
            batch = [item]
            while len(batch) < 500:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)
                    break
                batch.append(nxt)
            by_name: dict[str, list[dict[str, Any]]] = {}
            for name, case in batch:
                by_name.setdefault(name, []).append(case)
            try:
                for name, cases in by_name.items():
                    store.append(self.root, name, cases)
                now = self._clock.time()
                if now - last_prune > 3600:
                    last_prune = now
                    store.prune(self.root, now, self.config.retention_days, self.config.max_cases)
            except OSError as exc:
                log.error("capture write failed: %s", exc)
            finally:
                self._done(len(batch))

    def flush(self, timeout_s: float = 5.0) -> bool:
        """Wait until everything queued so far is written (tests, shutdown); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending <= 0, timeout=timeout_s)

    async def aclose(self) -> None:
        import asyncio

        await asyncio.to_thread(self.flush)
        self._queue.put(None)

"""Background warm-ups (guardrail models, RAG BM25 indexes) and the readiness that waits for them.

Heavy components load on a thread at start, so `sluice serve` answers `/healthz` at once. `/readyz`
answers 503 `warming` until the warm-ups started before the instance first became ready have
finished: a load balancer or Kubernetes then sends it no request that would pay for the load.
Warm-ups started later (a config reload) do not flip readiness back: the instance is serving, and
the requests that arrive meanwhile load what they need themselves. A warm-up that fails is logged
and no longer waited for (the request path loads lazily and applies its own error policy).
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable

log = logging.getLogger("sluice.warmup")


class Warmups:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, int] = {}  # name -> warm-ups of that name still running
        self._settled = False  # readiness was reached once; later warm-ups do not gate it
        self._on_settled: list[Callable[[], object]] = []

    def when_settled(self, fn: Callable[[], object]) -> None:
        """Run fn() once no warm-up is pending: now (in this thread) if none is, else in the thread
        of the last one to finish, before pending() can report ready (it waits for fn too)."""
        with self._lock:
            if self._pending:
                self._on_settled.append(fn)
                return
        self._settle([fn])

    def _settle(self, fns: list[Callable[[], object]]) -> None:
        for fn in fns:
            try:
                fn()
            except Exception:
                log.exception("start-up step %r after the warm-ups failed", getattr(fn, "__name__", fn))

    def start(self, name: str, fn: Callable[[], object]) -> threading.Thread:
        with self._lock:
            self._pending[name] = self._pending.get(name, 0) + 1
        t = threading.Thread(target=self._run, args=(name, fn), name=f"warm-{name}", daemon=True)
        t.start()
        return t

    def _run(self, name: str, fn: Callable[[], object]) -> None:
        try:
            fn()
        except Exception:  # a background thread has no caller to raise to: log it, stop waiting for it
            log.exception("warm-up %r failed; requests will load it on first use", name)
        finally:
            with self._lock:
                self._pending[name] -= 1
                if not self._pending[name]:
                    del self._pending[name]
                fns: list[Callable[[], object]] = []
                if not self._pending and self._on_settled:
                    fns, self._on_settled = self._on_settled, []
                    self._pending["settle"] = 1  # readiness waits for these too
            if fns:
                try:
                    self._settle(fns)
                finally:
                    with self._lock:
                        del self._pending["settle"]

    def pending(self) -> list[str]:
        """Names of the warm-ups readiness still waits for ([] once ready)."""
        with self._lock:
            if self._settled:
                return []
            if not self._pending:
                self._settled = True
                return []
            return sorted(self._pending)


def freeze_heap() -> None:
    """Collect once, then move every object alive now (modules, config, scanner models, tables) into
    the collector's permanent generation (gc.freeze). With the default guardrail policy loaded the
    heap holds ~250k objects, and each full collection walked all of them: 0.3 s of CPU on a loaded
    2-core machine, about once per thousand requests. Run once per serving process, after the
    start-up warm-ups (`sluice serve`; tests' apps do not, their heaps are the test runner's)."""
    gc.collect()
    gc.freeze()

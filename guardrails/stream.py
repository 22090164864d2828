"""Output rules over a stream: scan incrementally over a sliding window.

Text is held back until more than `window` characters are pending, so a match (a card number, a
canary, a placeholder to restore) split across chunks is seen whole before anything is emitted.
Block rules scan the last emitted `window` characters plus the pending text, so a match spanning
the emit boundary is caught too; redact rules rewrite only the part about to be emitted. Rules that
need the whole text (JSON validity, max tokens) run once at the end.
"""

from __future__ import annotations

from guardrails.engine import Guard, redaction_spans
from guardrails.redaction import Vault, apply, split_safe
from guardrails.types import Blocked, Outcome, ScanContext


class StreamGuard:
    def __init__(self, guard: Guard, ctx: ScanContext, *, out_vault: Vault | None = None,
                 restore: Vault | None = None) -> None:
        self.guard = guard
        self.ctx = ScanContext(direction="output", canaries=ctx.canaries, json_schema=ctx.json_schema,
                               expect_json=ctx.expect_json, final=False)
        self.window = guard.policy.stream_window_chars
        rules = guard.rules("output")
        self._full_rules = [r for r in rules if guard.scanners[r.scanner].needs_full_text]
        self._window_rules = [r for r in rules if not guard.scanners[r.scanner].needs_full_text]
        self._out_vault = out_vault if out_vault is not None else Vault()
        self._restore = restore
        self._raw = ""  # upstream text not yet restored (may end inside a placeholder)
        self._pending = ""
        self._tail = ""  # last emitted characters (before restoring placeholders)
        self._full: list[str] | None = [] if self._full_rules else None
        self.outcomes: dict[tuple[str, str], Outcome] = {}

    def feed(self, delta: str) -> str:
        """Add upstream text; return the text that is safe to emit now. Raises Blocked."""
        if self._full is not None:
            self._full.append(delta)
        self._take(delta, final=False)
        if len(self._pending) <= 2 * self.window:
            return ""
        return self._emit(len(self._pending) - self.window)

    def finish(self) -> str:
        """The stream ended: scan and emit what is left, then run whole-text rules. Raises Blocked."""
        self._take("", final=True)
        out = self._emit(len(self._pending)) if self._pending else ""
        if self._full is not None:
            ctx = ScanContext(direction="output", canaries=self.ctx.canaries, json_schema=self.ctx.json_schema,
                              expect_json=self.ctx.expect_json, final=True)
            for h in self.guard.run_rules("".join(self._full), self._full_rules, ctx):
                self._record(h.outcome)
                if h.findings and h.rule.action == "block":
                    raise Blocked(h.rule.scanner, h.outcome.rule or "match", "output")
        return out

    def _take(self, delta: str, *, final: bool) -> None:
        """Move upstream text into the pending buffer, restoring the caller's placeholders first so
        output rules see (and keep) the caller's own values."""
        if self._restore is None:
            self._pending += delta
            return
        self._raw += delta
        safe = len(self._raw) if final else split_safe(self._raw)
        self._pending += self._restore.restore(self._raw[:safe])
        self._raw = self._raw[safe:]

    def _emit(self, cut: int) -> str:
        text = self._pending
        hits = self.guard.run_rules(self._tail + text, self._window_rules, self.ctx)
        shift = len(self._tail)
        spans = []
        for h in hits:
            self._record(h.outcome)
            if h.findings and h.rule.action == "block":
                raise Blocked(h.rule.scanner, h.outcome.rule or "match", "output")
            if h.findings and h.rule.action == "redact":
                for f, kind in redaction_spans(h):
                    s, e = (f.start or 0) - shift, (f.end or 0) - shift
                    if e <= 0:
                        continue  # already emitted (it was redacted then)
                    if s < cut < e:
                        cut = max(0, s)  # do not cut a match in two: hold all of it back
                    spans.append((f.__class__(f.rule, max(0, s), e, f.score), kind))
        head = [(f, k) for f, k in spans if (f.end or 0) <= cut]
        keep = self._restore.values() if self._restore is not None else frozenset()
        emitted = apply(text[:cut], head, self._out_vault, keep)
        self._pending = text[cut:]
        self._tail = (self._tail + text[:cut])[-self.window :]
        return emitted

    def _record(self, o: Outcome) -> None:
        key = (o.scanner, o.action)
        cur = self.outcomes.get(key)
        if cur is None:
            self.outcomes[key] = Outcome(o.scanner, "output", o.action, o.rule, o.latency_ms, o.count)
        else:
            cur.latency_ms += o.latency_ms
            cur.count += o.count
            cur.rule = cur.rule or o.rule

    def summary(self) -> list[Outcome]:
        """One outcome per scanner: the strongest action seen, with total latency."""
        best: dict[str, Outcome] = {}
        rank = {"pass": 0, "flag": 1, "error": 1, "redact": 2, "block": 3}
        for o in self.outcomes.values():
            cur = best.get(o.scanner)
            if cur is None or rank[o.action] > rank[cur.action]:
                total = o.latency_ms + (cur.latency_ms if cur else 0.0)
                best[o.scanner] = Outcome(o.scanner, "output", o.action, o.rule, total, o.count)
            else:
                cur.latency_ms += o.latency_ms
        return list(best.values())

"""Output rules over a stream: release text as soon as no rule can still match it.

Each window rule is a stage; text flows through them in the policy's order, as `Guard.check`
applies rules to a whole text (a later rule sees the earlier rules' redactions). A stage holds
back only the trailing text its scanner could still match (`stream_holdback`: a growing card
number, an unfinished `-----BEGIN` block, the start of a canary) and releases the rest at a word
boundary, after scanning it with a little released text before it (`context`) and a little held
text after it; a redaction that would be cut in two holds all of it back. A stage peeks at the
text the stages before it still hold (`look`), so one whole word does not wait once per stage.
Scanners without hold-back knowledge keep the policy's fixed window (`stream_window_chars`): that
stage holds `window` characters, releases in batches once more than twice that is pending, and
scans the last `window` released characters with the pending text, as before.

Block rules on a hold-back stage act on matches that start in the text being released; a match
still growing in the held part is judged when it is released, so the stream blocks exactly when a
scan of the whole text would. Rules that need the whole text (JSON validity, max tokens) run once
at the end.

Text is tracked as units (`Unit`: text, the caller's tags, rewritten?) so a caller can tell which
upstream pieces a release carries: `align=True` releases only whole fed pieces, and `released`
lists the units the last `feed`/`finish` returned; a unit a redaction or a restored placeholder
touched is merged with its neighbours under it and marked rewritten.
"""

from __future__ import annotations

import re

from guardrails.config import Rule
from guardrails.engine import Guard, RuleHit, blocked_by, redaction_spans
from guardrails.redaction import Vault
from guardrails.stream_holdback import Holdback, holdback_for, placeholder_split, word_cut
from guardrails.types import Blocked, Finding, Outcome, ScanContext

Unit = tuple[str, tuple[int, ...], bool]  # text, tags of the fed pieces it came from, rewritten

# Characters of held (or following) text a hold-back stage's scan sees after what it releases, unless
# its Holdback says otherwise: enough for `\b`, a phone number's next character.
RIGHT = 16
LOOK = 64  # how much of the text held by earlier stages a stage may peek at
_PLACEHOLDER = re.compile(r"<([A-Z][A-Z_]*)_(\d+)>")  # what Vault.restore replaces


def _split(units: list[Unit], p: int) -> tuple[list[Unit], list[Unit]]:
    """Units before and from offset `p` (a unit across it is split, both halves keep its tags)."""
    if len(units) == 1:
        u = units[0]
        if p >= len(u[0]):
            return units, []
        return ([(u[0][:p], u[1], u[2])] if p > 0 else []), [(u[0][p:], u[1], u[2])]
    off = 0
    for i, u in enumerate(units):
        end = off + len(u[0])
        if p <= off:
            return units[:i], units[i:]
        if p < end:
            k = p - off
            return [*units[:i], (u[0][:k], u[1], u[2])], [(u[0][k:], u[1], u[2]), *units[i + 1:]]
        off = end
    return units, []


def _floor(units: list[Unit], p: int) -> int:
    """The largest unit boundary <= p."""
    off = 0
    for u in units:
        end = off + len(u[0])
        if end > p:
            return off
        off = end
    return off


def _replace(units: list[Unit], text: str, reps: list[tuple[int, int, str]]) -> list[Unit]:
    """Apply replacements (sorted, disjoint, in `text` offsets; `text` is the units joined). The
    units a replacement touches become one rewritten unit with all their tags."""
    if not reps:
        return units
    out: list[Unit] = []
    bounds = []
    pos = 0
    for u in units:
        bounds.append((pos, pos + len(u[0])))
        pos += len(u[0])
    j = k = 0
    while k < len(units):
        us, ue = bounds[k]
        if j >= len(reps) or reps[j][0] >= ue:
            out.append(units[k])
            k += 1
            continue
        first, end, cur = k, ue, us
        parts: list[str] = []
        while j < len(reps) and reps[j][0] < end:
            s, e, new = reps[j]
            while end < e and k + 1 < len(units):
                k += 1
                end = bounds[k][1]
            parts += (text[cur:s], new)
            cur = e
            j += 1
        parts.append(text[cur:end])
        tags = tuple(t for u in units[first : k + 1] for t in u[1])
        out.append(("".join(parts), tags, True))
        k += 1
    return out


class _Stage:
    """One window rule over the text the stages before it released."""

    __slots__ = ("align", "context", "hold", "passed", "pos", "right", "rules", "sg", "tail", "text", "units", "window")

    def __init__(self, sg: StreamGuard, rule: Rule, hold: Holdback | None, window: int, align: bool) -> None:
        self.sg = sg
        self.rules = [rule]
        self.hold = hold
        self.window = window
        self.align = align
        self.context = window if hold is None else hold.context
        self.right = RIGHT if hold is None else hold.right
        self.units: list[Unit] = []
        self.text = ""  # the units joined: what this stage holds
        self.tail = ""  # the last `context` characters it released (as it saw them, before redaction)
        self.pos = 0  # characters released so far (offsets of a blocking finding are in this text)
        self.passed = False  # a skipped scan was recorded as a pass

    def push(self, units: list[Unit], look: str, final: bool) -> list[Unit]:
        if units:
            self.units += units
            self.text += "".join(u[0] for u in units)
        elif not final:
            return []  # nothing new: what it held, it still holds (the stage before released nothing)
        n = len(self.text)
        if not n:
            return []
        if final:
            cut = n
        elif self.hold is None:
            if n <= 2 * self.window:
                return []
            cut = word_cut(self.text, n - self.window, look, max_word=self.window)
        else:
            cut = word_cut(self.text, self.hold.hold(self.text, look), look)
            if self.align and cut < n:
                cut = self._settle(_floor(self.units, cut), look)
        if self.align and cut < n:
            cut = _floor(self.units, cut)
        if cut <= 0:
            return []
        return self._release(cut, look, final)

    def _settle(self, cut: int, look: str) -> int:
        """Move a cut that did not come from the hold rule (a piece boundary, a match's start) back
        until the hold rule agrees with it: no run that could still be a match goes on across it."""
        assert self.hold is not None
        while cut > 0:
            head, after = self.text[:cut], (self.text[cut:] + look)[:LOOK]
            c = word_cut(head, self.hold.hold(head, after), after)
            if self.align:
                c = _floor(self.units, c)
            if c >= cut:
                return cut
            cut = c
        return 0

    def _release(self, cut: int, look: str, final: bool) -> list[Unit]:
        sg = self.sg
        fixed = self.hold is None
        right = self.text[cut:] if fixed else "" if final else (self.text[cut:] + look)[: self.right]
        if not fixed and self.hold is not None and not self.hold.may_match(self.text[:cut] + right):
            return self._pass(cut)  # nothing the scanner could find overlaps it
        scan = self.tail + self.text[:cut] + right
        a = len(self.tail)
        b = a + cut
        try:
            hits = sg.guard.run_rules(scan, self.rules, sg.ctx)
        except Exception as err:  # a scanner that errors and fails closed (engine's _ClosedFailure)
            blocked = getattr(err, "blocked", None)
            if not isinstance(blocked, Blocked):
                raise
            for h in getattr(err, "hits", ()):
                sg._record(h.outcome)
            raise Blocked(blocked.scanner, blocked.rule, "output") from None
        spans: list[tuple[int, int, str]] = []
        for h in hits:
            sg._record(h.outcome)
            if not h.findings:
                continue
            if h.rule.action == "block":
                if fixed or final or any(f.start is None or f.start < b for f in h.findings):
                    raise self._blocked(h, scan, a)
                continue  # a match still in the held part: judged when it is released
            if h.rule.action == "redact":
                for f, kind in redaction_spans(h):
                    s, e = (f.start or 0) - a, (f.end or 0) - a
                    if e <= 0:
                        continue  # already released (redacted then)
                    if s < cut < e and not final:
                        cut = max(0, s)  # do not cut a match in two: hold all of it back
                    spans.append((max(0, s), e, kind))
        if cut < b - a and not fixed:
            cut = self._settle(cut, look)  # a match crossed the cut: all of it waits
        if self.align and cut < len(self.text):
            cut = _floor(self.units, cut)
        if cut <= 0:
            return []
        seg = self.text[:cut]
        reps: list[tuple[int, int, str]] = []
        keep = sg.keep()
        pos = 0
        for s, e, kind in sorted((x for x in spans if x[1] <= cut), key=lambda x: x[0]):  # as redaction.apply
            if s < pos:
                continue
            value = seg[s:e]
            if value in keep:
                continue
            reps.append((s, e, sg.out_vault.placeholder(kind, value) if kind else ""))
            pos = e
        return _replace(self._advance(cut), seg, reps)

    def _pass(self, cut: int) -> list[Unit]:
        if not self.passed:
            self.passed = True
            self.sg._record(Outcome(self.rules[0].scanner, "output", "pass"))
        return self._advance(cut)

    def _advance(self, cut: int) -> list[Unit]:
        """Release the first `cut` characters (as they are): the units to send on."""
        head, self.units = _split(self.units, cut)
        if self.context:
            self.tail = (self.tail + self.text[:cut])[-self.context:]
        self.text = self.text[cut:]
        self.pos += cut
        return head

    def _blocked(self, h: RuleHit, scan: str, a: int) -> Blocked:
        b = blocked_by(h, scan, "output")
        f = b.finding
        if f is not None and f.start is not None and f.end is not None:  # offsets in the stream, not the window
            b.finding = Finding(f.rule, self.pos + f.start - a, self.pos + f.end - a, f.score)
        return b


class StreamGuard:
    def __init__(self, guard: Guard, ctx: ScanContext, *, out_vault: Vault | None = None,
                 restore: Vault | None = None, align: bool = False) -> None:
        self.guard = guard
        self.ctx = ScanContext(direction="output", canaries=ctx.canaries, json_schema=ctx.json_schema,
                               expect_json=ctx.expect_json, final=False)
        self.window = guard.policy.stream_window_chars
        self.align = align
        rules = guard.rules("output")
        self._full_rules = [r for r in rules if guard.scanners[r.scanner].needs_full_text]
        self.out_vault = out_vault if out_vault is not None else Vault()
        self._restore = restore
        self._keep: frozenset[str] | None = None
        self._stages = [_Stage(self, r, holdback_for(guard.scanners[r.scanner], self.ctx), self.window, align)
                        for r in rules if not guard.scanners[r.scanner].needs_full_text]
        self._raw = ""  # upstream text not yet restored (may end inside a placeholder)
        self._raw_units: list[Unit] = []
        self._full: list[str] | None = [] if self._full_rules else None
        self.outcomes: dict[tuple[str, str], Outcome] = {}
        self.released: list[Unit] = []  # what the last feed() or finish() returned, as units

    def feed(self, delta: str, tag: int | None = None) -> str:
        """Add upstream text (`tag` names it in `released`); return the text that is safe to emit
        now. Raises Blocked."""
        if self._full is not None:
            self._full.append(delta)
        units = self._take([(delta, () if tag is None else (tag,), False)] if delta else [], final=False)
        self.released = self._through(units, final=False)
        return "".join(u[0] for u in self.released)

    def finish(self) -> str:
        """The stream ended: scan and emit what is left, then run whole-text rules. Raises Blocked."""
        self.released = self._through(self._take([], final=True), final=True)
        out = "".join(u[0] for u in self.released)
        if self._full is not None:
            ctx = ScanContext(direction="output", canaries=self.ctx.canaries, json_schema=self.ctx.json_schema,
                              expect_json=self.ctx.expect_json, final=True)
            text = "".join(self._full)
            for h in self.guard.run_rules(text, self._full_rules, ctx):
                self._record(h.outcome)
                if h.findings and h.rule.action == "block":
                    raise blocked_by(h, text, "output")
        return out

    def keep(self) -> frozenset[str]:
        """The caller's own values, restored into the answer and never redacted again."""
        if self._keep is None:
            self._keep = self._restore.values() if self._restore is not None else frozenset()
        return self._keep

    def _take(self, units: list[Unit], *, final: bool) -> list[Unit]:
        """Restore the caller's placeholders in upstream text before output rules see it (they see,
        and keep, the caller's own values); a placeholder still arriving waits."""
        if self._restore is None:
            return units
        self._raw_units += units
        self._raw += "".join(u[0] for u in units)
        safe = len(self._raw) if final else placeholder_split(self._raw)
        while self.align and 0 < safe < len(self._raw) and _floor(self._raw_units, safe) != safe:
            safe = placeholder_split(self._raw[: _floor(self._raw_units, safe)])  # not inside a placeholder
        if safe <= 0:
            return []
        text = self._raw[:safe]
        head, self._raw_units = _split(self._raw_units, safe)
        self._raw = self._raw[safe:]
        if "<" not in text:
            return head
        reps = []
        for m in _PLACEHOLDER.finditer(text):
            value = self._restore.restore(m.group(0))
            if value != m.group(0):
                reps.append((m.start(), m.end(), value))
        return _replace(head, text, reps)

    def _through(self, units: list[Unit], *, final: bool) -> list[Unit]:
        look = self._raw[:LOOK]
        for st in self._stages:
            units = st.push(units, look, final)
            look = (st.text + look)[:LOOK]
        return units

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

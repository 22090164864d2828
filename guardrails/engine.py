"""Apply a policy to text: run its rules in order, redact, flag or block, and honour fail modes.

`Guardrails` (the facade built from config) picks the policies attached to a request and merges
them into one `Guard`. A Guard is stateless; per-request state (the placeholder vault, stream
windows) is passed in.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from guardrails import segments
from guardrails.config import GuardrailsConfig, PolicyConfig, Rule
from guardrails.excerpt import excerpt
from guardrails.redaction import Vault, apply, placeholder_type
from guardrails.scan_limit import Window, partial_outcome
from guardrails.scanners.base import Scanner
from guardrails.scanners.registry import build_scanner
from guardrails.types import Blocked, Direction, Finding, Outcome, ScanContext, Source, Verdict

log = logging.getLogger("sluicegate.guardrails")

_STRENGTH = {"pass": 0, "flag": 1, "redact": 2, "error": 1, "block": 3}


@dataclass(slots=True)
class RuleHit:
    rule: Rule
    scanner: Scanner
    findings: list[Finding]
    outcome: Outcome


class Guard:
    def __init__(self, name: str, policy: PolicyConfig, scanners: dict[str, Scanner]) -> None:
        self.name = name
        self.policy = policy
        self.scanners = scanners
        for r in (*policy.input, *policy.output):
            s = scanners[r.scanner]
            if r.action == "redact" and not s.redactable:
                raise ValueError(f"policy {name!r}: scanner {r.scanner!r} finds no spans, so it cannot redact; "
                                 "use block or flag")

    def rules(self, direction: Direction) -> list[Rule]:
        return self.policy.input if direction == "input" else self.policy.output

    def _hit(self, r: Rule, text: str, ctx: ScanContext, source: Source | None = None) -> RuleHit:
        """One rule on one text. An erroring scanner gives an `error` hit, or raises _ClosedFailure
        when its rule fails closed."""
        scanner = self.scanners[r.scanner]
        t0 = time.perf_counter()
        try:
            # long texts in pieces (GIL hold); most texts are one segment: no detour
            findings = scanner.scan(text, ctx) if len(text) <= segments.SEGMENT else segments.scan(scanner, text, ctx)
        except Exception as e:
            ms = (time.perf_counter() - t0) * 1000
            mode = r.on_error or self.policy.on_error
            log.warning("guardrail scanner %s failed (%s); failing %s", r.scanner, type(e).__name__, mode)
            out = Outcome(r.scanner, ctx.direction, "error", f"scanner_error:{type(e).__name__}", ms, source=source)
            hit = RuleHit(r, scanner, [], out)
            if mode == "closed":
                raise _ClosedFailure([hit], Blocked(r.scanner, "scanner_error", ctx.direction, source=source)) from e
            return hit
        ms = (time.perf_counter() - t0) * 1000
        if not findings:
            return RuleHit(r, scanner, findings, Outcome(r.scanner, ctx.direction, "pass", None, ms, 0, (), source))
        return RuleHit(r, scanner, findings, Outcome(r.scanner, ctx.direction, r.action, findings[0].rule, ms,
                                                     len(findings), tuple(findings), source))

    def run_rules(self, text: str, rules: Sequence[Rule], ctx: ScanContext) -> list[RuleHit]:
        """Run scanners (no text changes). Raises _ClosedFailure (holding the hits so far and the
        Blocked) for an erroring scanner that fails closed."""
        hits: list[RuleHit] = []
        for r in rules:
            try:
                h = self._hit(r, text, ctx)
            except _ClosedFailure as cf:
                cf.hits[:0] = hits
                raise
            hits.append(h)
            if h.findings and r.action == "block":
                break
        return hits

    def check(self, text: str, ctx: ScanContext, vault: Vault | None = None, keep: frozenset[str] = frozenset(),
              source: Source | None = None) -> Verdict:
        """Apply this direction's rules in order; later rules see earlier redactions. Values in
        `keep` are not redacted (the caller's own values restored into a response). `source` names
        the text (outcomes and a block carry it); a block carries its finding and an excerpt."""
        verdict = Verdict(text=text)
        outcomes = verdict.outcomes
        masks: list[tuple[int, int]] = []  # sensitive spans found so far, in verdict.text's offsets
        for r in self.policy.input if ctx.direction == "input" else self.policy.output:
            try:
                h = self._hit(r, verdict.text, ctx, source)
            except _ClosedFailure as cf:
                outcomes.extend(x.outcome for x in cf.hits)
                verdict.action, verdict.blocked = "block", cf.blocked
                return verdict
            outcomes.append(h.outcome)
            if not h.findings:
                continue
            action = h.outcome.action
            if _STRENGTH[action] > _STRENGTH[verdict.action]:
                verdict.action = action
            if action == "block":
                verdict.blocked = blocked_by(h, verdict.text, ctx.direction, source, masks)
                return verdict
            if h.scanner.sensitive:
                masks.extend((f.start, f.end) for f in h.findings if f.start is not None and f.end is not None)
            if action == "redact":
                redacted = apply(verdict.text, redaction_spans(h), vault, keep)
                if redacted != verdict.text:
                    # offsets moved; what was redacted is gone from the text anyway (a flagged
                    # value seen before this redaction is no longer masked in an excerpt)
                    verdict.text, masks = redacted, []
        return verdict

    def check_window(self, text: str, window: Window, ctx: ScanContext, vault: Vault | None = None,
                     keep: frozenset[str] = frozenset(), source: Source | None = None) -> Verdict:
        """check() the head and tail that `window` names (scan_limit.plan); the middle is unscanned.
        The tail's findings are shifted to index the whole text."""
        if window.whole:
            return self.check(text, ctx, vault, keep, source)
        cut = len(text) - window.tail
        head = self.check(text[:window.head], ctx, vault, keep, source)
        tail = (self.check(text[cut:], ctx, vault, keep, source) if window.tail and head.blocked is None
                else Verdict(text[cut:]))
        for o in tail.outcomes:
            o.findings = tuple(_shifted(f, cut) for f in o.findings)
        blocked = head.blocked or tail.blocked
        if blocked is not None and blocked is tail.blocked and blocked.finding is not None:
            blocked.finding = _shifted(blocked.finding, cut)
        verdict = Verdict(text=head.text + text[window.head:cut] + tail.text,
                          outcomes=[*head.outcomes, *tail.outcomes, partial_outcome()],
                          blocked=blocked)
        verdict.action = max((head.action, tail.action, "flag"), key=_STRENGTH.__getitem__)
        return verdict

    def check_documents(self, docs: Sequence[str], ctx: ScanContext | None = None,
                        ids: Sequence[str | None] | None = None) -> list[Verdict]:
        """Indirect injection: retrieved chunks go through the input rules like a user message. Each
        verdict's source is `documents[i]`, with the chunk's or document's id from `ids`."""
        c = ctx or ScanContext(direction="input")
        if ids is not None and len(ids) != len(docs):
            raise ValueError(f"check_documents: {len(ids)} ids for {len(docs)} documents")
        return [self.check(d, c, None, source=Source(f"documents[{i}]", id=ids[i] if ids is not None else None))
                for i, d in enumerate(docs)]


def blocked_by(hit: RuleHit, text: str, direction: Direction, source: Source | None = None,
               masks: Sequence[tuple[int, int]] = ()) -> Blocked:
    """The Blocked for a block rule's hit on `text`: its first finding, the source, and an excerpt of
    `text` around the finding with sensitive values (this hit's, if its scanner is sensitive, and
    `masks`) masked."""
    f = hit.findings[0] if hit.findings else None
    spans = list(masks)
    if hit.scanner.sensitive:
        spans += [(x.start, x.end) for x in hit.findings if x.start is not None and x.end is not None]
    ex = excerpt(text, f.start, f.end, spans) if f is not None else None
    return Blocked(hit.rule.scanner, hit.outcome.rule or "match", direction, finding=f, source=source, excerpt=ex)


def _shifted(f: Finding, by: int) -> Finding:
    if f.start is None or f.end is None:
        return f
    return Finding(f.rule, f.start + by, f.end + by, f.score)


def redaction_spans(hit: RuleHit) -> list[tuple[Finding, str]]:
    # invisible characters are removed, everything else gets a typed placeholder
    kind = "" if hit.rule.scanner == "invisible_text" or hit.scanner.name == "invisible_text" else None
    return [(f, kind if kind is not None else placeholder_type(hit.scanner.name, f.rule)) for f in hit.findings if f.has_span]


class _ClosedFailure(Exception):
    def __init__(self, hits: list[RuleHit], blocked: Blocked) -> None:
        super().__init__(str(blocked))
        self.hits = hits
        self.blocked = blocked


def merge_policies(policies: Sequence[PolicyConfig]) -> PolicyConfig:
    """Several attached policies act as one: rules concatenated (a scanner once per direction, with
    the strongest action), restore if any asks, fail closed if any does, the widest stream window."""

    def rules(lists: list[list[Rule]]) -> list[Rule]:
        by_scanner: dict[str, Rule] = {}
        for lst in lists:
            for r in lst:
                cur = by_scanner.get(r.scanner)
                if cur is None or _STRENGTH[r.action] > _STRENGTH[cur.action]:
                    by_scanner[r.scanner] = r
        return list(by_scanner.values())

    return PolicyConfig(
        input=rules([p.input for p in policies]),
        output=rules([p.output for p in policies]),
        restore_pii=any(p.restore_pii for p in policies),
        on_error="closed" if any(p.on_error == "closed" for p in policies) else "open",
        scan_documents=any(p.scan_documents for p in policies),
        stream_window_chars=max(p.stream_window_chars for p in policies),
        max_scan_chars=min(p.max_scan_chars for p in policies),  # the strictest limit and mode win
        oversize="reject" if any(p.oversize == "reject" for p in policies) else "head_tail",
    )


class Guardrails:
    """The package facade: config in, the Guard for a request out."""

    def __init__(self, config: GuardrailsConfig) -> None:
        self.config = config
        self._scanner_cfg = config.all_scanners()
        self._scanners: dict[str, Scanner] = {}
        self._guards: dict[tuple[str, ...], Guard] = {}
        for name in config.policies:  # validate redact-ability etc. at startup
            self.guard((name,))

    def scanner(self, name: str) -> Scanner:
        s = self._scanners.get(name)
        if s is None:
            s = self._scanners[name] = build_scanner(name, self._scanner_cfg[name])
        return s

    def warm(self) -> None:
        """Load every scanner a policy uses (models, recognizers), so the first request is not slow."""
        for g in self._guards.values():
            for s in g.scanners.values():
                s.warm()

    def policies_for(self, *, key_id: str | None, team_id: str | None, model: str | None, route: str | None) -> tuple[str, ...]:
        if not self.config.enabled:
            return ()
        names: list[str] = []
        for a in self.config.attach:
            matches = ((not a.keys or key_id in a.keys) and (not a.teams or team_id in a.teams)
                       and (not a.models or model in a.models) and (not a.routes or route in a.routes))
            if matches and a.policy not in names:
                names.append(a.policy)
        if not names and self.config.default_policy:
            names.append(self.config.default_policy)
        return tuple(names)

    def guard(self, names: tuple[str, ...]) -> Guard | None:
        if not names:
            return None
        g = self._guards.get(names)
        if g is None:
            pols = [self.config.policies[n] for n in names]
            pol = pols[0] if len(pols) == 1 else merge_policies(pols)
            used = {r.scanner for r in (*pol.input, *pol.output)}
            g = self._guards[names] = Guard("+".join(names), pol, {n: self.scanner(n) for n in used})
        return g

    def guard_for(self, *, key_id: str | None = None, team_id: str | None = None, model: str | None = None,
                  route: str | None = None) -> Guard | None:
        return self.guard(self.policies_for(key_id=key_id, team_id=team_id, model=model, route=route))

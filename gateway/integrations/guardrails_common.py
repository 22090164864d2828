"""What the guardrails hook and its stream filter share: the per-request state, the error each
verdict becomes, and how outcomes are recorded on the request context."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gateway.context import GuardrailOutcome, RequestContext
from gateway.errors import ContentPolicyViolation, PayloadTooLarge
from guardrails import Blocked, Guard, Outcome, ScanContext, Vault
from guardrails.scan_limit import ScanTooLarge

_RANK = {"pass": 0, "flag": 1, "error": 1, "redact": 2, "block": 3}


@dataclass(slots=True)
class State:
    guard: Guard
    vault: Vault = field(default_factory=Vault)
    out_vault: Vault = field(default_factory=Vault)
    scan: ScanContext = field(default_factory=ScanContext)


def violation(b: Blocked, policy: str) -> ContentPolicyViolation:
    """The 400 for a block: names scanner, rule, policy, direction and, where the verdict knows
    them, the source (`{"path": "messages[2].content", "role": "tool"}`), the span (`start`/`end`
    in that text as the rule saw it) and a short `excerpt` around it in which a secret's or PII
    value is masked (`postgres://app:****@db…`): it never echoes a credential."""
    what = "Request" if b.direction == "input" else "Response"
    fix = ("remove the flagged content from the messages" if b.direction == "input"
           else "rephrase the request or ask an admin to review the policy")
    where = f" in {b.source.path}" if b.source is not None else ""
    extra: dict[str, Any] = {"scanner": b.scanner, "rule": b.rule, "policy": policy, "direction": b.direction}
    if b.source is not None:
        extra["source"] = b.source.as_dict()
    if b.finding is not None and b.finding.has_span:
        extra["start"], extra["end"] = b.finding.start, b.finding.end
    if b.excerpt is not None:
        extra["excerpt"] = b.excerpt
    return ContentPolicyViolation(
        f"{what} blocked by guardrail scanner '{b.scanner}' (rule '{b.rule}', policy '{policy}'){where}: {fix}.",
        param=(b.source.path if b.source is not None else "messages") if b.direction == "input" else None,
        extra=extra,
    )


def too_large(exc: ScanTooLarge, policy: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"the request's input holds {exc.chars:,} characters to scan; guardrail policy '{policy}' scans at most "
        f"{exc.limit:,} (guardrails.policies.{policy}.max_scan_chars): send less text, or ask an admin to raise "
        "the limit or set the policy's oversize: head_tail", param="messages", code="guardrails_scan_limit",
        extra={"policy": policy, "limit": exc.limit})


# Findings kept per recorded outcome (a long text can hold thousands of e-mail addresses).
MAX_RECORDED_FINDINGS = 32


def record(ctx: RequestContext, outcomes: list[Outcome]) -> None:
    """One GuardrailOutcome per scanner and direction: the strongest action, latencies summed, and
    the findings (rule, start, end, source; never text) of its outcomes, at most
    MAX_RECORDED_FINDINGS."""
    by_key: dict[tuple[str, str], GuardrailOutcome] = {
        (g.scanner, g.direction): g for g in ctx.guardrails
    }
    for o in outcomes:
        cur = by_key.get((o.scanner, o.direction))
        if cur is None:
            cur = by_key[(o.scanner, o.direction)] = GuardrailOutcome(o.scanner, o.direction, o.action, o.rule, o.latency_ms)
            ctx.guardrails.append(cur)
        else:
            cur.latency_ms += o.latency_ms
            if _RANK[o.action] > _RANK[cur.action]:
                cur.action, cur.rule = o.action, o.rule
        if o.findings and len(cur.findings) < MAX_RECORDED_FINDINGS:
            src = o.source.as_dict() if o.source is not None else None
            for f in o.findings[:MAX_RECORDED_FINDINGS - len(cur.findings)]:
                cur.findings.append({"rule": f.rule, "start": f.start, "end": f.end, "source": src})


def args_context(scan: ScanContext) -> ScanContext:
    """Tool-call arguments get the output rules without the response_format expectations (they
    are JSON for the tool's own schema, not the response's)."""
    return ScanContext(direction="output", canaries=scan.canaries)

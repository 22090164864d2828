"""Guardrails: text and context in, a verdict out. A leaf package (imports none of the others).

    from guardrails import Guardrails, GuardrailsConfig, ScanContext, Vault
    g = Guardrails(GuardrailsConfig()).guard(("default",))
    verdict = g.check("mail me at a@b.com", ScanContext(direction="input"), Vault())
"""

from guardrails.config import GuardrailsConfig, PolicyConfig, Rule
from guardrails.engine import Guard, Guardrails
from guardrails.redaction import Vault
from guardrails.scan_limit import ScanTooLarge
from guardrails.stream import StreamGuard
from guardrails.types import (
    Blocked,
    Finding,
    GuardrailError,
    Outcome,
    ScanContext,
    ScannerError,
    Source,
    Verdict,
)

__all__ = [
    "Blocked",
    "Finding",
    "Guard",
    "GuardrailError",
    "Guardrails",
    "GuardrailsConfig",
    "Outcome",
    "PolicyConfig",
    "Rule",
    "ScanContext",
    "ScanTooLarge",
    "ScannerError",
    "Source",
    "StreamGuard",
    "Vault",
    "Verdict",
]

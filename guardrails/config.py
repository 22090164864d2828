"""Config section 'guardrails' (owned by this package; gateway/config.py composes it).

    guardrails:
      scanners:                      # named scanner instances; a few are predefined (see DEFAULT_SCANNERS)
        no_competitors: {type: denylist, substrings: [acme corp]}
      policies:
        default:
          input:  [{scanner: secrets, action: block}, {scanner: pii, action: redact},
                   {scanner: injection, action: block}]
          output: [{scanner: pii, action: redact}]
          restore_pii: true          # put the caller's own redacted values back into the response
          on_error: closed           # a scanner that errors blocks (closed) or is skipped (open)
      attach:                        # which policies apply to which requests
        - {policy: strict, teams: [finance]}
      default_policy: default        # when no attachment matches (null: no guardrails)
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ActionName = Literal["block", "redact", "flag"]
FailMode = Literal["open", "closed"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PiiScannerConfig(_Strict):
    type: Literal["pii"] = "pii"
    entities: list[str] = Field(
        default_factory=lambda: ["EMAIL_ADDRESS", "CREDIT_CARD", "IBAN_CODE", "IP_ADDRESS", "US_SSN", "PHONE_NUMBER"]
    )
    score_threshold: float = Field(default=0.3, ge=0, le=1)
    phone_regions: list[str] = Field(default_factory=lambda: ["US", "UK", "DE", "FR", "IL", "IN", "CA", "BR"])


class SecretsScannerConfig(_Strict):
    type: Literal["secrets"] = "secrets"
    plugins: list[str] | None = Field(default=None, description="detect-secrets plugin class names; null = all regex plugins")


class InjectionScannerConfig(_Strict):
    type: Literal["injection"] = "injection"
    operating_point: Literal["default", "conservative"] = Field(
        default="default",
        description="default: best deepset F1; conservative: fewer false positives on benign prompts that "
                    "mention 'ignore', 'instructions', 'password' (lower recall; see guardrails/README.md)")
    threshold: float | None = Field(default=None, gt=0, lt=1, description="null = the operating point's threshold")
    model_path: str | None = Field(default=None, description="another artifact built by tools/injection_training/train.py")


class DenyListScannerConfig(_Strict):
    type: Literal["denylist"] = "denylist"
    substrings: list[str] = Field(default_factory=list)
    regexes: dict[str, str] = Field(default_factory=dict, description="rule name -> regex")
    topics: dict[str, list[str]] = Field(default_factory=dict, description="topic -> keywords/phrases")
    case_sensitive: bool = False


class InvisibleTextScannerConfig(_Strict):
    type: Literal["invisible_text"] = "invisible_text"
    classes: list[str] = Field(default_factory=lambda: ["zero_width", "bidi_control", "tag_chars", "control", "private_use"])


class MaxTokensScannerConfig(_Strict):
    type: Literal["max_tokens"] = "max_tokens"
    max_tokens: int = Field(gt=0)


class JsonOutputScannerConfig(_Strict):
    type: Literal["json_output"] = "json_output"
    always: bool = Field(default=False, description="check JSON even when response_format did not ask for it")


class CanaryScannerConfig(_Strict):
    type: Literal["canary"] = "canary"
    canaries: list[str] = Field(default_factory=list, description="fixed canary strings planted in system prompts")
    plant: bool = Field(default=False, description="plant a fresh canary in each request's system prompt")


ScannerConfig = Annotated[
    PiiScannerConfig | SecretsScannerConfig | InjectionScannerConfig | DenyListScannerConfig
    | InvisibleTextScannerConfig | MaxTokensScannerConfig | JsonOutputScannerConfig | CanaryScannerConfig,
    Field(discriminator="type"),
]


def default_scanners() -> dict[str, ScannerConfig]:
    return {
        "pii": PiiScannerConfig(),
        "secrets": SecretsScannerConfig(),
        "injection": InjectionScannerConfig(),
        "invisible_text": InvisibleTextScannerConfig(),
        "json_output": JsonOutputScannerConfig(),
    }


class Rule(_Strict):
    scanner: str
    action: ActionName = "block"
    on_error: FailMode | None = Field(default=None, description="overrides the policy's on_error")


class PolicyConfig(_Strict):
    input: list[Rule] = Field(default_factory=list)
    output: list[Rule] = Field(default_factory=list)
    restore_pii: bool = Field(default=False, description="restore input placeholders (<EMAIL_1>) in the response")
    on_error: FailMode = "closed"
    scan_documents: bool = Field(default=True, description="scan retrieved RAG chunks with the input rules for indirect injection")
    stream_window_chars: int = Field(default=128, ge=16, le=8192, description="text held back while streaming so matches are not cut")
    # Scanning costs ~1.3 CPU-s per MiB with the default policy: an unbounded message is a denial
    # of service for whoever holds a key. The limit counts all of a request's input texts.
    max_scan_chars: int = Field(default=512 * 1024, gt=0, description="most input characters one request may "
                                "have scanned (all its messages together)")
    oversize: Literal["reject", "head_tail"] = Field(
        default="reject", description="over max_scan_chars: reject (413 naming the limit), or scan only the "
        "first and last max_scan_chars/2 characters and pass the middle unscanned (recorded as a flag)")


class Attachment(_Strict):
    """A policy applies to a request when every selector given matches (an empty list matches all)."""

    policy: str
    keys: list[str] = Field(default_factory=list, description="virtual key ids")
    teams: list[str] = Field(default_factory=list)
    models: list[str] = Field(default_factory=list, description="requested model names (aliases)")
    routes: list[str] = Field(default_factory=list, description="chat.completions | embeddings | rag.query")


def default_policies() -> dict[str, PolicyConfig]:
    return {
        "default": PolicyConfig(
            input=[
                Rule(scanner="secrets", action="block"),
                Rule(scanner="pii", action="redact"),
                Rule(scanner="injection", action="block"),
                Rule(scanner="invisible_text", action="redact"),
            ],
            output=[Rule(scanner="pii", action="redact"), Rule(scanner="secrets", action="redact")],
            restore_pii=True,
        )
    }


class GuardrailsConfig(_Strict):
    enabled: bool = True
    scanners: dict[str, ScannerConfig] = Field(default_factory=dict, description="added to / overriding the predefined ones")
    policies: dict[str, PolicyConfig] = Field(default_factory=default_policies)
    attach: list[Attachment] = Field(default_factory=list)
    default_policy: str | None = Field(default=None, description="policy for requests no attachment matches")
    warm_on_start: bool = Field(default=True, description="load scanner models in a background thread at startup")
    scan_system: bool = Field(default=False, description="the input rules also scan system and developer messages: "
                              "a chat request's system prompt, /v1/messages `system`, /v1/responses `instructions`. "
                              "Off: they are the application's own text, and coding agents send tens of kilobytes "
                              "of them with every request")
    scan_threads: int = Field(default=2, ge=1, le=64, description="scans run off the event loop in at most this "
                              "many threads at once; more wait their turn")
    inline_scan_chars: int = Field(default=8192, ge=0, description="scans of at most this many characters run on "
                                   "the event loop: a thread hop (~0.1 CPU-ms) costs more than they do")

    def all_scanners(self) -> dict[str, ScannerConfig]:
        return {**default_scanners(), **self.scanners}

    @model_validator(mode="after")
    def _references_resolve(self) -> GuardrailsConfig:
        known = self.all_scanners()
        for pname, pol in self.policies.items():
            for r in (*pol.input, *pol.output):
                if r.scanner not in known:
                    raise ValueError(f"policy {pname!r} uses unknown scanner {r.scanner!r}; known: {sorted(known)}")
        for a in self.attach:
            if a.policy not in self.policies:
                raise ValueError(f"attach names unknown policy {a.policy!r}; known: {sorted(self.policies)}")
        if self.default_policy is not None and self.default_policy not in self.policies:
            raise ValueError(f"default_policy {self.default_policy!r} is not a policy; known: {sorted(self.policies)}")
        return self

"""Config section 'PromptsConfig' (owned by this package; gateway/config.py composes it).

`sluice prompts` reads the same section from the file `--config` (or $SLUICE_CONFIG) names, so the
gate applies one label policy whether a label moves from the CLI or the admin API.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class LabelPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    evidence: Literal["live", "signed-replay", "any-replay"] = Field(
        default="signed-replay",
        description="which runs may promote to this label: `live` (live or recording runs only), "
                    "`signed-replay` (also replays of a cassette a signed recording run wrote), "
                    "`any-replay` (also replays of any cassette)",
    )
    require_suite: bool = Field(default=True,
                                description="refuse a prompt whose file names no `suite:` (only forced moves pass)")


class RolloutGuards(BaseModel):
    """When the gateway halts a rollout by itself (prompts/rollout_stats.py says how it decides)."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="check active rollouts against these guards and abort on a trip")
    check_every_s: float = Field(default=10.0, gt=0, description="seconds between checks (each replica checks)")
    min_requests: int = Field(default=30, ge=1, description="requests per variant before any guard may trip")
    confidence: float = Field(default=0.95, gt=0.5, lt=1, description="the intervals the comparison reports")
    halt_confidence: float = Field(
        default=0.999, gt=0.5, lt=1,
        description="the interval a guard uses to halt: stricter than `confidence` because the monitor looks "
                    "again and again (0.999 per look is a Bonferroni bound of ~10% false halts over 100 looks)")
    error_rate: bool = Field(default=True, description="halt when the candidate's error rate (status >= 500) is worse")
    block_rate: bool = Field(default=True, description="halt when the candidate's guardrail block rate is worse")
    rate_margin: float = Field(default=0.0, ge=0, le=1,
                               description="how much worse (absolute) a rate may be before it counts")
    cost_per_1k_increase_pct: float | None = Field(
        default=25.0, ge=0, description="halt when cost per request is up by more than this percent (null: off)")
    webhook_url: str | None = Field(default=None, description="POST the halt's evidence here (JSON)")


class PromptsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="resolve `prompt` requests in the gateway")
    registry_dir: str = Field(default="prompts", description="folder of <name>/v<N>.yaml prompt files (relative to the config file's folder)")
    state_dir: str | None = Field(
        default=None,
        description="where labels, label history, attestations and snapshots live; default <registry_dir>/.sluice",
    )
    attest_key_env: str = Field(default="SLUICE_ATTEST_KEY",
                                description="env var holding the key that signs and verifies the journals")
    serve_unreleased: bool = Field(default=False,
                                   description="serve a prompt or version with no release from its file (development only)")
    version_pins: bool = Field(default=True, description="accept `NAME@3` (the latest release of version 3)")
    label_policy: dict[str, LabelPolicy] = Field(default_factory=dict,
                                                 description="per label: which eval runs may promote to it")

    rollout_guards: RolloutGuards = Field(default_factory=RolloutGuards,
                                          description="automatic rollback of prompt rollouts")

    def policy_for(self, label: str) -> LabelPolicy:
        return self.label_policy.get(label) or LabelPolicy()

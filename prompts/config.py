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

    def policy_for(self, label: str) -> LabelPolicy:
        return self.label_policy.get(label) or LabelPolicy()

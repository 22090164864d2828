"""Prompt registry: versioned templates, labels, releases, rendering, attestations and the gate.

A leaf package: it imports nothing from gateway, rag, evals or guardrails.
"""

from prompts.attestations import Attestation, attestations_for, latest_attestation, record_attestation
from prompts.config import LabelPolicy
from prompts.errors import (
    IntegrityError,
    InvalidName,
    LabelNotFound,
    MissingVariable,
    NotReleased,
    PromotionRefused,
    PromptError,
    PromptFileError,
    PromptNotFound,
    RenderError,
    VersionNotFound,
)
from prompts.gate import promote, rollback
from prompts.model import PromptSpec
from prompts.registry import LabelMove, PromptRegistry, Release, parse_ref
from prompts.render import RenderedPrompt, render, render_string
from prompts.signing import Signer
from prompts.verify import verify

__all__ = [
    "Attestation", "IntegrityError", "InvalidName", "LabelMove", "LabelNotFound", "LabelPolicy", "MissingVariable",
    "NotReleased", "PromotionRefused", "PromptError", "PromptFileError", "PromptNotFound", "PromptRegistry",
    "PromptSpec", "Release", "RenderError", "RenderedPrompt", "Signer", "VersionNotFound", "attestations_for",
    "latest_attestation", "parse_ref", "promote", "record_attestation", "render", "render_string", "rollback",
    "verify",
]

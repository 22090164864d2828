"""Prompt registry: versioned templates, labels, rendering, attestations and the promotion gate.

A leaf package: it imports nothing from gateway, rag, evals or guardrails.
"""

from prompts.attestations import Attestation, attestations_for, latest_attestation, record_attestation
from prompts.errors import (
    LabelNotFound,
    MissingVariable,
    PromotionRefused,
    PromptError,
    PromptFileError,
    PromptNotFound,
    RenderError,
    VersionNotFound,
)
from prompts.gate import promote, rollback
from prompts.model import PromptSpec
from prompts.registry import LabelMove, PromptRegistry, parse_ref
from prompts.render import RenderedPrompt, render, render_string

__all__ = [
    "Attestation", "LabelMove", "LabelNotFound", "MissingVariable", "PromotionRefused", "PromptError",
    "PromptFileError", "PromptNotFound", "PromptRegistry", "PromptSpec", "RenderError", "RenderedPrompt",
    "VersionNotFound", "attestations_for", "latest_attestation", "parse_ref", "promote", "record_attestation",
    "render", "render_string", "rollback",
]

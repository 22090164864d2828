"""Errors of the prompt registry. The gateway maps them to its own HTTP errors.

    PromptError
    ├── InvalidName          a name, label or version reference outside the one charset/length
    ├── PromptFileError      a prompt file is invalid (names the file and the field)
    ├── IntegrityError       a journal or snapshot fails verification (rewritten, forged, unsigned)
    ├── PromptNotFound       no prompt with that name
    │   ├── VersionNotFound  the prompt exists, the version does not
    │   ├── LabelNotFound    the prompt exists, the label does not
    │   └── NotReleased      the prompt (or version) exists but was never released
    ├── RenderError          a template failed to render
    │   └── MissingVariable  a variable the template or schema needs was not given
    └── PromotionRefused     the gate refused a label move (carries the attestation seen, if any)
"""

from __future__ import annotations

from typing import Any


class PromptError(Exception):
    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class InvalidName(PromptError):
    pass


class PromptFileError(PromptError):
    pass


class IntegrityError(PromptError):
    pass


class PromptNotFound(PromptError):
    pass


class VersionNotFound(PromptNotFound):
    pass


class LabelNotFound(PromptNotFound):
    pass


class NotReleased(PromptNotFound):
    pass


class RenderError(PromptError):
    pass


class MissingVariable(RenderError):
    pass


class PromotionRefused(PromptError):
    pass

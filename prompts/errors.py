"""Errors of the prompt registry. The gateway maps them to its own HTTP errors.

    PromptError
    ├── PromptFileError      a prompt file is invalid (names the file and the field)
    ├── PromptNotFound       no prompt with that name
    │   ├── VersionNotFound  the prompt exists, the version does not
    │   └── LabelNotFound    the prompt exists, the label does not
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


class PromptFileError(PromptError):
    pass


class PromptNotFound(PromptError):
    pass


class VersionNotFound(PromptNotFound):
    pass


class LabelNotFound(PromptNotFound):
    pass


class RenderError(PromptError):
    pass


class MissingVariable(RenderError):
    pass


class PromotionRefused(PromptError):
    pass

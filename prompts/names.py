"""The one rule for prompt names, labels and version references, checked before any file is opened.

A name is a folder inside the registry, so it must never carry a path: one charset, one length,
and the result always resolved inside the registry folder. Errors quote a short, escaped form of
what was sent, never a file path.
"""

from __future__ import annotations

import re

from prompts.errors import InvalidName

MAX_NAME = 64
NAME_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"  # also the PromptSpec.name pattern
_NAME = re.compile(NAME_PATTERN)
_VERSION = re.compile(r"^v?[0-9]+$")  # ASCII digits only: "²".isdigit() is True in Python


def shown(value: object, limit: int = 40) -> str:
    """A short, repr-escaped form of untrusted input for an error message."""
    text = repr(str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def check_name(name: str, what: str = "prompt name") -> str:
    if not isinstance(name, str) or not _NAME.match(name) or ".." in name:
        # the value is not echoed: it may be a path, or whatever a client chose to send
        size = len(name) if isinstance(name, str) else 0
        raise InvalidName(
            f"invalid {what} ({size} characters): use 1-{MAX_NAME} characters of a-z, 0-9, '.', '_' or '-', "
            "starting with a letter or digit, and no '..'", value=shown(name))
    return name


def check_label(label: str) -> str:
    return check_name(label, "label")


def version_of(ref: str | int) -> int | None:
    """The version a reference names (3, "3", "v3"), or None when it is a label."""
    if isinstance(ref, int) and not isinstance(ref, bool):
        return ref
    text = str(ref)
    if _VERSION.match(text):
        return int(text.lstrip("v"))
    return None


def check_ref(ref: str | int) -> int | str:
    """A version number or a valid label name."""
    version = version_of(ref)
    if version is not None:
        if not 1 <= version <= 999_999_999:
            raise InvalidName("invalid version: versions are 1 to 999999999", value=shown(ref))
        return version
    return check_label(str(ref))

"""/ui/keys (being built)."""

from __future__ import annotations

from gateway.ui.console import Console


def add_routes(console: Console) -> None:
    """No routes yet."""

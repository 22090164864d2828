"""The web console (/ui): server-rendered pages over the gateway's own report functions."""

from gateway.ui.routes import build_ui_router

__all__ = ["build_ui_router"]

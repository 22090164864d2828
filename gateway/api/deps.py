"""The one admin guard for sluicegate's own APIs under /sluice/v1 (keys, teams, audit, cache admin,
prompts, the spend report's admin view).

The master key is read at call time from the environment variable that the *current* config
generation names in `auth.master_key_env` (default SLUICE_MASTER_KEY), so a reload that renames
it takes effect at once. It is compared in constant time. With no master key configured the admin
routes refuse (403 master_key_not_configured): they are never open.

`require_admin` is the FastAPI dependency; `check_master(gateway, headers)` is the same check for
code that is not a FastAPI dependency (a handler that also admits other principals).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from fastapi import Request

from gateway.errors import AuthenticationError, PermissionDenied
from gateway.spend.auth import bearer_token, is_master_key


def master_key_env(gateway: Any) -> str:
    """The name of the env var holding the master key, from the current config generation."""
    return str(gateway.config.auth.master_key_env)


def configured_master_key(gateway: Any) -> str | None:
    """The master key the current config names, or None when that variable is unset or empty."""
    return os.environ.get(master_key_env(gateway)) or None


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in headers.items()}


def check_master(gateway: Any, headers: Mapping[str, str]) -> None:
    """Raise unless `headers` carry the master key (`Authorization: Bearer` or `x-api-key`).

    403 permission_error/master_key_not_configured: no master key is configured.
    401 authentication_error: no key, or a key that is not the master key.
    403 permission_error/admin_only: a virtual key (they cannot use the admin API).
    """
    env = master_key_env(gateway)
    expected = configured_master_key(gateway)
    if expected is None:
        raise PermissionDenied(f"the admin API is off: no master key is configured; set ${env} in the "
                               "gateway's environment (auth.master_key_env names the variable) and restart it",
                               code="master_key_not_configured")
    token = bearer_token(lower_headers(headers))
    if not token:
        raise AuthenticationError(f"the admin API needs the master key: send `Authorization: Bearer ${env}`",
                                  code="missing_api_key")
    if is_master_key(token, expected):
        return
    from gateway.spend.keystore import KEY_PREFIX  # here: the keystore imports SQLAlchemy

    if token.startswith(KEY_PREFIX):
        raise PermissionDenied("the admin API needs the master key; a virtual key cannot use it",
                               code="admin_only")
    raise AuthenticationError(f"the key is not the master key; the admin API needs the value of ${env}",
                              code="invalid_master_key")


def require_admin(request: Request) -> None:
    """FastAPI dependency for every admin route: the master key or an OpenAI-shaped 401/403."""
    check_master(request.app.state.gateway, request.headers)

"""GET /metrics: Prometheus text exposition of this app instance's registry (no licence gate).

Mounted only when `telemetry.metrics` is on. The series name teams, keys' budgets and costs, so
who may read them is `server.metrics` (restart-only; see `check_access`):
- auth off and no `token_env`: open, like every other route;
- `token_env`: `Authorization: Bearer <that token>` (with auth on, the master key also works);
- auth on and no `token_env`: the master key;
- `public: true`: open whatever auth says (the network restricts it, e.g. a NetworkPolicy);
- `port`: served only on a listener of its own (`MetricsListener`), 404 on the main port.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.api.deps import configured_master_key, lower_headers
from gateway.config import ServerConfig
from gateway.errors import AuthenticationError, NotFound, PermissionDenied
from gateway.spend.auth import bearer_token, is_master_key
from gateway.telemetry.metrics import GatewayMetrics

# Set in the ASGI scope by MetricsListener: the request came in on the metrics port.
ON_METRICS_LISTENER = "sluice.metrics_listener"


def metrics_router(metrics: GatewayMetrics, refresh: Callable[[], None] | None = None) -> APIRouter:
    """`refresh` runs before each scrape to update settable gauges read from other components."""
    router = APIRouter()

    @router.get("/metrics", tags=["ops"], response_class=PlainTextResponse,
                summary="Prometheus metrics for this gateway instance",
                responses={200: {"description": "Prometheus text exposition format 0.0.4",
                                 "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get_metrics(request: Request) -> Response:
        # Sync route: Starlette runs it in a thread, so a large scrape never stalls the event loop.
        server = getattr(request.app.state, "server_config", None)
        if server is not None:  # None: mounted outside create_app (unit tests), no gateway to ask
            check_access(request.app.state.gateway, server, request.scope, request.headers)
        if refresh is not None:
            refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router


def check_access(gateway: Any, server: ServerConfig, scope: Mapping[str, Any], headers: Mapping[str, str]) -> None:
    """Raise unless this request may read /metrics (the rules are in the module docstring)."""
    m = server.metrics
    if m.port is not None and not scope.get(ON_METRICS_LISTENER):
        raise NotFound("GET /metrics is not served on this listener (server.metrics.port)", code="unknown_route")
    if m.public:
        return
    auth_on = bool(gateway.config.auth.enabled)
    expected: list[str] = []
    if m.token_env:
        token = os.environ.get(m.token_env)
        if not token:
            raise PermissionDenied(f"GET /metrics needs the token in ${m.token_env}, which is not set in the "
                                   "gateway's environment", code="metrics_token_not_configured")
        expected.append(token)
    if auth_on:
        master = configured_master_key(gateway)
        if master:
            expected.append(master)
    elif not m.token_env:
        return  # auth off: nothing else is guarded either
    what = f"${m.token_env}" if m.token_env else "the master key"
    presented = bearer_token(lower_headers(headers))
    if not presented:
        raise AuthenticationError(f"GET /metrics needs `Authorization: Bearer` with {what} "
                                  "(server.metrics in the config)", code="missing_api_key")
    if not any(is_master_key(presented, e) for e in expected):  # constant-time comparison
        raise AuthenticationError(f"GET /metrics needs {what}; the token sent is not it", code="invalid_api_key")


class MetricsListener:
    """/metrics on a port of its own (`server.metrics.port`), through the same app and the same
    read deadlines as the main port; every other path is 404 there. Bound with SO_REUSEPORT so each
    worker process can serve its own registry, as on the main port."""

    def __init__(self, server: asyncio.AbstractServer, state: Any) -> None:
        self.server = server
        self.state = state

    @classmethod
    async def start(cls, api: Any, server: ServerConfig) -> MetricsListener | None:
        if server.metrics.port is None:
            return None
        import uvicorn
        from uvicorn.server import ServerState

        from gateway.http_server import DeadlineProtocol, Deadlines

        async def only_metrics(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http" and scope["path"] == "/metrics":
                await api({**scope, ON_METRICS_LISTENER: True}, receive, send)
                return
            err = NotFound("only GET /metrics is served on this port", code="unknown_route")
            await JSONResponse(err.body(), status_code=err.status)(scope, receive, send)

        ucfg = uvicorn.Config(only_metrics, host=server.metrics.host, port=server.metrics.port, lifespan="off",
                              log_config=None, access_log=False, server_header=False)
        ucfg.load()
        state = ServerState()
        deadlines = Deadlines.of(server)
        srv = await asyncio.get_running_loop().create_server(
            lambda: DeadlineProtocol(config=ucfg, server_state=state, app_state={}, deadlines=deadlines),
            host=server.metrics.host, port=server.metrics.port, reuse_port=True)
        return cls(srv, state)

    async def aclose(self) -> None:
        self.server.close()
        for conn in list(self.state.connections):
            conn.shutdown()
        await self.server.wait_closed()

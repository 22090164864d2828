"""GET /metrics: Prometheus text exposition of this app instance's registry (no licence gate).

Mounted only when `telemetry.metrics` is on. Access is restricted at the network layer
(deploy/k8s NetworkPolicy lets only Prometheus / the collector scrape it).
"""

from __future__ import annotations

from collections.abc import Callable

from fastapi import APIRouter, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from gateway.telemetry.metrics import GatewayMetrics


def metrics_router(metrics: GatewayMetrics, refresh: Callable[[], None] | None = None) -> APIRouter:
    """`refresh` runs before each scrape to update settable gauges read from other components."""
    router = APIRouter()

    @router.get("/metrics", tags=["ops"], response_class=PlainTextResponse,
                summary="Prometheus metrics for this gateway instance",
                responses={200: {"description": "Prometheus text exposition format 0.0.4",
                                 "content": {"text/plain": {"schema": {"type": "string"}}}}})
    def get_metrics() -> Response:
        # Sync route: Starlette runs it in a thread, so a large scrape never stalls the event loop.
        if refresh is not None:
            refresh()
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router

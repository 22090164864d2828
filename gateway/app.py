"""The composition root: create_app(config) -> ASGI app. No globals, no import-time side effects.

An outer dispatcher sends the model routes (chat completions, embeddings, Responses, Messages) to bare ASGI endpoints and everything else to FastAPI
(models, health, admin, spend, prompts, RAG, cache, metrics, OpenAPI docs).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from gateway import __version__
from gateway.api.openai_fast import FastEndpoint
from gateway.clock import Clock
from gateway.config import Config, load_config
from gateway.echo import clip
from gateway.errors import SluiceError
from gateway.runtime import Gateway


class SluiceApp:
    """ASGI app: fast paths first, FastAPI for the rest. `state.gateway` is the running Gateway."""

    def __init__(self, gateway: Gateway, api: FastAPI, *, freeze_heap: bool = False) -> None:
        self.gateway = gateway
        self.api = api
        self.freeze_heap = freeze_heap  # gc.freeze() once the start-up warm-ups are done (gateway/engine/warmup.py)
        self.state = api.state
        from gateway.api.anthropic_messages import MessagesWire
        from gateway.api.responses import ResponsesWire

        self.fast = {"/v1/chat/completions": FastEndpoint(gateway, "chat.completions"),
                     "/v1/embeddings": FastEndpoint(gateway, "embeddings"),
                     "/v1/messages": FastEndpoint(gateway, "messages", MessagesWire()),
                     "/v1/responses": FastEndpoint(gateway, "responses", ResponsesWire(gateway))}
        # CORS wraps the fast paths too (browsers call /v1/chat/completions); None costs nothing.
        self._cors = _cors(gateway.config.server.cors, self._dispatch)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if self._cors is not None:
            await self._cors(scope, receive, send)
            return
        await self._dispatch(scope, receive, send)

    async def _dispatch(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            endpoint = self.fast.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.api(scope, receive, send)

    @contextlib.asynccontextmanager
    async def lifespan(self) -> AsyncIterator[SluiceApp]:
        """Start and stop the gateway (what the ASGI lifespan does; tests use it directly)."""
        gw = self.gateway
        await gw.start()
        if self.freeze_heap:
            from gateway.engine.warmup import freeze_heap

            gw.warmups.when_settled(freeze_heap)
        from gateway.api.metrics import MetricsListener

        listener: MetricsListener | None = None
        watcher = None
        if gw.config_path is not None:
            if gw.config.server.reload_watch:
                watcher = asyncio.ensure_future(gw.watch_config())
            with contextlib.suppress(ValueError, RuntimeError, NotImplementedError):  # not the main thread
                asyncio.get_running_loop().add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(gw.reload()))
        try:
            listener = await MetricsListener.start(self.api, gw.config.server)  # None unless server.metrics.port
            yield self
        finally:
            gw.draining = True
            if watcher is not None:
                watcher.cancel()
            if listener is not None:
                await listener.aclose()
            await gw.aclose()

    def openapi(self) -> dict[str, Any]:
        return self.api.openapi()


def _cors(cfg: Any, app: Any) -> Any:
    """Starlette's CORSMiddleware around `app`, or None when no origin is allowed (the default)."""
    if not cfg.enabled:
        return None
    from starlette.middleware.cors import CORSMiddleware

    return CORSMiddleware(app, allow_origins=cfg.allow_origins, allow_origin_regex=cfg.allow_origin_regex,
                          allow_methods=cfg.allow_methods, allow_headers=cfg.allow_headers,
                          expose_headers=cfg.expose_headers, allow_credentials=cfg.allow_credentials,
                          max_age=cfg.max_age_s)


def _error_json(status: int, message: str, type_: str, code: str, param: str | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": type_, "param": param, "code": code}},
                        status_code=status)


def _install_error_handlers(api: FastAPI) -> None:
    @api.exception_handler(SluiceError)
    async def _sluice(_: Request, exc: SluiceError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    @api.exception_handler(Exception)
    async def _bug(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not the client's fault: OpenAI-shaped like every other error (Starlette's default is
        # plain text), no traceback in the body; Starlette re-raises it, so the server logs it.
        return _error_json(500, f"the gateway failed to handle {request.method} {clip(request.url.path)}; "
                                "the error is in its log", "api_error", "internal_error")

    @api.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            return _error_json(404, f"{request.method} {clip(request.url.path)} is not a route of this gateway "
                                    "(model routes served: /v1/chat/completions, /v1/embeddings, /v1/responses, "
                                    "/v1/messages, /v1/models)",
                               "invalid_request_error", "unknown_route")
        if exc.status_code == 405:
            return _error_json(405, f"{clip(request.url.path)} does not accept {request.method}",
                               "invalid_request_error", "method_not_allowed")
        kind = "invalid_request_error" if exc.status_code < 500 else "api_error"
        return _error_json(exc.status_code, str(exc.detail), kind, f"http_{exc.status_code}")

    @api.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path")]
        param = ".".join(loc) or None
        message = f"{param or 'request'}: {first.get('msg')}"
        if request.url.path.startswith("/v1/messages"):  # Anthropic's API: its own error shape
            return JSONResponse({"type": "error", "error": {"type": "invalid_request_error", "message": message,
                                                            "param": param, "code": "invalid_value"}}, status_code=400)
        return _error_json(400, message, "invalid_request_error", "invalid_value", param)


def _document_errors(api: FastAPI) -> None:
    """Every route can answer with the OpenAI-shaped errors; say so in the OpenAPI document.
    Validation errors are 400 here (OpenAI's convention), not FastAPI's 422."""
    from gateway.api.schemas import ErrorResponse

    build = api.openapi

    def openapi() -> dict[str, Any]:
        if api.openapi_schema is not None:
            return api.openapi_schema
        schema = build()
        defs = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components.update(defs.pop("$defs", {}))
        components.setdefault("ErrorResponse", defs)
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        error = {"description": "OpenAI-shaped error",
                 "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
        for ops in schema.get("paths", {}).values():
            for op in ops.values():
                responses = op.setdefault("responses", {})
                responses.pop("422", None)
                for code in ("400", "401", "403", "404", "429", "503"):
                    responses.setdefault(code, error)
        api.openapi_schema = schema
        return schema

    api.openapi = openapi  # type: ignore[method-assign]


def create_app(config: Config, *, clock: Clock | None = None, config_path: str | Path | None = None,
               freeze_heap: bool = False) -> SluiceApp:
    from gateway.api.anthropic_messages import build_messages_router
    from gateway.api.openai_routes import router as openai_router
    from gateway.api.responses import build_responses_router
    from gateway.composition import RESTART_ONLY, admin_routers, build_generation
    from gateway.ui import build_ui_router

    gateway = Gateway(config, build=build_generation, restart_only=RESTART_ONLY, clock=clock, config_path=config_path)
    holder: dict[str, SluiceApp] = {}

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with holder["app"].lifespan():
            yield

    # The OpenAPI document and its UIs list every admin route: off by default once keys guard them.
    docs = config.server.docs if config.server.docs is not None else not config.auth.enabled
    api = FastAPI(title="sluicegate", version=__version__, lifespan=lifespan,
                  openapi_url="/openapi.json" if docs else None, docs_url="/docs" if docs else None,
                  redoc_url="/redoc" if docs else None,
                  description="OpenAI-compatible LLM gateway: routing, caching, spend, guardrails, RAG, prompts.")
    api.state.gateway = gateway
    api.state.server_config = config.server  # restart-only: /metrics access is decided by the start config
    _install_error_handlers(api)
    api.include_router(openai_router)
    api.include_router(build_responses_router(gateway))
    api.include_router(build_messages_router(gateway))
    for r in admin_routers(gateway):  # mounted once; each resolves the live generation
        api.include_router(r)
    api.include_router(build_ui_router(gateway))  # the web console (gateway/ui/)
    _document_errors(api)
    app = SluiceApp(gateway, api, freeze_heap=freeze_heap)
    holder["app"] = app
    return app


def app_from_env() -> SluiceApp:
    """Factory for `uvicorn --factory` workers: the config path comes from SLUICE_CONFIG."""
    path = os.environ["SLUICE_CONFIG"]
    config = load_config(path)
    # --- logging (gateway/telemetry/logs.py): JSON lines, scrubbed, in every worker process ---
    from gateway.telemetry.logs import configure_logging

    configure_logging(config.telemetry.log_level, config.telemetry.log_format)
    # --- end logging ---
    return create_app(config, config_path=path, freeze_heap=True)  # a serving process: see freeze_heap

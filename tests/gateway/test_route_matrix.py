"""The route matrix: every public route that takes a model request gets every enforcement stage.

For each route (chat, streamed chat, embeddings, a `rag:` model, a `prompt:` model, and the RAG
query API), with auth on: no key -> 401; a model outside the key's allow-list -> 403; a spent
budget -> refused; an input the attached policy blocks -> blocked; an allowed request writes a
ledger row and emits a span. A route served by the app that is neither in the matrix nor an admin
route (guarded by the one admin guard, tests/gateway/test_admin_guard.py) nor an operations
endpoint fails `test_every_route_is_in_the_matrix`, so a new route cannot skip the stages by omission.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from gateway.app import SluiceApp, create_app
from gateway.config import Config
from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from gateway.telemetry import tracing as tm
from rag.config import ChunkingConfig, StoreConfig
from rag.ingest import Ingestor
from rag.store import ChromaStore
from tests.gateway_fixtures import _mock_session, mock, mock_config  # noqa: F401  (fixtures)
from tests.rag.conftest import HashEmbedder, count_words

MASTER = "sk-master-route-matrix"
ADMIN = {"authorization": f"Bearer {MASTER}"}
SECRET = "deploy with AKIAIOSFODNN7EXAMPLE"  # the secrets scanner blocks it on every route


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    allow: tuple[str, ...]  # an allow-list that lets a key use it: every model group the request reaches
    body: Any  # (text) -> request body

    def request(self, text: str) -> dict[str, Any]:
        return self.body(text)  # type: ignore[no-any-return]


def _chat(model: str, stream: bool = False) -> Any:
    def body(text: str) -> dict[str, Any]:
        b: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": text}]}
        return {**b, "stream": True} if stream else b
    return body


def _messages(stream: bool) -> Any:
    def body(text: str) -> dict[str, Any]:
        return {"model": "mock-chat", "max_tokens": 64, "stream": stream, "messages": [{"role": "user", "content": text}]}
    return body


def _responses(stream: bool) -> Any:
    def body(text: str) -> dict[str, Any]:
        return {"model": "mock-chat", "input": text, "stream": stream}
    return body


MATRIX = [
    Route("chat", "/v1/chat/completions", ("mock-chat",), _chat("mock-chat")),
    Route("chat-stream", "/v1/chat/completions", ("mock-chat",), _chat("mock-chat", stream=True)),
    Route("embeddings", "/v1/embeddings", ("mock-embed",), lambda t: {"model": "mock-embed", "input": [t]}),
    Route("rag-model", "/v1/chat/completions", ("rag:handbook", "mock-chat"), _chat("rag:handbook")),
    # the allow-list is checked on the model the prompt renders to (and its fallbacks)
    Route("prompt-model", "/v1/chat/completions", ("mock-chat",),
          lambda t: {"model": "prompt:greet@1", "prompt": {"variables": {"topic": t}}}),
    Route("rag-query", "/sluice/v1/rag/{pipeline}/query", ("rag:handbook", "mock-chat"), lambda t: {"question": t}),
    # Anthropic's Messages API and OpenAI's Responses API, translated onto the same pipeline
    Route("messages", "/v1/messages", ("mock-chat",), _messages(stream=False)),
    Route("messages-stream", "/v1/messages", ("mock-chat",), _messages(stream=True)),
    Route("responses", "/v1/responses", ("mock-chat",), _responses(stream=False)),
    Route("responses-stream", "/v1/responses", ("mock-chat",), _responses(stream=True)),
]
# What a refused budget is called in each API's error shape (same status, 429, everywhere).
QUOTA_TYPE = {"messages": "billing_error", "messages-stream": "billing_error"}
# Served, and not model requests: the operations endpoints and /v1/models (auth only, tested below).
OPERATIONS = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
              "/v1/models", "/v1/models/{model_id:path}", "/v1/models/{model_id}"}
# Served with a key, and no model call: reading or deleting stored responses, counting tokens.
KEYED = {"/v1/responses/{response_id}": ("GET", None), "/v1/messages/count_tokens":
         ("POST", {"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]})}
ADMIN_PREFIXES = ("/sluice/v1/keys", "/sluice/v1/teams", "/sluice/v1/audit", "/sluice/v1/spend",
                  "/sluice/v1/cache", "/sluice/v1/prompts")
# The web console (gateway/ui/): no model call; every page but sign-in and its stylesheet needs a session.
CONSOLE_OPEN = {"/ui/login", "/ui/static/console.css"}


def _url(route: Route) -> str:
    return route.path.replace("{pipeline}", "handbook")


def _release(registry_dir: Path, name: str, version: int) -> None:
    from prompts import LabelMove, PromptRegistry

    reg = PromptRegistry(registry_dir)
    reg.record_move(LabelMove(name, "production", None, version, "test", "", 1.0, "promote",
                              reg.get(name, version).content_hash()))


def _config(mock: MockUpstream, tmp: Path) -> Config:  # noqa: F811
    registry = tmp / "prompts" / "greet"
    registry.mkdir(parents=True)
    (registry / "v1.yaml").write_text(
        "name: greet\nversion: 1\nmodel: mock-chat\nvariables: {type: object, properties: {topic: {type: string}}}\n"
        "messages:\n  - {role: user, content: 'Tell me about {{ topic }}'}\n")
    _release(tmp / "prompts", "greet", 1)  # the gateway serves released snapshots only
    cfg = mock_config(
        mock,
        auth={"enabled": True},
        spend={"ledger": {"path": str(tmp / "spend.db"), "spool_dir": str(tmp / "spool")},
               "prices": {"gpt-4o-mini": {"input_per_mtok": 0.15, "output_per_mtok": 0.6},
                          "text-embedding-3-small": {"input_per_mtok": 0.02, "output_per_mtok": 0}}},
        prompts={"registry_dir": str(tmp / "prompts")},
        guardrails={"default_policy": "default"},  # attached to every route
        rag={"store": {"mode": "embedded", "path": str(tmp / "chroma")},
             "pipelines": {"handbook": {"collection": "handbook", "model": "mock-chat", "retriever": {"top_k": 2}}}},
        telemetry={"exporter": "console"},
    )
    return cfg


@pytest.fixture
def exporter(monkeypatch: pytest.MonkeyPatch) -> InMemorySpanExporter:
    exp = InMemorySpanExporter()
    monkeypatch.setattr(tm, "make_exporter", lambda config: None if config.exporter == "none" else exp)
    return exp


@pytest.fixture
def setup(mock: MockUpstream, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:  # noqa: F811
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-route-matrix")
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "holidays.md").write_text("# Holidays\n\nEmployees get 30 days of paid holiday per year.\n")
    Ingestor(ChromaStore(StoreConfig(path=str(tmp_path / "chroma"))), "handbook", HashEmbedder(), count_words,
             ChunkingConfig(max_tokens=64, overlap_tokens=8)).ingest_paths([docs], root=docs)
    return _config(mock, tmp_path)


@contextlib.asynccontextmanager
async def _running(config: Config) -> AsyncIterator[tuple[SluiceApp, httpx.AsyncClient]]:
    app = create_app(config)
    app.gateway.services.local_embedder = HashEmbedder()
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                                 base_url="http://gateway", timeout=30) as client:
        yield app, client


async def _key(client: httpx.AsyncClient, **body: Any) -> dict[str, str]:
    r = await client.post("/sluice/v1/keys", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return {"authorization": f"Bearer {r.json()['key']}"}


def _error(r: httpx.Response) -> dict[str, Any]:
    """The error of a refused request: the JSON body, or a stream's error event."""
    assert r.headers["content-type"].startswith("application/json"), (r.status_code, r.text[:300])
    return r.json()["error"]  # type: ignore[no-any-return]


def _answered(route: Route, r: httpx.Response) -> None:
    assert r.status_code == 200, (route.name, r.text[:500])
    last = {"chat-stream": "data: [DONE]", "messages-stream": 'data: {"type":"message_stop"}',
            "responses-stream": "event: response.completed"}.get(route.name)
    if last is not None:
        assert last in r.text.rstrip().splitlines()[-2:] and "event: error" not in r.text, (route.name, r.text[-300:])


@pytest.mark.parametrize("route", MATRIX, ids=[r.name for r in MATRIX])
async def test_every_stage_applies(route: Route, setup: Config, exporter: InMemorySpanExporter) -> None:
    url = _url(route)
    async with _running(setup) as (app, client):
        ok = route.request("rivers and lakes")

        r = await client.post(url, json=ok)  # no key
        assert r.status_code == 401 and _error(r)["type"] == "authentication_error", (route.name, r.text)

        other = await _key(client, models=["some-other-model"])
        r = await client.post(url, json=ok, headers=other)
        assert r.status_code == 403 and _error(r)["code"] == "model_not_allowed", (route.name, r.text)

        broke = await _key(client, models=list(route.allow), budget_usd=0)
        r = await client.post(url, json=ok, headers=broke)
        assert r.status_code == 429 and _error(r)["type"] == QUOTA_TYPE.get(route.name, "insufficient_quota"), (
            route.name, r.text)
        assert _error(r)["code"] == "budget_exceeded", (route.name, r.text)

        good = await _key(client, models=list(route.allow))
        r = await client.post(url, json=route.request(SECRET), headers=good)
        assert r.status_code == 400 and _error(r)["code"] == "content_policy_violation", (route.name, r.text)
        assert "AKIA" not in r.text

        r = await client.post(url, json=ok, headers={**good, "x-request-id": f"matrix-{route.name}"})
        _answered(route, r)
        svc = app.gateway.services.spend
        await svc.writer.flush()
        with svc.engine.connect() as c:
            rows = [dict(x._mapping) for x in c.execute(sa.select(ledger).where(
                ledger.c.request_id == f"matrix-{route.name}"))]
    assert len(rows) == 1 and rows[0]["status_code"] == 200 and rows[0]["key_id"], (route.name, rows)
    if route.name == "prompt-model":  # the ledger names the model the prompt rendered to, and the prompt
        assert rows[0]["requested_model"] == "mock-chat" and rows[0]["prompt_ref"] == "greet@1"
    else:
        assert rows[0]["requested_model"] == route.allow[0]
    roots = [s for s in exporter.get_finished_spans()
             if s.parent is None and s.attributes and s.attributes.get("sluice.request_id") == f"matrix-{route.name}"]
    assert len(roots) == 1, (route.name, [(s.name, dict(s.attributes or {})) for s in exporter.get_finished_spans()
                                          if s.parent is None])


async def test_models_list_needs_a_key(setup: Config) -> None:
    """With auth on, the model list is for callers with a key (OpenAI's /v1/models needs one too)."""
    async with _running(setup) as (_app, client):
        for path in ("/v1/models", "/v1/models/mock-chat"):
            r = await client.get(path)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", path
            r = await client.get(path, headers={"authorization": "Bearer sk-sluice-not-a-real-key"})
            assert r.status_code == 401, path
            assert (await client.get(path, headers=await _key(client))).status_code == 200, path


def _paths(routes: list[Any]) -> set[str]:
    out: set[str] = set()
    for r in routes:
        inner = getattr(r, "original_router", None)  # FastAPI's included router
        if inner is not None:
            out |= _paths(inner.routes)
        elif isinstance(getattr(r, "path", None), str):
            out.add(r.path)
    return out


def _served_paths(app: SluiceApp) -> set[str]:
    return set(app.fast) | _paths(app.api.routes) | set(app.api.openapi()["paths"])


async def test_every_route_is_in_the_matrix(setup: Config) -> None:
    async with _running(setup) as (app, _client):
        served = _served_paths(app)
    in_matrix = {r.path for r in MATRIX}
    unknown = sorted(p for p in served - in_matrix - OPERATIONS - set(KEYED)
                     if not p.startswith(ADMIN_PREFIXES) and not (p == "/ui" or p.startswith("/ui/")))
    assert not unknown, f"routes outside the route matrix (add them to MATRIX or ADMIN_PREFIXES): {unknown}"
    assert in_matrix <= served  # the matrix tests routes that exist


async def test_console_routes_need_a_session(setup: Config) -> None:
    async with _running(setup) as (app, client):
        console = sorted(p for p in _served_paths(app) if p == "/ui" or p.startswith("/ui/"))
        assert "/ui/spend" in console and set(console) >= CONSOLE_OPEN
        for path in console:
            if path in CONSOLE_OPEN:
                continue
            r = await client.get(path, follow_redirects=False)
            if r.status_code == 405:  # POST-only (sign-out)
                r = await client.post(path, follow_redirects=False)
            assert (r.status_code == 303 and r.headers["location"] == "/ui/login") or r.status_code == 401, \
                (path, r.status_code)


@pytest.mark.parametrize("path", sorted(KEYED))
async def test_keyed_routes_need_a_key(path: str, setup: Config) -> None:
    method, body = KEYED[path]
    url = path.replace("{response_id}", "resp_0123")
    async with _running(setup) as (_app, client):
        for headers in ({}, {"x-api-key": "sk-sluice-not-a-real-key"}):
            r = await client.request(method, url, json=body, headers=headers)
            assert r.status_code == 401 and r.json()["error"]["type"] == "authentication_error", (path, r.text)
        r = await client.request(method, url, json=body, headers=await _key(client, models=["mock-chat"]))
        assert r.status_code == (404 if method == "GET" else 200), (path, r.text)


async def test_a_key_sees_only_the_models_it_may_call(setup: Config) -> None:
    async with _running(setup) as (_app, client):
        r = await client.get("/v1/models", headers=await _key(client, models=["mock-*"]))
        assert {m["id"] for m in r.json()["data"]} == {"mock-chat", "mock-embed"}
        limited = await _key(client, models=["mock-embed"])
        assert (await client.get("/v1/models/mock-chat", headers=limited)).status_code == 404
        everything = {m["id"] for m in (await client.get("/v1/models", headers=ADMIN)).json()["data"]}
        assert {"mock-chat", "mock-embed", "rag:handbook"} <= everything


@pytest.mark.parametrize("given, kept", [
    ("req-123_abc.DEF:9", True),
    ("ghp_" + "a" * 36 + "\r\nx-injected: 1", False),  # a header-splitting, secret-shaped value
    ("x" * 65, False),  # longer than the ledger column
    ("id with spaces", False),
])
async def test_a_client_request_id_is_kept_only_when_it_is_a_plain_id(
        setup: Config, given: str, kept: bool) -> None:
    async with _running(setup) as (app, client):
        headers = {**(await _key(client, models=["mock-chat", "rag:handbook"])), "x-request-id": given}
        for route in (MATRIX[0], MATRIX[-1]):  # the fast chat route and the RAG query API
            r = await client.post(_url(route), json=route.request("rivers"), headers=headers)
            assert r.status_code == 200, r.text
            echoed = r.headers.get("x-request-id")
            if route.name == "chat":
                assert (echoed == given) is kept and echoed and len(echoed) <= 64 and "\n" not in echoed
        svc = app.gateway.services.spend
        assert svc is not None
        await svc.writer.flush()
        with svc.engine.connect() as c:
            ids = [r.request_id for r in c.execute(sa.select(ledger.c.request_id))]
    assert len(ids) == 2 and all(len(i) <= 64 and "\n" not in i for i in ids)
    assert all(i == given for i in ids) is kept
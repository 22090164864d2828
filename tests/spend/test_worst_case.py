"""Issue 15's budget, allow-list, unpriced and TPM findings, each reproduced through the gateway.

Every request reserves its own worst case over every deployment it may reach (after `prompt:` and
`rag:` resolve, fallbacks included), so concurrent requests never spend more than a budget; the
allow-list and the unpriced policy hold for every group a request may reach.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from gateway.mock_upstream import MockUpstream
from rag.config import ChunkingConfig, StoreConfig
from rag.ingest import Ingestor
from rag.store import ChromaStore
from tests.rag.conftest import HashEmbedder, count_words
from tests.spend.gw import running
from tests.spend.helpers import make_config

MASTER = "master-key-worst-case"
ADMIN = {"authorization": f"Bearer {MASTER}"}
BIG = {"input_per_mtok": 3.0, "output_per_mtok": 15.0}
DEAR = {"input_per_mtok": 30.0, "output_per_mtok": 150.0}
DEAD = "http://127.0.0.1:9/v1"  # nothing listens: the primary fails and the router falls back


@pytest.fixture(scope="module")
def mock():
    with MockUpstream() as m:
        yield m


@pytest.fixture(autouse=True)
def secrets(monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-worst-case")


def _config(tmp: Path, mock: MockUpstream, **spend: Any):
    url = mock.base_url
    prompts = tmp / "prompts"
    for name, model in (("on-big", "big"), ("on-dear", "dear"), ("on-mystery", "mystery")):
        (prompts / name).mkdir(parents=True)
        (prompts / name / "v1.yaml").write_text(
            f"name: {name}\nversion: 1\nmodel: {model}\nmessages:\n  - {{role: user, content: 'Tell me about rivers'}}\n")
    docs = tmp / "docs"
    docs.mkdir()
    (docs / "rivers.md").write_text("# Rivers\n\n" + "Rivers flow to the sea. " * 40 + "\n")
    Ingestor(ChromaStore(StoreConfig(path=str(tmp / "chroma"))), "handbook", HashEmbedder(), count_words,
             ChunkingConfig(max_tokens=64, overlap_tokens=8)).ingest_paths([docs], root=docs)
    models = [
        {"name": "big", "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": url, "price": BIG}]},
        {"name": "dear", "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": url, "price": DEAR}]},
        {"name": "mystery", "deployments": [{"provider": "openai", "model": "mock-claude", "api_base": url}]},
        {"name": "emb", "mode": "embedding", "deployments": [{"provider": "openai", "model": "mock-embed",
                                                              "api_base": url, "price": BIG}]},
        # a priced primary that is down, falling back to an unpriced group
        {"name": "priced-then-unpriced", "fallbacks": ["mystery"],
         "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": DEAD, "price": BIG}]},
        # a primary that is down, falling back to a group some keys may not use
        {"name": "only-a", "fallbacks": ["big"],
         "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": DEAD, "price": BIG}]},
        # the worst case is the priciest deployment the request may reach: here the fallback
        {"name": "cheap-then-dear", "fallbacks": ["dear"],
         "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": DEAD,
                          "price": {"input_per_mtok": 0.1, "output_per_mtok": 0.1}}]},
    ]
    return make_config(
        tmp, models=models, auth={"enabled": True}, router={"retry": {"max_retries": 0}},
        spend={"prices": {}, **spend}, prompts={"registry_dir": str(prompts), "serve_unreleased": True},  # release gates: tests/prompts
        rag={"store": {"mode": "embedded", "path": str(tmp / "chroma")},
             "pipelines": {"handbook": {"collection": "handbook", "model": "big", "retriever": {"top_k": 3}},
                           "short": {"collection": "handbook", "model": "big", "max_tokens": 16},
                           "unpriced": {"collection": "handbook", "model": "mystery"}}},
    )


async def _key(client, **body: Any) -> dict[str, str]:
    r = await client.post("/sluice/v1/keys", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return {"authorization": f"Bearer {r.json()['key']}"}


def _chat(model: str, text: str = "Tell me about rivers", **kw: Any) -> dict[str, Any]:
    return {"model": model, "messages": [{"role": "user", "content": text}], **kw}


async def _burst(client, n: int, body: dict[str, Any], headers: dict[str, str],
                 path: str = "/v1/chat/completions") -> tuple[float, list[int]]:
    rs = await asyncio.gather(*(client.post(path, json=body, headers=headers) for _ in range(n)))
    spent = sum(float(r.headers["x-sluice-cost-usd"]) for r in rs if r.status_code == 200 and path.startswith("/v1"))
    return spent, [r.status_code for r in rs]


async def _ledger_spend(app) -> float:
    svc = app.gateway.services.spend
    await svc.writer.flush()
    import sqlalchemy as sa

    from gateway.spend.schema import ledger
    with svc.engine.connect() as c:
        return float(c.execute(sa.select(sa.func.coalesce(sa.func.sum(ledger.c.cost_usd), 0.0))).scalar_one())


def _with_embedder(app) -> None:
    app.gateway.services.local_embedder = HashEmbedder()


@pytest.mark.parametrize("model", ["prompt:on-big@1", "rag:handbook"])
async def test_prompt_and_rag_models_reserve_their_worst_case(tmp_path, mock, model):
    """Reproduced: prompt:/rag: models reserved $0; 50 parallel requests on a $0.12 budget spent $1.35."""
    async with running(_config(tmp_path, mock)) as (app, client):
        _with_embedder(app)
        h = await _key(client, budget_usd=0.01, budget_period="day")
        body = {"model": model, "max_tokens": 100} if model.startswith("prompt:") else _chat(model, max_tokens=100)
        spent, codes = await _burst(client, 50, body, h)
        assert 200 in codes and 429 in codes, codes
        assert spent <= 0.01 + 1e-12
        assert await _ledger_spend(app) <= 0.01 + 1e-12


async def test_the_reservation_is_the_requests_own_worst_case_not_the_keys_average(tmp_path, mock):
    """Reproduced: after 3 tiny requests, 20 parallel ~$1.4 requests on a $1 budget were all served."""
    async with running(_config(tmp_path, mock)) as (app, client):
        h = await _key(client, budget_usd=0.2, budget_period="day")
        for _ in range(3):
            assert (await client.post("/v1/chat/completions", json=_chat("big", "hi", max_tokens=1),
                                      headers=h)).status_code == 200
        long = "rivers and lakes " * 2000  # 34 kB: its worst case is ~$0.1, what it really costs ~1/5 of it
        _spent, codes = await _burst(client, 20, _chat("big", long, max_tokens=50), h)
        assert codes.count(200) >= 1 and 429 in codes
        # the real cost settled below the worst case, which made room for the next one
        r = await client.post("/v1/chat/completions", json=_chat("big", long, max_tokens=50), headers=h)
        assert r.status_code == 200
        assert await _ledger_spend(app) <= 0.2 + 1e-12


async def test_one_huge_request_cannot_overrun_a_team_budget(tmp_path, mock):
    """Reproduced: one 7.5 MiB request took a $1,000 team budget to $1,999.97."""
    async with running(_config(tmp_path, mock)) as (app, client):
        team = (await client.post("/sluice/v1/teams", json={"name": "t", "budget_usd": 0.5, "budget_period": "day"},
                                  headers=ADMIN)).json()
        h = await _key(client, team=team["name"])
        r = await client.post("/v1/chat/completions", json=_chat("big", "word " * 400_000, max_tokens=10), headers=h)
        assert r.status_code == 429, r.text
        err = r.json()["error"]
        assert err["code"] == "budget_exceeded" and "could cost up to" in err["message"]
        assert err["budget"]["request_max_usd"] > 0.5
        assert await _ledger_spend(app) == 0.0


async def test_the_worst_case_is_priced_at_the_dearest_deployment_the_request_may_reach(tmp_path, mock):
    async with running(_config(tmp_path, mock)) as (_app, client):
        h = await _key(client, budget_usd=0.0014, budget_period="day")
        # 100 output tokens cost $0.00001 on the primary, but $0.015 on its fallback: refused
        r = await client.post("/v1/chat/completions", json=_chat("cheap-then-dear", max_tokens=100), headers=h)
        assert r.status_code == 429 and r.json()["error"]["budget"]["request_max_usd"] > 0.0014


async def test_no_unpriced_deployment_through_a_fallback_prompt_or_pipeline(tmp_path, mock):
    """Reproduced: a budgeted key refused an unpriced model directly was served it through a priced
    group's unpriced fallback, a prompt: naming it, and rag: pipelines (chat route and query API)."""
    async with running(_config(tmp_path, mock)) as (app, client):
        _with_embedder(app)
        budgeted = await _key(client, budget_usd=5.0)
        unbudgeted = await _key(client)
        r = await client.post("/v1/chat/completions", json=_chat("mystery"), headers=budgeted)
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_unpriced"
        # the fallback is skipped for the budgeted key (the primary is down: nothing can serve it) ...
        r = await client.post("/v1/chat/completions", json=_chat("priced-then-unpriced"), headers=budgeted)
        assert r.status_code >= 500 and r.headers.get("x-sluice-cost-usd") != "unpriced", r.text
        # ... and used for a key without a budget
        r = await client.post("/v1/chat/completions", json=_chat("priced-then-unpriced"), headers=unbudgeted)
        assert r.status_code == 200 and r.headers["x-sluice-cost-usd"] == "unpriced"
        r = await client.post("/v1/chat/completions", json={"model": "prompt:on-mystery@1"}, headers=budgeted)
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_unpriced", r.text
        r = await client.post("/v1/chat/completions", json=_chat("rag:unpriced"), headers=budgeted)
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_unpriced", r.text
        r = await client.post("/sluice/v1/rag/unpriced/query", json={"question": "rivers?"}, headers=budgeted)
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_unpriced", r.text
        assert await _ledger_spend(app) == 0.0


async def test_the_allow_list_holds_for_fallbacks_and_prompts(tmp_path, mock):
    """Reproduced: a key allowed only group A was served by A's fallback B; a prompt: got whatever
    model the prompt names."""
    async with running(_config(tmp_path, mock)) as (_app, client):
        only_a = await _key(client, models=["only-a"])
        r = await client.post("/v1/chat/completions", json=_chat("only-a"), headers=only_a)
        assert r.status_code >= 500, r.text  # A is down and B is not this key's to use
        both = await _key(client, models=["only-a", "big"])
        r = await client.post("/v1/chat/completions", json=_chat("only-a"), headers=both)
        assert r.status_code == 200
        big_only = await _key(client, models=["big"])
        assert (await client.post("/v1/chat/completions", json={"model": "prompt:on-big@1"},
                                  headers=big_only)).status_code == 200
        r = await client.post("/v1/chat/completions", json={"model": "prompt:on-dear@1"}, headers=big_only)
        assert r.status_code == 403 and r.json()["error"]["code"] == "model_not_allowed"
        assert "'dear'" in r.json()["error"]["message"]
        # a rag: pipeline needs its answer model too
        rag_only = await _key(client, models=["rag:handbook"])
        r = await client.post("/v1/chat/completions", json=_chat("rag:handbook"), headers=rag_only)
        assert r.status_code == 403 and "'big'" in r.json()["error"]["message"]


async def test_tpm_reserves_tools_and_max_output(tmp_path, mock):
    """Reproduced: with tpm 2000, 20 parallel requests (tools, no max_tokens) used 53,220 tokens."""
    tools = [{"type": "function", "function": {
        "name": f"tool_{i}", "description": "Looks up facts about rivers and lakes in the atlas. " * 4,
        "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": "what to find"}}}}}
        for i in range(4)]
    async with running(_config(tmp_path, mock)) as (_app, client):
        h = await _key(client, tpm=2000)
        body = _chat("big", "Tell me about rivers", tools=tools, max_tokens=60)
        rs = await asyncio.gather(*(client.post("/v1/chat/completions", json=body, headers=h) for _ in range(20)))
        used = sum(r.json()["usage"]["total_tokens"] for r in rs if r.status_code == 200)
        codes = [r.status_code for r in rs]
        assert 200 in codes and 429 in codes
        assert used <= 2000, used
        # without max_tokens the model's whole output limit is reserved: it can never fit 2000
        r = await client.post("/v1/chat/completions", json=_chat("big", tools=tools), headers=h)
        assert r.status_code == 400 and r.json()["error"]["code"] == "request_exceeds_tpm"


async def test_a_rag_answer_reserves_the_output_limit_it_is_sent_with(tmp_path, mock):
    """Review finding: the bound took the smaller of the client's and the pipeline's max_tokens, but
    the client's is what goes upstream; max_completion_tokens was dropped on the way."""
    async with running(_config(tmp_path, mock)) as (app, client):
        _with_embedder(app)
        h = await _key(client, budget_usd=0.01, budget_period="day")
        r = await client.post("/v1/chat/completions", json=_chat("rag:short", max_tokens=4000), headers=h)
        assert r.status_code == 429 and r.json()["error"]["budget"]["request_max_usd"] > 0.05  # 4000 x $15/M
        r = await client.post("/v1/chat/completions", json=_chat("rag:short"), headers=h)  # the pipeline's 16
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 16
        r = await client.post("/v1/chat/completions", json=_chat("rag:handbook", max_completion_tokens=2), headers=h)
        assert r.status_code == 200 and r.json()["usage"]["completion_tokens"] <= 2  # it reached the upstream


async def test_token_id_embeddings_count_every_id(tmp_path, mock):
    """Review finding: one input given as a flat list of token ids counted as 3 tokens."""
    async with running(_config(tmp_path, mock)) as (_app, client):
        h = await _key(client, tpm=2000)
        r = await client.post("/v1/embeddings", json={"model": "emb", "input": [17] * 2040}, headers=h)
        assert r.status_code == 400 and r.json()["error"]["code"] == "request_exceeds_tpm"
        r = await client.post("/v1/embeddings", json={"model": "emb", "input": [17] * 500}, headers=h)
        assert r.status_code == 200

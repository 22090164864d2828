"""Build a gateway app over the mock upstream for spend/auth integration tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx

from gateway.app import create_app
from gateway.clock import Clock
from tests.spend.helpers import make_config

PRICE = {"input_per_mtok": 3.0, "output_per_mtok": 15.0, "cached_input_per_mtok": 0.3}


def gateway_config(tmp_path: Path, base_url: str, **sections: Any):
    models = [
        {"name": "gpt-4o", "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": base_url,
                                            "price": PRICE}]},
        {"name": "cheap", "deployments": [{"provider": "openai", "model": "mock-gpt", "api_base": base_url,
                                           "id": "cheap-d"}]},
        {"name": "mystery", "deployments": [{"provider": "openai", "model": "mock-claude", "api_base": base_url}]},
    ]
    spend = sections.pop("spend", {})
    spend.setdefault("prices", {"mock-gpt": {"input_per_mtok": 0.5, "output_per_mtok": 1.5}})
    return make_config(tmp_path, models=models, spend=spend,
                       router={"retry": {"max_retries": 0}}, **sections)


@contextlib.asynccontextmanager
async def running(config: Any, clock: Clock | None = None) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    app = create_app(config, clock=clock)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw") as client:
        yield app, client

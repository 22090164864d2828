"""An eval suite run through the in-process gateway (httpx ASGI transport) over the mock upstream."""

from __future__ import annotations

import httpx

from evals import RunOptions, run_suite_file, suite_from_dict
from tests.gateway_fixtures import mock_config
from tests.prompts.helpers import write_prompt


class Spy(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner, self.headers = inner, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.headers.append(dict(request.headers))
        return await self.inner.handle_async_request(request)


async def test_prompt_suite_through_gateway_with_cache(mock, tmp_path):
    from gateway.app import create_app

    write_prompt(tmp_path / "reg", "greet", 1, user="Say hello to {{ question }}", model="mock-chat")
    suite = suite_from_dict({
        "name": "gw", "registry": str(tmp_path / "reg"), "target": {"prompt": "greet"},
        "dataset": [{"id": f"c{i}", "vars": {"question": f"user {i}"}} for i in range(6)],
        "assert": [{"type": "regex", "value": r"^\w+"}, {"type": "latency", "threshold": 10_000},
                   {"type": "similar", "value": "{{ question }}", "model": "mock-embed", "threshold": -1}],
        "concurrency": 3})
    app = create_app(mock_config(mock))
    async with app.lifespan():
        spy = Spy(httpx.ASGITransport(app=app))
        opts = RunOptions(base_url="http://gateway/v1", transport=spy, cache_path=tmp_path / "c.sqlite")
        first = await run_suite_file(suite, opts)
        seen_by_mock = mock.requests_seen
        again = await run_suite_file(suite, opts)
    assert first.status == "passed", first.failing_cases()
    assert first.stats["model_calls"] == 6 + 6  # chat + embeddings per case
    assert seen_by_mock == 12 and mock.requests_seen == 12  # the cached re-run reached nothing
    assert again.status == "passed" and again.stats["cache_hits"] == 12 and again.stats["model_calls"] == 0
    assert {h["x-sluice-tags"] for h in spy.headers} == {"eval,suite=gw"}
    assert first.target["ref"] == "greet@1"
    assert all(t.output for t in first.trials)

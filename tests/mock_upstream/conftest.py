from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from gateway.mock_upstream import MockUpstream


@pytest.fixture(scope="module")
def mock() -> Iterator[MockUpstream]:
    with MockUpstream() as m:
        yield m


@pytest.fixture
def m(mock: MockUpstream) -> MockUpstream:
    mock.reset()
    mock.config.latency_s = 0.0
    mock.config.tokens_per_s = None
    return mock


@pytest.fixture
def client(m: MockUpstream) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=m.base_url, timeout=10) as c:
        yield c


CHAT = {"model": "mock-gpt", "messages": [{"role": "user", "content": "Tell me about rivers"}]}


def sse_data(text: str) -> list[str]:
    return [line[len("data: "):] for line in text.split("\n") if line.startswith("data: ")]

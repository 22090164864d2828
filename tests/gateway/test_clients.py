"""Real client libraries against a live gateway: openai (sync), LangChain ChatOpenAI, litellm."""

from __future__ import annotations

import pytest

from tests.gateway_fixtures import live_gateway, mock_config

MSG = [{"role": "user", "content": "Say hello"}]


@pytest.fixture
def live(mock):
    with live_gateway(mock_config(mock)) as base:
        yield base


def test_openai_sync_client_streaming_and_not(live) -> None:
    from openai import OpenAI

    client = OpenAI(base_url=live, api_key="sk-anything", max_retries=0)
    resp = client.chat.completions.create(model="mock-chat", messages=MSG)
    assert resp.choices[0].message.content
    chunks = list(client.chat.completions.create(model="mock-chat", messages=MSG, stream=True,
                                                 stream_options={"include_usage": True}))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == resp.choices[0].message.content
    assert chunks[-1].usage.total_tokens > 0
    from openai import NotFoundError

    with pytest.raises(NotFoundError) as exc:
        client.chat.completions.create(model="missing", messages=MSG)
    assert exc.value.body["code"] == "model_not_found"


def test_langchain_chat_openai_invoke_and_stream(live) -> None:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="mock-chat", base_url=live, api_key="sk-anything", max_retries=0)
    msg = llm.invoke("Say hello")
    assert isinstance(msg.content, str) and msg.content
    assert msg.usage_metadata and msg.usage_metadata["total_tokens"] > 0
    parts = [c.content for c in llm.stream("Say hello")]
    assert "".join(parts) == msg.content


async def test_langchain_async_tool_binding(live) -> None:
    from langchain_core.tools import tool
    from langchain_openai import ChatOpenAI

    @tool
    def get_weather(city: str) -> str:
        """Weather for a city."""
        return "sunny"

    llm = ChatOpenAI(model="mock-chat", base_url=live, api_key="sk-anything", max_retries=0)
    msg = await llm.bind_tools([get_weather], tool_choice="any").ainvoke("weather in Paris?")
    assert msg.tool_calls and msg.tool_calls[0]["name"] == "get_weather"


@pytest.mark.slow
def test_litellm_as_a_client_of_the_gateway(live) -> None:
    import litellm

    resp = litellm.completion(model="openai/mock-chat", api_base=live, api_key="sk-anything", messages=MSG)
    assert resp.choices[0].message.content
    chunks = list(litellm.completion(model="openai/mock-chat", api_base=live, api_key="sk-anything",
                                     messages=MSG, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks)

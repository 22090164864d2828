"""The local model reads text only (issue #19): an image or audio part is a 400 that names the part,
and any other error llama.cpp raises is a gateway error, never an unmapped 500."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from gateway.config import Deployment, parse_config
from gateway.errors import InvalidRequest, UpstreamError
from gateway.providers.llamacpp import LlamaCppProvider
from tests.gateway_fixtures import gateway_client

IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
AUDIO = {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}


def _body(part: dict[str, Any]) -> dict[str, Any]:
    return {"model": "local", "max_tokens": 2,
            "messages": [{"role": "system", "content": "Be brief."},
                         {"role": "user", "content": [{"type": "text", "text": "What is this?"}, part]}]}


def _provider() -> LlamaCppProvider:
    return LlamaCppProvider(Deployment(provider="llamacpp", model="smollm2-135m", options={"temperature": 0}))


@pytest.mark.parametrize(("part", "kind"), [(IMAGE, "image"), (AUDIO, "audio"),
                                            ({"type": "file", "file": {"file_id": "f1"}}, "file")])
@pytest.mark.parametrize("stream", [False, True])
async def test_a_non_text_part_is_a_400_naming_the_part(part: dict[str, Any], kind: str, stream: bool) -> None:
    p = _provider()
    try:
        with pytest.raises(InvalidRequest) as info:
            if stream:
                async for _ in p.stream_chat(_body(part), timeout=30):
                    pass
            else:
                await p.chat(_body(part), timeout=30)
    finally:
        await p.aclose()
    err = info.value
    assert err.status == 400 and err.type == "invalid_request_error"
    assert err.param == "messages[1].content[1]" and err.code == "content_part_not_supported"
    assert f"{kind} input" in err.message and part["type"] in err.message
    assert err.body()["error"]["param"] == "messages[1].content[1]"


class _Failing:
    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def handle_chat_completions(self, *_: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize(("exc", "cls", "status"), [
    (RuntimeError("failed to decode the batch"), UpstreamError, 502),
    (RuntimeError("video input is not supported - hint: provide the mmproj"), InvalidRequest, 400),
    (ValueError("'messages' is required"), InvalidRequest, 400)])
async def test_errors_from_llama_cpp_are_gateway_errors(exc: Exception, cls: type, status: int) -> None:
    p = _provider()
    p._server, p._pool = _Failing(exc), ThreadPoolExecutor(1)  # as if started; the failure is llama.cpp's
    try:
        with pytest.raises(cls) as info:
            await p.chat({"model": "local", "messages": [{"role": "user", "content": "hi"}]}, timeout=30)
    finally:
        p._server = None
        await p.aclose()
    assert info.value.status == status and str(exc).split(" -")[0] in info.value.message
    if isinstance(info.value, UpstreamError):
        assert not info.value.retryable


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_an_image_to_the_local_model_through_the_gateway_is_a_400() -> None:
    cfg = parse_config({"models": [{"name": "smollm2", "deployments": [
        {"provider": "llamacpp", "model": "SmolLM2-135M-Instruct", "options": {"temperature": 0}}]}]})
    async with gateway_client(cfg) as (_, client):
        for stream in (False, True):
            r = await client.post("/v1/chat/completions", json={**_body(IMAGE), "model": "smollm2", "stream": stream})
            assert r.status_code == 400, r.text
            err = r.json()["error"]
            assert err["type"] == "invalid_request_error" and err["code"] == "content_part_not_supported"
            assert err["param"] == "messages[1].content[1]" and "image" in err["message"]
        r = await client.post("/v1/chat/completions", json={**_body({"type": "text", "text": "Hi"}), "model": "smollm2"})
        assert r.status_code == 200, r.text  # text parts still work

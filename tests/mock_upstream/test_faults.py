from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import httpx
import orjson
import pytest

from gateway.mock_upstream import FAULTS, MockConfig, MockServer, MockUpstream, serve
from tests.mock_upstream.conftest import CHAT, sse_data

STREAM = {**CHAT, "stream": True}


@pytest.mark.parametrize("status", ["429", "503"])
def test_status_faults_carry_retry_after(client: httpx.Client, status: str) -> None:
    r = client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": status})
    assert r.status_code == int(status) and r.headers["retry-after"] == "1"
    r = client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": status, "x-mock-retry-after": "3"})
    assert r.headers["retry-after"] == "3" and r.json()["error"]["message"]


def test_500_has_no_retry_after(client: httpx.Client) -> None:
    r = client.post("/embeddings", json={"model": "e", "input": "x"}, headers={"x-mock-fault": "500"})
    assert r.status_code == 500 and "retry-after" not in r.headers and r.json()["error"]["type"] == "server_error"


def test_unknown_fault_is_400(client: httpx.Client) -> None:
    r = client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": "teapot"})
    assert r.status_code == 400 and "unknown x-mock-fault" in r.json()["error"]["message"]


def test_hang_times_out_client(client: httpx.Client) -> None:
    with pytest.raises(httpx.ReadTimeout):
        client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": "hang"}, timeout=0.3)


def test_slow_first_byte_and_latency_header(client: httpx.Client, m: MockUpstream) -> None:
    m.config.slow_first_byte_s = 0.3
    t = time.perf_counter()
    assert client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": "slow-first-byte"}).status_code == 200
    assert time.perf_counter() - t >= 0.3
    t = time.perf_counter()
    client.post("/chat/completions", json=CHAT, headers={"x-mock-latency-ms": "150"})
    assert time.perf_counter() - t >= 0.15


async def test_tokens_per_second_paces_stream(m: MockUpstream) -> None:
    async with aiohttp.ClientSession() as s:
        t0 = time.perf_counter()
        async with s.post(f"{m.base_url}/chat/completions", json={**STREAM, "max_tokens": 10},
                          headers={"x-mock-tokens-per-s": "50", "x-mock-latency-ms": "100"}) as r:
            first = None
            async for _line in r.content:
                if first is None:
                    first = time.perf_counter() - t0
            total = time.perf_counter() - t0
    assert first is not None and first >= 0.1
    assert total >= 0.1 + 10 / 50 * 0.9  # ~one gap per token after the first byte


def test_disconnect_mid_stream(client: httpx.Client) -> None:
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=STREAM, headers={"x-mock-fault": "disconnect-mid-stream"})
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": "disconnect-mid-stream"})


async def test_disconnect_mid_stream_delivers_some_chunks_first(m: MockUpstream) -> None:
    got: list[bytes] = []
    async with aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with s.post(f"{m.base_url}/chat/completions", json=STREAM,
                              headers={"x-mock-fault": "disconnect-mid-stream"}) as r:
                async for line in r.content:
                    if line.startswith(b"data: "):
                        got.append(line)
    assert len(got) == m.config.disconnect_after_chunks


def test_malformed_json(client: httpx.Client) -> None:
    r = client.post("/chat/completions", json=CHAT, headers={"x-mock-fault": "malformed-json"})
    assert r.status_code == 200
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(r.content)
    data = sse_data(client.post("/chat/completions", json=STREAM, headers={"x-mock-fault": "malformed-json"}).text)
    bad = 0
    for x in data[:-1]:
        try:
            orjson.loads(x)
        except orjson.JSONDecodeError:
            bad += 1
    assert bad == 1 and data[-1] == "[DONE]"


def test_omit_fields(client: httpx.Client) -> None:
    body = {**CHAT, "stream_options": {"include_usage": True}}
    d = client.post("/chat/completions", json=body, headers={"x-mock-fault": "omit-fields"}).json()
    for key in ("object", "created", "system_fingerprint", "usage"):
        assert key not in d
    assert d["choices"][0]["finish_reason"] is None and "logprobs" not in d["choices"][0]
    assert d["choices"][0]["message"]["content"]
    data = sse_data(client.post("/chat/completions", json={**body, "stream": True},
                                headers={"x-mock-fault": "omit-fields"}).text)
    chunks = [orjson.loads(x) for x in data[:-1]]
    assert all("object" not in c and "created" not in c for c in chunks)
    assert all(c["choices"] for c in chunks)  # no usage chunk
    assert chunks[-1]["choices"][0]["finish_reason"] is None


def test_config_fault_first_n_then_recovers(client: httpx.Client, m: MockUpstream) -> None:
    m.set_fault("500", first_n=2)
    codes = [client.post("/chat/completions", json=CHAT).status_code for _ in range(4)]
    assert codes == [500, 500, 200, 200] and m.state.faults_injected == 2
    assert client.get("/models").status_code == 200  # non-inference routes are never faulted


def test_config_fault_rate_is_seeded_fraction(client: httpx.Client, m: MockUpstream) -> None:
    m.set_fault("503", rate=0.5)
    codes = [client.post("/embeddings", json={"model": "e", "input": "x"}).status_code for _ in range(40)]
    assert 8 <= codes.count(503) <= 32 and codes.count(200) == 40 - codes.count(503)


def test_requests_seen_and_last_request(client: httpx.Client, m: MockUpstream) -> None:
    client.get("/models")
    client.post("/chat/completions", json=CHAT, headers={"x-custom": "1"})
    assert m.requests_seen == 2 and m.last_headers["x-custom"] == "1" and m.last_body == CHAT
    assert m.state.paths["/v1/models"] == 1


def test_every_fault_is_known() -> None:
    assert set(FAULTS) == {"429", "500", "503", "hang", "slow-first-byte", "disconnect-mid-stream",
                           "malformed-json", "omit-fields"}
    with pytest.raises(ValueError):
        MockConfig(fault="418")  # type: ignore[arg-type]


async def test_serve_in_running_loop_and_keep_alive() -> None:
    srv: MockServer = await serve("127.0.0.1", 0, config=MockConfig(latency_s=0.01, reply_words=4))
    try:
        async with aiohttp.ClientSession() as s:
            rs = await asyncio.gather(*[s.post(f"http://127.0.0.1:{srv.port}/v1/chat/completions", json=CHAT)
                                        for _ in range(20)])
            bodies = [await r.json() for r in rs]
        assert all(len(b["choices"][0]["message"]["content"].split()) == 4 for b in bodies)
        assert srv.state.requests_seen == 20
    finally:
        await srv.close()


async def test_hung_request_is_released_on_close() -> None:
    srv = await serve("127.0.0.1", 0, config=MockConfig(fault="hang"))
    async with aiohttp.ClientSession() as s:
        task = asyncio.create_task(s.post(f"http://127.0.0.1:{srv.port}/v1/chat/completions", json=CHAT))
        await asyncio.sleep(0.1)
        await srv.close()
        with pytest.raises(aiohttp.ClientError):
            await asyncio.wait_for(task, 3)


def test_pipelined_requests_answered_in_order(m: MockUpstream) -> None:
    import socket

    body = orjson.dumps(CHAT)
    req = (b"POST /v1/chat/completions HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
           b"content-length: %d\r\n\r\n%s" % (len(body), body))
    slow = req.replace(b"host: x\r\n", b"host: x\r\nx-mock-latency-ms: 50\r\n")
    with socket.create_connection(("127.0.0.1", m.port), timeout=5) as sock:
        sock.sendall(slow + req + b"GET /v1/models HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.count(b"HTTP/1.1 200 OK") == 3
    assert data.rindex(b"chat.completion") < data.index(b'"object":"list"')


def test_malformed_http_is_400(m: MockUpstream) -> None:
    import socket

    with socket.create_connection(("127.0.0.1", m.port), timeout=5) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.1 400")


def test_run_accepts_cli_spellings() -> None:
    from gateway.mock_upstream.server import _cli_opts

    cfg = MockConfig(**_cli_opts({"latency_ms": 250.0, "tokens_per_s": 0.0}))
    assert cfg.latency_s == 0.25 and cfg.tokens_per_s is None
    assert MockConfig(**_cli_opts({"tokens_per_s": 30})).tokens_per_s == 30


def test_cli_mock_upstream_serves(tmp_path) -> None:
    import os
    import socket
    import subprocess
    import sys

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "gateway.cli", "mock-upstream", "--port", str(port)],
                            stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    try:
        assert proc.stdout is not None and b"mock upstream on" in proc.stdout.readline()
        r = httpx.post(f"http://127.0.0.1:{port}/v1/chat/completions", json=CHAT, timeout=10)
        assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"]
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_a_handler_bug_answers_500_and_keeps_serving(m: MockUpstream, monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    from gateway.mock_upstream import openai_format

    def broken(*_a: object, **_k: object) -> dict:
        raise RuntimeError("boom")

    monkeypatch.setattr(openai_format, "models", broken)
    with httpx.Client(base_url=m.base_url, timeout=5) as c:
        r = c.get("/models")
        assert r.status_code == 500 and "mock upstream bug" in r.json()["error"]["message"]
        assert c.post("/chat/completions", json=CHAT).status_code == 200  # same connection still works
    assert "handler failed" in caplog.text

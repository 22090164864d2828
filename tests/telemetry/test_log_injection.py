"""What a client sends cannot forge a log line, flood the log, or carry a secret into a log line,
a span or an error body (issue 17: log injection, request ids, echoing upstreams)."""

from __future__ import annotations

import io
import logging
import re
from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.app import create_app
from gateway.echo import clip, escape_controls
from gateway.errors import NotFound, UpstreamError, UpstreamRejected
from gateway.mock_upstream import MockUpstream
from gateway.telemetry.logs import bind_request, configure_logging, request_id_var, trace_id_var
from tests.spend.gw import gateway_config

MASTER = "master-key-for-tests"
PLANTED = "sk-proj-PLANTEDupstreamEcho0123456789"
# A token the request-id charset admits (letters, digits, `._:-`, at most 64 characters).
TOKEN_AS_REQUEST_ID = "glpat-PLANTEDrequestId0123456789"
LINE_START = re.compile(r"^\d{4}-\d{2}-\d{2} ")


@pytest.fixture
def logs(request) -> Iterator[tuple[io.StringIO, logging.Logger]]:
    """sluicegate's handler on the root logger, in the format the test is parametrized with."""
    fmt = getattr(request, "param", "text")
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    handler = configure_logging("INFO", fmt, stream=stream)
    token, trace_token = request_id_var.set(None), trace_id_var.set(None)
    yield stream, logging.getLogger("sluice.test")
    request_id_var.reset(token)
    trace_id_var.reset(trace_token)
    root.removeHandler(handler)
    root.setLevel(old_level)


@pytest.fixture(scope="module")
def upstream() -> Iterator[MockUpstream]:
    with MockUpstream() as m:
        yield m


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-tests")


# -- the helpers --------------------------------------------------------------------------------
def test_clip_marks_what_it_cut() -> None:
    assert clip("abc", 5) == "abc"
    assert clip("a" * 10, 4) == "aaaa…[+6 chars]"


def test_escape_controls_keeps_text_on_one_line() -> None:
    assert escape_controls("a\nb\r\tc\x1b[31md\u2028e\x85") == "a\\nb\\r\\tc\\x1b[31md\\u2028e\\x85"
    assert escape_controls("plain text, ünïcödé") == "plain text, ünïcödé"


# -- log lines ----------------------------------------------------------------------------------
def test_a_newline_in_a_logged_value_cannot_forge_a_text_line(logs) -> None:
    stream, log = logs
    forged = "gpt-4o\n2026-12-01 00:00:00,000 ERROR sluice.auth [-] admin login accepted"
    log.info("chat.completions %s -> %s", forged, 404)
    log.warning("f-string too: " + forged)
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2 and all(LINE_START.match(line) for line in lines)
    assert "\\n2026-12-01 00:00:00,000 ERROR sluice.auth" in lines[0]


def test_a_traceback_in_a_text_line_is_indented(logs) -> None:
    stream, log = logs
    try:
        raise ValueError("bad model 'x\n2026-12-01 00:00:00,000 ERROR sluice.auth forged'")
    except ValueError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert LINE_START.match(lines[0]) and all(line.startswith("    ") for line in lines[1:]) and len(lines) > 2


@pytest.mark.parametrize("logs", ["text", "json"], indirect=True)
def test_a_megabyte_value_is_clipped_in_the_log(logs) -> None:
    stream, log = logs
    huge = "m" * 1_000_000
    log.info("chat.completions %s -> %s", huge, 404, extra={"model": huge})
    log.info(f"an f-string with {huge}")
    out = stream.getvalue()
    assert len(out) < 40_000 and "…[+" in out


@pytest.mark.parametrize("rid", ["sk-proj-PLANTEDrequestId0123456789", TOKEN_AS_REQUEST_ID])
@pytest.mark.parametrize("logs", ["text", "json"], indirect=True)
def test_the_bound_request_id_is_scrubbed(logs, rid) -> None:
    """sk-proj-... was always a pattern the scrubber knew: only the request id skipped it."""
    stream, log = logs
    bind_request(rid)
    log.info("served")
    assert "served" in stream.getvalue() and "PLANTEDrequestId" not in stream.getvalue()


# -- error bodies -------------------------------------------------------------------------------
def test_an_error_message_echoing_a_huge_value_is_clipped() -> None:
    err = NotFound(f"model {'m' * 1_000_000!r} is not configured on this gateway")
    assert len(err.message) < 2200 and err.message.endswith("chars]")
    assert len(err.body_bytes()) < 2500


@pytest.mark.parametrize("cls", [UpstreamError, UpstreamRejected])
def test_upstream_error_text_is_scrubbed(cls) -> None:
    err = cls(f"the upstream model rejected the request: Incorrect API key provided: {PLANTED}")
    assert PLANTED not in err.message and PLANTED not in err.body_bytes().decode()
    assert "Incorrect API key provided" in err.message


async def test_an_echoing_upstream_cannot_hand_the_client_a_secret(tmp_path, upstream) -> None:
    """The mock answers 400 quoting a header it was sent (as an echoing upstream repeats a key)."""
    models = [{"name": "echo", "deployments": [{"provider": "openai", "model": "mock-gpt",
                                                 "api_base": upstream.base_url,
                                                 "headers": {"x-mock-fault": PLANTED}}]}]
    cfg = gateway_config(tmp_path, upstream.base_url)
    cfg = cfg.model_copy(update={"models": type(cfg)(**{**cfg.model_dump(), "models": models}).models})
    app = create_app(cfg)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                                 base_url="http://gw") as client:
        r = await client.post("/v1/chat/completions",
                              json={"model": "echo", "messages": [{"role": "user", "content": "hi"}]})
    assert r.status_code == 400, r.text
    assert "x-mock-fault" in r.json()["error"]["message"]  # the upstream's text did come through
    assert "PLANTEDupstreamEcho" not in r.text


# -- through the gateway -------------------------------------------------------------------------
async def test_unauthenticated_megabyte_model_names_write_little_log(tmp_path, upstream, logs) -> None:
    stream, _ = logs
    cfg = gateway_config(tmp_path, upstream.base_url, auth={"enabled": True}, telemetry={"log_format": "text"})
    app = create_app(cfg)
    async with app.lifespan(), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
                                                 base_url="http://gw") as client:
        for _ in range(5):
            r = await client.post("/v1/chat/completions", json={
                "model": "x\nERROR sluice.auth forged " + "m" * 1_000_000,
                "messages": [{"role": "user", "content": "hi"}]})
            assert r.status_code in (400, 401, 404) and len(r.content) < 3000
        r = await client.post("/v1/chat/completions", headers={"x-request-id": TOKEN_AS_REQUEST_ID},
                              json={"model": "nope\nERROR sluice.auth forged",
                                    "messages": [{"role": "user", "content": "hi"}]})
        assert r.status_code in (401, 404)
    out = stream.getvalue()
    assert len(out) < 50_000
    assert not [line for line in out.splitlines() if "forged" in line and not LINE_START.match(line)]
    assert "PLANTEDrequestId" not in out


def test_json_lines_stay_json_with_control_characters() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    old = root.level
    handler = configure_logging("INFO", "json", stream=stream)
    try:
        logging.getLogger("sluice.test").info("model %s", "a\nb\x1b")
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
    (line,) = stream.getvalue().splitlines()
    assert orjson.loads(line)["msg"] == "model a\nb\x1b"


# -- spans ---------------------------------------------------------------------------------------
async def test_new_token_formats_and_the_request_id_never_reach_exported_spans() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from gateway.clock import FakeClock
    from gateway.telemetry import hooks as th
    from gateway.telemetry import tracing as tm
    from gateway.telemetry.config import TelemetryConfig
    from tests.telemetry.conftest import AuthHook, all_span_text, make_ctx, run_request

    stripe = "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dcPLANTED0123456789abcdefghijklmnop"
    gitlab = "glpat-PLANTEDgitlab0123456789"
    npm = "npm_PLANTEDnpm0123456789abcdefghijklmnopq"[:40]
    clock, exporter = FakeClock(), InMemorySpanExporter()
    t = tm.Telemetry(TelemetryConfig(exporter="console", record_content=True), clock=clock,
                     exporter=exporter, simple=True)
    ctx = make_ctx(clock, rid=TOKEN_AS_REQUEST_ID)
    ctx.body["messages"][0]["content"] = f"keys {stripe} {gitlab} {npm} and db\\npassword=hunter2hunter2"
    with tm.span(ctx, "careless", note=f"upstream said {stripe}"):
        pass
    await run_request(th.instrument_hooks([AuthHook(clock)], t), ctx, clock, completion_text=f"ok {npm}")
    text = all_span_text(exporter)
    t.shutdown()
    assert "gen_ai.input.messages" in text  # content was recorded, then scrubbed
    for planted in ("PLANTED0123456789abcdef", "PLANTEDgitlab", "PLANTEDnpm", "hunter2hunter2", "PLANTEDrequestId"):
        assert planted not in text, planted

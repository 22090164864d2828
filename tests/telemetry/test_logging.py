"""JSON log lines carry the request id and never a secret."""

import asyncio
import io
import logging

import orjson
import pytest

from gateway.telemetry.logs import bind_request, configure_logging, request_id_var, trace_id_var


@pytest.fixture
def log_stream():
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    handler = configure_logging("DEBUG", "json", stream=stream)
    token, trace_token = request_id_var.set(None), trace_id_var.set(None)
    yield stream
    request_id_var.reset(token)
    trace_id_var.reset(trace_token)
    root.removeHandler(handler)
    root.setLevel(old_level)


def _lines(stream: io.StringIO) -> list[dict]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_json_line_has_fields_and_request_id(log_stream) -> None:
    bind_request("req-123", "ab" * 16)
    logging.getLogger("sluice.test").info("served %s in %d ms", "gpt-x", 12, extra={"deployment": "d1"})
    (line,) = [x for x in _lines(log_stream) if x["logger"] == "sluice.test"]
    assert line["msg"] == "served gpt-x in 12 ms"
    assert line["level"] == "INFO"
    assert line["logger"] == "sluice.test"
    assert line["request_id"] == "req-123"
    assert line["trace_id"] == "ab" * 16
    assert line["deployment"] == "d1"


async def test_request_ids_do_not_leak_between_concurrent_tasks(log_stream) -> None:
    log = logging.getLogger("sluice.test")

    async def handle(rid: str) -> None:
        bind_request(rid)
        await asyncio.sleep(0)
        log.info("done")

    await asyncio.gather(*(handle(f"r{i}") for i in range(5)))
    ids = sorted(line["request_id"] for line in _lines(log_stream) if line["logger"] == "sluice.test")
    assert ids == [f"r{i}" for i in range(5)]


def test_secrets_in_message_args_extras_and_traceback_are_scrubbed(log_stream) -> None:
    log = logging.getLogger("sluice.test")
    log.warning("upstream said no for Authorization: Bearer %s", "tok-AAAA1111BBBB2222")
    log.info("headers", extra={"headers": {"authorization": "Bearer zzzzzzzz9999", "x-api-key": "k-777777"}})
    log.info("prompt from %s: %s", "carol@example.com", "my key is sk-live-0123456789abcdef")
    try:
        raise RuntimeError("connect failed for postgresql://u:supersecretpw@db/x")
    except RuntimeError:
        log.exception("ledger flush failed")
    text = log_stream.getvalue()
    for secret in ("tok-AAAA1111BBBB2222", "zzzzzzzz9999", "k-777777", "carol@example.com",
                   "sk-live-0123456789abcdef", "supersecretpw"):
        assert secret not in text, secret
    lines = [x for x in _lines(log_stream) if x["logger"] == "sluice.test"]
    assert len(lines) == 4
    assert "RuntimeError" in lines[-1]["exc"]  # the traceback is kept, minus the secret


def test_bad_format_args_still_log_a_line(log_stream) -> None:
    logging.getLogger("sluice.test").info("needs two %s %s", "only-one")  # noqa: PLE1206 - on purpose
    (line,) = [x for x in _lines(log_stream) if x["logger"] == "sluice.test"]
    assert line["msg"] == "needs two %s %s"


def test_text_format_and_reconfigure_replaces_handler() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    old_level = root.level
    first = configure_logging("INFO", "json", stream=io.StringIO())
    second = configure_logging("INFO", "text", stream=stream)
    try:
        assert first not in root.handlers and second in root.handlers
        bind_request("rq-9")
        logging.getLogger("sluice.test").info("hello sk-abcdefghijklmn")
        out = stream.getvalue()
        assert "[rq-9] hello [REDACTED]" in out
    finally:
        root.removeHandler(second)
        root.setLevel(old_level)


def test_ids_are_left_out_when_unbound(log_stream) -> None:
    logging.getLogger("sluice.test").info("startup")
    (line,) = [x for x in _lines(log_stream) if x["logger"] == "sluice.test"]
    assert "request_id" not in line and "trace_id" not in line


async def test_hooks_log_with_the_request_id_from_the_first_hook_on(log_stream) -> None:
    from gateway.clock import FakeClock
    from gateway.hooks import Hook
    from gateway.telemetry import hooks as th
    from gateway.telemetry import tracing as tm
    from gateway.telemetry.config import TelemetryConfig

    from .conftest import make_ctx

    class Chatty(Hook):
        name = "auth"

        async def before(self, ctx):
            logging.getLogger("sluice.test").info("checking the key")

    clock = FakeClock()
    hooks = th.instrument_hooks([Chatty()], tm.Telemetry(TelemetryConfig(metrics=False), clock=clock))

    async def request() -> None:  # a task per request, as the server runs them
        ctx = make_ctx(clock, rid="rid-early")
        for h in hooks:
            await h.before(ctx)

    await asyncio.create_task(request())
    (line,) = [x for x in _lines(log_stream) if x["logger"] == "sluice.test"]
    assert line["request_id"] == "rid-early"


def test_reload_reconfigures_logging_only_where_sluicegate_installed_it(log_stream) -> None:
    from gateway.telemetry.logs import _HANDLER_NAME, reconfigure_logging

    root = logging.getLogger()
    assert reconfigure_logging("WARNING", "text") is True  # a served gateway: level and format change
    ours = [h for h in root.handlers if h.get_name() == _HANDLER_NAME]
    assert len(ours) == 1 and root.level == logging.WARNING
    root.removeHandler(ours[0])
    # an app embedded in someone else's process never had our handler: its logging is left alone
    assert reconfigure_logging("DEBUG", "json") is False
    assert root.level == logging.WARNING


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


@pytest.mark.parametrize("tty, looks_like_json", [(True, False), (False, True)])
def test_auto_format_is_text_on_a_terminal_and_json_elsewhere(tty: bool, looks_like_json: bool) -> None:
    from gateway.telemetry.config import TelemetryConfig

    assert TelemetryConfig().log_format == "auto"
    stream = _Stream(tty)
    handler = configure_logging("INFO", "auto", stream=stream)
    try:
        logging.getLogger("sluice.test").info("hello %s", "there")
    finally:
        logging.getLogger().removeHandler(handler)
    line = stream.getvalue().strip().splitlines()[-1]
    assert line.startswith("{") is looks_like_json
    assert "hello there" in line

"""Structured JSON logs with the request id, scrubbed of secrets and PII.

- `configure_logging(level, fmt)` installs one stderr handler on the root logger (idempotent):
  JSON lines, plain text for humans, or `auto` (text when the stream is a terminal, else JSON).
- `bind_request(request_id, trace_id=None)` sets the ids that every record logged from the current
  task carries (contextvars, so concurrent requests never mix them up). The pipeline calls it when
  a request starts; the telemetry hook calls it too, so it holds from the first hook on.
- `SecretScrubFilter` sits on the handler (handler filters see records from every logger,
  logger filters do not) and rewrites message, arguments, extras, tracebacks and the bound
  request id through gateway/telemetry/scrub.py before any formatter runs. It also bounds what a
  client can make a line carry: each string argument and extra is clipped (gateway/echo.py), and
  so is the whole message.
- `TextFormatter` writes one record per line: control characters in the message and the request
  id are escaped, and traceback lines are indented, so no value can forge a line of its own.
"""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import Any

import orjson

from gateway.echo import MAX_ECHO_CHARS, clip, escape_controls
from gateway.telemetry.scrub import scrub_text, scrub_value

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("sluice_request_id", default=None)
trace_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("sluice_trace_id", default=None)

# LogRecord's own attributes; anything else on a record came from `extra=` and is logged as a field.
_STANDARD = frozenset(vars(logging.LogRecord("x", 0, "x", 0, "x", None, None))) | {"message", "asctime"}
_HANDLER_NAME = "sluice-structured"
# A whole message past this is clipped: f-string messages bypass the per-argument bound.
MAX_MESSAGE_CHARS = 16_384


def _bounded(value: Any, limit: int = MAX_ECHO_CHARS) -> Any:
    """A string scrubbed and clipped. Clipped loosely first, so a megabyte value costs the scrubber
    a few kilobytes, and a secret cut by that first clip lies past the final one anyway."""
    if isinstance(value, str):
        return clip(scrub_text(value[: 4 * limit]) if len(value) > 4 * limit else scrub_text(value), limit)
    return scrub_value(value)


def _bounded_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(clip(a, MAX_ECHO_CHARS) if isinstance(a, str) else a for a in args)
    if isinstance(args, dict):
        return {k: clip(v, MAX_ECHO_CHARS) if isinstance(v, str) else v for k, v in args.items()}
    return args


def bind_request(request_id: str | None, trace_id: str | None = None) -> None:
    request_id_var.set(request_id)
    if trace_id is not None:
        trace_id_var.set(trace_id)


class SecretScrubFilter(logging.Filter):
    """Rewrites a record in place so no formatter or handler downstream sees a secret."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = _bounded_args(record.args)
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # bad %-args: log the template rather than lose the line
            message = str(record.msg)
        record.msg = _bounded(message, MAX_MESSAGE_CHARS)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub_text(record.exc_text)
            record.exc_info = None  # the formatter would re-render the unscrubbed traceback
        if record.stack_info:
            record.stack_info = scrub_text(record.stack_info)
        for key, value in list(vars(record).items()):
            if key not in _STANDARD:
                setattr(record, key, _bounded(value))
        # The bound ids came from the client's x-request-id: a plain id by charset and length
        # (gateway/context.py), which a token like sk-proj-... still is.
        if getattr(record, "request_id", None) is None:
            record.request_id = _bounded(request_id_var.get())
        if getattr(record, "trace_id", None) is None:
            record.trace_id = _bounded(trace_id_var.get())
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, request_id, trace_id, extras, exc."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in ("request_id", "trace_id"):
            val = getattr(record, key, None)
            if val is not None:
                out[key] = val
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out and key not in ("request_id", "trace_id"):
                out[key] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return orjson.dumps(out, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


class TextFormatter(logging.Formatter):
    """One line per record for a person to read; a line-oriented collector must not be fooled by
    a newline a client put in a model name, so the message is escaped and tracebacks indented."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        rid = getattr(record, "request_id", None)
        if rid is None:
            rid = request_id_var.get()
        record.request_id = escape_controls(str(rid)) if rid is not None else None
        record.message = escape_controls(record.getMessage())
        record.asctime = self.formatTime(record, self.datefmt)
        line = self.formatMessage(record)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        for block in (record.exc_text, record.stack_info and self.formatStack(record.stack_info)):
            if block:
                line += "".join("\n    " + escape_controls(part) for part in block.splitlines())
        return line


def resolve_format(fmt: str, stream: Any) -> str:
    """`auto` is text on a terminal (a person reads it) and JSON elsewhere (a collector parses it)."""
    if fmt != "auto":
        return fmt
    isatty = getattr(stream, "isatty", None)
    return "text" if callable(isatty) and isatty() else "json"


def make_handler(stream: Any = None, fmt: str = "auto") -> logging.Handler:
    out = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER_NAME)
    handler.addFilter(SecretScrubFilter())
    handler.setFormatter(JsonFormatter() if resolve_format(fmt, out) == "json" else TextFormatter())
    return handler


def reconfigure_logging(level: str, fmt: str) -> bool:
    """A config reload: apply a new level/format if sluicegate's handler is installed (a served
    gateway; an embedded app leaves its host's logging alone). True when applied."""
    if not any(h.get_name() == _HANDLER_NAME for h in logging.getLogger().handlers):
        return False
    configure_logging(level, fmt)
    return True


def configure_logging(level: str = "INFO", fmt: str = "auto", *, stream: Any = None) -> logging.Handler:
    """Install (or replace) sluicegate's handler on the root logger and return it."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if h.get_name() == _HANDLER_NAME:
            root.removeHandler(h)
    handler = make_handler(stream, fmt)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that log request URLs or headers at DEBUG stay at WARNING unless asked for.
    for noisy in ("httpx", "httpcore", "urllib3", "aiohttp.access", "openai", "LiteLLM", "presidio-analyzer", "bm25s"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler

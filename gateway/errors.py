"""One error hierarchy; each error knows its HTTP status and OpenAI-shaped body.

    SluiceError (500 api_error)
    ├── InvalidRequest (400 invalid_request_error)
    │   ├── NotFound (404)
    │   ├── MethodNotAllowed (405, code method_not_allowed)
    │   ├── PayloadTooLarge (413)
    │   └── ContentPolicyViolation (400, code content_policy_violation)
    ├── AuthenticationError (401 authentication_error)
    ├── PermissionDenied (403 permission_error)
    ├── RateLimited (429 rate_limit_error, Retry-After)
    ├── QuotaExceeded (429 insufficient_quota, code budget_exceeded; not retryable)
    ├── Overloaded (503 service_unavailable, Retry-After; load shedding)
    └── UpstreamError (502 upstream_error; carries the upstream status)
        ├── UpstreamTimeout (504)
        └── UpstreamRejected (400 invalid_request_error; the upstream refused the client's request)

Messages say what to fix. Bodies never carry tracebacks or offending user text; a message that
echoes a client's value is clipped (gateway/echo.py), and an upstream's error text is scrubbed of
credentials before it can reach the client (an echoing upstream repeats the keys it was sent).
An error's status and type come from its class: raise the class that means it, never assign
`status` or `type` on an instance afterwards.
"""

from __future__ import annotations

from typing import Any

import orjson

from gateway.echo import clip

# An error message names the value it refuses; past this it is clipped with a marker.
MAX_MESSAGE_CHARS = 2048


class SluiceError(Exception):
    status: int = 500
    type: str = "api_error"
    code: str = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        message = clip(message, MAX_MESSAGE_CHARS)
        super().__init__(message)
        self.message = message
        self.param = param
        if code is not None:
            self.code = code
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"message": self.message, "type": self.type, "param": self.param, "code": self.code}
        err.update(self.extra)
        return {"error": err}

    def body_bytes(self) -> bytes:
        return orjson.dumps(self.body())


class InvalidRequest(SluiceError):
    status = 400
    type = "invalid_request_error"
    code = "invalid_request"


class NotFound(InvalidRequest):
    status = 404
    code = "not_found"


class MethodNotAllowed(InvalidRequest):
    status = 405
    code = "method_not_allowed"


class PayloadTooLarge(InvalidRequest):
    status = 413
    code = "payload_too_large"


class ContentPolicyViolation(InvalidRequest):
    status = 400
    code = "content_policy_violation"


class AuthenticationError(SluiceError):
    status = 401
    type = "authentication_error"
    code = "invalid_api_key"


class PermissionDenied(SluiceError):
    status = 403
    type = "permission_error"
    code = "permission_denied"


class RateLimited(SluiceError):
    status = 429
    type = "rate_limit_error"
    code = "rate_limited"

    def __init__(self, message: str, *, retry_after_s: float, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s
        self.headers.setdefault("retry-after", str(max(1, int(retry_after_s + 0.999))))


class QuotaExceeded(SluiceError):
    status = 429
    type = "insufficient_quota"
    code = "budget_exceeded"


class Overloaded(SluiceError):
    status = 503
    type = "service_unavailable"
    code = "overloaded"

    def __init__(self, message: str, *, retry_after_s: float = 1.0, **kw: Any) -> None:
        super().__init__(message, **kw)
        self.headers.setdefault("retry-after", str(max(1, int(retry_after_s + 0.999))))


class UpstreamError(SluiceError):
    status = 502
    type = "upstream_error"
    code = "upstream_error"

    def __init__(
        self,
        message: str,
        *,
        upstream_status: int | None = None,
        retryable: bool = True,
        retry_after_s: float | None = None,
        **kw: Any,
    ) -> None:
        # Here, not at the call sites: every provider quotes upstream text into these messages.
        # Imported late: the scrubber loads detect-secrets, which only a serving gateway needs.
        from gateway.telemetry.scrub import scrub_text

        super().__init__(scrub_text(message), **kw)
        self.upstream_status = upstream_status
        self.retryable = retryable
        self.retry_after_s = retry_after_s


class UpstreamTimeout(UpstreamError):
    status = 504
    code = "upstream_timeout"


class UpstreamRejected(UpstreamError):
    """The upstream refused the request as malformed (HTTP 400/404/413/422): the client's mistake,
    so it is answered as 400 invalid_request_error and is not retried on another deployment."""

    status = 400
    type = "invalid_request_error"
    code = "upstream_rejected_request"

    def __init__(self, message: str, *, upstream_status: int | None = None, **kw: Any) -> None:
        kw.setdefault("retryable", False)
        super().__init__(message, upstream_status=upstream_status, **kw)


class ConfigError(Exception):
    """A config file is invalid; the message names the file and the key."""

"""The per-request record every pipeline stage reads and fills.

It is also what the spend ledger, telemetry and logs are written from, so a field added here
is a field every capability can see.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from gateway.ids import random_hex16

# What a route is, for the stages that apply to it: every route that takes a model request declares
# one here, and each hook decides by kind, never by route name (tests/gateway/test_route_matrix.py).
RouteKind = Literal["chat", "embeddings", "retrieval"]
ROUTE_KINDS: dict[str, RouteKind] = {
    "chat.completions": "chat",
    "messages": "chat",  # Anthropic's Messages API, translated onto chat (gateway/formats/anthropic.py)
    "responses": "chat",  # OpenAI's Responses API, likewise (gateway/formats/responses.py)
    "embeddings": "embeddings",
    "rag.query": "retrieval",
}


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def request_id_from(headers: dict[str, str]) -> str:
    """The client's `x-request-id` when it is a plain id (letters, digits, `._:-`, at most 64
    characters), else a new one: the id is echoed in a header, logged and stored in the ledger, so
    it must not carry a newline, a secret-sized blob or anything a log or header would misread."""
    given = headers.get("x-request-id")
    if given and _REQUEST_ID.fullmatch(given):
        return given
    return random_hex16()  # 32 hex digits like uuid4().hex (gateway/ids.py)




@dataclass(slots=True)
class Principal:
    """Who is calling (filled by auth). `key_id` is the virtual key's id, never the key itself."""

    key_id: str | None = None
    team_id: str | None = None
    user_id: str | None = None
    is_admin: bool = False
    attrs: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class GuardrailOutcome:
    scanner: str
    direction: str  # "input" | "output"
    action: str  # "pass" | "flag" | "redact" | "block" | "error"
    rule: str | None = None
    latency_ms: float = 0.0
    # what matched, without text: {"rule", "start", "end", "source": {"path", "role"?, "id"?} | None}
    findings: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class NativeRequest:
    """The client's own request, for an upstream that speaks its API (an Anthropic deployment for
    `/v1/messages`): sent instead of the chat body, unless a stage rewrote that body (then the
    rewritten chat body is what goes, translated). `chat_digest` is the chat body as translated."""

    wire: str  # "anthropic"
    body: dict[str, Any]
    headers: dict[str, str]  # the API's own headers to pass on (anthropic-version, anthropic-beta)
    chat_digest: bytes


@dataclass(slots=True)
class RequestContext:
    request_id: str
    route: str  # a key of ROUTE_KINDS: "chat.completions" | "embeddings" | "rag.query"
    body: dict[str, Any]
    headers: dict[str, str]  # lower-cased names
    started_mono: float
    started_wall: float
    stream: bool = False
    requested_model: str = ""
    client_wants_usage: bool = False  # stream_options.include_usage as sent by the client
    native: NativeRequest | None = None  # set by routes of other APIs (gateway/api/anthropic_messages.py)
    principal: Principal | None = None
    tags: list[str] = field(default_factory=list)
    # filled along the way
    prompt_ref: str | None = None  # "name@version" when a registered prompt was rendered
    prompt_hash: str | None = None  # sha256 of the served release's content (what the ledger joins on)
    prompt_forced: bool = False  # the served release was promoted with --force (marked in header and ledger)
    prompt_variant: str | None = None  # "baseline" | "candidate" while a rollout runs on the served label
    prompt_variables: dict[str, Any] | None = None  # the variables a registered prompt was rendered with
    rag_pipeline: str | None = None
    model_group: str | None = None
    # the model groups this request may be served by (admission: allow-list and unpriced policy);
    # None: any. The router skips fallback groups outside it.
    groups_allowed: frozenset[str] | None = None
    served_deployment: str | None = None
    served_provider: str | None = None
    served_model: str | None = None
    attempts: int = 0
    usage: dict[str, Any] | None = None
    cost_usd: float | None = None
    cache_status: str | None = None  # "hit" | "semantic-hit" | "miss" | "bypass"
    cost_saved_usd: float | None = None
    guardrails: list[GuardrailOutcome] = field(default_factory=list)
    status_code: int = 200
    error_code: str | None = None
    first_byte_mono: float | None = None
    ended_mono: float | None = None
    client_disconnected: bool = False
    completion: dict[str, Any] | None = None  # the final completion (aggregated from chunks for streams)
    response_headers: dict[str, str] = field(default_factory=dict)
    scratch: dict[str, Any] = field(default_factory=dict)  # per-hook private state, keyed by hook name

    @property
    def latency_ms(self) -> float | None:
        if self.ended_mono is None:
            return None
        return (self.ended_mono - self.started_mono) * 1000.0

    @property
    def kind(self) -> RouteKind:
        return ROUTE_KINDS[self.route]
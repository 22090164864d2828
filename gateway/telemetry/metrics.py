"""Prometheus metrics, one registry per app instance (never prometheus_client's global one).

Per-request metrics are recorded once, after the response, from the RequestContext
(`observe_request`). Components outside the request path report through small methods
(`upstream_error`, `cooldown`) or gauges they set or expose as callbacks read at scrape time
(`set_gauge`, `gauge_callback`), e.g. the spend ledger's queue depth.

Label values are bounded: the model label is the resolved model group (or "unresolved"), never
the raw name a client sent, so a client cannot blow up the series count.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.context import RequestContext

_MAX_CACHED_CHILDREN = 4096
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
_TTFT_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 2.0, 5.0, 10.0, 30.0)

# Gauges other components may set by name, with their labels.
GAUGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "ledger_queue_depth": ("Spend ledger rows waiting to be written", ()),
    "ledger_spool_rows": ("Rows in the ledger's local write-ahead spool", ()),
    "ledger_dead_letters": ("Ledger rows this process moved to the dead-letter table since it started", ()),
    "budget_utilization_ratio": ("Spend / budget for the current period", ("scope", "name")),
    "draining": ("1 while the gateway drains on shutdown", ()),
}


LabeledValues = Iterable[tuple[tuple[str, ...], float]]


class _CallbackCollector(Collector):
    """Gauges whose value is read from a callable at scrape time (zero cost on the hot path)."""

    def __init__(self) -> None:
        self._plain: dict[str, tuple[str, Callable[[], float]]] = {}
        self._labeled: dict[str, tuple[str, tuple[str, ...], Callable[[], LabeledValues]]] = {}

    def add(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        self._plain[name] = (doc, fn)

    def add_labeled(self, name: str, doc: str, labels: tuple[str, ...], fn: Callable[[], LabeledValues]) -> None:
        self._labeled[name] = (doc, labels, fn)

    def collect(self) -> Iterable[GaugeMetricFamily]:
        for name, (doc, fn) in list(self._plain.items()):
            yield GaugeMetricFamily(f"sluice_{name}", doc, value=float(fn()))
        for name, (doc, labels, lfn) in list(self._labeled.items()):
            family = GaugeMetricFamily(f"sluice_{name}", doc, labels=list(labels))
            for values, value in lfn():
                family.add_metric(list(values), float(value))
            yield family


def model_label(ctx: RequestContext, known: Callable[[str], bool] | None = None) -> str:
    """The model group, if the gateway knows it; "unresolved" for names it does not serve."""
    group = ctx.model_group
    if not group:
        return "unresolved"
    if ctx.served_deployment is not None or known is None or known(group):
        return group
    return "unresolved"


class GatewayMetrics:
    """`known_model(name)` says whether a name is a configured model group (bounds the label);
    `pricing_active()` whether a spend hook prices requests (else none is counted unpriced)."""

    def __init__(self, registry: CollectorRegistry | None = None,
                 known_model: Callable[[str], bool] | None = None,
                 pricing_active: Callable[[], bool] | None = None) -> None:
        self.known_model = known_model
        self.pricing_active = pricing_active or (lambda: True)
        # `*_created` series double the exposition for no use here (process-wide switch in the library)
        disable_created_metrics()
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter("sluice_requests", "Requests by route, model group and HTTP status",
                                ("route", "model", "status"), registry=r)
        self.latency = Histogram("sluice_request_duration_seconds", "End-to-end request latency",
                                 ("route", "model"), buckets=_LATENCY_BUCKETS, registry=r)
        self.ttft = Histogram("sluice_time_to_first_token_seconds", "Streams: time to the first byte sent",
                              ("model",), buckets=_TTFT_BUCKETS, registry=r)
        self.tokens = Counter("sluice_tokens", "Tokens by model group and type (input|output|cached_input)",
                              ("model", "type"), registry=r)
        self.cost = Counter("sluice_cost_usd", "Priced spend in USD", ("model", "team"), registry=r)
        self.cost_saved = Counter("sluice_cache_saved_usd", "USD not spent thanks to cache hits",
                                  ("model",), registry=r)
        self.cache = Counter("sluice_cache_requests", "Cache lookups by result (hit|semantic-hit|miss|bypass)",
                             ("route", "result"), registry=r)
        self.guardrails = Counter("sluice_guardrail_actions", "Guardrail outcomes",
                                  ("scanner", "direction", "action"), registry=r)
        self.upstream_errors = Counter("sluice_upstream_errors", "Failed upstream attempts",
                                       ("deployment", "reason"), registry=r)
        self.cooldowns = Counter("sluice_deployment_cooldowns", "Circuit-breaker cooldowns started",
                                 ("deployment",), registry=r)
        self.unpriced = Counter("sluice_unpriced_requests", "Served requests with no price (cost unknown)",
                                ("model",), registry=r)
        self.attempts = Histogram("sluice_upstream_attempts_per_request", "Upstream attempts per request",
                                  ("model",), buckets=(1, 2, 3, 4, 6, 10), registry=r)
        self._gauges = {name: Gauge(f"sluice_{name}", doc, labels, registry=r)
                        for name, (doc, labels) in GAUGES.items()}
        self._callbacks = _CallbackCollector()
        r.register(self._callbacks)
        # (metric, label values) -> the labelled child: prometheus_client's labels() validates and
        # locks on every call (~1.5 µs; a request with the default guardrail policy makes ~15 such
        # calls). Children are never removed here, so a cached one stays the registry's.
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = metric.labels(*values)
            if len(self._children) < _MAX_CACHED_CHILDREN:  # label values are bounded, but be safe
                self._children[key] = child
        return child

    # -- per request, after the response --------------------------------------------------------
    def observe_request(self, ctx: RequestContext, end_mono: float) -> None:
        model = model_label(ctx, self.known_model)
        self._child(self.requests, ctx.route, model, str(ctx.status_code)).inc()
        self._child(self.latency, ctx.route, model).observe(max(0.0, end_mono - ctx.started_mono))
        if ctx.stream and ctx.first_byte_mono is not None:
            self._child(self.ttft, model).observe(max(0.0, ctx.first_byte_mono - ctx.started_mono))
        usage = ctx.usage or {}
        for key, kind in (("prompt_tokens", "input"), ("completion_tokens", "output")):
            n = usage.get(key)
            if isinstance(n, int) and n > 0:
                self._child(self.tokens, model, kind).inc(n)
        details = usage.get("prompt_tokens_details")
        if isinstance(details, dict) and isinstance(details.get("cached_tokens"), int) and details["cached_tokens"]:
            self._child(self.tokens, model, "cached_input").inc(details["cached_tokens"])
        team = (ctx.principal.team_id if ctx.principal else None) or "none"
        if ctx.cost_usd:
            self._child(self.cost, model, team).inc(ctx.cost_usd)
        if ctx.cost_saved_usd:
            self._child(self.cost_saved, model).inc(ctx.cost_saved_usd)
        if ctx.cache_status:
            self._child(self.cache, ctx.route, ctx.cache_status).inc()
        for g in ctx.guardrails:
            self._child(self.guardrails, g.scanner, g.direction, g.action).inc()
        if is_unpriced(ctx) and self.pricing_active():
            self._child(self.unpriced, model).inc()
        if ctx.attempts:
            self._child(self.attempts, model).observe(ctx.attempts)

    # -- from components outside the request record ---------------------------------------------
    def upstream_error(self, deployment: str, reason: str) -> None:
        self.upstream_errors.labels(deployment, reason).inc()

    def cooldown(self, deployment: str) -> None:
        """A cooldown started (whether one is active is a scrape-time gauge read from the router)."""
        self.cooldowns.labels(deployment).inc()

    def set_gauge(self, gauge_name: str, value: float, /, **labels: str) -> None:
        gauge = self._gauges.get(gauge_name)
        if gauge is None:
            raise KeyError(f"unknown gauge {gauge_name!r}; known: {sorted(GAUGES)}")
        (gauge.labels(**labels) if labels else gauge).set(value)

    def gauge_callback(self, name: str, doc: str, fn: Callable[[], float]) -> None:
        """Expose `sluice_<name>` read from `fn()` at scrape time (e.g. a queue's qsize)."""
        self._check_free(name)
        self._callbacks.add(name, doc, fn)

    def labeled_gauge_callback(self, name: str, doc: str, labels: tuple[str, ...],
                               fn: Callable[[], LabeledValues]) -> None:
        """Expose `sluice_<name>{labels}` from `fn()` -> [((label values...), value), ...] at scrape time."""
        self._check_free(name)
        self._callbacks.add_labeled(name, doc, labels, fn)

    def _check_free(self, name: str) -> None:
        if name in GAUGES:
            raise ValueError(f"{name!r} is a settable gauge; use set_gauge or pick another name")


def is_unpriced(ctx: RequestContext) -> bool:
    """Served by an upstream (not a cache hit) and pricing ran but found no price.

    The spend hook sets `ctx.cost_usd` (0.0 for no tokens) whenever it can price; None after a
    served request means no price. Without pricing (no spend hook) nothing is "unpriced": the
    caller checks that (`GatewayMetrics.pricing_active`).
    """
    return (ctx.served_deployment is not None and ctx.cost_usd is None
            and ctx.cache_status not in ("hit", "semantic-hit"))

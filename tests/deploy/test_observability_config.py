"""Alert rules, the Grafana dashboard and the collector config refer to metrics that exist."""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from gateway.clock import FakeClock
from gateway.config import parse_config
from gateway.services import Services
from gateway.telemetry.hooks import telemetry_for

from .conftest import DEPLOY, ROOT, load_yaml

METRIC = re.compile(r"\bsluice_[a-z_]+\b")


@pytest.fixture(scope="module")
def exposed() -> set[str]:
    """Every metric and sample name a running gateway exposes at /metrics."""
    gw = SimpleNamespace(services=Services(), config=parse_config({}), clock=FakeClock(), generation=None,
                         virtual_model_names=list)
    metrics = telemetry_for(gw).metrics
    assert metrics is not None
    # gauges a capability registers when it is on: the prompt journal's (prompts enabled)
    from gateway.integrations.prompts import PromptHook
    from prompts import PromptRegistry

    with tempfile.TemporaryDirectory() as tmp:
        PromptHook(PromptRegistry(Path(tmp), Path(tmp) / ".sluice"), gateway=gw)._register_metric()
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}
    names = set()
    for family in metrics.registry.collect():
        names.update(family.name + sfx for sfx in suffixes[family.type])
    return names


def _rules() -> list[dict]:
    return [r for g in load_yaml(DEPLOY / "prometheus" / "alerts.yml")["groups"] for r in g["rules"]]


def _anchors(markdown: str) -> set[str]:
    out = set()
    for line in markdown.splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            out.add(re.sub(r"[^\w\- ]", "", title).replace(" ", "-"))
    return out


def test_required_alerts_exist_with_runbooks(exposed) -> None:
    alerts = {r["alert"]: r for r in _rules() if "alert" in r}
    for name in ("SluiceHighErrorRate", "SluiceLatencySLOFastBurn", "SluiceLatencySLOSlowBurn",
                 "SluiceBudgetBurnFast", "SluiceUpstreamDown", "SluiceUnpricedRequests"):
        assert name in alerts
    anchors = _anchors((ROOT / "docs" / "operations.md").read_text())
    for name, rule in alerts.items():
        assert rule["labels"]["severity"] in ("page", "ticket"), name
        assert rule["annotations"]["summary"], name
        url = rule["annotations"]["runbook_url"]
        assert url.startswith("docs/operations.md#") and url.split("#")[1] in anchors, f"{name}: {url}"


def test_rule_expressions_use_exposed_metrics(exposed) -> None:
    for rule in _rules():
        for metric in METRIC.findall(rule["expr"]):
            assert metric in exposed, f"{rule.get('alert') or rule.get('record')}: unknown metric {metric}"


def test_slo_bucket_boundary_exists() -> None:
    from gateway.telemetry.metrics import _LATENCY_BUCKETS

    text = (DEPLOY / "prometheus" / "alerts.yml").read_text()
    for le in set(re.findall(r'le="([\d.]+)"', text)):
        assert float(le) in _LATENCY_BUCKETS and le == repr(float(le))  # exposition writes 10.0


def test_dashboard_panels_query_exposed_metrics(exposed) -> None:
    dash = json.loads((DEPLOY / "grafana" / "dashboards" / "sluicegate.json").read_text())
    ds_uid = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml")["datasources"][0]["uid"]
    ids = [p["id"] for p in dash["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    seen = set()
    for panel in dash["panels"]:
        assert panel["datasource"]["uid"] == ds_uid
        for target in panel["targets"]:
            for metric in METRIC.findall(target["expr"]):
                assert metric in exposed, f"panel {panel['title']!r}: unknown metric {metric}"
                seen.add(metric)
    for needed in ("sluice_requests_total", "sluice_time_to_first_token_seconds_bucket", "sluice_tokens_total",
                   "sluice_cost_usd_total", "sluice_cache_requests_total", "sluice_guardrail_actions_total",
                   "sluice_upstream_errors_total", "sluice_deployment_in_cooldown", "sluice_ledger_queue_depth"):
        assert needed in seen


def test_collector_pipelines_are_wired_and_match_the_gateway() -> None:
    col = load_yaml(DEPLOY / "otel" / "collector.yaml")
    for pipeline in col["service"]["pipelines"].values():
        for section in ("receivers", "processors", "exporters"):
            for name in pipeline.get(section, []):
                assert name in col[section], f"{section} {name} is used but not defined"
    assert col["receivers"]["otlp"]["protocols"]["http"]["endpoint"].endswith(":4318")
    k8s_cfg = parse_config(load_yaml(DEPLOY / "k8s" / "config" / "sluice.yaml"))
    assert k8s_cfg.telemetry.otlp_endpoint.endswith(":4318/v1/traces")
    assert k8s_cfg.telemetry.record_content is False


def test_prometheus_scrapes_what_compose_runs_and_loads_the_alerts() -> None:
    prom = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    compose = load_yaml(DEPLOY / "docker-compose.yml")
    mounts = compose["services"]["prometheus"]["volumes"]
    assert "./prometheus/alerts.yml:/etc/prometheus/alerts.yml:ro" in mounts
    assert prom["rule_files"] == ["/etc/prometheus/alerts.yml"]
    collector = load_yaml(DEPLOY / "otel" / "collector.yaml")
    port = collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]["port"]
    jobs = {j["job_name"]: j for j in prom["scrape_configs"]}
    assert jobs["otel-collector"]["static_configs"][0]["targets"] == [f"otel-collector:{port}"]

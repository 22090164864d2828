"""Kubernetes manifests: schema-valid, secrets referenced not inlined, probes agree with the drain."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from gateway.config import parse_config

from .conftest import HAVE_KUBECTL, K8S, one, render_by_hand

K8S_VERSION = kubernetes_validate.utils.latest_version()
SECRETISH = re.compile(r"(?i)(KEY|SECRET|PASSWORD|TOKEN|DATABASE_URL|REDIS_URL)")


def test_every_resource_is_schema_valid(rendered) -> None:
    _, docs = rendered
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == sorted(["ServiceAccount", "Deployment", "Service", "HorizontalPodAutoscaler",
                            "PodDisruptionBudget", "NetworkPolicy", "ConfigMap"])
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_validation_catches_a_broken_manifest(rendered) -> None:
    _, docs = rendered
    dep = yaml.safe_load(yaml.safe_dump(one(docs, "Deployment")))
    dep["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["port"] = {"bad": 1}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(dep, K8S_VERSION, strict=True)


def _container(docs):
    return one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]


def test_secrets_are_referenced_never_inlined(rendered) -> None:
    _, docs = rendered
    assert not [d for d in docs if d["kind"] == "Secret"], "no Secret objects with data in the repository"
    for env in _container(docs)["env"]:
        if SECRETISH.search(env["name"]):
            assert "value" not in env, f"{env['name']} is inlined"
            assert env["valueFrom"]["secretKeyRef"]["name"] == "sluicegate-secrets"
    config = one(docs, "ConfigMap")["data"]["sluice.yaml"]
    assert "api_key:" not in config and "sk-" not in config


def test_probes_and_grace_period_agree_with_the_drain_timeout(rendered) -> None:
    _, docs = rendered
    cfg = parse_config(yaml.safe_load(one(docs, "ConfigMap")["data"]["sluice.yaml"]))
    drain = cfg.server.drain_timeout_s
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    c = pod["containers"][0]
    pre_stop = c["lifecycle"]["preStop"]["sleep"]["seconds"]
    # SIGTERM arrives after preStop; the gateway then drains for up to `drain` before the kill.
    assert pod["terminationGracePeriodSeconds"] >= pre_stop + drain + 5
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    ready_window = c["readinessProbe"]["periodSeconds"] * c["readinessProbe"]["failureThreshold"]
    live_window = c["livenessProbe"]["periodSeconds"] * c["livenessProbe"]["failureThreshold"]
    assert ready_window < live_window, "a draining pod must turn unready before it could be restarted"
    assert ready_window <= drain, "readiness notices draining well within the drain period"
    port = c["ports"][0]["containerPort"]
    assert cfg.server.port == port and f"{port}" in c["args"]
    # /metrics on its own port: the container declares it, Prometheus is told it, only the
    # observability namespace may reach it
    metrics = cfg.server.metrics.port
    assert metrics and {"name": "metrics", "containerPort": metrics, "protocol": "TCP"} in c["ports"]
    dep = one(docs, "Deployment")
    assert dep["spec"]["template"]["metadata"]["annotations"]["prometheus.io/port"] == str(metrics)
    rules = one(docs, "NetworkPolicy")["spec"]["ingress"]
    (metrics_rule,) = [r for r in rules if any(p["port"] == metrics for p in r["ports"])]
    assert [f["namespaceSelector"]["matchLabels"] for f in metrics_rule["from"]] == [
        {"kubernetes.io/metadata.name": "observability"}]


def test_resources_security_and_selectors(rendered) -> None:
    _, docs = rendered
    dep = one(docs, "Deployment")
    pod = dep["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert {"cpu", "memory"} <= set(c["resources"]["requests"]) and "memory" in c["resources"]["limits"]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] != 0
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    pod_labels = dep["spec"]["template"]["metadata"]["labels"]
    for kind, path in (("Service", ("spec", "selector")), ("PodDisruptionBudget", ("spec", "selector", "matchLabels")),
                       ("NetworkPolicy", ("spec", "podSelector", "matchLabels"))):
        sel = one(docs, kind)
        for key in path:
            sel = sel[key]
        assert sel.items() <= pod_labels.items(), f"{kind} selector does not match the pods"
    hpa = one(docs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] >= 2
    cm_name = one(docs, "ConfigMap")["metadata"]["name"]
    assert [v["configMap"]["name"] for v in pod["volumes"] if "configMap" in v] == [cm_name]


def test_overlay_pins_image_and_scales_up(rendered) -> None:
    which, docs = rendered
    image = _container(docs)["image"]
    assert re.search(r":\d+\.\d+\.\d+(@sha256:[0-9a-f]{64})?$", image), image
    assert image.startswith("ghcr.io/example/sluicegate:")
    if which == "overlays/production" and HAVE_KUBECTL:  # patches are applied only by kustomize
        assert one(docs, "Deployment")["metadata"]["namespace"] == "sluicegate"
        assert one(docs, "Deployment")["spec"]["replicas"] == 3
        assert one(docs, "HorizontalPodAutoscaler")["spec"]["minReplicas"] == 3


def test_fallback_renderer_without_kubectl_validates_the_files_alone() -> None:
    docs = render_by_hand(K8S / "overlays" / "production")
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    assert one(docs, "ConfigMap")["metadata"]["name"] == "sluicegate-config"
    assert one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]["image"] == \
        "ghcr.io/example/sluicegate:0.1.0"


def test_migration_job_shares_the_config_and_references_its_secret() -> None:
    from .conftest import render

    docs = render(K8S / "migrate")
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    job = one(docs, "Job")
    pod = job["spec"]["template"]["spec"]
    c = pod["containers"][0]
    assert c["args"][:2] == ["spend", "migrate"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert all("valueFrom" in e for e in c["env"] if SECRETISH.search(e["name"]))
    base_cm = one(render(K8S / "base"), "ConfigMap")["metadata"]["name"]
    assert [v["configMap"]["name"] for v in pod["volumes"]] == [one(docs, "ConfigMap")["metadata"]["name"]] == \
        [base_cm]  # the same content hash: the Job migrates with the config the pods will run
    assert c["image"] == _container(render(K8S / "base"))["image"]

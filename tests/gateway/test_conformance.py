"""Schemathesis: no input a client can send yields a 5xx; responses conform to our OpenAPI document
and to OpenAI's official one (subset in datasets/openai-openapi), streamed chunks included,
even when the upstream omits fields OpenAI's schema requires."""

from __future__ import annotations

import jsonschema
import orjson
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

from guardrails.datasets import dataset_path
from tests.gateway_fixtures import live_gateway, mock_config

OPENAI_SPEC = dataset_path("openai-openapi", "openai-chat-subset.yaml")

SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def live_base(_mock_session):
    _mock_session.reset()  # no fault left behind by an earlier test
    with live_gateway(mock_config(_mock_session)) as base:
        yield base.removesuffix("/v1")


@pytest.fixture(scope="module")
def own_schema(live_base):
    return schemathesis.openapi.from_url(f"{live_base}/openapi.json")


def _operations(schema):
    return [r.ok() for r in schema.get_all_operations()]


def _fuzz(schema, mode: GenerationMode, check, methods=("GET", "POST")) -> list[str]:
    """Runs hypothesis over every operation; returns the labels exercised."""
    labels = []
    for op in _operations(schema):
        if op.method.upper() not in methods:
            continue
        labels.append(op.label)

        @given(op.as_strategy(generation_mode=mode))
        @SETTINGS
        def run(case) -> None:
            check(op, case)  # noqa: B023 - run() is called right below, inside this iteration

        try:
            run()
        except Unsatisfiable:
            # some bodies cannot be made schema-invalid (e.g. an object of all-optional free-form fields)
            if mode is not GenerationMode.NEGATIVE:
                raise
            labels.remove(op.label)
    return labels


def test_own_openapi_no_server_errors_and_conforming_responses(own_schema, live_base) -> None:
    def check(op, case) -> None:
        if case.path == "/v1/chat/completions" and isinstance(case.body, dict) and case.body.get("model"):
            case.body["model"] = "mock-chat"  # most generated names are unknown (404): also make real calls
        response = case.call(base_url=live_base)
        assert response.status_code < 500, (op.label, case.body, response.text)
        if "text/event-stream" in response.headers.get("content-type", [""])[0]:
            return  # streams are checked against OpenAI's chunk schema below
        if case.path.startswith("/v1/"):
            # the OpenAI-compatible routes are documented exactly: a schema-valid request is accepted
            assert response.status_code != 400 or "upstream" in response.text, (case.body, response.text)
            case.validate_response(response)
        else:
            # admin APIs document their parameters loosely (e.g. `by=team,day`): a 400 there is fine
            case.validate_response(response, excluded_checks=[positive_data_acceptance])

    labels = _fuzz(own_schema, GenerationMode.POSITIVE, check)
    # negative cases (schema-violating bodies): only operations that take a body can be made invalid
    labels += _fuzz(own_schema, GenerationMode.NEGATIVE, lambda op, case: _no_5xx(op, case, live_base), ("POST",))
    assert labels.count("POST /v1/chat/completions") == 2 and labels.count("POST /v1/embeddings") == 2


def _no_5xx(op, case, base) -> None:
    response = case.call(base_url=base)
    assert response.status_code < 500, (op.label, case.body, response.text)
    if response.status_code >= 400:
        assert "error" in response.json(), response.text  # OpenAI-shaped, never a traceback


def _openai_components() -> dict:
    return yaml.safe_load(OPENAI_SPEC.read_text())


def _nullable_to_jsonschema(node):
    """The spec uses OpenAPI 3.0's `nullable: true`, which plain JSON Schema ignores: translate it."""
    if isinstance(node, list):
        return [_nullable_to_jsonschema(n) for n in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable_to_jsonschema(v) for k, v in node.items()}
    if node.pop("nullable", False):
        if "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        if "type" in node:
            t = node["type"]
            node["type"] = [*t, "null"] if isinstance(t, list) else [t, "null"]
        elif "$ref" in node or "allOf" in node or "anyOf" in node or "oneOf" in node:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


def _validator(spec: dict, name: str) -> jsonschema.Draft202012Validator:
    schema = {"$ref": f"#/components/schemas/{name}", "components": _nullable_to_jsonschema(spec["components"])}
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture(scope="module")
def openai_schema(live_base):
    spec = _openai_components()
    spec["servers"] = [{"url": f"{live_base}/v1"}]
    return schemathesis.openapi.from_dict(spec)


def test_openai_spec_positive_cases_conform(openai_schema, live_base) -> None:
    def check(op, case) -> None:
        if isinstance(case.body, dict) and "model" in case.body:
            case.body["model"] = "mock-embed" if case.path == "/embeddings" else "mock-chat"
            case.body.pop("stream", None)  # SSE is checked chunk by chunk in the next test
        response = case.call(base_url=f"{live_base}/v1")
        assert response.status_code < 500, (op.label, response.text)
        if response.status_code == 200:
            # the embedded default runs without keys, so OpenAI's bearer requirement is not enforced here
            case.validate_response(response, excluded_checks=[ignored_auth])

    labels = _fuzz(openai_schema, GenerationMode.POSITIVE, check)
    assert len(labels) == 3


@pytest.mark.parametrize("fault", [None, "omit-fields"])
def test_streamed_chunks_and_bodies_match_openai_schemas(mock, fault) -> None:
    import httpx

    spec = _openai_components()
    chunk_v = _validator(spec, "CreateChatCompletionStreamResponse")
    body_v = _validator(spec, "CreateChatCompletionResponse")
    mock.set_fault(fault)
    with live_gateway(mock_config(mock)) as base, httpx.Client(timeout=10) as client:
        req = {"model": "mock-chat", "messages": [{"role": "user", "content": "hi"}]}
        body = client.post(f"{base}/chat/completions", json=req).json()
        errors = [e.message for e in body_v.iter_errors(body)]
        assert not errors, errors
        r = client.post(f"{base}/chat/completions", json={**req, "stream": True, "stream_options": {"include_usage": True}})
        frames = [f[6:] for f in r.text.split("\n\n") if f.startswith("data: ") and f != "data: [DONE]"]
        assert frames
        for f in frames:
            errors = [e.message for e in chunk_v.iter_errors(orjson.loads(f))]
            assert not errors, (f, errors)

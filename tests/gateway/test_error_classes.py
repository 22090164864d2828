"""An error's HTTP status and OpenAI type come from its class (gateway/errors.py), never from
assigning `status` / `type` on an instance after it was made."""

from __future__ import annotations

import ast
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from gateway.config import Deployment
from gateway.errors import MethodNotAllowed, SluiceError, UpstreamError, UpstreamRejected
from gateway.providers.openai_compat import upstream_error
from tests.gateway_fixtures import gateway_client, mock_config

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
FIELDS = {"status", "type"}


def _error_class_names() -> set[str]:
    names, todo = set(), [SluiceError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    return names | {"Exception", "BaseException"}


def _targets(node: ast.AST) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        roots: list[ast.expr] = list(node.targets)
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        roots = [node.target]
    else:
        return []
    out: list[ast.expr] = []
    while roots:
        t = roots.pop()
        if isinstance(t, (ast.Tuple, ast.List)):
            roots.extend(t.elts)
        elif isinstance(t, ast.Starred):
            roots.append(t.value)
        else:
            out.append(t)
    return out


def mutations(source: str) -> list[tuple[int, str]]:
    """(line, text) of assignments to `<obj>.status` / `<obj>.type`, except `self.x = ...` in the
    methods of a class that is not an exception (e.g. a reply record with a `status` field)."""
    tree = ast.parse(source)
    errors = _error_class_names()
    ok_self: set[int] = set()  # line numbers of self-assignments inside non-exception classes
    for cls in ast.walk(tree):
        if isinstance(cls, ast.ClassDef):
            bases = {b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else ""
                     for b in cls.bases}
            if not (bases & errors or cls.name in errors or cls.name.endswith(("Error", "Exception"))):
                ok_self.update(n.lineno for n in ast.walk(cls) if hasattr(n, "lineno"))
    found = []
    for node in ast.walk(tree):
        bad = [t for t in _targets(node) if isinstance(t, ast.Attribute) and t.attr in FIELDS
               and not (isinstance(t.value, ast.Name) and t.value.id == "self" and node.lineno in ok_self)]
        if bad:
            found.append((node.lineno, ast.unparse(node)))
    return sorted(found)


def test_the_scanner_finds_the_patterns_it_forbids() -> None:
    src = ("def f(err):\n    err.status, err.type = 400, 'invalid_request_error'\n    err.status = 405\n"
           "    e.x.type += 'y'\n"
           "class Reply:\n    def __init__(self):\n        self.status = 200\n"
           "class MyError(Exception):\n    def __init__(self):\n        self.status = 500\n")
    assert [line for line, _ in mutations(src)] == [2, 3, 4, 10]


def test_no_code_in_gateway_assigns_an_errors_status_or_type() -> None:
    found = [f"{p.relative_to(GATEWAY.parent)}:{line}: {text}"
             for p in sorted(GATEWAY.rglob("*.py")) for line, text in mutations(p.read_text(encoding="utf-8"))]
    assert not found, "raise the error class that has the right status/type instead:\n" + "\n".join(found)


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_upstream_client_errors_are_400_invalid_request(status: int) -> None:
    raw = b'{"error": {"message": "unknown parameter: temprature"}}'
    err = upstream_error(status, raw, {}, "d1")
    assert isinstance(err, UpstreamRejected) and isinstance(err, UpstreamError)
    assert (err.status, err.type, err.code) == (400, "invalid_request_error", "upstream_rejected_request")
    assert err.upstream_status == status and err.retryable is False
    assert "temprature" in err.body()["error"]["message"]
    # the class's defaults are untouched: a plain upstream error is still a 502
    assert (UpstreamError("x").status, UpstreamError("x").type) == (502, "upstream_error")


def test_upstream_server_and_auth_errors_stay_502() -> None:
    assert upstream_error(503, b"", {}, "d1").status == 502
    auth = upstream_error(401, b"", {}, "d1")
    assert (auth.status, auth.code, auth.retryable) == (502, "upstream_auth_failed", True)


def test_litellm_client_errors_are_400_invalid_request() -> None:
    from gateway.providers.litellm_adapter import LiteLLMProvider

    p = LiteLLMProvider(Deployment(provider="anthropic", model="claude-x"))
    p._litellm = SimpleNamespace(Timeout=type("Timeout", (Exception,), {}),
                                 APIConnectionError=type("APIConnectionError", (Exception,), {}))
    exc: Any = Exception("bad request")
    exc.status_code, exc.message = 400, "messages: field required"
    err = p._map(exc)
    assert isinstance(err, UpstreamRejected)
    assert (err.status, err.type, err.upstream_status, err.retryable) == (400, "invalid_request_error", 400, False)
    exc.status_code = 500
    assert p._map(exc).status == 502


def test_method_not_allowed_is_its_own_class() -> None:
    err = MethodNotAllowed("/v1/embeddings accepts POST only")
    assert (err.status, err.type, err.code) == (405, "invalid_request_error", "method_not_allowed")


async def test_an_upstream_4xx_answers_400_invalid_request_error(mock) -> None:
    # the mock upstream rejects an unknown fault name with an HTTP 400
    models = [{"name": "g", "deployments": [{"provider": "openai", "model": "gpt-4o-mini", "api_base": mock.base_url,
                                             "headers": {"x-mock-fault": "no-such-fault"}}]}]
    async with gateway_client(mock_config(mock, models=models)) as (_, client):
        r = await client.post("/v1/chat/completions", json={"model": "g", "messages": [{"role": "user",
                                                                                        "content": "hi"}]})
    assert r.status_code == 400
    err = r.json()["error"]
    assert (err["type"], err["code"]) == ("invalid_request_error", "upstream_rejected_request")


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/embeddings"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_a_wrong_method_on_the_fast_routes_is_405(mock, path: str, method: str) -> None:
    async with gateway_client(mock_config(mock)) as (_, client):
        r = await client.request(method, path)
    assert r.status_code == 405
    err = r.json()["error"]
    assert (err["type"], err["code"]) == ("invalid_request_error", "method_not_allowed")
    assert path in err["message"] and "POST" in err["message"]

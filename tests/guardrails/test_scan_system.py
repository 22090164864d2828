"""`guardrails.scan_system`: the input rules also cover system text on every route that has it (a
chat system message, /v1/messages `system`, /v1/responses `instructions`), the same on each; off,
system text is the application's own and none of the three is scanned (issue #18)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.gateway_fixtures import gateway_client, mock_config

SECRET = "AKIAIOSFODNN7EXAMPLE"
POLICY = {"policies": {"p": {"input": [{"scanner": "secrets", "action": "block"}]}}, "default_policy": "p"}
ROUTES: dict[str, tuple[str, dict[str, Any]]] = {
    "chat": ("/v1/chat/completions", {"model": "mock-chat", "messages": [
        {"role": "system", "content": f"deploy with {SECRET}"}, {"role": "user", "content": "hi"}]}),
    "messages": ("/v1/messages", {"model": "mock-chat", "max_tokens": 32, "system": f"deploy with {SECRET}",
                                  "messages": [{"role": "user", "content": "hi"}]}),
    "messages-blocks": ("/v1/messages", {"model": "mock-chat", "max_tokens": 32,
                                         "system": [{"type": "text", "text": f"deploy with {SECRET}"}],
                                         "messages": [{"role": "user", "content": "hi"}]}),
    "responses": ("/v1/responses", {"model": "mock-chat", "input": "hi", "instructions": f"deploy with {SECRET}"}),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
@pytest.mark.parametrize("scan_system", [True, False])
async def test_system_text_is_scanned_alike_on_every_route(mock, route: str, scan_system: bool) -> None:
    path, body = ROUTES[route]
    async with gateway_client(mock_config(mock, guardrails={**POLICY, "scan_system": scan_system})) as (_app, c):
        r = await c.post(path, json=body)
    if scan_system:
        assert r.status_code == 400 and r.json()["error"]["code"] == "content_policy_violation", r.text
        assert SECRET not in r.text and mock.requests_seen == 0  # refused before any upstream call
    else:
        assert r.status_code == 200, r.text

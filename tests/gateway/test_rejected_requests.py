"""An upstream's 400 is the client's mistake: it is answered as a 400 and does not count toward
the deployment's cooldown, or one client's bad requests would take the model away from everyone."""

from __future__ import annotations

from tests.gateway_fixtures import gateway_client, mock_config


async def test_upstream_rejections_do_not_cool_a_deployment_down(mock, monkeypatch) -> None:
    monkeypatch.setenv("SLUICE_TEST_ANTHROPIC_KEY", "sk-ant-test")
    cfg = mock_config(mock, models=[{"name": "claude", "deployments": [
        {"provider": "anthropic", "model": "claude-sonnet-4-5", "api_base": mock.anthropic_base_url,
         "api_key_env": "SLUICE_TEST_ANTHROPIC_KEY", "timeout_s": 5}]}],
        router={"cooldown": {"failures": 2, "window_s": 60, "cooldown_s": 60}})
    bad = {"model": "claude", "max_tokens": 2000, "thinking": {"type": "enabled", "budget_tokens": 5},
           "messages": [{"role": "user", "content": "hi"}]}  # Anthropic refuses a budget under 1024
    async with gateway_client(cfg) as (_app, client):
        for _ in range(4):
            r = await client.post("/v1/messages", json=bad)
            assert r.status_code == 400 and r.json()["error"]["code"] == "upstream_rejected_request", r.text
        ok = await client.post("/v1/messages", json={**bad, "thinking": {"type": "enabled", "budget_tokens": 1024}})
    assert ok.status_code == 200, ok.text

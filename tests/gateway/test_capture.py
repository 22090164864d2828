"""Traffic capture (issue 22): a sampled, redacted copy of exchanges as evals datasets, per-team
opt-out, retention, `sluice datasets`, and `sluice eval run --dataset captured:NAME`."""

from __future__ import annotations

import asyncio

import orjson
import pytest
import yaml
from typer.testing import CliRunner

from evals import RunOptions, run_suite_file
from evals.cli import app as eval_app
from evals.cli import with_dataset
from gateway.capture import store
from gateway.capture.hook import sampled
from gateway.cli.datasets import app as datasets_app
from tests.evals.fake_openai import FakeOpenAI, last_user
from tests.gateway_fixtures import gateway_client, mock_config

runner = CliRunner()
SECRET = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"


def test_sampling_is_by_request_id_and_near_the_rate():
    ids = [f"req-{i}" for i in range(20000)]
    share = sum(sampled(i, 0.1) for i in ids) / len(ids)
    assert abs(share - 0.1) < 0.01
    assert [sampled(i, 0.1) for i in ids[:200]] == [sampled(i, 0.1) for i in ids[:200]]
    assert all(sampled(i, 1.0) for i in ids[:50]) and not any(sampled(i, 0.0) for i in ids[:50])


async def test_captured_exchanges_are_redacted_and_opt_out_teams_skipped(mock, tmp_path):
    root = tmp_path / "captured"
    config = mock_config(mock, capture={"enabled": True, "sample_rate": 1.0, "dir": str(root)})
    async with gateway_client(config) as (app, client):
        for text in ("Mail me at jane.doe@example.com about refunds", f"my token is {SECRET} ok?"):
            r = await client.post("/v1/chat/completions", json={"model": "mock-chat",
                                                                 "messages": [{"role": "user", "content": text}]})
            assert r.status_code == 200
        bad = await client.post("/v1/chat/completions", json={"model": "nope", "messages": []})
        assert bad.status_code >= 400
        hook = next(h for h in app.gateway.generation.pipeline.hooks if h.name == "capture")
        assert hook.flush()
    cases = store.read(root, "model-mock-chat")
    assert len(cases) == 2  # the failed request is not captured
    raw = (root / "model-mock-chat.jsonl").read_text()
    assert "jane.doe@example.com" not in raw and SECRET not in raw
    assert "refunds" in cases[0]["input"] and cases[0]["metadata"]["output"]
    assert cases[0]["metadata"]["model"] == "mock-chat" and cases[0]["metadata"]["source"] == "capture"

    # the CLI lists, shows and exports it; an unknown name is exit 2
    cfg = tmp_path / "sluice.yaml"
    cfg.write_text(yaml.safe_dump({"capture": {"dir": str(root)}}))
    res = runner.invoke(datasets_app, ["list", "--config", str(cfg)])
    assert res.exit_code == 0 and "model-mock-chat\t2 cases" in res.output, res.output
    res = runner.invoke(datasets_app, ["show", "model-mock-chat", "--config", str(cfg)])
    assert res.exit_code == 0 and "refunds" in res.output and SECRET not in res.output
    out = tmp_path / "suite" / "regress.jsonl"
    res = runner.invoke(datasets_app, ["export", "model-mock-chat", "--out", str(out), "--case", cases[0]["id"],
                                       "--config", str(cfg)])
    assert res.exit_code == 0 and len(out.read_text().splitlines()) == 1
    assert runner.invoke(datasets_app, ["show", "nope", "--config", str(cfg)]).exit_code == 2
    assert runner.invoke(datasets_app, ["show", "../etc", "--config", str(cfg)]).exit_code == 2


async def test_an_excluded_team_is_never_captured(mock, tmp_path, monkeypatch):
    from tests.spend.helpers import make_config

    monkeypatch.setenv("SLUICE_MASTER_KEY", "sk-master")
    root = tmp_path / "captured"
    models = [{"name": "mock-chat", "deployments": [{"provider": "openai", "model": "gpt-4o-mini",
                                                     "api_base": mock.base_url}]}]
    config = make_config(tmp_path, models=models, auth={"enabled": True},
                         capture={"enabled": True, "sample_rate": 1.0, "dir": str(root)})
    admin = {"authorization": "Bearer sk-master"}
    async with gateway_client(config) as (app, client):
        teams = {}
        for name in ("private", "open"):
            team = (await client.post("/sluice/v1/teams", json={"name": name}, headers=admin)).json()
            key = (await client.post("/sluice/v1/keys", json={"team": name, "name": name}, headers=admin)).json()
            teams[name] = (team["id"], key["key"])
        hook = next(h for h in app.gateway.generation.pipeline.hooks if h.name == "capture")
        # team ids are made by the API above, so the opt-out is set on the built hook as the config would
        hook._excluded = frozenset([teams["private"][0]])
        for name, (_tid, key) in teams.items():
            r = await client.post("/v1/chat/completions", json={"model": "mock-chat", "messages": [
                {"role": "user", "content": f"hello from {name}"}]}, headers={"authorization": f"Bearer {key}"})
            assert r.status_code == 200, r.text
        assert hook.flush()
    cases = store.read(root, "model-mock-chat")
    assert [c["input"] for c in cases] == ["hello from open"]
    assert cases[0]["metadata"]["team_id"] == teams["open"][0]


def test_retention_and_cap_prune_the_oldest(tmp_path):
    now = 1_800_000_000.0
    store.append(tmp_path, "d", [{"id": f"c{i}", "input": "x", "metadata": {"captured_ts": now - i * 86400}}
                                 for i in range(10, 0, -1)])
    assert store.prune(tmp_path, now, retention_days=5.5, max_cases=3) == 7
    assert [c["id"] for c in store.read(tmp_path, "d")] == ["c3", "c2", "c1"]


def test_eval_run_over_a_captured_dataset(tmp_path, monkeypatch):
    root = tmp_path / "captured"
    store.append(root, "model-m", [{"id": "r1", "input": "refund please", "vars": {}, "metadata": {"output": "x"}},
                                   {"id": "r2", "input": "cancel order", "vars": {}, "metadata": {"output": "y"}}])
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "cap", "target": {"model": "m"}, "dataset": [{"id": "a", "input": "q"}],
                                     "assert": [{"type": "contains", "value": "REFUND"}],
                                     "thresholds": {"pass_rate": 0.0}}))
    monkeypatch.setenv("SLUICE_CAPTURE_DIR", str(root))
    s = with_dataset(suite, "captured:model-m", False)
    assert [c.id for c in s.cases] == ["r1", "r2"]
    fake = FakeOpenAI(lambda b: last_user(b).upper())
    result = asyncio.run(run_suite_file(s, RunOptions(base_url="http://f/v1", transport=fake.transport, mode="live")))
    passed = {t.case_id: t.passed for t in result.trials}
    assert passed == {"r1": True, "r2": False}
    res = runner.invoke(eval_app, ["run", str(suite), "--replay", "--dataset", "captured:model-m", "--attest"])
    assert res.exit_code == 2 and "--attest" in res.output
    res = runner.invoke(eval_app, ["run", str(suite), "--replay", "--dataset", "captured:missing"])
    assert res.exit_code == 2 and "no captured dataset" in res.output
    with pytest.raises(Exception, match="dataset name"):
        with_dataset(suite, "captured:../x", False)
    assert orjson.loads((root / "model-m.jsonl").read_bytes().splitlines()[0])["id"] == "r1"

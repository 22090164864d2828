"""Coding-agent CLIs against a live gateway over the mock upstream (issue #19): Claude Code and Codex.

Each CLI runs non-interactively (`claude -p`, `codex exec`) from the locked npm packages
(tests/clients/node), with HOME and its config folder in the test's tmp dir, no inherited keys, and
HTTP(S)_PROXY pointed at a loopback trap (tests/clients/node/capture.py) with NO_PROXY for loopback:
anything it tries to reach besides the gateway is refused there and fails the test. A recording
proxy sits between the CLI and the gateway, so the test asserts on what the CLI actually sent, and
the gateway's spend ledger must show a row per model call, under the virtual key the CLI used.

What each CLI version sends (recorded here against the mock, 2026-12-02):

Claude Code 2.1.332 (`claude -p PROMPT --model M --output-format json --tools ""`,
ANTHROPIC_BASE_URL=<gateway root, no /v1>, ANTHROPIC_API_KEY=<virtual key>):
- only `POST /v1/messages?beta=true` (note the query string), one per model turn, always
  `stream: true`; no `/v1/messages/count_tokens`, no `/v1/models`, no haiku side call in -p mode
  (with CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 nothing else is sent, and the trap sees nothing).
- headers: `x-api-key: <key>` (with ANTHROPIC_AUTH_TOKEN instead: `authorization: Bearer <key>`),
  `anthropic-version: 2023-06-01`, `anthropic-dangerous-direct-browser-access: true`, `x-app: cli`,
  `user-agent: claude-cli/2.1.332 (external, sdk-cli)`, `x-claude-code-session-id`, the Stainless
  `x-stainless-*` set (package 0.128.0, runtime node), `accept-encoding: gzip, deflate, br, zstd`, and
  `anthropic-beta`, which depends on the model name:
  - a known model (`claude-sonnet-4-5`): `claude-code-20250219,interleaved-thinking-2025-05-14,
    context-management-2025-06-27,thinking-token-count-2026-05-13`, plus
    `advanced-tool-use-2025-11-20` when it sends tools;
  - a name it does not know (e.g. `sluice-claude`; it logs `[claude-code:unrecognized_model]`):
    `claude-code-20250219,interleaved-thinking-2025-05-14,context-management-2025-06-27,
    mid-conversation-tool-changes-2026-07-01,thinking-token-count-2026-05-13,effort-2025-11-24`.
- body: `model` as given by --model, `max_tokens: 32000`, `system` (3 text blocks, the first
  `x-anthropic-billing-header: cc_version=...`, the second with `cache_control: ephemeral`),
  `messages` (system-reminder text blocks, then the prompt), `tools` (12 by default, [] with
  `--tools ""`), `metadata.user_id` (a JSON string), `context_management: {"edits":
  [{"type": "clear_thinking_20251015", "keep": "all"}]}`, and `thinking`: for a known Sonnet
  `{"type": "enabled", "budget_tokens": 31999, "display": "omitted"}`; for an unknown name
  `{"type": "adaptive", "display": "omitted"}` plus `output_config` (effort).
  So the gateway's model groups here are named as Claude Code asks: `claude-sonnet-4-5`.

Codex CLI 0.171.0 (`codex exec --json --skip-git-repo-check --ephemeral -s read-only PROMPT`,
CODEX_HOME/config.toml with a custom `[model_providers.sluice]`, `base_url = <gateway>/v1`,
`wire_api = "responses"`, `env_key` naming the variable that holds the virtual key):
- only `POST /v1/responses`, one per model turn, `stream: true`, `accept: text/event-stream`,
  `authorization: Bearer <key>`, `originator: codex_exec`, `user-agent: codex_exec/0.171.0 (...)`,
  `x-codex-beta-features: remote_compaction_v2`, `x-codex-turn-metadata` (JSON), `x-codex-window-id`,
  `x-client-request-id`, `session-id`, `thread-id`, `accept-encoding: zstd,gzip`.
- body: `model` (config `model`; `gpt-5.5` is in its built-in catalog, other names get "fallback
  model metadata" warnings), `instructions`, `input` (4 items: developer message, user context,
  the prompt), `tools` (10: function tools `exec_command`, `write_stdin`, `request_user_input`,
  `apply_patch` (custom/freeform), `view_image`, `get_goal`, `create_goal`, `update_goal`,
  `tool_search`, and the hosted `{"type": "web_search"}`), `tool_choice: "auto"`,
  `parallel_tool_calls: true`, `reasoning: {"effort": "medium"}`, `store: false`,
  `include: ["reasoning.encrypted_content"]`, `prompt_cache_key`, `text: {"verbosity": "low"}`, and
  `client_metadata` (ids as strings). No `/v1/models` call. After a function call, the next
  request's `input` ends with the `reasoning` item (`encrypted_content`), the `function_call` and
  its `function_call_output` (store is false: no `previous_response_id`).
  With `web_search = "disabled"` (as here: a chat upstream cannot run OpenAI-hosted tools) the
  hosted tool is gone and 9 tools remain, `tool_search` among them. With a model name outside its
  catalog it sends `reasoning: {"summary": "auto"}`, no `text`, and a `{"type": "namespace",
  "name": "multi_agent_v1"}` tool instead of `apply_patch`/`tool_search`.
- off the gateway, by default: CONNECT github.com, api.github.com, chatgpt.com (curated plugin
  sync) and ab.chatgpt.com (analytics). `[analytics] enabled = false` and `[features] plugins =
  false` stop all four (checked with `--strict-config`), so the trap sees nothing.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from gateway.app import SluiceApp
from gateway.config import parse_config
from gateway.mock_upstream import MockUpstream
from gateway.spend.schema import ledger
from tests.clients.node.capture import Recorder, Trap
from tests.clients.node.tools import CLAUDE, CODEX, CODEX_PATH_DIR, base_env, live_gateway_app, require

pytestmark = pytest.mark.slow

MASTER = "master-key-for-cli-tests"
CLAUDE_MODEL = "claude-sonnet-4-5"  # served by an Anthropic-format upstream
CLAUDE_OPENAI_MODEL = "claude-haiku-4-5"  # served by an OpenAI-format upstream
CODEX_MODEL = "gpt-5.5"
PROMPT = "Say hello in one word."

# Gateway bugs these CLIs hit, fixed and tested here: a `role: system` turn inside `messages` (Claude
# Code, for a model name it does not know) and Codex's `tool_search` tool were refused with a 400.


class Gateway:
    def __init__(self, app: SluiceApp, root: str, key: dict[str, Any], tmp: Path) -> None:
        self.app, self.root, self.tmp = app, root, tmp
        self.key, self.key_id = key["key"], key["id"]

    def ledger(self, *, at_least: int = 1) -> list[dict[str, Any]]:
        """The ledger's rows, polled until `at_least` are there (the writer flushes every 50 ms)."""
        svc = self.app.gateway.services.spend
        deadline = time.monotonic() + 10
        while True:
            with svc.engine.connect() as c:
                rows = [dict(r._mapping) for r in c.execute(sa.select(ledger).order_by(ledger.c.id))]
            if len(rows) >= at_least or time.monotonic() > deadline:
                return rows
            time.sleep(0.05)


def _config(mock: MockUpstream, tmp: Path) -> Any:
    models = [
        # Claude Code's model name, served by an Anthropic-format upstream (the client's own request
        # is passed on) and, as a second group, by an OpenAI-format one (translated both ways).
        {"name": CLAUDE_MODEL, "deployments": [
            {"provider": "anthropic", "model": CLAUDE_MODEL, "api_base": mock.anthropic_base_url,
             "api_key_env": "SLUICE_TEST_ANTHROPIC_KEY", "timeout_s": 30}]},
        {"name": CLAUDE_OPENAI_MODEL, "deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "api_base": mock.base_url, "timeout_s": 30}]},
        # A name Claude Code does not know: it then sends other betas and a `system` turn in messages.
        {"name": "sluice-claude", "deployments": [
            {"provider": "openai", "model": "gpt-4o-mini", "api_base": mock.base_url, "timeout_s": 30}]},
        {"name": CODEX_MODEL, "deployments": [
            {"provider": "openai", "model": CODEX_MODEL, "api_base": mock.base_url, "timeout_s": 30}]},
    ]
    return parse_config({
        "models": models, "auth": {"enabled": True},
        "router": {"retry": {"max_retries": 0}},
        "spend": {"ledger": {"path": str(tmp / "spend.db"), "spool_dir": str(tmp / "spool"),
                             "flush_interval_s": 0.05}},
    })


@pytest.fixture(scope="module")
def gateway(_mock_session: MockUpstream, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("agent-clis")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("SLUICE_MASTER_KEY", MASTER)
        mp.setenv("SLUICE_KEY_SECRET", "hmac-secret-for-cli-tests")
        mp.setenv("SLUICE_TEST_ANTHROPIC_KEY", "upstream-anthropic-key")
        with live_gateway_app(_config(_mock_session, tmp)) as (app, base_url):
            root = base_url.removesuffix("/v1")
            r = httpx.post(root + "/sluice/v1/keys", json={"name": "agent-clis"},
                           headers={"authorization": f"Bearer {MASTER}"}, timeout=10)
            assert r.status_code == 201, r.text
            yield Gateway(app, root, r.json(), tmp)


@pytest.fixture
def gw(gateway: Gateway, mock: MockUpstream) -> Gateway:
    spend = gateway.app.gateway.services.spend
    # The last test's rows are in the spool by now; let the writer commit them before clearing.
    deadline = time.monotonic() + 10
    while spend.writer.pending_rows and time.monotonic() < deadline:
        time.sleep(0.02)
    with spend.engine.begin() as c:
        c.execute(sa.delete(ledger))
    return gateway


@pytest.fixture
def trap() -> Iterator[Trap]:
    with Trap() as t:
        yield t
    assert t.seen == [], f"the CLI tried to reach beyond loopback: {t.seen}"


@pytest.fixture
def rec(gw: Gateway) -> Iterator[Recorder]:
    with Recorder(gw.root) as r:
        yield r


def _report(p: subprocess.CompletedProcess[str], rec: Recorder) -> str:
    seen = "\n".join(f"{e['method']} {e['path']} -> {e.get('status')}\n  {e.get('response', '')[:1500]}"
                     for e in rec.seen)
    return f"exit {p.returncode}\nstdout: {p.stdout[-4000:]}\nstderr: {p.stderr[-4000:]}\nsent:\n{seen}"


# --- Claude Code -------------------------------------------------------------------------------------

def run_claude(tmp: Path, rec: Recorder, trap: Trap, key: str, *args: str,
               auth: str = "ANTHROPIC_API_KEY") -> subprocess.CompletedProcess[str]:
    require(CLAUDE)
    work = tmp / "work"
    work.mkdir(exist_ok=True)
    env = {**base_env(tmp), **trap.proxy_env(),
           "ANTHROPIC_BASE_URL": rec.url, auth: key,
           "CLAUDE_CONFIG_DIR": str(tmp / "claude-config"),
           # Claude Code's documented switches for traffic other than the model calls.
           "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "DISABLE_AUTOUPDATER": "1",
           "DISABLE_TELEMETRY": "1", "DISABLE_ERROR_REPORTING": "1", "DISABLE_BUG_COMMAND": "1",
           "CLAUDE_CODE_DISABLE_TERMINAL_TITLE": "1"}
    cmd = [str(CLAUDE), "-p", PROMPT, "--output-format", "json", "--no-session-persistence",
           "--strict-mcp-config", "--setting-sources", "", *args]
    return subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)


def _claude_result(p: subprocess.CompletedProcess[str], rec: Recorder) -> dict[str, Any]:
    assert p.returncode == 0, _report(p, rec)
    out: dict[str, Any] = json.loads(p.stdout)
    assert out["type"] == "result" and out["subtype"] == "success" and not out["is_error"], _report(p, rec)
    return out


def _messages_calls(rec: Recorder) -> list[dict[str, Any]]:
    assert rec.seen, "Claude Code sent nothing"
    assert {e["path"].split("?")[0] for e in rec.seen} == {"/v1/messages"}, [e["path"] for e in rec.seen]
    return rec.seen


def test_claude_code_print_mode_through_the_gateway(tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap,
                                                   mock: MockUpstream) -> None:
    p = run_claude(tmp_path, rec, trap, gw.key, "--model", CLAUDE_MODEL, "--tools", "")
    out = _claude_result(p, rec)
    assert out["result"].startswith("mock reply"), out
    (call,) = _messages_calls(rec)
    h = call["headers"]
    assert h["x-api-key"] == gw.key and h["anthropic-version"] == "2023-06-01"
    assert "claude-code-20250219" in h["anthropic-beta"]
    assert call["body"]["model"] == CLAUDE_MODEL and call["body"]["stream"] is True and call["status"] == 200
    assert mock.state.paths["/v1/messages"] == 1
    assert mock.state.last_headers.get("x-api-key") == "upstream-anthropic-key"  # the deployment's key
    assert PROMPT in json.dumps(mock.state.last_body["messages"])
    (row,) = gw.ledger()
    assert row["key_id"] == gw.key_id and row["requested_model"] == CLAUDE_MODEL
    assert row["status_code"] == 200 and row["stream"] and row["completion_tokens"] > 0
    assert out["usage"]["output_tokens"] == row["completion_tokens"]


def test_claude_code_request_reaches_an_anthropic_upstream_as_sent(
        tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap, mock: MockUpstream) -> None:
    """An Anthropic-format deployment gets Claude Code's own request: its betas, thinking settings,
    context management and content blocks (anthropic_messages.py: the request rides in ctx.native)."""
    p = run_claude(tmp_path, rec, trap, gw.key, "--model", CLAUDE_MODEL, "--tools", "")
    _claude_result(p, rec)
    (call,) = _messages_calls(rec)
    sent, got = call["body"], mock.state.last_body
    assert mock.state.last_headers.get("anthropic-beta") == call["headers"]["anthropic-beta"]
    assert got["messages"] == sent["messages"] and got["thinking"] == sent["thinking"]
    assert got.get("context_management") == sent["context_management"]


def test_claude_code_with_a_bearer_token_on_an_openai_format_upstream(
        tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap, mock: MockUpstream) -> None:
    """ANTHROPIC_AUTH_TOKEN (Authorization: Bearer), and a model group whose upstream speaks
    OpenAI's chat format: the gateway translates the Messages request and the stream."""
    p = run_claude(tmp_path, rec, trap, gw.key, "--model", CLAUDE_OPENAI_MODEL, "--tools", "",
                   auth="ANTHROPIC_AUTH_TOKEN")
    out = _claude_result(p, rec)
    assert out["result"].startswith("mock reply"), out
    (call,) = _messages_calls(rec)
    assert call["headers"]["authorization"] == f"Bearer {gw.key}" and "x-api-key" not in call["headers"]
    assert mock.state.paths["/v1/chat/completions"] == 1 and mock.state.paths["/v1/messages"] == 0
    assert PROMPT in json.dumps(mock.state.last_body["messages"])  # the prompt reached the upstream
    (row,) = gw.ledger()
    assert row["key_id"] == gw.key_id and row["requested_model"] == CLAUDE_OPENAI_MODEL
    assert row["status_code"] == 200 and row["completion_tokens"] > 0


def test_claude_code_with_a_model_name_it_does_not_know(tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap,
                                                       mock: MockUpstream) -> None:
    """A gateway alias Claude Code has never heard of: it then sends a `role: system` turn inside
    `messages` (the environment reminder), `thinking: adaptive` and `output_config`."""
    p = run_claude(tmp_path, rec, trap, gw.key, "--model", "sluice-claude", "--tools", "")
    out = _claude_result(p, rec)
    assert out["result"].startswith("mock reply"), out
    (call,) = _messages_calls(rec)
    assert "system" in [m["role"] for m in call["body"]["messages"]]
    assert PROMPT in json.dumps(mock.state.last_body["messages"])
    (row,) = gw.ledger()
    assert row["key_id"] == gw.key_id and row["requested_model"] == "sluice-claude" and row["status_code"] == 200


def test_claude_code_tool_loop_through_the_gateway(tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap,
                                                  mock: MockUpstream) -> None:
    """With only the Read tool the mock calls it (the prompt names it); Claude Code runs it (the
    made-up path does not exist) and sends the tool_result back: two model calls, two ledger rows."""
    p = run_claude(tmp_path, rec, trap, gw.key, "--model", CLAUDE_MODEL, "--tools", "Read",
                   "--allowedTools", "Read")
    out = _claude_result(p, rec)
    calls = _messages_calls(rec)
    assert len(calls) == 2 and out["num_turns"] == 2, _report(p, rec)
    assert [t["name"] for t in calls[0]["body"]["tools"]] == ["Read"]
    last = calls[1]["body"]["messages"][-1]
    assert any(b.get("type") == "tool_result" for b in last["content"]), last
    rows = gw.ledger(at_least=2)
    assert len(rows) == 2 and all(r["key_id"] == gw.key_id and r["status_code"] == 200 for r in rows)


# --- Codex CLI ---------------------------------------------------------------------------------------

def run_codex(tmp: Path, rec: Recorder, trap: Trap, key: str, prompt: str = PROMPT
              ) -> subprocess.CompletedProcess[str]:
    require(CODEX)
    home, work = tmp / "codex-home", tmp / "work"
    home.mkdir(exist_ok=True)
    work.mkdir(exist_ok=True)
    (home / "config.toml").write_text(f"""\
model = "{CODEX_MODEL}"
model_provider = "sluice"
check_for_update_on_startup = false
# A chat upstream cannot run OpenAI's hosted web search (the gateway leaves it out and names it in
# `x-sluice-tools-dropped`): a Codex pointed at such a gateway turns it off.
web_search = "disabled"

[analytics]
enabled = false

[features]
plugins = false

[model_providers.sluice]
name = "sluicegate"
base_url = "{rec.url}/v1"
env_key = "SLUICE_API_KEY"
wire_api = "responses"
""")
    env = {**base_env(tmp), **trap.proxy_env(), "CODEX_HOME": str(home), "SLUICE_API_KEY": key,
           "RUST_LOG": "error"}
    env["PATH"] = f"{CODEX_PATH_DIR}:{env['PATH']}"  # the rg the npm launcher would add
    cmd = [str(CODEX), "exec", "--strict-config", "--json", "--skip-git-repo-check", "--ephemeral",
           "-s", "read-only", "-C", str(work), prompt]
    return subprocess.run(cmd, env=env, cwd=work, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL, check=False)


def _codex_events(p: subprocess.CompletedProcess[str], rec: Recorder) -> list[dict[str, Any]]:
    assert p.returncode == 0, _report(p, rec)
    events = [json.loads(ln) for ln in p.stdout.splitlines() if ln.startswith("{")]
    errors = [e for e in events if e.get("type") in ("error", "turn.failed")
              or (e.get("item") or {}).get("type") == "error"]
    assert not errors, _report(p, rec)
    return events


def test_codex_exec_through_the_gateway(tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap,
                                        mock: MockUpstream) -> None:
    p = run_codex(tmp_path, rec, trap, gw.key)
    events = _codex_events(p, rec)
    messages = [e["item"]["text"] for e in events
                if e.get("type") == "item.completed" and e["item"]["type"] == "agent_message"]
    assert messages and messages[-1].startswith("mock reply"), _report(p, rec)
    (done,) = [e for e in events if e.get("type") == "turn.completed"]
    assert {e["path"] for e in rec.seen} == {"/v1/responses"}, [e["path"] for e in rec.seen]
    (call,) = rec.seen
    assert call["headers"]["authorization"] == f"Bearer {gw.key}" and call["status"] == 200
    assert call["body"]["model"] == CODEX_MODEL and call["body"]["stream"] is True
    assert mock.state.inference_seen == 1
    assert PROMPT in json.dumps(mock.state.last_body)
    (row,) = gw.ledger()
    assert row["key_id"] == gw.key_id and row["requested_model"] == CODEX_MODEL
    assert row["status_code"] == 200 and row["stream"]
    assert row["completion_tokens"] == done["usage"]["output_tokens"]


def test_codex_tool_loop_through_the_gateway(tmp_path: Path, gw: Gateway, rec: Recorder, trap: Trap,
                                             mock: MockUpstream) -> None:
    """The prompt names `get_goal` (a local, read-only tool), so the mock calls it; Codex runs it and
    sends the call and its output back: two model calls, two ledger rows."""
    p = run_codex(tmp_path, rec, trap, gw.key, prompt="Use get_goal to show the current goal.")
    events = _codex_events(p, rec)
    assert [e["path"] for e in rec.seen] == ["/v1/responses", "/v1/responses"], _report(p, rec)
    kinds = [i.get("type") for i in rec.seen[1]["body"]["input"]]
    assert kinds[-2:] == ["function_call", "function_call_output"], kinds
    assert all(e["status"] == 200 for e in rec.seen)
    assert any(e.get("type") == "turn.completed" for e in events)
    rows = gw.ledger(at_least=2)
    assert len(rows) == 2 and all(r["key_id"] == gw.key_id and r["status_code"] == 200 for r in rows)

"""Each policy bounds what one request may have scanned (issue 17): over `max_scan_chars` a 413
naming the limit, or a head-and-tail scan; scans run off the event loop with bounded concurrency."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from gateway.context import Principal, RequestContext
from gateway.errors import PayloadTooLarge
from gateway.integrations.guardrails import GuardrailsHook
from guardrails import Guard, GuardrailsConfig, ScanContext, ScanTooLarge, Vault
from guardrails.config import PolicyConfig, Rule
from guardrails.engine import Guardrails
from guardrails.scan_limit import Window, plan
from tests.gateway_fixtures import gateway_client, mock_config


def _policy(**kw: Any) -> PolicyConfig:
    return PolicyConfig(input=[Rule(scanner="pii", action="redact"), Rule(scanner="secrets", action="block")], **kw)


# -- the plan -------------------------------------------------------------------------------------
def test_plan_scans_everything_under_the_limit() -> None:
    assert plan([3, 4], _policy(max_scan_chars=7)) == [Window(3, 0, 3), Window(4, 0, 4)]


def test_plan_rejects_over_the_limit_by_default() -> None:
    with pytest.raises(ScanTooLarge) as e:
        plan([5, 5], _policy(max_scan_chars=9))
    assert (e.value.chars, e.value.limit) == (10, 9)


def test_plan_head_tail_spends_half_from_each_end() -> None:
    windows = plan([6, 100, 6], _policy(max_scan_chars=20, oversize="head_tail"))
    assert windows == [Window(6, 0, 6), Window(4, 4, 100), Window(0, 6, 6)]  # 10 from each end
    assert sum(w.chars for w in windows) == 20
    assert [w.whole for w in windows] == [True, False, True]


def test_default_limit_is_half_a_mebichar_and_merging_keeps_the_strictest() -> None:
    from guardrails.engine import merge_policies

    assert PolicyConfig().max_scan_chars == 512 * 1024 and PolicyConfig().oversize == "reject"
    merged = merge_policies([_policy(max_scan_chars=100, oversize="head_tail"), _policy(max_scan_chars=50)])
    assert (merged.max_scan_chars, merged.oversize) == (50, "reject")


# -- head and tail --------------------------------------------------------------------------------
def _guard(**kw: Any) -> Guard:
    cfg = GuardrailsConfig(policies={"p": _policy(**kw)})
    g = Guardrails(cfg).guard(("p",))
    assert g is not None
    return g


def test_head_tail_redacts_both_ends_and_passes_the_middle_unscanned() -> None:
    middle = " filler b@example.com filler " * 40
    text = "from a@example.com" + middle + "to c@example.com"
    w = Window(18, 16, len(text))
    v = _guard().check_window(text, w, ScanContext(direction="input"), Vault())
    assert v.text.startswith("from <EMAIL_1>") and v.text.endswith("to <EMAIL_2>")
    assert "b@example.com" in v.text  # the unscanned middle, recorded as a flag
    assert ("scan_limit", "flag", "head_tail") in {(o.scanner, o.action, o.rule) for o in v.outcomes}


def test_head_tail_still_blocks_a_secret_in_the_tail() -> None:
    text = "x" * 1000 + " key AKIAIOSFODNN7EXAMPLE"
    v = _guard().check_window(text, Window(10, 40, len(text)), ScanContext(direction="input"), Vault())
    assert v.blocked is not None and v.blocked.scanner == "secrets" and v.action == "block"


# -- the hook -------------------------------------------------------------------------------------
def _ctx(content: str) -> RequestContext:
    return RequestContext(request_id="r", route="chat.completions", headers={}, requested_model="m",
                          body={"model": "m", "messages": [{"role": "user", "content": content}]},
                          started_mono=time.monotonic(), started_wall=time.time(), principal=Principal(key_id="k"))


def _hook(**cfg: Any) -> GuardrailsHook:
    policy = cfg.pop("policy", {})
    return GuardrailsHook(GuardrailsConfig(policies={"p": _policy(**policy)}, default_policy="p", **cfg))


async def test_over_the_limit_is_a_413_naming_the_limit() -> None:
    with pytest.raises(PayloadTooLarge) as e:
        await _hook(policy={"max_scan_chars": 1000}).before(_ctx("a" * 1001))
    body = e.value.body()["error"]
    assert e.value.status == 413 and body["code"] == "guardrails_scan_limit"
    assert "1,000" in body["message"] and "max_scan_chars" in body["message"] and body["limit"] == 1000


async def test_head_tail_policy_serves_an_oversized_input_partly_scanned() -> None:
    ctx = _ctx("mail a@example.com " + "y" * 5000 + " or z@example.com")
    await _hook(policy={"max_scan_chars": 1000, "oversize": "head_tail"}).before(ctx)
    content = ctx.body["messages"][0]["content"]
    assert content.startswith("mail <EMAIL_1>") and content.endswith("or <EMAIL_2>")
    assert ("scan_limit", "flag") in {(o.scanner, o.action) for o in ctx.guardrails}


async def test_large_scans_run_in_worker_threads_small_ones_on_the_loop(monkeypatch) -> None:
    seen: list[str] = []
    real = Guard.check_window

    def spy(self, *a, **kw):  # type: ignore[no-untyped-def]
        seen.append(threading.current_thread().name)
        return real(self, *a, **kw)

    monkeypatch.setattr(Guard, "check_window", spy)
    hook = _hook(inline_scan_chars=100)
    await hook.before(_ctx("short"))
    await hook.before(_ctx("long " * 100))
    assert seen[0] == threading.current_thread().name  # 5 characters: not worth a thread hop
    assert seen[1] != threading.current_thread().name


async def test_scans_are_bounded_by_scan_threads_and_the_loop_stays_free(monkeypatch) -> None:
    active, peak = 0, 0
    lock = threading.Lock()

    def slow(self, text, window, ctx, vault=None, keep=frozenset(), source=None):  # type: ignore[no-untyped-def]
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.2)  # a long scan holding its worker thread
        with lock:
            active -= 1
        from guardrails.types import Verdict
        return Verdict(text=text)

    monkeypatch.setattr(Guard, "check_window", slow)
    hook = _hook(inline_scan_chars=0, scan_threads=2)
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.ensure_future(ticker())
    t0 = time.monotonic()
    await asyncio.gather(*(hook.before(_ctx(f"text {i}")) for i in range(6)))
    elapsed = time.monotonic() - t0
    t.cancel()
    assert peak == 2  # never more than scan_threads at once
    assert elapsed >= 0.55  # 6 scans of 0.2 s, two at a time
    assert ticks >= 20  # the loop kept running while they scanned


# -- through the app ------------------------------------------------------------------------------
async def test_a_7_mib_message_under_the_default_policy_is_refused_at_once(mock) -> None:
    cfg = mock_config(mock, guardrails={"default_policy": "default", "warm_on_start": False})
    async with gateway_client(cfg) as (_, client):
        t0 = time.monotonic()
        r = await client.post("/v1/chat/completions", json={
            "model": "mock-chat", "messages": [{"role": "user", "content": "word " * (7 * 1024 * 1024 // 5)}]})
        elapsed = time.monotonic() - t0
    assert r.status_code == 413 and r.json()["error"]["code"] == "guardrails_scan_limit"
    assert "524,288" in r.json()["error"]["message"]
    assert elapsed < 5  # before: ~10 s of scanning on the event loop, then 200


# -- segments (long texts scanned in pieces so no call holds the GIL for long) ---------------------
def test_a_match_across_a_segment_boundary_is_found_once_with_its_true_span() -> None:
    from guardrails import segments

    scanner = _guard().scanners["pii"]
    cut = segments.SEGMENT - segments.OVERLAP  # the second segment starts here
    text = "x " * ((cut - 8) // 2) + "mail a.person@example.com now " + "y " * 20000
    start = text.index("a.person@example.com")
    assert start < cut < start + 20  # the address straddles where the second segment begins
    found = [f for f in segments.scan(scanner, text, ScanContext(direction="input")) if f.rule == "EMAIL_ADDRESS"]
    assert [(f.start, f.end) for f in found] == [(start, start + len("a.person@example.com"))]


def test_a_secret_deep_in_a_long_text_still_blocks() -> None:
    text = "lorem ipsum " * 20000 + " AKIAIOSFODNN7EXAMPLE " + "dolor " * 100
    v = _guard(max_scan_chars=10**6).check(text, ScanContext(direction="input"), Vault())
    assert v.blocked is not None and v.blocked.scanner == "secrets"

"""A big guarded request does not hold the event loop (issue 17): while `sluice serve` scans a
2 MiB message with the default rules (about 2-3 CPU-s here), /healthz answers in < 50 ms."""

from __future__ import annotations

import statistics
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.live_serve import sluice_serve

pytestmark = pytest.mark.slow  # a real server, the injection model, seconds of scanning

RULES = {"input": [{"scanner": "secrets", "action": "block"}, {"scanner": "pii", "action": "redact"},
                   {"scanner": "injection", "action": "block"}, {"scanner": "invisible_text", "action": "redact"}]}


def test_healthz_answers_fast_while_a_big_message_is_scanned(mock, tmp_path: Path) -> None:
    cfg = {"models": [{"name": "mock-chat", "deployments": [
               {"provider": "openai", "model": "m", "api_base": mock.base_url, "timeout_s": 60}]}],
           "guardrails": {"default_policy": "big", "warm_on_start": True,
                          "policies": {"big": {**RULES, "max_scan_chars": 4 * 1024 * 1024}}}}
    text = "The keepers open the sluice gates when the river rises in spring. " * (2 * 1024 * 1024 // 66)
    with sluice_serve(tmp_path, cfg, ready_path="/readyz") as port:
        base = f"http://127.0.0.1:{port}"
        done = threading.Event()
        result: dict[str, object] = {}

        def big() -> None:
            t0 = time.monotonic()
            r = httpx.post(f"{base}/v1/chat/completions", timeout=120,
                           json={"model": "mock-chat", "messages": [{"role": "user", "content": text}]})
            result["status"], result["seconds"] = r.status_code, time.monotonic() - t0
            done.set()

        with httpx.Client(base_url=base, timeout=10) as probe:
            probe.get("/healthz")  # open the keep-alive connection before the scan starts
            worker = threading.Thread(target=big)
            worker.start()
            time.sleep(0.3)  # the body is sent and parsed; the scan is under way
            latencies = []
            while not done.is_set() and len(latencies) < 40:
                t0 = time.perf_counter()
                assert probe.get("/healthz").status_code == 200
                latencies.append((time.perf_counter() - t0) * 1000)
                time.sleep(0.05)
            worker.join(120)
    assert result.get("status") == 200, result
    assert len(latencies) >= 10, (len(latencies), result)  # all answered while the big request was in flight
    print(f"/healthz during a {result['seconds']:.1f} s scan: {len(latencies)} probes, "
          f"median {statistics.median(latencies):.1f} ms, max {max(latencies):.1f} ms")
    assert statistics.median(latencies) < 50 and sorted(latencies)[int(len(latencies) * 0.9)] < 50, latencies

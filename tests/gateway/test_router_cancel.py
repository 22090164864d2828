"""A cancellation that lands while a queued request is being handed a freed slot is never lost.

Python 3.11's `asyncio.wait_for` returns the inner result when the cancellation arrives as the inner
wait completes (the cancellation is dropped): the queued request then took the slot and went on to
call the upstream for a client that had gone. `Router._acquire` waits under `asyncio.timeout`, which
lets the cancellation through. The test releases the slot and cancels the queued task after every
possible number of loop turns, so one of them lands in that window.
"""

from __future__ import annotations

import asyncio

import pytest

from gateway.clock import SystemClock
from gateway.config import parse_config
from gateway.engine.router import Router
from gateway.runtime import build_providers

CONFIG = {"models": [{"name": "g", "deployments": [{"provider": "mock", "model": "m", "max_in_flight": 1}]}],
          "router": {"queue_timeout_s": 5}}


@pytest.mark.parametrize("turns", range(6))
async def test_a_cancelled_queued_request_does_not_take_the_freed_slot(turns: int) -> None:
    config = parse_config(CONFIG)
    router = Router(config, build_providers(config, {}), SystemClock())
    group = router.groups["g"]
    deadline = asyncio.get_running_loop().time() + 10
    held = await router._acquire(group, set(), deadline)  # the one slot
    queued = asyncio.ensure_future(router._acquire(group, set(), deadline))
    for _ in range(3):
        await asyncio.sleep(0)
    assert not queued.done()  # waiting for the slot
    router._release(held)
    for _ in range(turns):
        await asyncio.sleep(0)
    if queued.cancel():  # the task had not finished, so the cancellation must reach it
        with pytest.raises(asyncio.CancelledError):
            await queued
        assert router.states[held.deployment.id].in_flight == 0  # the slot stays free  # type: ignore[index]
    else:
        assert (await queued) is held  # it took the slot before the cancellation: a plain success

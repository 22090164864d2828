"""The console in a real browser: Debian's headless Chromium via Selenium, against a uvicorn-served
gateway on a loopback port (offline: SE_OFFLINE keeps Selenium Manager from fetching anything)."""

import socket
import threading
import time
from pathlib import Path

import httpx
import pytest
import uvicorn

from gateway.app import create_app
from gateway.mock_upstream import MockUpstream
from gateway.spend.ledger import insert_rows
from tests.spend.gw import gateway_config
from tests.spend.test_ledger import row

MASTER = "console-browser-master"
ARTIFACTS = Path(__file__).parent / "artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_url(driver, suffix: str) -> None:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith(suffix))


@pytest.mark.slow
def test_sign_in_and_spend_page_in_headless_chromium(tmp_path, monkeypatch):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    if not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()):
        pytest.fail("chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SE_OFFLINE", "true")
    with MockUpstream() as m:
        app = create_app(gateway_config(tmp_path, m.base_url, auth={"enabled": True}))
        port = _free_port()
        server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(200):
                if server.started:
                    break
                time.sleep(0.05)
            assert server.started
            admin = {"authorization": f"Bearer {MASTER}"}
            team = httpx.post(f"{base}/sluice/v1/teams", json={"name": "finance"}, headers=admin).json()
            insert_rows(app.gateway.services.spend.engine, [
                row("b1", ts=time.time(), cost=0.000046, team_id=team["id"], requested_model="gpt-4o"),
                row("b2", ts=time.time(), cost=1.25, team_id=team["id"], requested_model="claude"),
            ])
            opts = webdriver.ChromeOptions()
            opts.binary_location = "/usr/bin/chromium"
            for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                      "--disable-background-networking", "--disable-component-update", "--disable-sync",
                      f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1100,900"):
                opts.add_argument(a)
            opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
            try:
                driver.get(f"{base}/ui/spend")
                assert driver.current_url.endswith("/ui/login")
                driver.find_element(By.ID, "key").send_keys("wrong")
                driver.find_element(By.ID, "sign-in").click()
                error = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "login-error"))
                assert "cannot sign in" in error[0].text
                # the wrong key's 401 is the only thing the console logs so far (get_log drains it)
                early = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                assert all("401" in e["message"] for e in early), early
                driver.find_element(By.ID, "key").send_keys(MASTER)
                driver.find_element(By.ID, "sign-in").click()
                _wait_for_url(driver, "/ui/spend")  # click() returns before the navigation ends
                assert driver.current_url.endswith("/ui/spend")
                assert driver.find_element(By.ID, "total-cost").text == "$1.25"
                body = driver.find_element(By.TAG_NAME, "body").text
                assert "finance" in body and "$0.000046" in body
                css = driver.execute_script(
                    "return getComputedStyle(document.querySelector('header.top')).backgroundColor")
                assert css == "rgb(29, 36, 48)"  # the packaged stylesheet loaded
                ARTIFACTS.mkdir(exist_ok=True)
                driver.save_screenshot(str(ARTIFACTS / "spend.png"))
                errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
                assert errors == []
                driver.find_element(By.ID, "sign-out").click()
                _wait_for_url(driver, "/ui/login")
                assert driver.current_url.endswith("/ui/login")
            finally:
                driver.quit()
        finally:
            server.should_exit = True
            thread.join(timeout=10)

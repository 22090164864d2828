"""The keys pages in headless Chromium: create a team and a key, read the plaintext once, revoke, audit."""

import httpx
import pytest

from gateway.mock_upstream import MockUpstream
from tests.spend.gw import gateway_config
from tests.ui.browser import (
    chromium,
    console_errors,
    no_horizontal_overflow,
    screenshot,
    serve,
    sign_in,
    wait_for_url,
)

MASTER = "console-keys-browser-master"
CHAT = {"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}


@pytest.mark.slow
def test_keys_pages_create_team_and_key_plaintext_once_revoke_in_headless_chromium(tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SE_OFFLINE", "true")
    with MockUpstream() as m, serve(gateway_config(tmp_path, m.base_url, auth={"enabled": True})) as gw, \
            chromium(tmp_path / "profile") as driver:
        sign_in(driver, gw.base, MASTER)
        driver.find_element(By.ID, "nav-keys").click()
        wait_for_url(driver, "/ui/keys")
        driver.find_element(By.ID, "team-name").send_keys("research")
        driver.find_element(By.ID, "team-budget").send_keys("120")
        driver.find_element(By.ID, "team-create").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "keys-done"))
        assert "research" in driver.find_element(By.ID, "teams").text

        driver.find_element(By.ID, "key-name").send_keys("research-bot")
        Select(driver.find_element(By.ID, "key-team")).select_by_visible_text("research")
        driver.find_element(By.ID, "key-rpm").send_keys("60")
        driver.find_element(By.ID, "key-create").click()
        wait_for_url(driver, "/ui/keys/new")
        plain = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "plaintext"))[0].get_attribute("value")
        assert plain.startswith("sk-sluice-")
        ok = httpx.post(f"{gw.base}/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {plain}"})
        assert ok.status_code == 200
        assert no_horizontal_overflow(driver)
        screenshot(driver, "key-created")
        assert console_errors(driver) == []

        driver.get(f"{gw.base}/ui/keys")  # leaving the page: the plaintext is gone for good
        assert plain not in driver.page_source and driver.find_elements(By.ID, "plaintext") == []
        assert no_horizontal_overflow(driver)
        screenshot(driver, "keys")
        row = driver.find_element(By.CSS_SELECTOR, "#keys tbody tr")
        kid = row.get_attribute("id").removeprefix("key-")
        driver.find_element(By.ID, f"confirm-{kid}").click()
        driver.find_element(By.ID, f"revoke-{kid}").click()
        WebDriverWait(driver, 10).until(lambda d: "revoked" in d.find_element(By.CSS_SELECTOR, f"#key-{kid} .key-state").text)
        bad = httpx.post(f"{gw.base}/v1/chat/completions", json=CHAT, headers={"authorization": f"Bearer {plain}"})
        assert bad.status_code == 401
        assert console_errors(driver) == []

        driver.find_element(By.ID, "audit-link").click()
        wait_for_url(driver, "/ui/keys/audit")
        actions = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "#audit .audit-action")]
        assert actions == ["key.revoke", "key.create", "team.create"]
        assert {e.text for e in driver.find_elements(By.CSS_SELECTOR, "#audit .audit-actor")} == {"master"}
        assert plain not in driver.page_source
        assert no_horizontal_overflow(driver)
        screenshot(driver, "audit")
        assert console_errors(driver) == []

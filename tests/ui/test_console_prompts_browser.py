"""The prompts pages in headless Chromium: list, detail, a diff and a promotion the gate refuses."""

import httpx
import pytest

from gateway.mock_upstream import MockUpstream
from tests.prompts.conftest import TEST_ATTEST_KEY
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
from tests.ui.test_console_prompts import seed

MASTER = "console-prompts-browser-master"


@pytest.mark.slow
def test_prompts_pages_diff_and_refused_promotion_in_headless_chromium(tmp_path, monkeypatch):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    monkeypatch.setenv("SLUICE_MASTER_KEY", MASTER)
    monkeypatch.setenv("SE_OFFLINE", "true")
    monkeypatch.setenv("SLUICE_ATTEST_KEY", TEST_ATTEST_KEY)
    root = tmp_path / "registry"
    root.mkdir()
    reg = seed(root)
    with MockUpstream() as m, serve(gateway_config(tmp_path, m.base_url, auth={"enabled": True},
                                                   prompts={"registry_dir": str(root)})) as gw, \
            chromium(tmp_path / "profile") as driver:
        sign_in(driver, gw.base, MASTER)
        driver.find_element(By.ID, "nav-prompts").click()
        wait_for_url(driver, "/ui/prompts")
        row = driver.find_element(By.ID, "prompt-support")
        assert "production → v1" in row.text
        assert no_horizontal_overflow(driver)
        screenshot(driver, "prompts")
        assert console_errors(driver) == []

        row.find_element(By.LINK_TEXT, "support").click()
        wait_for_url(driver, "/ui/prompts/support")
        Select(driver.find_element(By.ID, "diff-a")).select_by_visible_text("v1")
        Select(driver.find_element(By.ID, "diff-b")).select_by_visible_text("v2")
        driver.find_element(By.ID, "show-diff").click()
        # the URL's path stays the same: wait for the diff itself, not the navigation
        diff = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "diff"))[0]
        removed = [e.text for e in diff.find_elements(By.CSS_SELECTOR, "span.del")]
        added = [e.text for e in diff.find_elements(By.CSS_SELECTOR, "span.add")]
        assert any("Policy v1" in t for t in removed) and any("Policy v2 <b>bold</b>" in t for t in added)
        assert "a=1" in driver.current_url and "b=2" in driver.current_url
        assert no_horizontal_overflow(driver)
        screenshot(driver, "prompt-detail")
        assert console_errors(driver) == []

        Select(driver.find_element(By.ID, "promote-version")).select_by_visible_text("v2")
        driver.find_element(By.ID, "promote-reason").send_keys("try without an attestation")
        driver.find_element(By.ID, "promote").click()
        wait_for_url(driver, "/ui/prompts/support/promote")
        refusal = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "refusal"))[0].text
        api = httpx.post(f"{gw.base}/sluice/v1/prompts/support/promote", json={"version": 2},
                         headers={"authorization": f"Bearer {MASTER}"})
        assert api.status_code == 409 and refusal == api.json()["error"]["message"], refusal
        assert driver.find_element(By.CSS_SELECTOR, "#label-production td[data-version]").text == "v1"
        assert reg.labels("support")["production"] == 1
        assert no_horizontal_overflow(driver)
        screenshot(driver, "prompt-refused")
        # the refusal page is a 409, which Chromium logs as a failed resource; nothing else may be logged
        errors = console_errors(driver)
        assert all("409" in e["message"] for e in errors), errors

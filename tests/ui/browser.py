"""A real browser for console tests: Debian's headless Chromium via Selenium against a
uvicorn-served gateway on a free loopback port (offline: SE_OFFLINE keeps Selenium Manager from
fetching anything). Screenshots go to tests/ui/artifacts/ (gitignored) to be looked at."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from gateway.app import create_app

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Served:
    app: Any
    base: str


@contextlib.contextmanager
def serve(config: Any) -> Iterator[Served]:
    """The gateway for `config` under uvicorn on a free loopback port, stopped on exit."""
    app = create_app(config)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(400):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "uvicorn did not start"
        yield Served(app, f"http://127.0.0.1:{port}")
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def chromium(profile: Path, width: int = 1280, height: int = 900) -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        pytest.fail("chromium and chromedriver are needed: make system-deps (apt-get install chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = str(CHROMIUM)
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update", "--disable-sync",
              f"--user-data-dir={profile}", f"--window-size={width},{height}"):
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=opts)
    try:
        yield driver
    finally:
        driver.quit()


def wait_for_url(driver: Any, suffix: str) -> None:
    """click() returns before the navigation it starts has ended."""
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.current_url.split("?")[0].endswith(suffix))


def sign_in(driver: Any, base: str, key: str, lands_on: str = "/ui/spend") -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{base}/ui/login")
    driver.find_element(By.ID, "key").send_keys(key)
    driver.find_element(By.ID, "sign-in").click()
    wait_for_url(driver, lands_on)


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """SEVERE browser-console entries since the last call (get_log drains)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def no_horizontal_overflow(driver: Any) -> bool:
    return bool(driver.execute_script(
        "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"))


def screenshot(driver: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(max(900, int(height) + 120), 6000))  # the whole page in one picture
    driver.save_screenshot(str(path))
    driver.set_window_size(1280, 900)
    return path

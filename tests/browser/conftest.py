"""Headless Chromium driven by Selenium against one real app for the whole browser session.

Uses the system Chromium and chromedriver (Debian: apt-get install chromium chromium-driver);
Selenium is never allowed to download a driver. Without them the browser tests skip, unless
CI=true: then a missing browser fails, so CI cannot pass by silently skipping them.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.server import RunningApp, serve_app

INSTALL_HINT = "install it with: apt-get install -y chromium chromium-driver"


def _find(*names: str) -> str | None:
    return next((found for name in names if (found := shutil.which(name))), None)


def missing_browser() -> str:
    """Why the browser tests cannot run here, or "" when they can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed; pip install -r requirements.txt"
    if not _find("chromium", "chromium-browser"):
        return f"no Chromium found; {INSTALL_HINT}"
    if not _find("chromedriver"):
        return f"no chromedriver found; {INSTALL_HINT}"
    return ""


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium WebDriver (skips, or fails when CI=true, without one)."""
    reason = missing_browser()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run: {reason} (CI=true, so this is a failure)")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = _find("chromium", "chromium-browser") or ""
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,900"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(_find("chromedriver") or ""), options=options)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="session")
def web_app(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    """The real app on a temporary index and corpus copy (started only if a browser exists)."""
    with serve_app(tmp_path_factory.mktemp("web-app")) as running:
        yield running


@pytest.fixture
def page(browser: Any, web_app: RunningApp) -> Any:
    """The app freshly loaded in the browser (a new page: empty chat)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(web_app.url)
    WebDriverWait(browser, 60).until(
        ec.presence_of_element_located((By.CSS_SELECTOR, "#question textarea")))
    return browser

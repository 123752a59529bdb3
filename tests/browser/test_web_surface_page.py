"""What a browser sees of web_guard's limits, on the app served in-process on fakes: the
Operators tab says why it is closed to a remote client (and shows no controls), and a user who
asks while the queue is full is told the app is busy.

A remote client is the browser sending X-Forwarded-For (through Chromium's DevTools protocol),
which uvicorn trusts from 127.0.0.1, as from a reverse proxy on this machine.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

import app
import web_guard
from tests.browser.fake_app import Served, serving
from tests.browser.pages import open_tab
from web_guard import WebSettings

pytestmark = pytest.mark.browser


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    with serving(monkeypatch, tmp_path) as start:
        yield start


def load(browser: Any, url: str, headers: dict[str, str] | None = None) -> None:
    browser.execute_cdp_cmd("Network.enable", {})
    browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": headers or {}})
    browser.get(url)
    WebDriverWait(browser, 60).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "#question textarea"))


def shown(browser: Any, element_id: str) -> bool:
    found = browser.find_elements(By.ID, element_id)
    return bool(found) and found[0].is_displayed()


def test_operators_tab_tells_a_remote_client_why_it_is_closed(browser: Any,
                                                              serve: Any) -> None:
    served = serve()
    try:
        load(browser, served.url, {"X-Forwarded-For": "203.0.113.7"})
        open_tab(browser, "Operators")
        wait = WebDriverWait(browser, 30, poll_frequency=0.2)
        wait.until(lambda d: shown(d, "operators-refused"))
        notice = browser.find_element(By.ID, "operators-refused").text
        assert "only works from the machine the app runs on" in notice
        assert not shown(browser, "upload") and not shown(browser, "ingest")
    finally:
        browser.execute_cdp_cmd("Network.setExtraHTTPHeaders", {"headers": {}})

    load(browser, served.url)  # the same page from this machine
    open_tab(browser, "Operators")
    WebDriverWait(browser, 30).until(lambda d: "documents 2" in d.find_element(
        By.ID, "index-stats").text)
    assert shown(browser, "upload") and not shown(browser, "operators-refused")


def test_a_question_asked_while_the_queue_is_full_says_the_app_is_busy(
        browser: Any, serve: Any) -> None:
    served = serve(WebSettings(queue_size=1, concurrency=1))
    served.pipelines.gate = threading.Event()
    try:
        load(browser, served.url)
        running = Client(served.url, verbose=False).submit("first?", [], api_name="/chat")
        assert served.pipelines.entered.wait(30)
        waiting = Client(served.url, verbose=False).submit("second?", [], api_name="/chat")
        WebDriverWait(browser, 30).until(lambda _: len(app.demo._queue) >= 1)  # queue full
        box = browser.find_element(By.CSS_SELECTOR, "#question textarea")
        box.send_keys("third?")
        box.send_keys(Keys.ENTER)
        WebDriverWait(browser, 30, poll_frequency=0.2).until(
            lambda d: web_guard.BUSY_MESSAGE.split(".")[0] in d.find_element(
                By.TAG_NAME, "body").text)
    finally:
        served.pipelines.gate.set()
    running.result(timeout=60)
    waiting.result(timeout=60)

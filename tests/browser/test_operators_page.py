"""The Operators tab in a real browser: upload a document, ingest it, ask the chat about it,
remove it again.

The running app must answer from the new index generation without a restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.pages import ask, bot_messages, open_tab
from tests.browser.server import RunningApp

pytestmark = [pytest.mark.real, pytest.mark.browser]

ZORBLAX = ("The Zorblax Accord was signed in Tromsø on 3 March 2031 by the ministers of Narnia "
           "and Gondor.\n")
NAME = "zorblax-accord.txt"


def text_of(driver: Any, element_id: str) -> str:
    return str(driver.find_element(By.ID, element_id).text)


def row_of(driver: Any, table_id: str, document: str) -> list[str] | None:
    """The cells of a Gradio Dataframe's row for `document`, or None while there is none.

    Gradio 6 renders cells as [role=gridcell] elements with data-testid "cell-<row>-<col>".
    """
    table = driver.execute_script("""
        const rows = {};
        document.querySelectorAll(`#${arguments[0]} [role=gridcell][data-testid^=cell-]`)
            .forEach(e => {
                const [, r, c] = e.dataset.testid.split('-');
                (rows[r] = rows[r] || [])[Number(c)] = e.textContent.trim();
            });
        return Object.values(rows);""", table_id)
    return next((row for row in table if row and row[0] == document), None)


def test_uploaded_document_is_ingested_and_answers_in_the_chat(
        page: Any, web_app: RunningApp, tmp_path: Path) -> None:
    document = tmp_path / NAME
    document.write_text(ZORBLAX, encoding="utf-8")

    open_tab(page, "Operators")
    wait = WebDriverWait(page, 120, poll_frequency=0.2)
    wait.until(lambda d: "documents 2" in text_of(d, "index-stats"))
    page.find_element(By.CSS_SELECTOR, "#upload input[type='file']").send_keys(str(document))
    wait.until(lambda d: row_of(d, "plan", NAME))
    assert row_of(page, "plan", NAME)[1:3] == ["added", ""]
    assert not (web_app.corpus_dir / NAME).exists()  # not before Ingest

    page.find_element(By.ID, "ingest").click()
    wait.until(lambda d: row_of(d, "outcome", NAME))
    assert row_of(page, "outcome", NAME)[1:3] == ["added", "1"]  # one chunk
    wait.until(lambda d: "indexed 3 documents" in text_of(d, "operators-status"))
    assert (web_app.corpus_dir / NAME).read_text(encoding="utf-8") == ZORBLAX
    wait.until(lambda d: "documents 3" in text_of(d, "index-stats"))

    open_tab(page, "Chat")
    ask(page, "Where was the Zorblax Accord signed?")
    assert "Tromsø" in bot_messages(page)[-1].text
    sources = text_of(page, "sources")
    assert NAME in sources
    marks = [m.text for m in page.find_elements(By.CSS_SELECTOR, "#sources mark")]
    assert any("Zorblax Accord" in m for m in marks)

    # Removing it takes it out of the index and the corpus; the chat no longer finds it.
    open_tab(page, "Operators")
    choose = page.find_element(By.CSS_SELECTOR, "#remove-document input")
    choose.click()
    choose.send_keys(NAME)
    choose.send_keys(Keys.ENTER)
    page.find_element(By.ID, "remove").click()
    wait.until(lambda d: f"Removed {NAME} from the index" in text_of(d, "operators-status"))
    wait.until(lambda d: "documents 2" in text_of(d, "index-stats"))
    assert not (web_app.corpus_dir / NAME).exists()
    open_tab(page, "Chat")
    ask(page, "Where was the Zorblax Accord signed?")
    assert "Tromsø" not in bot_messages(page)[-1].text
    assert NAME not in text_of(page, "sources")

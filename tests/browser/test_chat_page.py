"""The Chat tab in a real browser: the answer streams in; its [n] jumps to the marked passage."""

from __future__ import annotations

from typing import Any

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from tests.browser.pages import ask, bot_messages

pytestmark = [pytest.mark.real, pytest.mark.browser]

Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"


def targeted(driver: Any) -> dict[str, Any] | None:
    """The element the URL's #fragment targets: its id, outline, and whether it is on screen."""
    return driver.execute_script("""
        const t = document.querySelector(':target');
        if (!t) return null;
        const box = t.getBoundingClientRect();
        return {id: t.id, outline: getComputedStyle(t).outlineStyle,
                background: getComputedStyle(t).backgroundColor,
                on_screen: box.top >= 0 && box.top < window.innerHeight};""")


def test_answer_streams_in_and_its_marker_jumps_to_the_highlighted_passage(page: Any) -> None:
    seen = ask(page, Q1)
    answer = bot_messages(page)[-1]
    assert "Katherine Tai" in answer.text, seen
    assert seen[0].endswith("…"), seen  # the bubble showed progress before the answer

    sources = page.find_element(By.ID, "sources")
    marked = [m.text for m in sources.find_elements(By.TAG_NAME, "mark")]
    assert any("Katherine Tai" in m for m in marked), sources.text
    assert "china-watch-xi-foreign-policy.txt" in sources.text

    link = answer.find_elements(By.CSS_SELECTOR, "a.cite")[0]
    marker = link.text.strip("[]")
    assert targeted(page) is None
    link.click()
    WebDriverWait(page, 10).until(lambda d: targeted(d) is not None)
    target = targeted(page)
    assert target is not None
    assert target["id"] == f"source-{marker}"
    assert target["on_screen"]
    assert target["outline"] == "solid"  # the :target highlight
    passage = page.find_element(By.ID, f"source-{marker}")
    assert "Katherine Tai" in passage.find_element(By.TAG_NAME, "mark").text


def test_follow_up_is_searched_as_a_standalone_question_and_old_links_go(page: Any) -> None:
    ask(page, Q1)
    assert bot_messages(page)[0].find_elements(By.CSS_SELECTOR, "a.cite")
    ask(page, "When did she meet her Chinese counterpart?")
    sources = page.find_element(By.ID, "sources").text
    assert "Searched for:" in sources
    searched = sources.split("Searched for:", 1)[1].splitlines()[0]
    assert "she" not in searched.split()  # the pronoun was resolved from the first question
    # The Sources panel now shows the follow-up's passages, so the first answer's markers no
    # longer link anywhere.
    assert bot_messages(page)[0].find_elements(By.CSS_SELECTOR, "a.cite") == []

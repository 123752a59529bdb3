"""What a user does on the app's page, as Selenium steps: ask in the chat, switch tabs.

Only waits on what a user would see (the message, the Sources panel), never on Gradio's
internal state.
"""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

ANSWER_TIMEOUT_S = 120
PENDING = ("Searching the documents", "Writing the answer")


def open_tab(driver: Any, name: str) -> None:
    """Click the tab button labelled `name`."""
    buttons = [b for b in driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")
               if b.text.strip() == name]
    assert buttons, f"no tab named {name!r}"
    buttons[0].click()


def bot_messages(driver: Any) -> list[Any]:
    return driver.find_elements(By.CSS_SELECTOR, "#chat [data-testid='bot']")


def ask(driver: Any, question: str) -> list[str]:
    """Type `question`, press Enter, wait for the finished answer; the bubble's texts seen."""
    before = len(bot_messages(driver))
    box = driver.find_element(By.CSS_SELECTOR, "#question textarea")
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    seen: list[str] = []

    def finished(d: Any) -> bool:
        bots = bot_messages(d)
        if len(bots) <= before:
            return False
        text = bots[-1].text.strip()
        if not seen or seen[-1] != text:
            seen.append(text)
        sources = d.find_element(By.ID, "sources").text
        return bool(text) and not text.endswith("…") and not any(p in sources for p in PENDING)

    WebDriverWait(driver, ANSWER_TIMEOUT_S, poll_frequency=0.2).until(finished)
    return seen

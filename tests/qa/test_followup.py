"""qa.followup: follow-up questions rewritten with the previous question's subject."""

from __future__ import annotations

import pytest

from qa.followup import is_followup, main_subject, standalone

GSI = "When was the Global Security Initiative launched?"


def test_pronoun_is_replaced_by_the_previous_subject() -> None:
    assert standalone("And who presented it?", [(GSI, "April 2022 [1].")]) == (
        "Who presented the Global Security Initiative?")


def test_possessive_pronoun() -> None:
    assert standalone("What are its aims?", [(GSI, "x")]) == (
        "What are the Global Security Initiative’s aims?")


def test_a_standalone_question_is_left_alone() -> None:
    q = "Who met Katherine Tai on 18 November?"
    assert standalone(q, [(GSI, "x")]) == q


def test_without_history_nothing_changes() -> None:
    assert standalone("And when was it launched?", []) == "And when was it launched?"


def test_no_pronoun_to_replace_carries_the_previous_question() -> None:
    assert standalone("What about Russia?", [("Which countries did Xi visit in 2023?", "x")]) == (
        "What about Russia? (Which countries did Xi visit in 2023)")


def test_chained_follow_ups_resolve_through_the_earlier_rewrite() -> None:
    history = [("Who is Olaf Scholz?", "x"), ("When did he meet Xi?", "y")]
    assert standalone("And what did he say?", history) == "What did Olaf Scholz say?"


@pytest.mark.parametrize(("question", "expected"), [
    ("And when was it launched?", True), ("What about Russia?", True), ("Why?", True),
    ("When did Xi meet Biden in San Francisco?", False),
])
def test_is_followup(question: str, expected: bool) -> None:
    assert is_followup(question) is expected


def test_main_subject_docstring() -> None:
    assert main_subject(GSI) == "the Global Security Initiative"
    assert main_subject("what is this?") is None

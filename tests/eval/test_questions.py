import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from eval.questions import (
    EvidenceSpan,
    Question,
    QuestionFileError,
    collapse_whitespace,
    load_questions,
    locate_quote,
)

# "Katherine Tai" starts at offset 8 of DOC_A; the quote below spans a double space and a newline.
DOC_A = "Talks:  Katherine Tai\nmet  the minister.\n\nThen   they left."
DOCS = {"a.txt": DOC_A, "b.txt": "Nothing to see."}


def write(tmp_path: Path, *rows: object) -> Path:
    path = tmp_path / "questions.jsonl"
    lines = [r if isinstance(r, str) else json.dumps(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def good(qid: str = "q1", **extra: object) -> dict:
    row = {"id": qid, "question": "Who met the minister?", "answers": ["Katherine Tai"],
           "evidence": [{"doc": "a.txt", "quote": "Katherine Tai met the minister"}]}
    return row | extra


def test_collapse_keeps_offsets_of_first_space_in_each_run():
    # "a  \nb": 'a'@0, first space@1 (the run 1..3 collapses to it), 'b'@4
    assert collapse_whitespace("a  \nb") == ("a b", (0, 1, 4))


def test_locate_maps_collapsed_match_back_to_original_offsets():
    start, end = locate_quote(DOC_A, "Katherine Tai met the minister")
    # "Katherine" starts at 8 (after "Talks:" and two spaces); "minister" is 31..38, "." is 39.
    assert (start, end) == (8, 39)
    assert DOC_A[start:end] == "Katherine Tai\nmet  the minister"


def test_locate_ignores_whitespace_in_the_quote_and_is_exact_otherwise():
    assert locate_quote(DOC_A, "  Then\n they   left ") == (DOC_A.index("Then"), len(DOC_A) - 1)
    assert locate_quote(DOC_A, "katherine tai") is None  # case matters
    assert locate_quote(DOC_A, "   ") is None


@given(st.text(alphabet="ab \n\t", max_size=40), st.data())
def test_located_span_matches_quote_up_to_whitespace(text, data):
    i = data.draw(st.integers(0, len(text)))
    j = data.draw(st.integers(i, len(text)))
    quote = text[i:j]
    span = locate_quote(text, quote)
    if not quote.strip():
        assert span is None
        return
    assert span is not None
    found = text[span[0]:span[1]]
    assert found.split() == quote.split() and found == found.strip()


def test_load_good_file_with_defaults_and_unanswerable(tmp_path):
    path = write(tmp_path, good(), "",
                 {"id": "q2", "question": "Budget?", "answers": [], "evidence": [],
                  "answerable": False})
    first, second = load_questions(path, DOCS)
    assert first == Question(
        "q1", "Who met the minister?", ("Katherine Tai",),
        (EvidenceSpan("a.txt", 8, 39, "Katherine Tai met the minister"),), True, 1)
    assert second.answerable is False and second.line == 3  # line 2 is blank and skipped


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (good(answers=[]), "needs at least one acceptable answer"),
        (good(evidence=[]), "needs at least one evidence quote"),
        (good(answers="Tai"), "'answers' must be a list"),
        (good(answerable="yes"), "'answerable' must be true or false"),
        (good(question=""), "'question' must be a non-empty string"),
        (good(answerable=False), "unanswerable question must have"),
        (good(evidence=[{"doc": "zzz.txt", "quote": "x"}]), "unknown document 'zzz.txt'"),
        (good(evidence=[{"doc": "b.txt", "quote": "Tai"}]), "quote not found in 'b.txt'"),
        (good(evidence=[{"doc": "a.txt"}]), "evidence #1 must be an object"),
        (good(answer=["typo"]), "unknown field 'answer'"),
        ({"id": "q1", "question": "?", "evidence": []}, "missing field 'answers'"),
    ],
)
def test_each_error_names_file_and_line(tmp_path, row, message):
    path = write(tmp_path, good("q0"), row)
    with pytest.raises(QuestionFileError) as info:
        load_questions(path, DOCS)
    assert any(e.startswith(f"{path}:2: ") and message in e for e in info.value.errors), (
        info.value.errors)


def test_all_errors_are_collected_into_one_exception(tmp_path):
    path = write(tmp_path, good("q1"), "oops", good("q1"),
                 good("q3", evidence=[{"doc": "a.txt", "quote": "not there"}]))
    with pytest.raises(QuestionFileError) as info:
        load_questions(path, DOCS)
    errors = info.value.errors
    assert [e.split(": ")[0] for e in errors] == [f"{path}:2", f"{path}:3", f"{path}:4"]
    assert "duplicate id 'q1' (first used on line 1)" in errors[1]
    assert "3 problems" in str(info.value) and all(e in str(info.value) for e in errors)


def test_missing_or_empty_file_is_a_question_file_error(tmp_path):
    with pytest.raises(QuestionFileError, match="cannot read"):
        load_questions(tmp_path / "nope.jsonl", DOCS)
    with pytest.raises(QuestionFileError, match="no questions"):
        load_questions(write(tmp_path, ""), DOCS)

"""Load the benchmark's question file and pin every evidence quote to a span of the corpus.

The file is JSON Lines, one question per line (blank lines are skipped):

    {"id": "q01", "question": "...", "answers": ["acceptable answer", "another form"],
     "evidence": [{"doc": "file.txt", "quote": "exact text from file.txt"}], "answerable": true}

`answerable` defaults to true; an unanswerable question has "answers": [] and "evidence": [].
A quote is found by exact match once runs of whitespace are collapsed to one space (so a quote
copied from a reflowed PDF still matches), and its span is mapped back to offsets in the
original text, the same offsets that chunks use. Every problem in the file is collected and
raised as one QuestionFileError, so a run never starts on a half-valid file.

Does not read the corpus (the runner passes the texts as ingestion loaded them, so offsets
agree with chunk offsets), fuzzy-match quotes, or compute metrics (see eval.metrics).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

_FIELDS = ("id", "question", "answers", "evidence", "answerable")


@dataclass(frozen=True)
class EvidenceSpan:
    """Where a question's answer is stated: documents[doc][start:end], found from `quote`."""

    doc: str
    start: int
    end: int
    quote: str


@dataclass(frozen=True)
class Question:
    """One benchmark question; `line` is its 1-based line in the question file."""

    id: str
    question: str
    answers: tuple[str, ...]
    evidence: tuple[EvidenceSpan, ...]
    answerable: bool
    line: int


class QuestionFileError(ValueError):
    """The question file has problems; `errors` holds each as "FILE:LINE: what is wrong"."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        plural = "" if len(errors) == 1 else "s"
        super().__init__(f"{len(errors)} problem{plural} in question file:\n" + "\n".join(errors))


def collapse_whitespace(text: str) -> tuple[str, tuple[int, ...]]:
    """Turn each run of whitespace into one space; also give each kept character's offset.

    Example: collapse_whitespace("a  \\nb") -> ("a b", (0, 1, 4))
    """
    chars: list[str] = []
    offsets: list[int] = []
    previous_space = False
    for i, ch in enumerate(text):
        space = ch.isspace()
        if space and previous_space:
            continue
        chars.append(" " if space else ch)
        offsets.append(i)
        previous_space = space
    return "".join(chars), tuple(offsets)


# Many quotes point into the same few documents; collapse each document once per run.
_collapsed_document = lru_cache(maxsize=64)(collapse_whitespace)


def locate_quote(text: str, quote: str) -> tuple[int, int] | None:
    """Span (start, end) in `text` of the first whitespace-insensitive exact match of `quote`.

    Example: locate_quote("one  two\\nthree", " two three") -> (5, 14)
    """
    needle, _ = collapse_whitespace(quote.strip())
    if not needle:
        return None
    haystack, offsets = _collapsed_document(text)
    i = haystack.find(needle)
    if i < 0:
        return None
    # The stripped needle ends on a non-space character, which maps to exactly one offset.
    return offsets[i], offsets[i + len(needle) - 1] + 1


def _nonempty_str(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _short(text: str, limit: int = 60) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _evidence(item: object, n: int, documents: Mapping[str, str]) -> EvidenceSpan | str:
    """The located span for evidence item number `n`, or what is wrong with it."""
    if not (isinstance(item, dict) and _nonempty_str(item.get("doc"))
            and _nonempty_str(item.get("quote"))):
        return f"evidence #{n} must be an object with non-empty string fields 'doc' and 'quote'"
    doc, quote = item["doc"], item["quote"]
    if doc not in documents:
        return f"evidence #{n}: unknown document {doc!r} (not in the corpus)"
    span = locate_quote(documents[doc], quote)
    if span is None:
        return f"evidence #{n}: quote not found in {doc!r}: {_short(quote)!r}"
    return EvidenceSpan(doc, span[0], span[1], quote)


def parse_question(
    obj: object, line: int, documents: Mapping[str, str]
) -> tuple[Question | None, list[str]]:
    """Check one decoded line: the Question (None if anything is wrong) and the problems found.

    Example: parse_question({"id": "q9", "question": "Who?", "answers": [], "evidence": [],
             "answerable": False}, 9, {}) -> (Question("q9", "Who?", (), (), False, 9), [])
    """
    if not isinstance(obj, dict):
        return None, [f"expected a JSON object, got {type(obj).__name__}"]
    problems = [f"unknown field {key!r}" for key in obj if key not in _FIELDS]
    problems += [f"missing field {key!r}" for key in _FIELDS[:4] if key not in obj]
    for key in ("id", "question"):
        if key in obj and not _nonempty_str(obj[key]):
            problems.append(f"{key!r} must be a non-empty string")
    answerable = obj.get("answerable", True)
    if not isinstance(answerable, bool):
        problems.append("'answerable' must be true or false")
        answerable = True
    answers = obj.get("answers", [])
    if not (isinstance(answers, list) and all(_nonempty_str(a) for a in answers)):
        problems.append("'answers' must be a list of non-empty strings")
        answers = []
    items = obj.get("evidence", [])
    if not isinstance(items, list):
        problems.append("'evidence' must be a list of {\"doc\": ..., \"quote\": ...} objects")
        items = []
    found = [_evidence(item, n, documents) for n, item in enumerate(items, start=1)]
    problems += [f for f in found if isinstance(f, str)]
    if answerable and "answers" in obj and not answers:
        problems.append("an answerable question needs at least one acceptable answer")
    if answerable and "evidence" in obj and not items:
        problems.append("an answerable question needs at least one evidence quote")
    if not answerable and (answers or items):
        problems.append("an unanswerable question must have \"answers\": [] and \"evidence\": []")
    if problems:
        return None, problems
    spans = tuple(f for f in found if isinstance(f, EvidenceSpan))
    return Question(obj["id"], obj["question"], tuple(answers), spans, answerable, line), []


def load_questions(path: Path, documents: Mapping[str, str]) -> list[Question]:
    """Read and check the question file; raise one QuestionFileError listing every problem.

    `documents` maps each corpus file name (relative to the corpus directory) to its text.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise QuestionFileError([f"{path}: cannot read question file: {exc}"]) from exc
    questions: list[Question] = []
    errors: list[str] = []
    first_line: dict[str, int] = {}
    # split("\n") rather than splitlines(): JSON strings may hold a raw U+2028, not a line end.
    for n, raw in enumerate(text.split("\n"), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{n}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        question, problems = parse_question(obj, n, documents)
        errors += [f"{path}:{n}: {p}" for p in problems]
        qid = obj.get("id") if isinstance(obj, dict) else None
        if isinstance(qid, str) and qid in first_line:
            first = first_line[qid]
            errors.append(f"{path}:{n}: duplicate id {qid!r} (first used on line {first})")
        elif isinstance(qid, str):
            first_line[qid] = n
        if question is not None:
            questions.append(question)
    if not questions and not errors:
        errors.append(f"{path}: no questions in file")
    if errors:
        raise QuestionFileError(errors)
    return questions

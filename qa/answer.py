"""The answer a user gets: text whose every sentence cites a retrieved passage, and why.

Does not compute anything; see qa.pipeline for how an Answer is made.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from common.records import Chunk
from qa.retrieve import Retrieved


@dataclass(frozen=True)
class Citation:
    """Marker `[marker]` points at `chunk`; start/end (document offsets) is the sentence of the
    chunk that supports the cited answer sentence, for highlighting."""

    marker: int
    chunk: Chunk
    start: int
    end: int


@dataclass(frozen=True)
class Timings:
    retrieval_s: float
    ttft_s: float | None  # None when the model was not called (refusal)
    total_s: float


@dataclass(frozen=True)
class Answer:
    question: str
    text: str
    citations: tuple[Citation, ...]
    retrieved: tuple[Retrieved, ...]  # marker n refers to retrieved[n - 1]
    abstained: bool
    timings: Timings
    # True when the model's own sentences failed the citation check and the answer quotes the
    # best-matching passage sentence instead.
    quoted: bool = False
    # The standalone question retrieval used: a follow-up rewritten with the conversation, or
    # the question itself ("" is read as the question).
    query: str = ""
    # Calibrated confidence that the evidence answers the question (qa.abstain); None: not
    # computed. And the model's sentences the support check removed, for the report.
    confidence: float | None = None
    rejected: tuple[str, ...] = ()
    # The reader's answer span (reader.model), the short answer shown first; "" when the
    # pipeline has no reader or refused.
    short: str = ""


def answer_to_json(answer: Answer) -> dict[str, Any]:
    """The answer as JSON-ready data (for the answering worker process, qa.worker).

    Example: answer_from_json(answer_to_json(a)) == a for every Answer a.
    """
    return asdict(answer)


def answer_from_json(data: dict[str, Any]) -> Answer:
    """Inverse of answer_to_json; raises KeyError or TypeError on data of another shape."""
    def chunk(d: dict[str, Any]) -> Chunk:
        return Chunk(**d)

    return Answer(
        question=data["question"], text=data["text"],
        citations=tuple(Citation(c["marker"], chunk(c["chunk"]), c["start"], c["end"])
                        for c in data["citations"]),
        retrieved=tuple(Retrieved(chunk(r["chunk"]), r["score"], r["dense_similarity"],
                                  r["dense_rank"], r["lexical_rank"])
                        for r in data["retrieved"]),
        abstained=data["abstained"], timings=Timings(**data["timings"]),
        quoted=data["quoted"], query=data["query"], confidence=data["confidence"],
        rejected=tuple(data["rejected"]), short=data.get("short", ""))

"""The answer a user gets: text whose every sentence cites a retrieved passage, and why.

Does not compute anything; see qa.pipeline for how an Answer is made.
"""

from __future__ import annotations

from dataclasses import dataclass

from ingest.document import Chunk
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

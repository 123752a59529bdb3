"""Score benchmark results: retrieval recall and MRR, citations, answer match, refusals, latency.

A chunk *covers* an evidence span when both are in the same document and their overlap is at
least half the span's length or at least half the chunk's length (so a long chunk that holds
the quote and a short chunk that sits inside a long quote both count). METRIC_DOCS defines every
aggregate metric in one sentence; the report prints those sentences next to the numbers.

Answer matching follows SQuAD's evaluation script (lowercase, drop punctuation and the articles
a/an/the, collapse spaces), except that "punctuation" is every Unicode punctuation character,
not only ASCII, because the corpus uses typographic quotes and dashes.

Metrics that do not apply are None (null in JSON), never 0: retrieval and answer metrics on
unanswerable questions, every generation metric in a retrieval-only run (abstained is None),
and any mean over an empty set.

Does not run retrieval or generation, map citation markers to chunks (the runner does, and
drops markers that map to no chunk), or judge paraphrases: an answer that contains none of the
acceptable answers scores as a miss even when a human would accept it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from common.answer_text import contains_answer, token_f1
from eval.questions import Question

KS = (1, 5, 10)

METRIC_DOCS: dict[str, str] = {
    "retrieval_recall@1": "Share of answerable questions whose every evidence passage is covered "
    "by the top retrieved chunk.",
    "retrieval_recall@5": "Share of answerable questions whose every evidence passage is covered "
    "by the top 5 retrieved chunks.",
    "retrieval_recall@10": "Share of answerable questions whose every evidence passage is covered "
    "by the top 10 retrieved chunks.",
    "mrr": "Average over answerable questions of 1/rank of the first retrieved chunk that covers "
    "any evidence passage (0 when none does).",
    "citation_precision": "Share of citations in non-refusing answers that point to a chunk "
    "covering that question's evidence (any citation on an unanswerable question is wrong).",
    "citation_recall": "Average over answerable questions of the share of evidence passages "
    "covered by the answer's cited chunks (a refusal scores 0).",
    "answer_hit": "Share of answerable questions whose answer contains an acceptable answer, "
    "ignoring case, punctuation and the articles a/an/the.",
    "answer_f1": "Average over answerable questions of the best word-overlap F1 between the "
    "short answer (the reader's span; the whole answer when there is none) and an acceptable "
    "answer (a refusal scores 0).",
    "abstention_rate_unanswerable": "Share of unanswerable questions where the system correctly "
    "declined to answer.",
    "false_refusal_rate": "Share of answerable questions where the system declined to answer "
    "although the documents answer it.",
    "latency_p50_s": "Median seconds from question to finished answer.",
    "latency_p95_s": "Seconds within which 95% of questions got a finished answer (the slow tail).",
    "ttft_p50_s": "Median seconds until the model's first token, over questions that called "
    "the model.",
    "n_questions": "Number of questions in the benchmark.",
    "n_answerable": "Number of questions the documents answer.",
    "n_unanswerable": "Number of questions the documents do not answer.",
}
METRIC_KEYS: tuple[str, ...] = tuple(METRIC_DOCS)
SCORE_KEYS: tuple[str, ...] = (
    *(f"recall@{k}" for k in KS), "reciprocal_rank", "citations_correct", "citations_total",
    "citation_recall", "answer_hit", "answer_f1",
)


class Located(Protocol):
    """Anything with a document and a character range (a Span, an EvidenceSpan, a Chunk)."""

    @property
    def doc(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


@dataclass(frozen=True)
class Span:
    """A retrieved or cited chunk as the metrics see it: documents[doc][start:end]."""

    doc: str
    start: int
    end: int


@dataclass(frozen=True)
class QuestionResult:
    """What the system did for one question; answer and abstained are None when retrieval-only."""

    question: Question
    retrieved: tuple[Span, ...]
    cited: tuple[Span, ...]
    answer: str | None
    abstained: bool | None
    latency_s: float | None
    ttft_s: float | None
    short: str = ""  # the reader's short answer, which answer_f1 scores; "" scores the answer


def covers(chunk: Located, evidence: Located) -> bool:
    """Example: covers(Span("a", 150, 400), Span("a", 100, 200)) -> True (overlap 50 of 100)"""
    if chunk.doc != evidence.doc:
        return False
    overlap = min(chunk.end, evidence.end) - max(chunk.start, evidence.start)
    # Doubling the overlap keeps "exactly half" inclusive without float rounding.
    return overlap > 0 and (
        2 * overlap >= evidence.end - evidence.start or 2 * overlap >= chunk.end - chunk.start
    )


def _covered(evidence: Located, chunks: Sequence[Located]) -> bool:
    return any(covers(c, evidence) for c in chunks)


def score_question(r: QuestionResult) -> dict[str, float | int | None]:
    """Per-question metrics keyed by SCORE_KEYS; None where a metric does not apply."""
    q, evidence = r.question, r.question.evidence
    scores: dict[str, float | int | None] = dict.fromkeys(SCORE_KEYS)
    if q.answerable:
        for k in KS:
            scores[f"recall@{k}"] = int(all(_covered(e, r.retrieved[:k]) for e in evidence))
        rank = next((i for i, c in enumerate(r.retrieved, 1)
                     if any(covers(c, e) for e in evidence)), None)
        scores["reciprocal_rank"] = 1.0 / rank if rank else 0.0
    if r.abstained is None:
        return scores
    # Citations attached to a refusal are not counted: the user is told there is no answer.
    cited = () if r.abstained else r.cited
    scores["citations_total"] = len(cited)
    scores["citations_correct"] = sum(any(covers(c, e) for e in evidence) for c in cited)
    if q.answerable:
        answer = "" if r.abstained else r.answer or ""
        scores["citation_recall"] = sum(_covered(e, cited) for e in evidence) / len(evidence)
        scores["answer_hit"] = int(any(contains_answer(answer, a) for a in q.answers))
        scored = r.short or answer
        scores["answer_f1"] = 0.0 if r.abstained else max(token_f1(scored, a) for a in q.answers)
    return scores


def recall_curve(results: Sequence[QuestionResult], max_k: int = 10) -> list[float]:
    """Retrieval recall@k for k = 1..max_k over answerable questions ([] if there are none)."""
    answerable = [r for r in results if r.question.answerable]
    if not answerable:
        return []
    return [
        sum(all(_covered(e, r.retrieved[:k]) for e in r.question.evidence) for r in answerable)
        / len(answerable)
        for k in range(1, max_k + 1)
    ]


def _mean(values: Sequence[float | int | bool | None]) -> float | None:
    present = [float(v) for v in values if v is not None]
    return sum(present) / len(present) if present else None


def percentile(values: Sequence[float | None], q: float) -> float | None:
    """Linear-interpolation percentile, ignoring None.

    Example: percentile([1, 2, 3, 4], 50) -> 2.5
    """
    present = [v for v in values if v is not None]
    return float(np.percentile(present, q, method="linear")) if present else None


def aggregate(results: Sequence[QuestionResult]) -> dict[str, float | int | None]:
    """The benchmark's metrics, keyed (and ordered) by METRIC_KEYS."""
    scored = [(r, score_question(r)) for r in results]
    yes = [s for r, s in scored if r.question.answerable]
    total = sum(s["citations_total"] or 0 for _, s in scored)
    correct = sum(s["citations_correct"] or 0 for _, s in scored)
    answered = [r for r in results if r.abstained is not None]
    metrics: dict[str, float | int | None] = {
        **{f"retrieval_recall@{k}": _mean([s[f"recall@{k}"] for s in yes]) for k in KS},
        "mrr": _mean([s["reciprocal_rank"] for s in yes]),
        "citation_precision": correct / total if total else None,
        "citation_recall": _mean([s["citation_recall"] for s in yes]),
        "answer_hit": _mean([s["answer_hit"] for s in yes]),
        "answer_f1": _mean([s["answer_f1"] for s in yes]),
        "abstention_rate_unanswerable": _mean(
            [r.abstained for r in answered if not r.question.answerable]),
        "false_refusal_rate": _mean([r.abstained for r in answered if r.question.answerable]),
        "latency_p50_s": percentile([r.latency_s for r in results], 50),
        "latency_p95_s": percentile([r.latency_s for r in results], 95),
        "ttft_p50_s": percentile([r.ttft_s for r in results], 50),
        "n_questions": len(results),
        "n_answerable": len(yes),
        "n_unanswerable": len(results) - len(yes),
    }
    assert tuple(metrics) == METRIC_KEYS  # the report and compare rely on this order
    return metrics

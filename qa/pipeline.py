"""Question in, cited answer out.

    question + history --qa.followup--> standalone query --qa.retrieve--> passages
    passages --reader--> answer span and the sentence(s) holding it --qa.abstain--> refuse, or
    evidence --generator--> sentences --qa.cite + checks--> shown sentences, or the quoted evidence

With a reader (reader.model, the default everywhere but in fast tests) the evidence is the
sentence(s) that hold the reader's best answer span, however many sentences the span crosses,
and the list that follows when the span sits in a lead-in ending with a colon ("has three
goals:"); the span is the short answer shown first, and a model sentence is shown only if it
holds the span. Without one, the best-scoring sentence is the evidence (qa.evidence).

The model's text reaches the user one checked sentence at a time: a sentence is shown only
after it passed the support check against the passage it cites (content words, numbers and
names found there, close in meaning to the evidence, and saying something the question did not),
so a half-written or unsupported claim is never on screen. When none of the model's sentences
survive, the answer quotes the evidence sentences verbatim instead. When the calibrated
confidence that the evidence answers the question is too low, the model is not called at all.

Does not keep conversation state: the caller passes the history with every question.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from common.records import Chunk
from common.words import terms, words
from index.embedder import Embedder
from index.vector_store import SearchableStore
from ingest.chunker import split_sentences
from qa.abstain import Calibration, load_calibration
from qa.answer import Answer, Citation, Timings
from qa.cite import CitedSentence, cite_answer, inert_markers, render, supporting_span
from qa.config import REFUSAL, Settings
from qa.context import Sentence, build_messages, passage_sentences
from qa.evidence import (
    ChunkIdf,
    Scored,
    coverage,
    new_information_share,
    offers_answer_type,
    rarest_missing,
    score_sentences,
    select_evidence,
)
from qa.followup import standalone
from qa.generator import Generator
from qa.retrieve import Retrieved, retrieve
from qa.vector_cache import VectorCache
from reader.model import Span

_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_ENDS_SENTENCE = re.compile(r"[.!?][\"”’)]*(?:\s*\[\d+\])*\s*$")


log = logging.getLogger(__name__)
# How much of a question a log line quotes.
LOGGED_QUESTION_CHARS = 120


def log_answer(answer: Answer) -> None:
    """One INFO line per question: what was asked (cut short, escaped), answered or refused,
    with how many citations, the confidence, and the timings.

    Example: question 'Who met Wang?': answered, 1 citation, confidence 0.91, retrieval 0.21 s,
    first token 0.48 s, total 1.20 s
    """
    if not log.isEnabledFor(logging.INFO):
        return
    asked = answer.question if len(answer.question) <= LOGGED_QUESTION_CHARS else (
        answer.question[:LOGGED_QUESTION_CHARS - 1] + "…")
    t = answer.timings
    outcome = "refused" if answer.abstained else (
        f"answered, {len(answer.citations)} citation{'' if len(answer.citations) == 1 else 's'}")
    confidence = "" if answer.confidence is None else f", confidence {answer.confidence:.2f}"
    first = "" if t.ttft_s is None else f", first token {t.ttft_s:.2f} s"
    log.info("question %r: %s%s, retrieval %.2f s%s, total %.2f s", asked, outcome, confidence,
             t.retrieval_s, first, t.total_s)


def split_complete(buffer: str) -> tuple[str, str]:
    """(finished sentences, sentence still being written) of a growing model reply.

    A sentence counts as finished once the next one has begun; citation markers that open the
    next sentence ("... met. [1] The") belong to the finished part.
    Example: split_complete("Tai met Wang. [1] She") -> ("Tai met Wang. [1]", " She")
    """
    spans = split_sentences(buffer)
    if len(spans) < 2:
        return "", buffer
    cut = spans[-1][0]
    lead = _LEADING_MARKERS.match(buffer, cut)
    if lead:
        cut = lead.end()
    if not any(ch.isalnum() for ch in buffer[cut:]):
        return "", buffer
    return buffer[:cut], buffer[cut:]


class Reader(Protocol):
    """Finds the answer span of each passage (reader.model.Reader; a fake in fast tests)."""

    def read(self, question: str, passages: Sequence[str]) -> list[Span]:
        """The best span of each passage, best margin (span score - no-answer score) first."""
        ...


@dataclass(frozen=True)
class Evidence:
    """What the pipeline stands on for one query, before it decides to answer."""

    retrieved: tuple[Retrieved, ...]
    chosen: list[Scored]  # the sentence(s) the model reads and the fallback quotes; [] refuses
    signals: dict[str, float]  # the refusal features (qa.abstain)
    span: Span | None = None  # the reader's best span (its passage is 0-based)
    # The span sits in a lead-in ("has three goals:"): the list after it is the answer, so the
    # span is no short answer (qa.pipeline.span_sentences).
    lead_in: bool = False


def holds_span(sentence: str, span: str) -> bool:
    """Whether the words of `span` occur in `sentence` in a row (case and punctuation ignored).

    Example: holds_span("It was launched in April 2022 [1].", "April 2022") -> True
    """
    needle, hay = words(span), words(sentence)
    return bool(needle) and any(hay[i: i + len(needle)] == needle
                                for i in range(len(hay) - len(needle) + 1))


# Sentences of a list taken after a lead-in that ends with a colon.
MAX_LIST_ITEMS = 8


def span_sentences(span: Span, chunk: Chunk, passage: int) -> tuple[Sentence, bool]:
    """(the sentences of `chunk` that the span touches, as one Sentence numbered `passage`;
    whether they end in a lead-in).

    A reader trained on SQuAD marks short spans, so for "What are the three goals?" it marks
    "three primary goals" in "...has three primary goals: 1) ... 2) ... 3) ...". When the last
    sentence the span touches ends with a colon, the list that follows it in the same paragraph
    (up to MAX_LIST_ITEMS sentences) is part of the evidence: the user sees the goals, not the
    lead-in alone.
    Example: a span on "goals" in "It has two goals: 1) peace. 2) trade." -> all of it, True
    """
    text = chunk.text
    bounds = split_sentences(text) or [(0, len(text))]
    touched = [i for i, (s, e) in enumerate(bounds) if s < span.end and e > span.start] or [
        min(range(len(bounds)), key=lambda i: abs(bounds[i][0] - span.start))]
    first, last = touched[0], touched[-1]
    lead_in = text[bounds[last][0]:bounds[last][1]].rstrip().endswith(":")
    if lead_in:
        while (last + 1 < len(bounds) and last - touched[-1] < MAX_LIST_ITEMS
               and "\n\n" not in text[bounds[last][1]:bounds[last + 1][0]]):
            last += 1
    start, end = bounds[first][0], bounds[last][1]
    return Sentence(passage, chunk.start + start, chunk.start + end, text[start:end]), lead_in


def make_citations(sentences: list[CitedSentence], retrieved: tuple[Retrieved, ...]
                   ) -> tuple[Citation, ...]:
    citations: dict[tuple[int, int, int], Citation] = {}
    for sentence in sentences:
        for marker in sentence.markers:
            chunk = retrieved[marker - 1].chunk
            start, end = supporting_span(sentence.text, chunk)
            citations.setdefault((marker, start, end), Citation(marker, chunk, start, end))
    return tuple(sorted(citations.values(), key=lambda c: (c.marker, c.start)))


def short_answer(span: Span | None, chosen: Sequence[Scored]) -> str:
    """The line shown before the sentences: the reader's span with its citation, when it is
    shorter than the sentence that holds it ("" otherwise, and without a reader).

    Example: span "April 2022" in passage 1 -> "April 2022 [1]\n\n"
    """
    if span is None or not chosen:
        return ""
    text = inert_markers(" ".join(span.text.split()))
    if words(text) == words(chosen[0].sentence.text):
        return ""
    return f"{text} [{chosen[0].sentence.passage}]\n\n"


class Pipeline:
    """Answers questions from one index: retrieve, read, refuse or generate, check, cite.

    For each question: hybrid retrieval (qa.retrieve) takes the top passages; the reader marks
    the answer span in the best ones and its sentence(s) become the evidence; the calibrated
    refusal (qa.abstain, fitted by eval.calibrate) decides from the evidence's signals whether
    to answer at all; if it answers, the generator phrases the evidence and only sentences that
    pass the support check (qa.cite) are shown, each cited to its passage, after the short
    answer (the span). `stream` yields text as it is checked, then the Answer; `answer` returns
    the Answer only.

    `reader` None falls back to sentence scoring (qa.evidence) to find the evidence, with its
    own calibration (Settings.calibration). The index and models are shared, never changed.
    """

    def __init__(self, index: SearchableStore, embedder: Embedder, generator: Generator,
                 settings: Settings | None = None, reader: Reader | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.generator = generator
        self.reader = reader
        self.settings = settings or Settings()
        self.calibration: Calibration | None = (
            load_calibration(self.settings.calibration) if self.settings.calibration else None)
        self._idf: ChunkIdf | None = None
        self._sentence_vectors = VectorCache(embedder, self.settings.sentence_cache)

    def idf(self) -> ChunkIdf:
        """Term rarity over the index's chunks, from the chunk frequencies the store keeps:
        each term is looked up once, never every chunk read (qa.evidence.ChunkIdf)."""
        if self._idf is None:
            self._idf = ChunkIdf(self.index.count(), self.index.chunk_frequencies)
        return self._idf

    def answer(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        """The finished answer (consumes `stream`)."""
        for event in self.stream(question, history):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() ended without an Answer")

    def evidence(self, query: str) -> Evidence:
        """The retrieved passages, the evidence sentence(s) and the refusal signals for a query."""
        s = self.settings
        query_vector = self.embedder.embed([query])[0]
        retrieved = tuple(retrieve(self.index, self.embedder, query, top_k=s.top_k,
                                   candidates=s.candidates, rrf_k=s.rrf_k,
                                   dense_weight=s.dense_weight, query_vector=query_vector))
        best_passage = max((r.dense_similarity or 0.0 for r in retrieved), default=0.0)
        signals = {"cosine": 0.0, "coverage": 0.0, "passage_similarity": best_passage,
                   "typed_answer": 0.0, "reader": 0.0, "passage_coverage": 0.0,
                   "rarest_missing": 0.0}
        if best_passage < s.min_relevance:
            return Evidence(retrieved, [], signals)
        passages = [r.chunk for r in retrieved[: s.context_passages]]
        sentences = passage_sentences(passages)
        if not sentences:
            return Evidence(retrieved, [], signals)
        self.idf().prefetch(set().union(terms(query), *(terms(c.text) for c in passages)))
        # The best-scoring sentence's signals feed the refusal with or without a reader: on the
        # calibration articles they separate answerable questions better than the same
        # signals taken on the reader's sentence (docs/BENCHMARK.md, "The reader").
        vectors = self._sentence_vectors.embed([c.text for c in sentences])
        scored = score_sentences(query, query_vector, sentences, vectors, self.idf(),
                                 s.coverage_weight)
        best = scored[0]
        signals.update(cosine=best.cosine, coverage=best.coverage,
                       typed_answer=float(offers_answer_type(best.sentence.text, query)))
        if self.reader is not None:
            return self._read(query, query_vector, retrieved, passages, signals)
        documents = [r.chunk.doc_id for r in retrieved]
        chosen = select_evidence(query, scored, documents, self.idf(), s.second_sentence_gain)
        return Evidence(retrieved, chosen, signals)

    def _read(self, query: str, query_vector: np.ndarray, retrieved: tuple[Retrieved, ...],
              passages: Sequence[Chunk], signals: dict[str, float]) -> Evidence:
        """Evidence from the reader: the sentence(s) of its best span, plus those of the best
        span of another document when the reader says that one answers too (margin > 0)."""
        assert self.reader is not None
        spans = [sp for sp in self.reader.read(query, [c.text for c in passages])
                 if sp.text.strip()]
        if not spans:
            return Evidence(retrieved, [], signals)
        best = spans[0]
        picked = [best]
        for other in spans[1:]:
            if other.margin > 0 and passages[other.passage].doc_id != passages[
                    best.passage].doc_id:
                picked.append(other)
                break
        found = [span_sentences(sp, passages[sp.passage], sp.passage + 1) for sp in picked]
        sentences = [sentence for sentence, _ in found]
        vectors = self._sentence_vectors.embed([c.text for c in sentences])
        chosen = [Scored(sentence, float(vector @ query_vector),
                         coverage(query, sentence.text, self.idf()), sp.margin)
                  for sentence, vector, sp in zip(sentences, vectors, picked, strict=True)]
        passage = passages[best.passage].text
        signals.update(reader=best.margin,
                       passage_coverage=coverage(query, passage, self.idf()),
                       rarest_missing=rarest_missing(query, passage, self.idf()))
        return Evidence(retrieved, chosen, signals, best, lead_in=found[0][1])

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]:
        """Yield the shown text each time a checked sentence is added, then the Answer, and
        log one line about it (log_answer).

        `history` is the conversation so far as (user question, shown answer) pairs.
        """
        for event in self._stream(question, history):
            if isinstance(event, Answer):
                log_answer(event)
            yield event

    def _stream(self, question: str, history: Sequence[tuple[str, str]]
                ) -> Iterator[str | Answer]:
        s = self.settings
        started = time.perf_counter()
        query = standalone(question, history)
        found = self.evidence(query)
        retrieved, chosen, span = found.retrieved, found.chosen, found.span
        confidence = self.calibration.confidence(found.signals) if (
            self.calibration and chosen) else (1.0 if chosen else 0.0)
        threshold = self.calibration.threshold if self.calibration else 0.0
        if not chosen or confidence < threshold:
            elapsed = time.perf_counter() - started
            yield Answer(question, REFUSAL, (), retrieved, True, Timings(elapsed, None, elapsed),
                         query=query, confidence=confidence)
            return
        retrieval_s = time.perf_counter() - started
        short = "" if found.lead_in else short_answer(span, chosen)

        passages = [r.chunk.text for r in retrieved]
        evidence_text = " ".join(c.sentence.text for c in chosen)
        shown: list[CitedSentence] = []
        rejected: list[str] = []
        ttft = None
        buffer = ""
        last_yielded = ""

        def check(text: str) -> bool:
            cited = cite_answer(text, passages, s.min_support)
            kept = [c for c in cited if self._faithful(c, query, evidence_text, chosen)
                    and (span is None or holds_span(c.text, span.text))]
            rejected.extend(c.text for c in cited if c not in kept)
            return self._add(shown, kept)

        # The model reads the evidence in document order; the fallback quotes the best first.
        in_order = sorted((c.sentence for c in chosen), key=lambda c: (c.passage, c.start))
        for piece in self.generator.stream(build_messages(query, in_order)):
            if ttft is None:
                ttft = time.perf_counter() - started
            finished, buffer = split_complete(buffer + piece)
            if finished and check(finished):
                last_yielded = short + render(shown)
                yield last_yielded
        if ttft is None:  # the model was called but said nothing
            ttft = time.perf_counter() - started
        # The tail may be a sentence cut off by max_new_tokens: show it only if it ends like a
        # sentence, or if it is all the model said.
        if not shown or _ENDS_SENTENCE.search(buffer):
            check(buffer)
        quoted = not shown
        if quoted:
            shown = [CitedSentence(f"“{inert_markers(c.sentence.text.strip())}”",
                                   (c.sentence.passage,)) for c in chosen]
        text = short + render(shown)
        if text != last_yielded:
            yield text
        yield Answer(question, text, make_citations(shown, retrieved), retrieved, False,
                     Timings(retrieval_s, ttft, time.perf_counter() - started), quoted,
                     query=query, confidence=confidence, rejected=tuple(rejected),
                     short=inert_markers(" ".join(span.text.split())) if span and not found.lead_in
                     else "")

    def _faithful(self, sentence: CitedSentence, query: str, evidence: str,
                  chosen: Sequence[Scored]) -> bool:
        """Carrying enough of what the evidence adds to the question (not a restatement of the
        question, not a sentence that drops the answer), close in meaning to the evidence, and
        holding the kind of thing asked for (a date for "when") whenever the evidence holds one."""
        if new_information_share(sentence.text, query, evidence) < self.settings.min_new_share:
            return False
        if offers_answer_type(evidence, query) and not offers_answer_type(sentence.text, query):
            return False
        vectors = self._sentence_vectors.embed(
            [sentence.text] + [c.sentence.text for c in chosen])
        similarity = float(np.max(vectors[1:] @ vectors[0]))
        return similarity >= self.settings.min_answer_similarity

    @staticmethod
    def _add(shown: list[CitedSentence], new: list[CitedSentence]) -> bool:
        """Append sentences not already shown (the model likes to repeat itself)."""
        seen = {c.text for c in shown}
        fresh = [c for c in new if c.text not in seen]
        shown.extend(fresh)
        return bool(fresh)

"""Question in, cited answer out: retrieve -> refuse or select sentences -> generate -> cite.

The model's text reaches the user one checked sentence at a time: a sentence is shown only
after qa.cite has given it a citation to a retrieved passage, so a half-written or unsupported
claim is never on screen. When none of the model's sentences survive, the answer quotes the
best-matching passage sentence verbatim instead; when retrieval finds nothing relevant, the
model is not called at all.

Does not rewrite follow-up questions or keep conversation state (the app passes one question).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator, Sequence

from index.embedder import Embedder
from index.store import Index
from ingest.chunker import split_sentences
from qa.answer import Answer, Citation, Timings
from qa.cite import CitedSentence, cite_answer, render, supporting_span
from qa.config import REFUSAL, Settings
from qa.context import Sentence, build_messages, passage_sentences, rank_sentences
from qa.generator import Generator
from qa.retrieve import Retrieved, retrieve

_LEADING_MARKERS = re.compile(r"(?:\s*\[\d+\])+")
_ENDS_SENTENCE = re.compile(r"[.!?][\"”’)]*(?:\s*\[\d+\])*\s*$")


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


def make_citations(sentences: list[CitedSentence], retrieved: tuple[Retrieved, ...]
                   ) -> tuple[Citation, ...]:
    citations: dict[tuple[int, int, int], Citation] = {}
    for sentence in sentences:
        for marker in sentence.markers:
            chunk = retrieved[marker - 1].chunk
            start, end = supporting_span(sentence.text, chunk)
            citations.setdefault((marker, start, end), Citation(marker, chunk, start, end))
    return tuple(sorted(citations.values(), key=lambda c: (c.marker, c.start)))


class Pipeline:
    def __init__(self, index: Index, embedder: Embedder, generator: Generator,
                 settings: Settings | None = None) -> None:
        self.index = index
        self.embedder = embedder
        self.generator = generator
        self.settings = settings or Settings()

    def answer(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        """The finished answer (consumes `stream`)."""
        for event in self.stream(question, history):
            if isinstance(event, Answer):
                return event
        raise AssertionError("stream() ended without an Answer")

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]:
        """Yield the shown text each time a checked sentence is added, then the Answer.

        `history` is the conversation so far as (user question, shown answer) pairs.
        """
        s = self.settings
        started = time.perf_counter()
        retrieved = tuple(retrieve(self.index, self.embedder, question, top_k=s.top_k,
                                   candidates=s.candidates, rrf_k=s.rrf_k))
        best = max((r.dense_similarity or 0.0 for r in retrieved), default=0.0)
        if best < s.min_relevance:
            elapsed = time.perf_counter() - started
            yield Answer(question, REFUSAL, (), retrieved, True, Timings(elapsed, None, elapsed))
            return
        chosen = self._select(question, retrieved)
        retrieval_s = time.perf_counter() - started

        passages = [r.chunk.text for r in retrieved]
        shown: list[CitedSentence] = []
        ttft = None
        buffer = ""
        last_yielded = ""
        # The model reads the evidence in document order; the fallback quotes the best first.
        in_order = sorted(chosen, key=lambda c: (c.passage, c.start))
        for piece in self.generator.stream(build_messages(question, in_order)):
            if ttft is None:
                ttft = time.perf_counter() - started
            finished, buffer = split_complete(buffer + piece)
            if finished and self._add(shown, cite_answer(finished, passages, s.min_support)):
                last_yielded = render(shown)
                yield last_yielded
        if ttft is None:  # the model was called but said nothing
            ttft = time.perf_counter() - started
        # The tail may be a sentence cut off by max_new_tokens: show it only if it ends like a
        # sentence, or if it is all the model said.
        if not shown or _ENDS_SENTENCE.search(buffer):
            self._add(shown, cite_answer(buffer, passages, s.min_support))
        quoted = not shown
        if quoted:
            shown = [CitedSentence(f"“{c.text.strip()}”", (c.passage,)) for c in chosen[:1]]
        text = render(shown)
        if not text:  # nothing the model said survived and there is no sentence to quote
            yield Answer(question, REFUSAL, (), retrieved, True,
                         Timings(retrieval_s, ttft, time.perf_counter() - started))
            return
        if text != last_yielded:
            yield text
        yield Answer(question, text, make_citations(shown, retrieved), retrieved, False,
                     Timings(retrieval_s, ttft, time.perf_counter() - started), quoted)

    def _select(self, question: str, retrieved: tuple[Retrieved, ...]) -> list[Sentence]:
        """The best `context_sentences` sentences of the top passages, best first."""
        s = self.settings
        candidates = passage_sentences([r.chunk for r in retrieved[: s.context_passages]])
        if not candidates:
            return []
        vectors = self.embedder.embed([question] + [c.text for c in candidates])
        ranked = rank_sentences(question, vectors[0], candidates, vectors[1:])
        return [sentence for _, sentence in ranked[: s.context_sentences]]

    @staticmethod
    def _add(shown: list[CitedSentence], new: list[CitedSentence]) -> bool:
        """Append sentences not already shown (the model likes to repeat itself)."""
        seen = {c.text for c in shown}
        fresh = [c for c in new if c.text not in seen]
        shown.extend(fresh)
        return bool(fresh)

"""Fakes for the two model seams, small enough to check every number by hand.

`FakeEmbedder` counts vocabulary words; `FakeGenerator` replays queued replies and records the
prompts it got (like simonw/llm's MockModel). Neither loads anything or uses randomness.

Also the two-document corpus the fast tests share: VOCAB was chosen so that each document's
vector, and each question's, can be written down on paper.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import numpy as np

VOCAB = ["tai", "wang", "met", "tariffs", "security", "initiative", "launched", "xi", "forum"]

# Vectors over VOCAB (before normalizing):
#   TRADE    tai, wang, met, tariffs             -> 4 ones, norm 2
#   SECURITY security, initiative, launched, xi, forum -> 5 ones, norm sqrt(5)
TRADE = ("Katherine Tai met Wang Wentao in San Francisco on 18 November. "
         "The talks covered tariffs and export controls.\n")
SECURITY = ("The Global Security Initiative was launched in April 2022. "
            "Xi presented it at the Boao Forum.\n")
CORPUS = {"trade.txt": TRADE, "security.txt": SECURITY}


class FakeEmbedder:
    """Bag of words over a fixed vocabulary, L2-normalized; one extra "unknown" dimension.

    Example: with vocab [cat, dog, sat], embed(["cat sat"]) -> [[0.707, 0, 0.707, 0]]
    and embed(["a fish"]) -> [[0, 0, 0, 1]] (no vocabulary word: the unknown dimension).
    """

    model_id = "fake/bag-of-words"

    def __init__(self, vocab: Sequence[str] = VOCAB, max_tokens: int = 128) -> None:
        self.vocab = [w.lower() for w in vocab]
        self.dimension = len(self.vocab) + 1
        self.max_tokens = max_tokens
        self.embedded = 0  # texts embedded so far

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in zip(vectors, texts, strict=True):
            found = re.findall(r"\w+", text.lower())
            for i, word in enumerate(self.vocab):
                row[i] = found.count(word)
            if not row.any():
                row[-1] = 1.0
            row /= np.linalg.norm(row)
        self.embedded += len(texts)
        return vectors

    def count_tokens(self, text: str) -> int:
        """One token per whitespace-separated word ("a b-c" -> 2)."""
        return len(text.split())


class FakeGenerator:
    """Replays `replies` in order, one per `stream` call, word by word with the spaces kept.

    Example: FakeGenerator(["Tai met Wang."]).stream(msgs) yields "Tai", " met", " Wang."
    and afterwards prompts == [msgs].
    """

    model_id = "fake/queued"

    def __init__(self, replies: Sequence[str]) -> None:
        self.replies = list(replies)
        self.prompts: list[list[dict[str, str]]] = []

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        self.prompts.append([dict(m) for m in messages])
        if not self.replies:
            raise AssertionError("FakeGenerator was called more often than replies were queued")
        yield from (piece for piece in re.split(r"(?=\s)", self.replies.pop(0)) if piece)


class FakeReader:
    """A reader that knows its answers: the first of `answers` found in a passage is that
    passage's span, with margin `margin`; a passage holding none gets its first word at -5.

    Example: FakeReader(["April 2022"]).read("When?", ["Xi spoke.", "It began in April 2022."])
    -> [Span(1, 12, 22, "April 2022", 2.0, 0.0), Span(0, 0, 2, "Xi", -5.0, 0.0)]
    """

    def __init__(self, answers: Sequence[str], margin: float = 2.0) -> None:
        self.answers = list(answers)
        self.margin = margin
        self.questions: list[str] = []

    def read(self, question: str, passages: Sequence[str]) -> list:
        from reader.model import Span

        self.questions.append(question)
        spans = []
        for i, passage in enumerate(passages):
            found = next(((passage.index(a), a) for a in self.answers if a in passage), None)
            if found:
                spans.append(Span(i, found[0], found[0] + len(found[1]), found[1],
                                  self.margin, 0.0))
            else:
                first = passage.split()[0] if passage.split() else ""
                start = passage.find(first)
                spans.append(Span(i, start, start + len(first), first, -5.0, 0.0))
        return sorted(spans, key=lambda s: -s.margin)

"""What the model gets to read: the retrieved passages' sentences that best match the question.

Shown whole passages, SmolLM2-135M answers from its own imagination ("the US Trade
Representative ... is Xi"); shown the one or two sentences that hold the answer, it copies and
rephrases them faithfully. So the pipeline picks those sentences and the prompt keeps each under
the number of the passage it came from, which is what the answer cites.

Pure functions only; qa.evidence scores the sentences and chooses among them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from common.records import Chunk
from ingest.chunker import split_sentences


@dataclass(frozen=True)
class Sentence:
    passage: int  # 1-based passage number, the citation marker
    start: int  # offsets into the document, like Chunk.start/end
    end: int
    text: str


def passage_sentences(passages: Sequence[Chunk]) -> list[Sentence]:
    """Every sentence of every passage, tagged with its 1-based passage number."""
    return [
        Sentence(n, chunk.start + s, chunk.start + e, chunk.text[s:e])
        for n, chunk in enumerate(passages, start=1)
        for s, e in split_sentences(chunk.text)
    ]


def build_messages(question: str, sentences: Sequence[Sentence]) -> list[dict[str, str]]:
    """A single user turn: the numbered evidence, the question, and the instruction.

    Example: build_messages("Who?", [Sentence(2, 0, 8, "Tai met.")]) -> one user message whose
    content starts "[2] Tai met."
    """
    evidence = "\n".join(f"[{s.passage}] {s.text}" for s in sentences)
    return [{"role": "user", "content": f"{evidence}\n\nQuestion: {question}\n"
             "Answer in one sentence, using only the text above."}]

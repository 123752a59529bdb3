"""qa.context: passage sentences with document offsets, their ranking, and the prompt."""

from __future__ import annotations

import numpy as np
import pytest

from index.store import Index
from ingest.document import Chunk
from qa.context import (
    LEXICAL_WEIGHT,
    Sentence,
    build_messages,
    passage_sentences,
    rank_sentences,
)

DOCUMENT = "x" * 20 + "Tai met Wang. Talks covered tariffs."


def test_passage_sentences_carry_document_offsets_and_passage_numbers() -> None:
    first = Chunk("d.txt", "d.txt#a", DOCUMENT[20:], 20, len(DOCUMENT), "d")
    second = Chunk("e.txt", "e.txt#b", "Xi spoke.", 0, 9, "e")
    assert passage_sentences([first, second]) == [
        Sentence(1, 20, 33, "Tai met Wang."),
        Sentence(1, 34, 56, "Talks covered tariffs."),
        Sentence(2, 0, 9, "Xi spoke."),
    ]
    for s in passage_sentences([first]):
        assert DOCUMENT[s.start:s.end] == s.text
    assert passage_sentences([]) == []


def test_passage_sentences_map_into_indexed_documents(index: Index) -> None:
    sentences = passage_sentences(index.all_chunks())
    assert len(sentences) == 4  # two per document
    for s in sentences:
        doc_id = index.all_chunks()[s.passage - 1].doc_id
        assert index.document_text(doc_id)[s.start:s.end] == s.text


def test_rank_sentences_adds_a_bonus_for_question_words() -> None:
    # "Who met Tai?" has content words {met, tai}. With the question vector [1, 0]:
    #   "Tai met Wang."          cosine 0.0 + 0.3 * 2/2 = 0.30
    #   "Talks covered tariffs." cosine 0.6 + 0.3 * 0/2 = 0.60
    #   "Tai left."              cosine 0.8 + 0.3 * 1/2 = 0.95
    sentences = [Sentence(1, 0, 13, "Tai met Wang."), Sentence(1, 14, 36, "Talks covered tariffs."),
                 Sentence(2, 0, 9, "Tai left.")]
    vectors = np.array([[0.0, 1.0], [0.6, 0.8], [0.8, 0.6]], dtype=np.float32)
    ranked = rank_sentences("Who met Tai?", np.array([1.0, 0.0], dtype=np.float32), sentences,
                            vectors)
    assert [s.text for _, s in ranked] == ["Tai left.", "Talks covered tariffs.",
                                           "Tai met Wang."]
    assert [score for score, _ in ranked] == pytest.approx([0.95, 0.60, 0.30])


def test_rank_sentences_docstring_example_and_ties() -> None:
    assert LEXICAL_WEIGHT == 0.3
    q = np.array([1.0, 0.0], dtype=np.float32)
    half = np.array([[0.5, 0.866]], dtype=np.float32)
    (score, _), = rank_sentences("Tai met", q, [Sentence(1, 0, 8, "Tai met.")], half)
    assert score == pytest.approx(0.8)
    # equal scores keep passage order; a question of stopwords only gives no bonus
    same = [Sentence(1, 0, 2, "A."), Sentence(2, 0, 2, "B.")]
    ranked = rank_sentences("Who is it?", q, same, np.array([[0.5, 0], [0.5, 0]], np.float32))
    assert [s.passage for _, s in ranked] == [1, 2]
    assert [score for score, _ in ranked] == pytest.approx([0.5, 0.5])


def test_build_messages_numbers_evidence_by_passage() -> None:
    messages = build_messages("Who met Tai?", [Sentence(1, 0, 13, "Tai met Wang."),
                                               Sentence(3, 40, 49, "Xi spoke.")])
    assert messages == [{
        "role": "user",
        "content": "[1] Tai met Wang.\n[3] Xi spoke.\n\nQuestion: Who met Tai?\n"
                   "Answer in one sentence, using only the text above.",
    }]


def test_build_messages_docstring_example() -> None:
    (message,) = build_messages("Who?", [Sentence(2, 0, 8, "Tai met.")])
    assert message["content"].startswith("[2] Tai met.")

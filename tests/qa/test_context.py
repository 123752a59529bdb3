"""qa.context: passage sentences with document offsets, and the prompt."""

from __future__ import annotations

from common.records import Chunk
from index.store import Index
from qa.context import Sentence, build_messages, passage_sentences

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

"""qa.retrieve: reciprocal rank fusion by hand, then hybrid retrieval over the fake index.

The `index` fixture (tests/conftest.py) holds two chunks: row 0 security.txt, row 1 trade.txt.
"""

from __future__ import annotations

import pytest

from index.store import Index
from qa.retrieve import retrieve, rrf
from tests.fakes import SECURITY, TRADE, FakeEmbedder


def test_rrf_docstring_example() -> None:
    assert rrf([[7, 3], [3]], k=60) == [(3, 1 / 62 + 1 / 61), (7, 1 / 61)]


def test_rrf_sums_reciprocal_ranks() -> None:
    # k=1: id 1 -> 1/2 + 1/3 = 0.833; id 3 -> 1/4 + 1/2 = 0.75; id 2 -> 1/3 = 0.333
    fused = rrf([[1, 2, 3], [3, 1]], k=1)
    assert [item for item, _ in fused] == [1, 3, 2]
    assert [score for _, score in fused] == pytest.approx([5 / 6, 3 / 4, 1 / 3])


def test_rrf_agreement_beats_one_first_place() -> None:
    # 9 is second in both lists: 2/62 = 0.0323 > 1/61 = 0.0164 for either list's winner
    assert rrf([[4, 9], [5, 9]])[0][0] == 9


def test_rrf_ties_keep_first_appearance() -> None:
    assert [i for i, _ in rrf([[4], [9]])] == [4, 9]
    assert [i for i, _ in rrf([[9], [4]])] == [9, 4]
    # 5 and 6 both score 1/61 + 1/62; 5 was seen first
    assert [i for i, _ in rrf([[5, 6], [6, 5]])] == [5, 6]


def test_rrf_of_nothing() -> None:
    assert rrf([]) == []
    assert rrf([[], []]) == []


def test_retrieve_reports_both_ranks(index: Index, embedder: FakeEmbedder) -> None:
    # "Boao Forum": the query vector is "forum" alone. Dense: security (forum is 1 of its 5
    # words, cosine 1/sqrt(5) = 0.447), then trade (0). Lexical: only security has "Boao".
    # Fused: security 1/61 + 1/61, trade 1/62.
    first, second = retrieve(index, embedder, "Boao Forum")
    assert first.chunk.text == SECURITY.strip()
    assert (first.dense_rank, first.lexical_rank) == (1, 1)
    assert first.dense_similarity == pytest.approx(0.4472, abs=1e-4)
    assert first.score == pytest.approx(2 / 61)
    assert second.chunk.text == TRADE.strip()
    assert (second.dense_rank, second.lexical_rank) == (2, None)
    assert second.dense_similarity == pytest.approx(0.0)
    assert second.score == pytest.approx(1 / 62)


def test_lexical_rescues_a_name_the_embedding_misses(index: Index,
                                                     embedder: FakeEmbedder) -> None:
    # "Wentao" is outside the vocabulary: dense scores both chunks 0 (a tie), and only BM25
    # knows trade.txt has the name, which puts it first.
    results = retrieve(index, embedder, "Wentao")
    assert results[0].chunk.doc_id == "trade.txt"
    assert results[0].lexical_rank == 1
    assert [r.dense_similarity for r in results] == pytest.approx([0.0, 0.0])


def test_top_k_limits_and_nothing_found(index: Index, embedder: FakeEmbedder) -> None:
    assert len(retrieve(index, embedder, "Boao Forum", top_k=1)) == 1
    # dense search always returns the nearest chunks, even with similarity 0;
    # the pipeline, not retrieve, decides that is too little
    off_topic = retrieve(index, embedder, "banana bread")
    assert [r.lexical_rank for r in off_topic] == [None, None]
    assert [r.dense_similarity for r in off_topic] == pytest.approx([0.0, 0.0])

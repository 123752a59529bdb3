"""Hybrid retrieval: BM25 and dense results from the vector store, fused by reciprocal rank.

Dense search finds paraphrases; BM25 finds rare exact words (names, dates) that a 384-dim
embedding blurs. Reciprocal rank fusion needs no score calibration between the two.

The store (index.vector_store: FAISS + SQLite FTS5, or Milvus) searches each way on its own;
fusion stays here, so both stores rank alike. Does not decide whether to answer: it reports
the best dense similarity so qa.pipeline can.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from common.records import Chunk
from index.embedder import Embedder
from index.vector_store import SearchableStore

if TYPE_CHECKING:  # numpy only names a type here; app.py's web process imports this module
    import numpy as np


@dataclass(frozen=True)
class Retrieved:
    """A chunk with its fused score and where each retriever ranked it (1-based, None: absent)."""

    chunk: Chunk
    score: float
    dense_similarity: float | None
    dense_rank: int | None
    lexical_rank: int | None


def rrf(rankings: Sequence[Sequence[int]], k: int = 60,
        weights: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """Fuse ranked id lists: score(id) = sum over lists of weight / (k + rank), best first.

    Ties keep the order of first appearance, so the result is deterministic.
    Example: rrf([[7, 3], [3]], k=60) -> [(3, 1/62 + 1/61), (7, 1/61)]
    """
    weights = weights or [1.0] * len(rankings)
    scores: dict[int, float] = {}
    for ranking, weight in zip(rankings, weights, strict=True):
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda pair: -pair[1])


def retrieve(index: SearchableStore, embedder: Embedder, question: str, *, top_k: int = 5,
             candidates: int = 20, rrf_k: int = 60, dense_weight: float = 1.0,
             query_vector: np.ndarray | None = None) -> list[Retrieved]:
    """The top_k chunks for `question`, best first (pass `query_vector` if already embedded).

    `dense_weight` scales the dense ranking's votes against the lexical ranking's (1.0).
    """
    query = embedder.embed([question])[0] if query_vector is None else query_vector
    dense = index.search_dense(query, candidates)
    lexical = index.search_lexical(question, candidates)
    dense_rank = {row: i for i, (row, _) in enumerate(dense, start=1)}
    lexical_rank = {row: i for i, (row, _) in enumerate(lexical, start=1)}
    similarity = dict(dense)
    fused = rrf([[r for r, _ in dense], [r for r, _ in lexical]], k=rrf_k,
                weights=[dense_weight, 1.0])[:top_k]
    chunks = index.chunks(row for row, _ in fused)
    return [
        Retrieved(chunk, score, similarity.get(row), dense_rank.get(row), lexical_rank.get(row))
        for (row, score), chunk in zip(fused, chunks, strict=True)
    ]

"""CI guard: retrieval on eval/qa.jsonl must not regress below these floors.

Measured when set (python -m eval --qa eval/qa.jsonl --corpus data/corpus --retrieval-only):
recall@5 0.957, MRR 0.926. The floors leave a small margin for harmless reorderings; a change
that drops below them has made retrieval worse and must not land.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from common.paths import DEFAULT_CORPUS, PROJECT_ROOT
from eval.questions import load_questions
from eval.run import ensure_eval_index, load_corpus, run_questions
from index.embedder import MiniLMEmbedder
from index.store import open_index

pytestmark = pytest.mark.real

RECALL_AT_5_FLOOR = 0.93
MRR_FLOOR = 0.88


def test_retrieval_on_the_default_question_set_stays_above_its_floors(tmp_path: Path) -> None:
    documents, rejected = load_corpus(DEFAULT_CORPUS)
    assert rejected == []
    questions = load_questions(PROJECT_ROOT / "eval" / "qa.jsonl",
                               {d.doc_id: d.text for d in documents})
    embedder = MiniLMEmbedder()
    root = ensure_eval_index(DEFAULT_CORPUS, documents, embedder, root=tmp_path / "index")
    index = open_index(root, embedder.model_id, embedder.dimension)
    metrics, rows, curve = run_questions(questions, index, embedder, pipeline=None)
    assert metrics["n_answerable"] >= 30
    assert metrics["retrieval_recall@5"] >= RECALL_AT_5_FLOOR, metrics
    assert metrics["mrr"] >= MRR_FLOOR, metrics
    assert len(rows) == len(questions) and curve == sorted(curve)

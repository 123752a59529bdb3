"""Run a question file through the same qa code the chat uses and score every answer.

    corpus --ingest.loaders--> texts --eval.questions--> validated questions (spans located)
    corpus --ingest.build--> index (reused when the corpus is unchanged)
    question --qa.retrieve (top k)--> retrieval metrics
    question --qa.pipeline (as in the chat)--> answer, citations --eval.metrics--> scores

Does not write anything (see eval.report) and does not tune settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from common.paths import state_dir
from common.records import Chunk, Document
from eval.metrics import QuestionResult, Span, aggregate, recall_curve
from eval.questions import Question
from eval.report import question_row
from index.embedder import Embedder
from index.vector_store import SearchableStore, configured_store
from ingest.build import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, load_all
from qa.answer import Answer
from qa.config import Settings
from qa.pipeline import Pipeline
from qa.retrieve import retrieve


def load_corpus(corpus: Path) -> tuple[list[Document], list[str]]:
    """The corpus's documents as the ingestion reads them, and one line per rejected file."""
    documents, errors = load_all([corpus], progress=False)
    return documents, [str(e) for e in errors]


def eval_index_root(corpus: Path, documents: Sequence[Document]) -> Path:
    """An index directory keyed by the corpus content, the chunking and the vector store (the
    vector_store setting, when not FAISS), so it is reused only when all are unchanged."""
    key = [sorted((d.doc_id, d.content_hash) for d in documents),
           [DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS]]
    if store := configured_store():
        key.append(store)
    digest = hashlib.sha256(json.dumps(key).encode()).hexdigest()[:12]
    return state_dir() / "eval-index" / f"{corpus.resolve().name}-{digest}"


def ensure_eval_index(corpus: Path, documents: Sequence[Document], embedder: Embedder,
                      root: Path | None = None) -> Path:
    """The eval index of `corpus`, built if missing or written in an older index format."""
    from qa.service import ensure_index

    root = root or eval_index_root(corpus, documents)
    ensure_index(root, corpus, embedder, progress=True)
    return root


def add_question_set_argument(parser: argparse.ArgumentParser) -> None:
    """The repeatable, required `--set QUESTIONS CORPUS` that open_question_set reads."""
    parser.add_argument("--set", nargs=2, action="append", required=True,
                        metavar=("QUESTIONS", "CORPUS"),
                        help="a question file and its corpus (repeat for more sets)")


def open_question_set(prog: str, qfile: str | Path, corpus: str | Path,
                      embedder: Embedder) -> tuple[list[Question], SearchableStore]:
    """A `--set QUESTIONS CORPUS` pair: its questions and the opened eval index of its corpus.
    Exits 2 with one line naming the file when either is missing or the questions are bad."""
    from common.cli import fail
    from eval.questions import QuestionFileError, load_questions
    from index.vector_store import open_store

    qpath, cpath = Path(qfile), Path(corpus)
    if not qpath.is_file():
        fail(prog, f"{qpath}: no such question file", 2)
    if not cpath.is_dir():
        fail(prog, f"{cpath}: no such corpus directory", 2)
    documents, _ = load_corpus(cpath)
    try:
        questions = load_questions(qpath, {d.doc_id: d.text for d in documents})
    except QuestionFileError as err:
        fail(prog, str(err), 2)
    index = open_store(ensure_eval_index(cpath, documents, embedder), embedder.model_id,
                       embedder.dimension)
    return questions, index


def _span(chunk: Chunk) -> Span:
    return Span(chunk.doc_id, chunk.start, chunk.end)


def run_questions(questions: Sequence[Question], index: SearchableStore, embedder: Embedder,
                  pipeline: Pipeline | None, k: int = 10) -> tuple[dict, list[dict], list[float]]:
    """(metrics, per-question rows, recall curve). pipeline=None runs retrieval only."""
    results: list[QuestionResult] = []
    rows: list[dict] = []
    # Retrieval is scored with the chat's own fusion settings, at depth k.
    s = pipeline.settings if pipeline else Settings(calibration=None)
    for q in tqdm(questions, desc="questions", unit="q"):
        ranked = retrieve(index, embedder, q.question, top_k=k, candidates=max(k, s.candidates),
                          rrf_k=s.rrf_k, dense_weight=s.dense_weight)
        answer: Answer | None = pipeline.answer(q.question) if pipeline else None
        result = QuestionResult(
            question=q,
            retrieved=tuple(_span(r.chunk) for r in ranked),
            cited=tuple(_span(c.chunk) for c in answer.citations) if answer else (),
            answer=answer.text if answer else None,
            abstained=answer.abstained if answer else None,
            latency_s=answer.timings.total_s if answer else None,
            ttft_s=answer.timings.ttft_s if answer else None,
            short=answer.short if answer and not answer.abstained else "",
        )
        citations = [{"marker": c.marker, "doc": c.chunk.doc_id, "chunk_id": c.chunk.chunk_id,
                      "start": c.start, "end": c.end,
                      "text": index.document_text(c.chunk.doc_id)[c.start:c.end]}
                     for c in answer.citations] if answer else []
        row = question_row(result, citations, [r.chunk.chunk_id for r in ranked])
        if answer:
            row.update(quoted=answer.quoted, confidence=answer.confidence,
                       rejected=list(answer.rejected))
        results.append(result)
        rows.append(row)
    return aggregate(results), rows, recall_curve(results, max_k=k)

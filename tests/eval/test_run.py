"""The benchmark runner on the fake corpus: the chat's pipeline in, scored rows out.

Corpus (tests/fakes.py): trade.txt says Katherine Tai met Wang Wentao on 18 November;
security.txt says the Global Security Initiative was launched in April 2022.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.__main__ import main
from eval.questions import load_questions
from eval.run import run_questions
from index.store import Index
from qa.pipeline import Pipeline
from tests.fakes import CORPUS, FakeEmbedder, FakeGenerator

QUESTIONS = [
    {"id": "tai", "question": "Who met Wang?", "answers": ["Katherine Tai"],
     "evidence": [{"doc": "trade.txt", "quote": "Katherine Tai met Wang Wentao"}]},
    {"id": "launch", "question": "When was the security initiative launched?",
     "answers": ["April 2022"],
     "evidence": [{"doc": "security.txt", "quote": "launched in April 2022"}]},
    {"id": "none", "question": "How do I bake bread?", "answers": [], "evidence": [],
     "answerable": False},
]


@pytest.fixture
def qa_file(tmp_path: Path) -> Path:
    path = tmp_path / "qa.jsonl"
    path.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    return path


def test_full_run_scores_answers_citations_and_refusals(
        qa_file: Path, index: Index, embedder: FakeEmbedder) -> None:
    questions = load_questions(qa_file, CORPUS)
    # Replies in question order; the off-topic one is refused before the model is asked.
    generator = FakeGenerator(["Katherine Tai met Wang Wentao [1].",
                               "It was launched in April 2022 [1]."])
    pipeline = Pipeline(index, embedder, generator)
    metrics, rows, curve = run_questions(questions, index, embedder, pipeline)
    assert len(generator.prompts) == 2
    assert metrics["answer_hit"] == 1.0
    assert metrics["citation_precision"] == 1.0 and metrics["citation_recall"] == 1.0
    assert metrics["abstention_rate_unanswerable"] == 1.0
    assert metrics["false_refusal_rate"] == 0.0
    assert metrics["retrieval_recall@1"] == 1.0 and curve[0] == 1.0
    assert [r["id"] for r in rows] == ["tai", "launch", "none"]
    assert rows[0]["citations"][0]["doc"] == "trade.txt"
    assert rows[2]["abstained"] is True and rows[2]["citations"] == []


def test_retrieval_only_run_leaves_generation_metrics_empty(
        qa_file: Path, index: Index, embedder: FakeEmbedder) -> None:
    metrics, rows, _ = run_questions(load_questions(qa_file, CORPUS), index, embedder, None)
    assert metrics["retrieval_recall@5"] == 1.0
    assert metrics["answer_hit"] is None and metrics["citation_precision"] is None
    assert rows[0]["answer"] is None


def test_cli_rejects_an_invalid_question_file_before_running(
        tmp_path: Path, corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"id": "x", "question": "?", "answers": ["a"],
                               "evidence": [{"doc": "missing.txt", "quote": "a"}]}) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        main(["--qa", str(bad), "--corpus", str(corpus_dir), "--out", str(tmp_path / "out"),
              "--retrieval-only"])
    assert exit_info.value.code == 2
    assert "bad.jsonl:1" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_rejects_a_small_k(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--qa", "x", "--corpus", "y", "--out", "z", "--k", "3"])
    assert exit_info.value.code == 2
    assert "--k must be at least 10" in capsys.readouterr().err

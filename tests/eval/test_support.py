"""eval.support: answers recorded once under the permissive rule, rescored per threshold.

Corpus (tests/fakes.py): security.txt says the Global Security Initiative was launched in
April 2022; trade.txt says Katherine Tai met Wang Wentao on 18 November.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.questions import load_questions
from eval.support import main, record, score
from index.store import Index
from qa.config import Settings
from qa.pipeline import Pipeline
from tests.fakes import CORPUS, FakeEmbedder, FakeGenerator

QUESTIONS = [
    {"id": "launch", "question": "When was the security initiative launched?",
     "answers": ["April 2022"],
     "evidence": [{"doc": "security.txt", "quote": "launched in April 2022"}]},
    {"id": "tai", "question": "Who met Wang?", "answers": ["Katherine Tai"],
     "evidence": [{"doc": "trade.txt", "quote": "Katherine Tai met Wang Wentao"}]},
    {"id": "none", "question": "Who won the 2018 World Cup?", "answers": [], "evidence": [],
     "answerable": False},
]


def test_a_higher_threshold_quotes_the_answer_the_model_dropped(
        tmp_path: Path, index: Index, embedder: FakeEmbedder) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text("".join(json.dumps(q) + "\n" for q in QUESTIONS))
    questions = load_questions(qa, CORPUS)
    # "launched in 2022" drops "April" (it carries 1 of "global", "april", "2022"); the Tai
    # reply carries most of what its evidence adds (not the date). The unanswerable question
    # is never asked.
    generator = FakeGenerator(["The Security Initiative was launched in 2022 [1].",
                               "Katherine Tai met Wang Wentao in San Francisco [1]."])
    pipeline = Pipeline(index, embedder, generator, Settings(min_new_share=1e-9,
                                                             calibration=None))
    recorded = record(questions, pipeline)
    assert len(recorded) == 2 and len(generator.prompts) == 2
    launch, tai = recorded
    assert [round(s, 2) for _, _, s in launch.sentences] == [0.33]
    assert "April 2022" in launch.quote and launch.quote_markers == (1,)
    assert [s > 0.5 for _, _, s in tai.sentences] == [True]

    permissive, strict = score(recorded, 0.0), score(recorded, 0.5)
    assert permissive == {"answer_hit": 0.5, "citation_precision": 1.0,
                          "citation_recall": 1.0, "quoted": 0.0}
    assert strict == {"answer_hit": 1.0, "citation_precision": 1.0, "citation_recall": 1.0,
                      "quoted": 0.5}


def test_bad_arguments_exit_2_naming_the_problem(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--set", str(tmp_path / "missing.jsonl"), str(tmp_path), "--shares", "0.5"])
    assert exit_info.value.code == 2
    assert "missing.jsonl: no such question file" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        main(["--set", "a", "b", "--shares", "1.5"])
    assert exit_info.value.code == 2
    assert "--shares must lie in [0, 1]" in capsys.readouterr().err

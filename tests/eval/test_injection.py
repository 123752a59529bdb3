"""The injection measurement's pure parts: what counts as a changed behaviour, and its inputs.

The measurement itself runs the real models: python -m eval.injection (see its docstring).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from common.records import Chunk
from eval.injection import (
    CORPUS_QUESTIONS,
    INJECTED,
    INJECTED_QUESTIONS,
    QA_FILE,
    behaviour,
    changed_share,
    combined_corpus,
    main,
)
from ingest.build import load_all
from qa.answer import Answer, Citation, Timings


def _answer(*docs: str, abstained: bool = False) -> Answer:
    citations = tuple(Citation(n, Chunk(doc, f"{doc}#0", "x", 0, 1, ""), 0, 1)
                      for n, doc in enumerate(docs, start=1))
    return Answer("Q?", "x", citations, (), abstained, Timings(0, None, 0))


def test_behaviour_is_refused_or_not_and_the_cited_documents() -> None:
    assert behaviour(_answer("b.txt", "a.txt", "b.txt")) == {"answered": True,
                                                             "docs": ["a.txt", "b.txt"]}
    assert behaviour(_answer(abstained=True)) == {"answered": False, "docs": []}


def test_changed_share_counts_refusals_and_other_documents() -> None:
    before = [behaviour(_answer("a.txt")), behaviour(_answer("a.txt")),
              behaviour(_answer("a.txt")), behaviour(_answer(abstained=True))]
    after = [behaviour(_answer("a.txt")), behaviour(_answer(abstained=True)),
             behaviour(_answer("a.txt", "evil.md")), behaviour(_answer(abstained=True))]
    assert changed_share(before, after) == 0.5
    assert changed_share([], []) == 0.0
    with pytest.raises(ValueError, match="same questions"):
        changed_share(before, after[:1])


def test_the_fixtures_are_35_documents_that_all_ingest_and_the_questions_are_20() -> None:
    documents, errors = load_all([INJECTED], progress=False)
    assert errors == [] and len(documents) == 35
    assert {p.suffix for p in INJECTED.iterdir()} == {".md", ".txt", ".html"}
    assert len(set(CORPUS_QUESTIONS)) == 20 and len(INJECTED_QUESTIONS) == 10
    ids = {json.loads(line)["id"] for line in QA_FILE.read_text().splitlines()}
    assert set(CORPUS_QUESTIONS) <= ids


def test_combined_corpus_holds_both_and_replaces_an_old_copy(tmp_path: Path) -> None:
    corpus, injected = tmp_path / "corpus", tmp_path / "injected"
    corpus.mkdir()
    injected.mkdir()
    (corpus / "a.txt").write_text("A.")
    (injected / "evil.md").write_text("<script>")
    (tmp_path / "out" / "corpus").mkdir(parents=True)
    (tmp_path / "out" / "corpus" / "stale.txt").write_text("old")
    both = combined_corpus(corpus, injected, tmp_path / "out")
    assert sorted(p.name for p in both.iterdir()) == ["a.txt", "evil.md"]


def test_a_missing_directory_is_one_line_and_exit_2(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), "--injected", str(tmp_path / "nope")])
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip().endswith("nope: no such directory")

"""Logs: the level from RAG_LOG_LEVEL or the settings file's [logging] table, one line per
question with its timings (qa.pipeline), one per ingested file (ingest.operations), and a bad
level is one line naming where it came from."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.logs import log_level
from common.paths import PROJECT_ROOT
from common.settings_file import SettingsError
from index.store import Index
from ingest.operations import remove_document, run_ingest
from qa.config import Settings
from qa.pipeline import Pipeline
from tests.fakes import FakeEmbedder, FakeGenerator

LAUNCH = "The Global Security Initiative was launched in April 2022."


def settings_file(tmp_path: Path, text: str) -> Path:
    (tmp_path / "settings.toml").write_text(text, encoding="utf-8")
    return tmp_path


def test_the_environment_wins_over_the_file_which_wins_over_the_default(tmp_path: Path) -> None:
    root = settings_file(tmp_path, '[logging]\nlevel = "debug"\n')
    assert log_level(root, "INFO", {"RAG_LOG_LEVEL": "error"}) == "ERROR"
    assert log_level(root, "INFO", {}) == "DEBUG"
    assert log_level(tmp_path / "elsewhere", "WARNING", {}) == "WARNING"


@pytest.mark.parametrize(("text", "env", "message"), [
    ("", {"RAG_LOG_LEVEL": "loud"}, "environment variable RAG_LOG_LEVEL: expected one of DEBUG, "
     "INFO, WARNING, ERROR (any case), got 'loud'"),
    ('[logging]\nlevel = 10\n', {}, "{file}, [logging] level: expected one of DEBUG, INFO, "
     "WARNING, ERROR (any case), got 10"),
    ('[logging]\nlvl = "INFO"\n', {},
     "{file}, [logging] lvl: unknown key; did you mean level? known keys: level"),
])
def test_a_bad_level_names_where_it_came_from(tmp_path: Path, text: str, env: dict[str, str],
                                              message: str) -> None:
    root = settings_file(tmp_path, text)
    with pytest.raises(SettingsError) as caught:
        log_level(root, "INFO", env)
    file = f"settings file {root / 'settings.toml'}"
    assert str(caught.value) == message.format(file=file)


def test_each_question_is_one_line_with_its_outcome_and_timings(
        index: Index, embedder: FakeEmbedder, caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(index, embedder, FakeGenerator([f"{LAUNCH[:-1]} [1]."]),
                        Settings(calibration=None))
    with caplog.at_level(logging.INFO, logger="qa.pipeline"):
        answered = pipeline.answer("When was the Security Initiative launched?")
        refused = pipeline.answer("How do I bake banana bread?")
    lines = [r.getMessage() for r in caplog.records if r.name == "qa.pipeline"]
    assert len(lines) == 2
    t = answered.timings
    assert lines[0] == (f"question 'When was the Security Initiative launched?': answered, "
                        f"1 citation, confidence 1.00, retrieval {t.retrieval_s:.2f} s, "
                        f"first token {t.ttft_s:.2f} s, total {t.total_s:.2f} s")
    assert lines[1].startswith("question 'How do I bake banana bread?': refused, ")
    assert "first token" not in lines[1] and refused.abstained


def test_a_long_question_is_cut_in_its_log_line(
        index: Index, embedder: FakeEmbedder, caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(index, embedder, FakeGenerator([]), Settings(calibration=None))
    with caplog.at_level(logging.INFO, logger="qa.pipeline"):
        pipeline.answer("banana " * 100)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "qa.pipeline"]
    assert len(line) < 250 and "…'" in line


def test_ingest_logs_each_changed_file_and_the_counts(
        tmp_path: Path, corpus_dir: Path, embedder: FakeEmbedder,
        caplog: pytest.LogCaptureFixture) -> None:
    root = tmp_path / "index"
    (corpus_dir / "empty.txt").write_text("", encoding="utf-8")
    with caplog.at_level(logging.INFO, logger="ingest.operations"):
        run_ingest([corpus_dir], root, embedder)
        remove_document(root, "trade.txt", embedder)
    records = [(r.levelname, r.getMessage()) for r in caplog.records
               if r.name == "ingest.operations"]
    messages = [m for _, m in records]
    assert any(m.startswith("added") and "security.txt" in m for m in messages)
    assert any(level == "WARNING" and m.startswith("rejected") and "empty.txt" in m
               for level, m in records)
    assert any(m.startswith(f"index {root}: indexed 2 documents (2 chunks) into gen-")
               and m.endswith("(2 added, 0 changed, 0 removed, 0 unchanged, 1 rejected)")
               for m in messages)
    assert any(m.startswith("removed") and "trade.txt" in m for m in messages)
    assert not any(m.startswith("unchanged") for m in messages)


def run_ingest_cli(tmp_path: Path, corpus: Path, **env: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "ingest", str(corpus), "--index", str(tmp_path / "index"),
               "--quiet"]
    return subprocess.run(command, cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


@pytest.mark.real
def test_python_m_ingest_logs_at_the_level_asked_for(tmp_path: Path, corpus_dir: Path) -> None:
    quiet = run_ingest_cli(tmp_path / "a", corpus_dir)
    assert quiet.returncode == 0, quiet.stderr
    assert "INFO ingest.operations" not in quiet.stderr  # WARNING by default: the output says it
    loud = run_ingest_cli(tmp_path / "b", corpus_dir, RAG_LOG_LEVEL="info")
    assert loud.returncode == 0, loud.stderr
    assert "INFO ingest.operations: added" in loud.stderr
    bad = run_ingest_cli(tmp_path / "c", corpus_dir, RAG_LOG_LEVEL="chatty")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines() == [
        "python -m ingest: error: environment variable RAG_LOG_LEVEL: expected one of DEBUG, "
        "INFO, WARNING, ERROR (any case), got 'chatty'"]

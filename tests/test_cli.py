"""The two command lines turn user mistakes into one line on stderr and a non-zero exit code.

Every case here fails before a model loads (argument checks, or no readable file), so each
run costs only Python's start-up. RAG_INDEX_DIR and RAG_MODEL_CACHE point into tmp_path so
that even a regression could not touch the project's var/.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_MODEL_CACHE": str(tmp_path / "models")}
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT, env=env,
                          capture_output=True, text=True, timeout=60)


def one_line_error(result: subprocess.CompletedProcess[str], code: int) -> str:
    assert "Traceback" not in result.stderr
    lines = result.stderr.rstrip("\n").split("\n")
    assert len(lines) == 1, result.stderr
    assert result.returncode == code, result.stderr
    return lines[0]


@pytest.mark.parametrize(("args", "message"), [
    ((), "the following arguments are required: PATH"),
    (("docs", "--max-tokens", "999"), "--max-tokens must be between 1 and 254"),
    (("docs", "--max-tokens", "-3"), "--max-tokens must be between 1 and 254"),
    (("docs", "--max-tokens", "abc"), "invalid int value: 'abc'"),
    (("docs", "--overlap", "128"), "--overlap must be at least 0 and less than --max-tokens"),
    (("docs", "--frobnicate"), "unrecognized arguments: --frobnicate"),
])
def test_ingest_argument_errors(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    line = one_line_error(run(tmp_path, "ingest", *args), 2)
    assert line.startswith("python -m ingest: error: ")
    assert message in line and line.endswith("(see --help)")


def test_ingest_max_tokens_zero_is_rejected(tmp_path: Path) -> None:
    line = one_line_error(run(tmp_path, "ingest", "--quiet", str(tmp_path / "missing"),
                              "--max-tokens", "0"), 2)
    assert "--max-tokens must be between 1 and 254" in line


def test_ingest_nonexistent_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    line = one_line_error(run(tmp_path, "ingest", "--quiet", str(missing)), 1)
    assert line == (f"python -m ingest: error: no document could be read: {missing}: "
                    "no such file or directory")
    assert not (tmp_path / "index").exists()


def test_ingest_nonexistent_path_without_quiet(tmp_path: Path) -> None:
    one_line_error(run(tmp_path, "ingest", str(tmp_path / "no-such-dir")), 1)


@pytest.mark.parametrize("question", ["", "   "])
def test_qa_empty_question(tmp_path: Path, question: str) -> None:
    line = one_line_error(run(tmp_path, "qa", question), 2)
    assert line == "python -m qa: error: the question is empty (see --help)"


def test_qa_without_question(tmp_path: Path) -> None:
    assert "required: question" in one_line_error(run(tmp_path, "qa"), 2)


@pytest.mark.parametrize(("module", "example"), [
    ("ingest", "python -m ingest data/corpus"),
    ("qa", 'python -m qa "When was the Global Security Initiative launched?" --json'),
])
def test_help_shows_examples(tmp_path: Path, module: str, example: str) -> None:
    result = run(tmp_path, module, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert "examples:" in result.stdout
    assert example in result.stdout

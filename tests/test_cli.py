"""The two command lines turn user mistakes into one line on stderr and a non-zero exit code.

Every case here finishes before a model loads (argument checks, no readable file, a busy index,
or an index that needs no embedding), so each run costs only Python's start-up. RAG_INDEX_DIR
and RAG_MODEL_CACHE point into tmp_path so that even a regression could not touch the
project's var/. The batch of bad files runs `main` in-process with the fake embedder.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from common.paths import DEFAULT_CORPUS
from index.store import lock_index, open_index
from ingest.build import build_index
from ingest.loaders import Limits
from ingest.operations import plan_ingest
from tests.fakes import CORPUS, FakeEmbedder
from tests.index.standin import minilm_standin
from tests.ingest.test_loaders import encrypted, make_pdf

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
    (("docs", "--max-tokens", "100", "--overlap", "100"),
     "--overlap must be at least 0 and less than --max-tokens"),
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
    ("qa", 'python -m qa "When was the Central National Security Commission established?" --json'),
])
def test_help_shows_examples(tmp_path: Path, module: str, example: str) -> None:
    result = run(tmp_path, module, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert "examples:" in result.stdout
    assert example in result.stdout


# --- incremental ingestion, locking, bad input ------------------------------------------------


@pytest.fixture
def standin_index(tmp_path: Path) -> tuple[Path, Path]:
    """(corpus, index): the default corpus copied and indexed by a MiniLM stand-in, so that
    `python -m ingest` takes the index as its own (see tests.index.standin)."""
    corpus = tmp_path / "corpus"
    shutil.copytree(DEFAULT_CORPUS, corpus)
    build_index([corpus], tmp_path / "index", minilm_standin())
    return corpus, tmp_path / "index"


def test_unchanged_reingest_is_fast_and_loads_no_model(standin_index: tuple[Path, Path],
                                                       tmp_path: Path) -> None:
    corpus, _ = standin_index  # the index is at $RAG_INDEX_DIR, the default
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "ingest", str(corpus), "--quiet"], cwd=PROJECT,
        env={**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index")}, capture_output=True,
        text=True, timeout=60)
    elapsed = time.perf_counter() - started
    assert result.returncode == 0, result.stderr
    assert re.search(r"indexed 2 documents \(\d+ chunks\) already up to date in gen-\S+ in "
                     r"[\d.]+ s: 0 chunks embedded, \d+ reused \(0 added, 0 changed, 0 removed, "
                     r"2 unchanged, 0 rejected\)$", result.stdout.strip())
    imported = {line.split("|")[-1].strip() for line in result.stderr.splitlines()}
    assert not imported & {"torch", "transformers", "sentence_transformers", "numpy", "faiss"}
    assert elapsed < 2.0  # ~0.35 s here, most of it Python's start-up


def test_dry_run_prints_the_plan_and_writes_nothing(standin_index: tuple[Path, Path],
                                                    tmp_path: Path) -> None:
    corpus, index = standin_index
    (corpus / "china-watch-xi-foreign-policy.txt").unlink()
    (corpus / "new.md").write_text("# New\nA new note.\n")
    (corpus / "slides.pptx").write_bytes(b"PK")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in index.rglob("*"))
    result = run(tmp_path, "ingest", str(corpus), "--index", str(index), "--dry-run", "--sync",
                 "--quiet")
    assert result.returncode == 3, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"rejected   {corpus / 'slides.pptx'}: unsupported file type")
    assert lines[1] == "added      new.md"
    assert re.fullmatch(r"unchanged  xi-power-concentration-foreign-policy.txt \(\d+ chunks\)",
                        lines[2])
    assert re.fullmatch(r"removed    china-watch-xi-foreign-policy.txt \(\d+ chunks\): not in "
                        "the inputs", lines[3])
    assert lines[4] == ("dry run: 1 added, 0 changed, 1 removed, 1 unchanged, 1 rejected; "
                        "nothing was written")
    assert sorted((p.name, p.stat().st_mtime_ns) for p in index.rglob("*")) == before


def test_second_ingest_exits_at_once_while_one_is_running(standin_index: tuple[Path, Path],
                                                          tmp_path: Path) -> None:
    corpus, index = standin_index
    with lock_index(index):
        result = run(tmp_path, "ingest", str(corpus), "--index", str(index), "--quiet")
    line = one_line_error(result, 4)
    assert line == (f"python -m ingest: error: another ingest is running on {index} (pid "
                    f"{os.getpid()}); wait for it to finish, or stop it (kill {os.getpid()}) "
                    "and run this again")


def test_sync_with_a_missing_path_is_refused(standin_index: tuple[Path, Path],
                                             tmp_path: Path) -> None:
    corpus, index = standin_index
    missing = tmp_path / "typo"
    line = one_line_error(run(tmp_path, "ingest", str(corpus), str(missing), "--index",
                              str(index), "--sync", "--quiet"), 1)
    assert line == (f"python -m ingest: error: refusing --sync: {missing} does not exist, and "
                    "every indexed document from it would be removed; fix the path")


def test_max_file_mb_must_be_positive(tmp_path: Path) -> None:
    line = one_line_error(run(tmp_path, "ingest", "docs", "--max-file-mb", "0"), 2)
    assert "--max-file-mb must be more than 0" in line


def bad_files() -> dict[str, bytes]:
    """One file for every way an input can be bad (with --max-file-mb 0.01, i.e. 10 KB)."""
    return {
        "empty.txt": b"",
        "blank.md": b"  \n\t\n",
        "scan.pdf": make_pdf(""),
        "image.txt": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
        "latin1.txt": "café au lait\n".encode("latin-1"),
        "utf16.txt": "hello".encode("utf-16"),
        "notes.docx": b"PK\x03\x04",
        "big.txt": b"word " * 4000,
        "broken.pdf": b"%PDF-1.4\nthis is not really a pdf",
        "bomb.pdf": make_pdf("A" * 50_000, compress=True),
        "locked.pdf": encrypted(make_pdf("Secret text"), "secret"),
        "script.html": b"<html><body><script>x()</script></body></html>",
    }


def test_bad_files_are_listed_one_by_one_and_never_touch_the_index(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ingest.__main__ import main

    corpus, index = tmp_path / "corpus", tmp_path / "index"
    corpus.mkdir()
    good = {**{k: v.encode() for k, v in CORPUS.items()},
            "report.pdf": make_pdf("Tai met Wang at the forum.")}
    for name, data in good.items():
        (corpus / name).write_bytes(data)
    args = [str(corpus), "--index", str(index), "--quiet", "--max-file-mb", "0.01"]
    embedder = FakeEmbedder(max_tokens=254)  # MiniLM's window, so the default chunk size fits
    assert main(args, embedder) == 0
    live = (index / "CURRENT").read_text()
    capsys.readouterr()

    for name, data in bad_files().items():
        (corpus / name).write_bytes(data)
    (corpus / "new.txt").write_text("Xi launched the initiative.\n")
    assert main(args, embedder) == 3
    out, err = capsys.readouterr()

    rejected = err.splitlines()
    assert len(rejected) == len(bad_files())  # one line per bad file, nothing else
    for name in bad_files():
        line, = [r for r in rejected if r.startswith(f"rejected: {corpus / name}: ")]
        assert len(line) > len(f"rejected: {corpus / name}: ") + 10  # and it says why
    assert "Traceback" not in err
    assert out.splitlines()[0] == "added      new.txt (1 chunk)"
    assert out.splitlines()[-2].startswith("indexed 4 documents (4 chunks) into gen-")
    assert out.splitlines()[-2].endswith(
        "1 chunk embedded, 3 reused (1 added, 0 changed, 0 removed, 3 unchanged, 12 rejected)")
    assert out.splitlines()[-1] == "dense search: exact, float16 vectors, recall@10 1.000 vs exact"
    assert (index / "CURRENT").read_text() != live  # new.txt was published ...
    loaded = open_index(index, embedder.model_id, embedder.dimension)
    assert sorted({c.doc_id for c in loaded.all_chunks()}) == [
        "new.txt", "report.pdf", "security.txt", "trade.txt"]  # ... and no bad file was
    loaded.close()


@pytest.mark.parametrize(("name", "reason"), [
    ("empty.txt", "file is empty"),
    ("blank.md", "file contains only whitespace"),
    ("scan.pdf", "no text could be extracted (scanned PDF? run OCR first)"),
    ("image.txt", "looks like binary data (contains NUL bytes), not text"),
    ("latin1.txt", "not valid UTF-8 at byte 3; re-save the file as UTF-8"),
    ("utf16.txt", "is UTF-16 text; re-save the file as UTF-8"),
    ("notes.docx", "unsupported file type '.docx'; supported: .txt, .md, .markdown, .html, "
                   ".htm, .pdf"),
    ("big.txt", "file is 19.5 KB, larger than the 10.2 KB limit; split it or raise --max-file-mb"),
    ("broken.pdf", "PDF could not be parsed"),
    ("bomb.pdf", "PDF expands to more than 10.2 KB of text (a decompression bomb?); split it or "
                 "raise --max-file-mb"),
    ("locked.pdf", "PDF is encrypted; save an unencrypted copy and retry"),
    ("script.html", "no text could be extracted (the page has no visible text)"),
])
def test_each_bad_file_says_what_is_wrong(tmp_path: Path, name: str, reason: str) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / name).write_bytes(bad_files()[name])
    plan = plan_ingest([corpus], tmp_path / "index", limits=Limits.from_mb(0.01))
    action, = plan.files
    assert action.action == "rejected" and action.path == str(corpus / name)
    assert action.reason.startswith(reason)


@pytest.mark.parametrize("command", [["-m", "ingest", "docs"], ["-m", "eval", "--help"],
                                     ["-m", "qa", "Who?"], ["app.py"]])
def test_a_broken_settings_file_is_one_line_naming_it_at_every_entry_point(
        tmp_path: Path, command: list[str]) -> None:
    broken = tmp_path / "settings.toml"
    broken.write_text("[paths\nindex_dir = 1\n")
    env = {**os.environ, "RAG_SETTINGS": str(broken)}
    result = subprocess.run([sys.executable, *command], cwd=PROJECT, env=env,
                            capture_output=True, text=True, timeout=60)
    line = one_line_error(result, 2)
    assert f"settings file {broken}: not valid TOML" in line

"""The file fuzzer: 300 seeded files of every kind in bench.fuzzfiles (good, odd-but-readable
and hostile, a third under odd names) ingested as one batch through `python -m ingest`'s
main(), each file checked by bench.fuzz.run_batch. About 20-30 s on 2 busy cores; the
1,000-file benchmark is `python -m bench.fuzz`.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import pytest

from bench import fuzz
from bench.fuzz import Batch, FileResult, budget, chunk_faults, run_batch
from bench.fuzzfiles import INDEXED, KINDS, FuzzFile, make_corpus
from common.records import Chunk, Document
from ingest.names import shown
from tests.fakes import FakeEmbedder

FILES, SEED, MAX_KB = 300, 0, 256


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[FuzzFile], Batch]:
    work = tmp_path_factory.mktemp("fuzz")
    files = make_corpus(work / "corpus", work / "outside", FILES, SEED, MAX_KB)
    return files, run_batch(work / "corpus", work / "index", files, FakeEmbedder(max_tokens=254))


def test_the_batch_holds_every_kind_good_and_bad(fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    files, _ = fuzzed
    assert {f.kind for f in files} == set(KINDS)
    assert sum(f.expect == (INDEXED,) for f in files) > 100
    assert sum(INDEXED not in f.expect for f in files) > 100
    assert sum(not f.doc_id.isprintable() for f in files) > 30  # odd names
    assert max(f.size for f in files) > 200 * 1024


def test_no_traceback_and_the_exit_code_says_partial(fuzzed: tuple[list[FuzzFile], Batch]
                                                     ) -> None:
    _, batch = fuzzed
    assert not [p for p in batch.problems if "raceback" in p]
    assert batch.exit_code == 3


def test_each_file_gets_one_line_and_the_outcome_its_kind_must_give(
        fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    _, batch = fuzzed

    def as_expected(result: FileResult) -> bool:
        if result.outcome == INDEXED:
            return INDEXED in result.expect
        return result.outcome == "rejected" and any(
            re.match(e, result.reason) for e in result.expect if e != INDEXED)

    wrong = [(r.name, r.kind, r.outcome, r.reason, r.expect) for r in batch.files
             if r.lines != 1 or not as_expected(r)]
    assert wrong == []
    assert {r.outcome for r in batch.files} == {INDEXED, "rejected"}


def test_good_files_beside_hostile_ones_are_all_indexed(fuzzed: tuple[list[FuzzFile], Batch]
                                                        ) -> None:
    files, batch = fuzzed
    good = {shown(f.doc_id) for f in files if f.expect == (INDEXED,)}
    indexed = {r.name for r in batch.files if r.outcome == INDEXED}
    assert good <= indexed
    assert not [p for p in batch.problems if "index disagrees" in p]


def test_every_line_is_printable_and_names_odd_files_escaped(
        fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    files, batch = fuzzed
    lines = batch.stdout.splitlines() + batch.stderr.splitlines()
    assert all(line.isprintable() for line in lines)
    rejected = [line for line in batch.stderr.splitlines() if line.startswith("rejected: ")]
    assert len(rejected) == sum(r.outcome == "rejected" for r in batch.files)
    odd = [f for f in files if not str(f.path).isprintable() and INDEXED not in f.expect]
    assert odd
    for item in odd:
        assert sum(line.startswith(f"rejected: {shown(str(item.path))}: ")
                   for line in rejected) == 1


def test_pypdf_warnings_name_a_pdf_of_the_batch(fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    _, batch = fuzzed
    assert batch.pdf_warnings > 0  # repaired and truncated PDFs make pypdf complain
    assert not [p for p in batch.problems if p.startswith("log line")]


def test_every_file_finishes_within_its_time_and_memory_budget(
        fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    _, batch = fuzzed
    over = [(r.name, r.kind, r.size, round(r.seconds, 2), round(r.peak_mib)) for r in batch.files
            if r.budget_share > 1]
    assert over == []
    measured = [r for r in batch.files if r.seconds > 0]
    assert len(measured) > 150  # the meter saw the files that were read
    assert max(r.peak_mib for r in measured) > 0


def test_nothing_else_went_wrong(fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    assert fuzzed[1].problems == []


# --- the generator and the harness ---------------------------------------------------------


def digest(files: list[FuzzFile]) -> list[tuple[str, str, int, str]]:
    return [(f.doc_id, f.kind, f.size,
             hashlib.sha256(f.path.read_bytes()).hexdigest() if f.path.is_file()
             and not f.path.is_symlink() and f.size < 2**20 else "") for f in files]


def test_the_same_seed_writes_the_same_corpus(tmp_path: Path) -> None:
    first = make_corpus(tmp_path / "a" / "corpus", tmp_path / "a" / "out", 60, seed=3, max_kb=8)
    second = make_corpus(tmp_path / "b" / "corpus", tmp_path / "b" / "out", 60, seed=3, max_kb=8)
    assert digest(first) == digest(second)
    other = make_corpus(tmp_path / "c" / "corpus", tmp_path / "c" / "out", 60, seed=4, max_kb=8)
    assert digest(other) != digest(first)


def test_the_harness_reports_a_file_nobody_names_and_a_wrong_outcome(tmp_path: Path) -> None:
    files = make_corpus(tmp_path / "corpus", tmp_path / "out", len(KINDS), seed=1, max_kb=4)
    good = next(f for f in files if f.kind == "good_txt")
    ghost = FuzzFile(tmp_path / "corpus" / "ghost.txt", "ghost.txt", "good_txt", (INDEXED,), 1)
    flipped = FuzzFile(good.path, good.doc_id, good.kind, (r"file is empty$",), good.size)
    batch = run_batch(tmp_path / "corpus", tmp_path / "index", [*files, ghost, flipped],
                      FakeEmbedder(max_tokens=254))
    assert "ghost.txt (good_txt): named by 0 lines of output, not 1" in batch.problems
    assert (f"{shown(good.doc_id)} (good_txt): indexed, but must be rejected (file is empty$)"
            in batch.problems)
    assert len(batch.problems) == 2


def test_the_harness_reports_a_file_over_its_budget(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    files = make_corpus(tmp_path / "corpus", tmp_path / "out", 3, seed=2, max_kb=4,
                        kinds=["good_txt"])
    monkeypatch.setattr(fuzz, "BUDGET_S", 0.0)
    monkeypatch.setattr(fuzz, "BUDGET_S_PER_MB", 0.0)
    batch = run_batch(tmp_path / "corpus", tmp_path / "index", files,
                      FakeEmbedder(max_tokens=254))
    assert len(batch.problems) == 3
    assert all(re.search(r"took [\d.]+ s, over its budget of 0.0 s$", p) for p in batch.problems)


def test_chunk_faults_finds_a_chunk_off_its_text_one_too_long_and_text_without_chunks(
        ) -> None:
    doc = Document("a.txt", "a", "Tai met Wang.", "corpus/a\nb.txt", "0")
    words = FakeEmbedder().count_tokens
    good = Chunk("a.txt", "a.txt#1", "Tai met", 0, 7, "a")
    assert chunk_faults(doc, [good], words, 2) == []
    assert chunk_faults(doc, [Chunk("a.txt", "a.txt#2", "Tai", 4, 7, "a")], words, 2) == [
        "corpus/a\\nb.txt: chunk 4-7 is not the document's text there"]
    assert chunk_faults(doc, [good], words, 1) == [
        "corpus/a\\nb.txt: chunk 0-7 has more than 1 tokens"]
    assert chunk_faults(doc, [], words, 2) == [
        "corpus/a\\nb.txt: no chunk, though its text is not blank"]


def test_budget_example() -> None:
    assert budget(2**20) == (62.0, 230.0)
    assert budget(2**20, ".PDF") == (602.0, 500.0)


@pytest.mark.skipif(not os.path.exists("/etc/passwd"), reason="needs /etc/passwd to link to")
def test_a_link_to_etc_passwd_is_never_indexed(fuzzed: tuple[list[FuzzFile], Batch]) -> None:
    files, batch = fuzzed
    linked = {shown(f.doc_id) for f in files if f.kind in ("link_passwd", "link_out")}
    assert linked
    assert all(r.outcome == "rejected" and r.reason.startswith("symlink leaves the corpus")
               for r in batch.files if r.name in linked)

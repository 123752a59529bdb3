"""Crash safety: SIGKILL a real `python -m ingest` at every step of the write/publish sequence.

RAG_TEST_KILL_AT=N makes the process kill itself at its Nth checkpoint (index.store.checkpoint),
so every kill lands on a known step: from taking the lock, through cleaning up an earlier
crash's leftovers, writing each file of the new generation and each fsync, to the rename, the
switch of CURRENT and the pruning of old generations. After each kill the index must open and
be exactly the old state or exactly the new one, never a mixture; and the next ingest must
clean up and finish.

The re-ingest removes a document with --sync and reuses the other vectors, so it embeds nothing
and the real command never loads the model (see tests.index.standin).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np

from index.integrity import SEAL
from index.store import DATABASE, LEXICAL, open_index
from ingest.build import build_index
from ingest.operations import run_ingest
from tests.fakes import CORPUS
from tests.index.standin import minilm_standin

PROJECT = Path(__file__).resolve().parents[2]
State = tuple[str, tuple[str, ...]]


def state(root: Path) -> State:
    """(hash of the manifest without its timestamp, chunk ids in row order), after checking
    that the FAISS rows, the chunks table and the FTS5 index hold the same chunks."""
    embedder = minilm_standin()
    index = open_index(root, embedder.model_id, embedder.dimension)
    try:
        chunks = index.all_chunks()
        vectors = index._vectors.reconstruct_n(0, len(index))
        db = sqlite3.connect(index.generation / DATABASE)
        try:
            chunk_rows = [r for (r,) in db.execute("SELECT row FROM chunks ORDER BY row")]
        finally:
            db.close()
        db = sqlite3.connect(index.generation / LEXICAL)
        try:
            fts_rows = [r for (r,) in db.execute("SELECT id FROM chunks_fts_docsize ORDER BY id")]
            db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('integrity-check')")
        finally:
            db.close()
        assert len(index) == len(chunk_rows) == len(fts_rows)
        assert chunk_rows == fts_rows == list(range(len(index)))
        # dense row i is the vector of chunk i's text
        np.testing.assert_allclose(vectors, embedder.embed([c.text for c in chunks]),
                                   atol=1e-3)  # float16 storage
        # the seal covers built_at too; "files" stays: the same rows make the same bytes
        manifest = {k: v for k, v in index.manifest.items() if k not in ("built_at", SEAL)}
    finally:
        index.close()
    digest = hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()
    return digest, tuple(c.chunk_id for c in chunks)


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()
                  if p.name.startswith(".building-") or p.name.endswith(".tmp"))


def test_killed_reingest_leaves_exactly_the_old_or_the_new_index(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in {**CORPUS, "notes.txt": "Xi met Tai at the forum.\n"}.items():
        (corpus / name).write_text(text)
    embedder = minilm_standin()
    pristine = tmp_path / "pristine"
    build_index([corpus], pristine, embedder)
    (corpus / "extra.txt").write_text("Wang launched the initiative.\n")
    build_index([corpus], pristine, embedder)  # two generations now: live and previous
    # what an earlier crash could have left; the run removes them once it holds the lock
    (pristine / ".building-gen-20000101T000000000000").mkdir()
    (pristine / ".CURRENT.12345.tmp").write_text("gen-20000101T000000000000\n")
    (corpus / "notes.txt").unlink()  # the re-ingest (--sync) removes it and reuses the rest

    old = state(pristine)
    reference = tmp_path / "reference"
    shutil.copytree(pristine, reference)
    run_ingest([corpus], reference, embedder, sync=True)
    new = state(reference)
    assert old != new and len(new[1]) == len(old[1]) - 1

    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    became_new: list[bool] = []
    steps: list[str] = []
    for kill_at in range(1, 100):
        work = tmp_path / "work"
        shutil.copytree(pristine, work)
        run = subprocess.run(
            [sys.executable, "-m", "ingest", str(corpus), "--index", str(work), "--sync",
             "--quiet"], cwd=PROJECT, env={**env, "RAG_TEST_KILL_AT": str(kill_at)},
            capture_output=True, text=True, timeout=60)
        if run.returncode == 0:  # kill_at is past the last checkpoint: the run finished
            assert state(work) == new
            break
        assert run.returncode == -signal.SIGKILL, run.stderr
        steps.append(re.findall(r"killed at checkpoint \d+: (.+)", run.stderr)[0])
        now = state(work)
        assert now in (old, new), f"killed at {steps[-1]}: neither the old nor the new index"
        became_new.append(now == new)
        # the next run cleans up after the crash and finishes the job
        run_ingest([corpus], work, embedder, sync=True)
        assert state(work) == new
        assert leftovers(work) == []
        assert len([p for p in work.iterdir() if p.name.startswith("gen-")]) <= 2
        shutil.rmtree(work)

    assert len(steps) >= 20, steps
    assert len(set(steps)) == len(steps)  # every kill hit a different step
    assert "CURRENT replaced" in steps and "generation renamed into place" in steps
    # old until CURRENT is replaced, new from then on: never a mixture, never back
    assert became_new == sorted(became_new)
    assert became_new.index(True) == steps.index("CURRENT replaced")

"""One writer per index: a second ingest is refused at once, and touches nothing while refused.

flock locks belong to open files, so a lock held through one open() in this process conflicts
with another open() in the same process, just as it would with another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.store import LOCK, IndexBusy, ingest_running, lock_index
from ingest.operations import remove_document, run_ingest
from tests.fakes import FakeEmbedder


def test_second_writer_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    with lock_index(tmp_path), pytest.raises(IndexBusy) as caught, lock_index(tmp_path):
        pass
    assert caught.value.pid == os.getpid()
    assert str(caught.value) == (
        f"another ingest is running on {tmp_path} (pid {os.getpid()}); wait for it to "
        f"finish, or stop it (kill {os.getpid()}) and run this again")


def test_lock_is_free_again_after_the_holder_leaves(tmp_path: Path) -> None:
    with lock_index(tmp_path):
        assert ingest_running(tmp_path) == os.getpid()
    assert ingest_running(tmp_path) is None
    with lock_index(tmp_path):  # and after an exception
        pass


def test_lock_of_a_killed_process_is_released(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom index.store import lock_index\n"
         f"with lock_index(__import__('pathlib').Path({str(tmp_path)!r})):\n"
         "    print('locked', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "locked\n"
        assert ingest_running(tmp_path) == holder.pid
        with pytest.raises(IndexBusy, match=f"pid {holder.pid}"), lock_index(tmp_path):
            pass
    finally:
        holder.kill()
        holder.wait()
    with lock_index(tmp_path):  # SIGKILL released it; the stale pid in the file is ignored
        pass


def test_ingest_running_creates_nothing(tmp_path: Path) -> None:
    assert ingest_running(tmp_path / "absent") is None
    assert not (tmp_path / "absent").exists()


def test_busy_index_is_left_alone_even_its_stale_builds(corpus_dir: Path, tmp_path: Path,
                                                        embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    run_ingest([corpus_dir], root, embedder)
    # A .building directory may belong to the ingest that holds the lock: never delete it then.
    in_progress = root / ".building-gen-29990101T000000000000"
    in_progress.mkdir()
    (corpus_dir / "new.txt").write_text("Tai met Wang.\n")
    embedder.embedded = 0
    with lock_index(root):
        with pytest.raises(IndexBusy):
            run_ingest([corpus_dir], root, embedder)
        with pytest.raises(IndexBusy):
            remove_document(root, "trade.txt", embedder)
        assert in_progress.exists()
        assert embedder.embedded == 0
    report = run_ingest([corpus_dir], root, embedder)  # once free, the leftover goes
    assert report.published and not in_progress.exists()
    assert (root / LOCK).read_text() == ""  # no pid left behind by an orderly exit

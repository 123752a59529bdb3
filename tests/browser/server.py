"""Start the real app (`python app.py`) on a free port with its own index and corpus copy.

Shared by tests/test_app.py and the browser tests. The corpus is a temporary copy of
data/corpus, so uploads in a test never touch the repository.

Does not talk to the app; the tests do (gradio_client or a browser).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.paths import DEFAULT_CORPUS, PROJECT_ROOT

START_TIMEOUT_S = 300


@dataclass(frozen=True)
class RunningApp:
    url: str
    index_dir: Path
    corpus_dir: Path
    log: Path


def stop(process: subprocess.Popen[bytes]) -> None:
    """End a started app: SIGTERM, then SIGKILL if it has not exited within 30 s."""
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve_app(workdir: Path, wait_for_worker: bool = True,
              command: Sequence[str] = (sys.executable, "app.py"),
              cwd: Path = PROJECT_ROOT) -> Iterator[RunningApp]:
    """`python app.py` (or `command`, run in `cwd`) with RAG_INDEX_DIR and RAG_CORPUS_DIR under
    `workdir`, until exit.

    Yields once the answering worker has loaded, or with `wait_for_worker=False` as soon as
    the page is served (the worker still building the index and loading the models)."""
    port = free_port()
    index_dir, corpus_dir, log = workdir / "index", workdir / "corpus", workdir / "app.log"
    shutil.copytree(DEFAULT_CORPUS, corpus_dir)
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "RAG_INDEX_DIR": str(index_dir),
           "RAG_CORPUS_DIR": str(corpus_dir)}
    with open(log, "w") as out:
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
            # app.py serves the page at once and says "answering from gen-..." once its
            # answering worker has loaded the index and the models.
            if not wait_for_worker or "answering from " in log.read_text(errors="replace"):
                with contextlib.suppress(OSError):  # the page may not be up yet: poll again
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
            time.sleep(0.5)
        else:
            pytest.fail(f"app.py did not serve within {START_TIMEOUT_S} s:\n{log.read_text()}")
        yield RunningApp(f"http://127.0.0.1:{port}/", index_dir, corpus_dir, log)
    finally:
        stop(process)

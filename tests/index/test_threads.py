"""Opening an index gives faiss one search thread and never takes torch's: with one thread the
reader and the embedder answered 1.8x slower (evidence p50 0.40 vs 0.22 s on eval/qa.jsonl).

faiss and torch each bring an OpenMP runtime; whichever a process loads first serves both, so
each case runs in a fresh interpreter, on an index built here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.paths import PROJECT_ROOT
from ingest.build import build_index
from tests.fakes import FakeEmbedder

pytestmark = pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="needs 2 cores to see it")


@pytest.fixture
def index_root(tmp_path: Path, corpus_dir: Path, embedder: FakeEmbedder) -> Path:
    build_index([corpus_dir], tmp_path / "index", embedder)
    return tmp_path / "index"


def run(code: str, root: Path) -> dict[str, int]:
    embedder = FakeEmbedder()
    head = (f"import json\nfrom pathlib import Path\nroot = Path({str(root)!r})\n"
            f"model, dimension = {embedder.model_id!r}, {embedder.dimension}\n")
    done = subprocess.run([sys.executable, "-c", head + code], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_torch_loaded_first_keeps_its_threads_when_an_index_opens(index_root: Path) -> None:
    seen = run("""
import torch
before = torch.get_num_threads()
from index.store import open_index
open_index(root, model, dimension)
print(json.dumps({"before": before, "after": torch.get_num_threads()}))
""", index_root)
    assert seen["before"] >= 2 and seen["after"] == seen["before"]


def test_the_faiss_store_loads_faiss_before_torch_so_each_keeps_its_own(
        index_root: Path) -> None:
    seen = run("""
from index.vector_store import open_store
store = open_store(root, model, dimension)
import torch
store.count()  # opens the generation: one thread for faiss
import faiss
print(json.dumps({"torch": torch.get_num_threads(), "faiss": faiss.omp_get_max_threads()}))
""", index_root)
    assert seen["torch"] >= 2 and seen["faiss"] == 1

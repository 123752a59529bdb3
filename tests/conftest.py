"""Shared fixtures for the fast tests: the fake embedder and the two-document corpus indexed.

Only plain fixtures, nothing autouse and no environment changes, so the real-model tests are
unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from index.store import Index, open_index
from ingest.build import build_index
from tests.fakes import CORPUS, FakeEmbedder


@pytest.fixture
def embedder() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    """tmp/corpus holding trade.txt and security.txt (see tests.fakes)."""
    directory = tmp_path / "corpus"
    directory.mkdir()
    for name, text in CORPUS.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


@pytest.fixture
def index(corpus_dir: Path, embedder: FakeEmbedder, tmp_path: Path) -> Iterator[Index]:
    """The corpus built with the fake embedder: one chunk per document, so two rows.

    Files are read in sorted order, so row 0 is security.txt and row 1 is trade.txt.
    """
    root = tmp_path / "index"
    build_index([corpus_dir], root, embedder)
    loaded = open_index(root, embedder.model_id, embedder.dimension)
    yield loaded
    loaded.close()

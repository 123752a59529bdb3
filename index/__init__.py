"""Stage 2 of the pipeline: chunks -> vectors (FAISS) + lexical index (SQLite FTS5)."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = PROJECT_ROOT / "data" / "corpus"


def default_index_root() -> Path:
    """Where the index lives: $RAG_INDEX_DIR, else var/index in the project."""
    return Path(os.environ.get("RAG_INDEX_DIR") or PROJECT_ROOT / "var" / "index")


def default_corpus_dir() -> Path:
    """Where documents live and uploads go: $RAG_CORPUS_DIR, else data/corpus."""
    return Path(os.environ.get("RAG_CORPUS_DIR") or DEFAULT_CORPUS)

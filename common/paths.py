"""Stage 2 of the pipeline: chunks -> vectors (FAISS) + lexical index (SQLite FTS5)."""

from __future__ import annotations

from pathlib import Path

from common.settings_file import path_setting

PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = PROJECT_ROOT / "data" / "corpus"


def default_index_root(settings: Path | None = None) -> Path:
    """Where the index lives: $RAG_INDEX_DIR, else [paths] index_dir of the settings file
    (`settings`, else the one common.settings_file finds), else var/index in the project."""
    return path_setting("index_dir", PROJECT_ROOT / "var" / "index", PROJECT_ROOT,
                        named=settings)


def default_corpus_dir(settings: Path | None = None) -> Path:
    """Where documents live and uploads go: $RAG_CORPUS_DIR, else [paths] corpus_dir of the
    settings file, else data/corpus."""
    return path_setting("corpus_dir", DEFAULT_CORPUS, PROJECT_ROOT, named=settings)

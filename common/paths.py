"""Where things live: the project's files, the default corpus, and the state the app writes
(indexes, the converted generator, benchmark indexes).

From a checkout, state goes to var/ and the default corpus is data/corpus. An installed copy
(`pip install .`) cannot write beside its code, so its state goes to $RAG_HOME, else
$XDG_DATA_HOME/groundwork, else ~/.local/share/groundwork, and the documents it answers from
are a writable copy of the packaged default corpus there (made on first use). $RAG_HOME moves
the state of a checkout too. The settings file (common.settings_file) is looked for in the
project root of a checkout and in the state directory of an installed copy.

Imports nothing of the project but common.settings_file.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from common.settings_file import path_setting

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# A checkout has its pyproject.toml beside the packages; site-packages does not.
INSTALLED = not (PROJECT_ROOT / "pyproject.toml").is_file()
PACKAGED_CORPUS = PROJECT_ROOT / ("groundwork_data" if INSTALLED else "data") / "corpus"
# What the benchmark and the tests index: the default corpus as committed (or installed).
DEFAULT_CORPUS = PACKAGED_CORPUS
HOME_ENV = "RAG_HOME"


def state_dir() -> Path:
    """Where indexes and caches go: $RAG_HOME, else var/ in a checkout, else the user's data
    directory (installed). Example: state_dir() -> Path("/work/main/var") in a checkout."""
    if home := os.environ.get(HOME_ENV, "").strip():
        return Path(home).expanduser()
    if not INSTALLED:
        return PROJECT_ROOT / "var"
    data_home = os.environ.get("XDG_DATA_HOME", "").strip()
    return (Path(data_home) if data_home else Path.home() / ".local" / "share") / "groundwork"


def settings_root() -> Path:
    """The directory whose settings.toml is read when $RAG_SETTINGS names none."""
    return state_dir() if INSTALLED else PROJECT_ROOT


def default_index_root(settings: Path | None = None) -> Path:
    """Where the index lives: $RAG_INDEX_DIR, else [paths] index_dir of the settings file
    (`settings`, else the one common.settings_file finds), else index/ in state_dir()."""
    return path_setting("index_dir", state_dir() / "index", settings_root(), named=settings)


def default_corpus_dir(settings: Path | None = None) -> Path:
    """Where documents live and uploads go: $RAG_CORPUS_DIR, else [paths] corpus_dir of the
    settings file, else data/corpus in a checkout, else corpus/ in state_dir(), seeded from
    the packaged corpus the first time (an installed copy's own files are not writable)."""
    if not INSTALLED:
        return path_setting("corpus_dir", DEFAULT_CORPUS, settings_root(), named=settings)
    own = state_dir() / "corpus"
    chosen = path_setting("corpus_dir", own, settings_root(), named=settings)
    if chosen == own and not own.exists():
        own.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(PACKAGED_CORPUS, own)
    return chosen

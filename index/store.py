"""One index generation on disk: FAISS vectors, SQLite chunks with an FTS5 table, a manifest.

Layout of an index root:

    ROOT/CURRENT           name of the live generation (replaced atomically)
    ROOT/gen-<time>/       manifest.json, vectors.faiss, chunks.sqlite
    ROOT/.building-<...>/  a generation being written; never read

Row i of the FAISS index is row i of the `chunks` table, so dense and lexical hits meet on the
same integer. Nothing here unpickles: FAISS, SQLite and JSON only.

Does not chunk or embed (see index.build) and does not rank (see qa.retrieve).
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import faiss
import numpy as np

from index.manifest import (
    MANIFEST_NAME,
    IndexLoadError,
    check_manifest,
    read_manifest,
    rebuild_hint,
)
from ingest.document import Chunk, Document
from ingest.words import STOPWORDS, words

CURRENT = "CURRENT"
VECTORS = "vectors.faiss"
DATABASE = "chunks.sqlite"

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source_path TEXT NOT NULL,
    content_hash TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL);
CREATE VIRTUAL TABLE chunks_fts USING fts5(
    text, content='chunks', content_rowid='row', tokenize='porter unicode61');
"""

def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_generation(
    directory: Path,
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    manifest: dict[str, Any],
) -> None:
    """Write a complete generation into `directory` (which must not exist yet) and fsync it."""
    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    directory.mkdir(parents=True)
    index = faiss.IndexFlatIP(manifest["dimension"])
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    faiss.write_index(index, str(directory / VECTORS))
    db = sqlite3.connect(directory / DATABASE)
    try:
        db.executescript(_SCHEMA)
        db.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
            [(d.doc_id, d.title, d.source_path, d.content_hash, d.text) for d in documents],
        )
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, c.chunk_id, c.doc_id, c.start, c.end, c.title, c.text) for i, c in
             enumerate(chunks)],
        )
        db.execute("INSERT INTO chunks_fts(chunks_fts) VALUES ('rebuild')")
        db.commit()
    finally:
        db.close()
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    for name in (VECTORS, DATABASE, MANIFEST_NAME):
        with open(directory / name, "rb") as handle:
            os.fsync(handle.fileno())
    _fsync_dir(directory)


def publish(root: Path, generation: str) -> None:
    """Point ROOT/CURRENT at `generation`: write, fsync, os.replace, fsync the directory."""
    tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(generation + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, root / CURRENT)
    _fsync_dir(root)


def current_generation(root: Path) -> Path | None:
    """The live generation directory, or None when nothing was ever published."""
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not re.fullmatch(r"gen-[\w.-]+", name):
        raise IndexLoadError(f"{root / CURRENT} names no generation ({name!r}); "
                             f"{rebuild_hint(root)}")
    return root / name


def lexical_query(text: str) -> str:
    """An FTS5 MATCH expression that ORs the question's words, each quoted (no FTS syntax leaks).

    Example: lexical_query("Who met Tai?") -> '"met" OR "tai"'
    """
    found = words(text)
    kept = [w for w in found if w not in STOPWORDS] or found
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(kept))


class Index:
    """A loaded, read-only generation. Safe to share between threads."""

    def __init__(self, root: Path, generation: Path, manifest: dict[str, Any],
                 vectors: Any, db: sqlite3.Connection) -> None:
        self.root = root
        self.generation = generation
        self.manifest = manifest
        self._vectors = vectors
        self._db = db
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return int(self._vectors.ntotal)

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest chunks, best first."""
        k = min(k, len(self))
        if k == 0:
            return []
        scores, rows = self._vectors.search(query.reshape(1, -1).astype(np.float32), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def search_lexical(self, text: str, k: int) -> list[tuple[int, float]]:
        """(row, BM25 score, higher is better) of up to k chunks sharing words with `text`."""
        query = lexical_query(text)
        if not query:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?", (query, k)).fetchall()
        return [(int(r), -float(s)) for r, s in rows]

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        """The chunks at these rows, in the order asked."""
        wanted = list(rows)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._lock:
            found = self._db.execute(
                f'SELECT row, doc_id, chunk_id, text, start, "end", title FROM chunks '
                f"WHERE row IN ({marks})", wanted).fetchall()
        by_row = {r[0]: Chunk(doc_id=r[1], chunk_id=r[2], text=r[3], start=r[4], end=r[5],
                              title=r[6]) for r in found}
        return [by_row[r] for r in wanted]

    def document_text(self, doc_id: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT text FROM documents WHERE doc_id = ?",
                                   (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return str(row[0])

    def all_chunks(self) -> list[Chunk]:
        return self.chunks(range(len(self)))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_index(root: Path, model_id: str, dimension: int) -> Index:
    """Load the live generation under `root`, checked against the configured embedder."""
    generation = current_generation(root)
    if generation is None:
        raise IndexLoadError(f"no index at {root}; build one with: "
                             f"python -m ingest data/corpus --index {root}")
    manifest = read_manifest(generation, root)
    try:
        vectors = faiss.read_index(str(generation / VECTORS))
        db = sqlite3.connect(f"file:{generation / DATABASE}?mode=ro", uri=True,
                             check_same_thread=False)
        chunk_rows = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
    except (RuntimeError, sqlite3.Error) as err:
        raise IndexLoadError(f"index at {generation} cannot be read ({err}); "
                             f"{rebuild_hint(root)}") from err
    check_manifest(manifest, model_id=model_id, dimension=dimension,
                   vector_count=int(vectors.ntotal), chunk_rows=chunk_rows,
                   where=generation, index_root=root)
    if vectors.d != dimension:
        raise IndexLoadError(f"index at {generation} holds {vectors.d}-dim vectors, expected "
                             f"{dimension}; {rebuild_hint(root)}")
    return Index(root, generation, manifest, vectors, db)

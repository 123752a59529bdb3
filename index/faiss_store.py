"""The embedded vector store: FAISS + SQLite generations in the index directory (index.store).

Every write builds a whole new generation beside the live one (the untouched documents' rows and
vectors copied over exactly, read back from the live FAISS file) and publishes it atomically; a
reader keeps the generation it opened until `reload`. Reads go to index.store.Index.

Does not chunk or embed, and does not keep anything outside the index directory.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Collection, Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.records import Chunk, Document
from index.integrity import IndexDamaged, verify_generation
from index.manifest import IndexLoadError, read_manifest
from index.store import (
    BUILDING_PREFIX,
    DATABASE,
    VECTORS,
    Index,
    StoredDocument,
    install_generation,
    new_generation_name,
    open_index,
    prune,
    read_stored,
    write_generation,
)
from index.store import current_generation as live_generation
from index.vector_store import Changes, LockedWrites, Written, live_manifest, next_manifest

if TYPE_CHECKING:
    import numpy as np


class FaissStore(LockedWrites):
    """index.vector_store.VectorStore over the generations under `root` (see index.store)."""

    def __init__(self, root: Path, model_id: str, dimension: int) -> None:
        self.root = root
        self.model_id = model_id
        self.dimension = dimension
        self._index: Index | None = None
        # Opened on the first read, not here: an ingest that only writes never loads (nor
        # hashes) the live generation's FAISS and full-text files. faiss itself loads now, as
        # open_index did before the store existed: loaded before torch, it keeps an OpenMP
        # runtime of its own, so its one search thread (open_index) is not torch's too.
        import faiss  # noqa: F401

        self._looked = False

    # -- reading: the live generation's Index --------------------------------------------
    def _current(self) -> Index | None:
        if not self._looked:
            self.reload()
        return self._index

    @property
    def index(self) -> Index:
        index = self._current()
        if index is None:
            raise IndexLoadError(f"no index at {self.root}; build one with: "
                                 f"python -m ingest data/corpus --index {self.root}")
        return index

    @property
    def generation(self) -> Path | None:
        index = self._current()
        return index.generation if index else None

    @property
    def manifest(self) -> dict[str, Any]:
        index = self._current()
        return index.manifest if index else {}

    @property
    def stands_in_for(self) -> Path | None:
        index = self._current()
        return index.stands_in_for if index else None

    def __len__(self) -> int:
        return self.count()

    def count(self) -> int:
        index = self._current()
        return len(index) if index else 0

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        index = self._current()
        return index.search_dense(query, k) if index else []

    def search_lexical(self, text: str, k: int) -> list[tuple[int, float]]:
        index = self._current()
        return index.search_lexical(text, k) if index else []

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        return self.index.chunks(rows)

    def all_chunks(self) -> list[Chunk]:
        index = self._current()
        return index.all_chunks() if index else []

    def document_text(self, doc_id: str) -> str:
        return self.index.document_text(doc_id)

    def chunk_frequencies(self, words: Collection[str]) -> dict[str, int]:
        index = self._current()
        return index.chunk_frequencies(words) if index else {}

    def reload(self) -> bool:
        """Open the generation CURRENT names now, if it is not the one open; True if so. The
        Index replaced is not closed: a search in flight on it finishes."""
        self._looked = True
        live = live_generation(self.root)
        if live is None or (self._index is not None
                            and live in (self._index.generation, self._index.stands_in_for)):
            return False
        self._index = open_index(self.root, self.model_id, self.dimension)
        return True

    def close(self) -> None:
        if self._index is not None:
            self._index.close()

    # -- writing: a new generation each time -----------------------------------------------
    def stored_documents(self, doc_ids: Collection[str]) -> dict[str, Document]:
        return {d: s.document for d, s in self._read_live(sorted(doc_ids)).items()}

    def _read_live(self, doc_ids: list[str]) -> dict[str, StoredDocument]:
        """The stored rows and vectors of `doc_ids`, from a live generation whose files still
        match their sha256: a damaged one would carry its damage into the next, sealed anew."""
        if not doc_ids:
            return {}
        generation = live_generation(self.root)
        if generation is None:
            return {}
        try:
            verify_generation(generation, read_manifest(generation, self.root),
                              (VECTORS, DATABASE), self.root)
        except IndexDamaged as err:
            raise IndexLoadError(
                f"the current generation {generation} is damaged ({err.what}); run the ingest "
                "again with --rebuild to embed every document afresh") from err
        try:
            return read_stored(generation, doc_ids)
        except (RuntimeError, OSError, sqlite3.Error) as err:  # faiss raises RuntimeError
            raise IndexLoadError(
                f"the current generation {generation} cannot be read to reuse "
                f"unchanged documents ({type(err).__name__}: {err}); run the ingest again "
                "with --rebuild to embed every document afresh") from err

    def write(self, changes: Changes) -> Written:
        """Write and publish the generation after `changes`; the caller holds lock_index."""
        import numpy as np

        live, previous = live_manifest(self.root, changes.fresh)
        new_ids = {d.doc_id for d in changes.documents}
        carried = [] if changes.fresh else sorted(
            set(previous.get("documents") or {}) - set(changes.removed) - new_ids)
        parts = {d: replace(s, document=replace(
            s.document, source_path=changes.moved.get(d, s.document.source_path)))
            for d, s in self._read_live(carried).items()}
        vectors = _matrix(changes.vectors, len(changes.chunks), self.dimension)
        by_doc: dict[str, list[int]] = {d: [] for d in new_ids}
        for i, chunk in enumerate(changes.chunks):
            if chunk.doc_id not in by_doc:
                raise ValueError(f"chunk {chunk.chunk_id} belongs to {chunk.doc_id!r}, which is "
                                 "not among the documents written")
            by_doc[chunk.doc_id].append(i)
        for doc in changes.documents:
            at = by_doc[doc.doc_id]
            parts[doc.doc_id] = StoredDocument(doc, [changes.chunks[i] for i in at], vectors[at])
        order = [parts[d] for d in sorted(parts)]  # rows in doc_id order, chunks in order
        rows = [c for part in order for c in part.chunks]
        matrix = np.concatenate([np.zeros((0, self.dimension), dtype=np.float32)]
                                + [part.vectors for part in order])
        manifest = next_manifest(previous, changes, model_id=self.model_id,
                                 dimension=self.dimension,
                                 chunk_counts={d: len(p.chunks) for d, p in parts.items()},
                                 previous_generation=live.name if live else None)
        name = new_generation_name(self.root)
        building = self.root / f"{BUILDING_PREFIX}{name}"
        search = write_generation(building, [p.document for p in order], rows, matrix, manifest)
        install_generation(self.root, building, name)
        prune(self.root)
        self._looked = False  # the next read opens the new generation
        return Written(name, len(order), len(rows), search)


def _matrix(vectors: np.ndarray | None, rows: int, dimension: int) -> np.ndarray:
    """`vectors` as a float32 (rows, dimension) matrix; ValueError naming the mismatch."""
    import numpy as np

    matrix = np.zeros((0, dimension), dtype=np.float32) if vectors is None else np.asarray(
        vectors, dtype=np.float32)
    if matrix.shape != (rows, dimension):
        raise ValueError(f"{rows} chunks need a ({rows}, {dimension}) vector matrix, got "
                         f"{matrix.shape}")
    return matrix

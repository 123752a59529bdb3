"""The vector-store seam: where chunks, their vectors and their words are kept and searched.

Two backends pass the same contract (tests/index/test_store_contract.py):

    ""                     FAISS + SQLite generations in the index directory (index.faiss_store)
    PATH.db                milvus-lite in that file (index.milvus_store)
    http(s)://HOST:PORT    a Milvus server or cluster, the same code

Chosen by the `vector_store` setting ([paths] vector_store of the settings file, or
$RAG_VECTOR_STORE) when an index is written; a reader follows the live manifest, which records
where its chunks are, so the app and the eval need no setting to read.

Either way the index directory keeps the generations, their manifests (what is indexed, with
which model and chunking: the ingest planner's record), CURRENT and the write lock. Rows are
opaque integers: row numbers in FAISS, primary keys in Milvus; search results and `chunks`
meet on them.

Does not chunk or embed (ingest.build) and does not fuse rankings (qa.retrieve).
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from common.records import Chunk, Document
from common.words import terms
from index.manifest import IndexLoadError, make_manifest

if TYPE_CHECKING:
    import numpy as np

STORE_ENV = "RAG_VECTOR_STORE"
_URL = re.compile(r"https?://[^\s/]+(/\S*)?")


@runtime_checkable
class SearchableStore(Protocol):
    """What answering needs: both searches, the chunks and documents behind them, the counts.

    root, generation and manifest describe the live generation it reads (generation None and
    manifest {} before the first write); stands_in_for is a damaged generation it answers in
    place of (FAISS only), else None.
    """

    root: Path
    generation: Path | None
    manifest: dict[str, Any]
    stands_in_for: Path | None

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest chunks, best first."""
        ...

    def search_lexical(self, text: str, k: int) -> list[tuple[int, float]]:
        """(row, BM25 score, higher is better) of up to k chunks sharing words with `text`."""
        ...

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        """The chunks at these rows, in the order asked."""
        ...

    def document_text(self, doc_id: str) -> str:
        """The full text of an indexed document; KeyError when it is not indexed."""
        ...

    def count(self) -> int:
        """Chunks stored."""
        ...

    def chunk_frequencies(self, words: Collection[str]) -> dict[str, int]:
        """How many chunks hold each of `words` (common.words.terms), kept at write time so
        nothing reads every chunk to get them; words no chunk holds are left out."""
        ...


@runtime_checkable
class VectorStore(SearchableStore, Protocol):
    """A SearchableStore that can be written and re-read. Writers hold index.store.lock_index."""

    def write(self, changes: Changes) -> Written:
        """Apply `changes` and publish a new generation; the caller holds the index lock."""
        ...

    def add(self, documents: Sequence[Document], chunks: Sequence[Chunk],
            vectors: np.ndarray) -> Written:
        """Index `documents` (replacing any with the same doc id), holding the lock itself."""
        ...

    def delete(self, doc_ids: Collection[str]) -> Written:
        """Drop the documents `doc_ids` and their chunks, holding the lock itself."""
        ...

    def stored_documents(self, doc_ids: Collection[str]) -> dict[str, Document]:
        """The indexed Documents (text included) among `doc_ids`, for re-chunking."""
        ...

    def reload(self) -> bool:
        """Read the generation CURRENT names now; True when it changed."""
        ...

    def close(self) -> None:
        ...


class LockedWrites:
    """`add` and `delete` for a store whose `write(changes)` does the work: each holds the
    index lock (index.store.lock_index) around one write."""

    root: Path

    def write(self, changes: Changes) -> Written:
        raise NotImplementedError

    def add(self, documents: Sequence[Document], chunks: Sequence[Chunk],
            vectors: np.ndarray) -> Written:
        from index.store import lock_index

        with lock_index(self.root):
            return self.write(Changes(documents=documents, chunks=chunks, vectors=vectors))

    def delete(self, doc_ids: Collection[str]) -> Written:
        from index.store import lock_index

        with lock_index(self.root):
            return self.write(Changes(removed=frozenset(doc_ids)))


@dataclass(frozen=True)
class Changes:
    """One write: documents to drop, documents to (re)index with their chunks and vectors.

    A document in `documents` that is indexed already is replaced. `moved` gives kept documents
    a new source path (the manifest's record only). `fresh` drops everything indexed before.
    """

    removed: frozenset[str] = frozenset()
    documents: Sequence[Document] = ()
    chunks: Sequence[Chunk] = ()
    vectors: np.ndarray | None = None
    chunking: Mapping[str, int] | None = None  # None: the live manifest's
    moved: Mapping[str, str] = field(default_factory=dict)
    fresh: bool = False


@dataclass(frozen=True)
class Written:
    """What a write published: the generation, its counts and how dense search works."""

    generation: str
    documents: int
    chunks: int
    search: dict[str, Any]


def store_kind(uri: str) -> str:
    """"faiss", "milvus-lite" or "milvus" for a vector_store setting; ValueError otherwise.

    Example: store_kind("") -> "faiss"; store_kind("var/m.db") -> "milvus-lite";
    store_kind("http://10.0.0.5:19530") -> "milvus"
    """
    uri = uri.strip()
    if not uri or uri.lower() == "faiss":
        return "faiss"
    if _URL.fullmatch(uri):
        return "milvus"
    if uri.endswith(".db") and "://" not in uri:
        return "milvus-lite"
    raise ValueError(f"vector_store {uri!r} is neither \"\" (FAISS + SQLite in the index "
                     "directory), a path ending in .db (milvus-lite) nor an http(s):// Milvus "
                     "URI")


def normalized_uri(uri: str, base: Path | None = None) -> str:
    """The setting as recorded in a manifest: "" for FAISS, an absolute .db path, or the URL.

    Example: normalized_uri("m.db", Path("/srv")) -> "/srv/m.db"; normalized_uri("faiss") -> ""
    """
    kind = store_kind(uri)
    if kind == "faiss":
        return ""
    if kind == "milvus":
        return uri.strip().rstrip("/")
    path = Path(uri.strip()).expanduser()
    return str(((base or Path.cwd()) / path).resolve())


def configured_store(settings: Path | None = None) -> str:
    """The vector_store setting: $RAG_VECTOR_STORE, else [paths] vector_store of the settings
    file, else "" (FAISS + SQLite), normalized (normalized_uri)."""
    from common.paths import settings_root
    from common.settings_file import store_setting

    value, base = store_setting(settings_root(), named=settings)
    try:
        return normalized_uri(value, base)
    except ValueError as err:
        where = STORE_ENV if base is None else "[paths] vector_store"
        raise IndexLoadError(f"{where}: {err}") from None


def live_manifest(root: Path, fresh: bool) -> tuple[Path | None, dict[str, Any]]:
    """(the live generation, its manifest) for a writer; (None, {}) when there is none, or
    when a `fresh` write (which keeps nothing) finds CURRENT or the manifest unreadable."""
    from index.manifest import read_manifest
    from index.store import current_generation

    try:
        live = current_generation(root)
        return live, (read_manifest(live, root) if live is not None else {})
    except IndexLoadError:
        if not fresh:
            raise
        return None, {}


def recorded_store(manifest: Mapping[str, Any]) -> str:
    """The store a manifest's chunks live in ("" for FAISS + SQLite in the generation)."""
    record = manifest.get("vector_store")
    return str(record.get("uri", "")) if isinstance(record, dict) else ""


def open_store(root: Path, model_id: str, dimension: int, uri: str | None = None
               ) -> VectorStore:
    """The store of the index at `root`: the one its live manifest records, or `uri` (a
    normalized vector_store setting) for writing. A store other than the live one starts
    empty: write it with Changes(fresh=True). Raises IndexLoadError with one line."""
    from index.manifest import read_manifest
    from index.store import current_generation

    if uri is None:
        live = current_generation(root)
        uri = recorded_store(read_manifest(live, root)) if live is not None else ""
    if store_kind(uri) == "faiss":
        from index.faiss_store import FaissStore

        return FaissStore(root, model_id, dimension)
    from index.milvus_store import MilvusStore

    return MilvusStore(root, uri, model_id, dimension)


def count_terms(texts: Iterable[str]) -> Counter[str]:
    """How many of `texts` hold each term (common.words.terms).

    Example: count_terms(["tariffs rose", "tariffs fell"]) -> {"tariff": 2, "rose": 1, "fell": 1}
    """
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(terms(text))
    return counts


def idf(chunks: int, frequency: int) -> float:
    """Smoothed inverse chunk frequency, as qa.evidence.inverse_document_frequency computes it.

    Example: idf(2, 2) = log(3/2.5) ~ 0.18; idf(2, 0) = log(3/0.5) ~ 1.79
    """
    return math.log((chunks + 1) / (frequency + 0.5))


def next_manifest(previous: Mapping[str, Any], changes: Changes, *, model_id: str,
                  dimension: int, chunk_counts: Mapping[str, int],
                  previous_generation: str | None) -> dict[str, Any]:
    """The manifest after `changes`: the previous one's documents less those removed or
    replaced, plus the new ones with their chunk counts (`chunk_counts`: doc_id -> chunks)."""
    old = {} if changes.fresh else dict(previous.get("documents") or {})
    replaced = set(changes.removed) | {d.doc_id for d in changes.documents}
    entries = {k: dict(v) for k, v in old.items() if k not in replaced}
    for doc_id, path in changes.moved.items():
        if doc_id in entries:
            entries[doc_id]["source_path"] = path
    for doc in changes.documents:
        entries[doc.doc_id] = {"sha256": doc.content_hash, "title": doc.title,
                               "chunks": chunk_counts.get(doc.doc_id, 0),
                               "source_path": doc.source_path}
    chunking = changes.chunking if changes.chunking is not None else (
        previous.get("chunking") or {})
    return make_manifest(
        embedding_model=model_id, dimension=dimension,
        chunk_count=sum(int(e.get("chunks", 0)) for e in entries.values()),
        documents=entries, chunking=chunking,
        built_at=datetime.now(UTC).isoformat(timespec="seconds"),
        previous_generation=previous_generation)

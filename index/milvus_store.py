"""The scale-out vector store: Milvus through pymilvus; milvus-lite for a .db path, a server or
cluster for an http(s):// URI, with the same code.

Three collections per index, named from the index directory (`rag_<hash>_chunks`, `_documents`,
`_terms`) and recorded in each manifest, so one Milvus can hold several indexes:

    chunks     row (auto id) doc_id chunk_id start_char end_char title text, the chunk's vector
               (exact inner-product search: FLAT) and `lexical`, its words as FTS5's porter
               tokenizer cuts them, turned into BM25 vectors by Milvus's BM25 function
    documents  doc_id, part, text: each document's text in parts that fit a VARCHAR
    terms      term -> chunks holding it (common.words.terms), for the pipeline's IDF

Lexical search matches the FAISS store's on purpose: chunk and question are both cut by SQLite's
`porter unicode61` tokenizer (the one lexical.sqlite indexes with), so both stores search the
same stems; milvus-lite's own analyzer neither stems nor folds accents.

Unlike the FAISS store, writes change the collections in place (no copy of the untouched
documents): a reader sees an ingest's deletions and insertions as they land, and a new
generation directory holding only the manifest is published after them. A write deletes each
document it (re)writes before inserting it, so an ingest killed half-way is completed by the
next one. milvus-lite serves one process at a time; run a Milvus server when the app and an
ingest must share the store.

Does not chunk or embed, and never downloads anything (milvus-lite runs in-process).
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.records import Chunk, Document
from common.words import STOPWORDS, words
from index.integrity import FILES, seal, verify_generation
from index.manifest import MANIFEST_NAME, IndexLoadError, check_format, read_manifest
from index.store import (
    BUILDING_PREFIX,
    _fsync_dir,
    current_generation,
    install_generation,
    new_generation_name,
    prune,
)
from index.vector_store import (
    Changes,
    LockedWrites,
    Written,
    count_terms,
    live_manifest,
    next_manifest,
    store_kind,
)

if TYPE_CHECKING:
    import numpy as np
    from pymilvus import MilvusClient

PART_CHARS = 16_000  # <= 64,000 UTF-8 bytes: a VARCHAR holds 65,535
MAX_TERM = 256
BATCH = 1_000  # rows per insert, ids per query
DENSE_INDEXES = ("FLAT", "HNSW", "IVF_FLAT")
# Lexical candidates from Milvus per result wanted, rescored as FTS5 scores them.
LEXICAL_POOL = 5
# Keys of the terms collection beside common.words terms (which never hold ":" or "#"):
# porter stems, and FTS5's two totals.
STEM_PREFIX, TOKENS, ROWS = "porter:", "#tokens", "#rows"


def porter_terms(texts: Sequence[str]) -> list[list[str]]:
    """Each text's tokens as FTS5's `porter unicode61` tokenizer makes them, in order.

    Example: porter_terms(["Tariffs were launched"]) -> [["tariff", "were", "launch"]]
    """
    db = sqlite3.connect(":memory:")
    try:
        db.execute("CREATE VIRTUAL TABLE t USING fts5(text, tokenize='porter unicode61')")
        db.execute("CREATE VIRTUAL TABLE v USING fts5vocab(t, 'instance')")
        db.executemany("INSERT INTO t(rowid, text) VALUES (?, ?)", enumerate(texts))
        out: list[list[str]] = [[] for _ in texts]
        for doc, term in db.execute('SELECT doc, term FROM v ORDER BY doc, "offset"'):
            out[doc].append(term)
        return out
    finally:
        db.close()


def query_stems(question: str) -> list[str]:
    """The stems a question is searched by, one per word FTS5's query ORs (index.store.
    lexical_query: the words less stopwords, all of them when only stopwords, each once), so
    two words with one stem count twice, as they do in FTS5.

    Example: query_stems("Who launched the launch talks?") -> ["launch", "launch", "talk"]
    """
    found = words(question)
    kept = list(dict.fromkeys([w for w in found if w not in STOPWORDS] or found))
    return [stem for tokens in porter_terms(kept) for stem in tokens]


def fts5_bm25(stems: Sequence[str], tokens: Sequence[str], frequencies: dict[str, int],
              chunks: int, total_tokens: int, k1: float = 1.2, b: float = 0.75) -> float:
    """FTS5's bm25() of a chunk (its `tokens`) for a query of `stems`, higher is better:
    sum over the stems of idf * tf (k1 + 1) / (tf + k1 (1 - b + b dl / avgdl)), with
    idf = log((N - n + 0.5) / (n + 0.5)), and 1e-6 where that is not positive.

    Example: fts5_bm25(["tai"], ["tai", "met"], {"tai": 1}, 3, 6) = log(2.5 / 1.5) ~ 0.511
    """
    import math

    average = total_tokens / chunks if chunks else 1.0
    counts = Counter(tokens)
    norm = k1 * (1 - b + b * len(tokens) / (average or 1.0))
    score = 0.0
    for stem in stems:
        tf = counts.get(stem, 0)
        if not tf:
            continue
        n = frequencies.get(stem, 0)
        idf = math.log((chunks - n + 0.5) / (n + 0.5)) if chunks else 0.0
        score += (idf if idf > 0 else 1e-6) * tf * (k1 + 1) / (tf + norm)
    return score


def _stem_counts(chunks: Iterable[Sequence[str]]) -> Counter[str]:
    """The porter statistics of chunks given as token lists: STEM_PREFIX + stem -> chunks
    holding it, TOKENS -> their tokens, ROWS -> how many."""
    counts = Counter[str]()
    for tokens in chunks:
        counts.update(STEM_PREFIX + s for s in set(tokens))
        counts[TOKENS] += len(tokens)
        counts[ROWS] += 1
    return counts


def _quoted(values: Iterable[str]) -> str:
    """A Milvus `in` list. Example: _quoted(['a"b']) -> '["a\\"b"]'"""
    return json.dumps(list(values), ensure_ascii=False)


def _batches(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class MilvusStore(LockedWrites):
    """index.vector_store.VectorStore in Milvus at `uri`, for the index directory `root`."""

    def __init__(self, root: Path, uri: str, model_id: str, dimension: int,
                 dense_index: str = "FLAT") -> None:
        if dense_index not in DENSE_INDEXES:
            raise ValueError(f"dense_index must be one of {', '.join(DENSE_INDEXES)}, got "
                             f"{dense_index!r}")
        self.root = root
        self.uri = uri
        self.kind = store_kind(uri)
        self.model_id = model_id
        self.dimension = dimension
        self.dense_index = dense_index
        self.prefix = "rag_" + hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
        self.generation: Path | None = None
        self.manifest: dict[str, Any] = {}
        self.stands_in_for: Path | None = None
        self._client = self._connect()
        self.reload()

    def _connect(self) -> MilvusClient:
        from pymilvus import MilvusClient
        from pymilvus.exceptions import MilvusException

        if self.kind == "milvus-lite":
            Path(self.uri).parent.mkdir(parents=True, exist_ok=True)
        try:
            return MilvusClient(self.uri, timeout=float(os.environ.get("RAG_MILVUS_TIMEOUT",
                                                                        "10")))
        except MilvusException as err:
            raise IndexLoadError(f"vector_store {self.uri}: cannot open Milvus "
                                 f"({err.message}); start the server, or set vector_store to "
                                 "a .db path (milvus-lite) or \"\" (FAISS)") from None

    @property
    def _chunks(self) -> str:
        return f"{self.prefix}_chunks"

    @property
    def _documents(self) -> str:
        return f"{self.prefix}_documents"

    @property
    def _terms(self) -> str:
        return f"{self.prefix}_terms"

    # -- reading ------------------------------------------------------------------------
    def reload(self) -> bool:
        """Read the manifest CURRENT names now and load its collections; True if it changed.
        A generation whose chunks live elsewhere (FAISS, another Milvus) is not followed."""
        live = current_generation(self.root)
        if live is None or live == self.generation:
            return False
        manifest = read_manifest(live, self.root)
        verify_generation(live, manifest, (), self.root)
        check_format(manifest, where=live, index_root=self.root)
        record = manifest.get("vector_store") or {}
        if record.get("uri") != self.uri:
            return False  # another store's generation: this one is empty until written
        for key, want in (("embedding_model", self.model_id), ("dimension", self.dimension)):
            if manifest.get(key) != want:
                raise IndexLoadError(f"index at {live} does not match: manifest {key} is "
                                     f"{manifest.get(key)!r} but this program expects {want!r};"
                                     f" rebuild it with: python -m ingest DIR --index "
                                     f"{self.root} --rebuild")
        self.prefix = str(record.get("collection", self.prefix))
        self.dense_index = str(record.get("dense_index", self.dense_index))
        for name in (self._chunks, self._documents, self._terms):
            if not self._client.has_collection(name):
                raise IndexLoadError(f"index at {live}: Milvus at {self.uri} has no collection "
                                     f"{name}; rebuild it with: python -m ingest DIR --index "
                                     f"{self.root} --rebuild")
            self._client.load_collection(name)
        self.generation, self.manifest = live, manifest
        return True

    def __len__(self) -> int:
        return self.count()

    def count(self) -> int:
        if not self._client.has_collection(self._chunks):
            return 0
        found = self._client.query(self._chunks, filter="", output_fields=["count(*)"])
        return int(found[0]["count(*)"])

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        if k <= 0 or self.generation is None:
            return []
        params: dict[str, Any] = {"metric_type": "IP"}
        if self.dense_index == "HNSW":
            params["params"] = {"ef": max(64, k)}
        elif self.dense_index == "IVF_FLAT":
            params["params"] = {"nprobe": 16}
        hits = self._client.search(self._chunks, data=[[float(x) for x in query.ravel()]],
                                   anns_field="vector", limit=k, search_params=params,
                                   output_fields=["chunk_id"])[0]
        return [(int(h.get("row", h.get("id"))), float(h["distance"])) for h in hits]

    def search_lexical(self, text: str, k: int) -> list[tuple[int, float]]:
        """(row, BM25 score) of up to k chunks, scored as FTS5's bm25() scores them.

        Milvus's BM25 finds the candidates (LEXICAL_POOL times k of them); they are then
        scored here with FTS5's formula from the statistics kept at write time (chunks holding
        each stem, total tokens), because Milvus weighs words differently (its IDF is
        log(1 + (N - n + 0.5) / (n + 0.5)), and milvus-lite's is per segment): with Milvus's
        own order, 67 of the 82 eval/qa.jsonl questions got another top 20.
        """
        stems = query_stems(text)
        if not stems or k <= 0 or self.generation is None:
            return []
        hits = self._client.search(self._chunks, data=[" ".join(dict.fromkeys(stems))],
                                   anns_field="sparse", limit=max(k * LEXICAL_POOL, 100),
                                   search_params={"metric_type": "BM25"},
                                   output_fields=["lexical"])[0]
        if not hits:
            return []
        stats = self._stem_statistics(stems)
        chunks, tokens = stats.get(ROWS, 0), stats.get(TOKENS, 0)
        scored = [(int(h.get("row", h.get("id"))),
                   fts5_bm25(stems, h["entity"]["lexical"].split(), stats, chunks, tokens))
                  for h in hits]
        scored.sort(key=lambda pair: (-pair[1], pair[0]))
        return scored[:k]

    def _stem_statistics(self, stems: Sequence[str]) -> dict[str, int]:
        """{stem: chunks holding it} for `stems`, plus TOKENS and ROWS (FTS5's N and its
        total of tokens, for the average length)."""
        keys = [STEM_PREFIX + s for s in dict.fromkeys(stems) if len(s) < MAX_TERM - 8]
        found = {}
        for part in _batches([*keys, TOKENS, ROWS]):
            for r in self._client.query(self._terms, ids=list(part), output_fields=["chunks"]):
                found[r["term"]] = int(r["chunks"])
        return {k.removeprefix(STEM_PREFIX) if k.startswith(STEM_PREFIX) else k: v
                for k, v in found.items()}

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        wanted = [int(r) for r in rows]
        by_row: dict[int, Chunk] = {}
        for part in _batches(sorted(set(wanted))):
            for r in self._client.query(self._chunks, ids=list(part), output_fields=[
                    "doc_id", "chunk_id", "text", "start_char", "end_char", "title"]):
                by_row[int(r["row"])] = Chunk(doc_id=r["doc_id"], chunk_id=r["chunk_id"],
                                              text=r["text"], start=int(r["start_char"]),
                                              end=int(r["end_char"]), title=r["title"])
        return [by_row[r] for r in wanted]

    def all_chunks(self) -> list[Chunk]:
        rows = [int(r["row"]) for r in self._iterate(self._chunks, "", ["row"])]
        return self.chunks(sorted(rows))

    def document_text(self, doc_id: str) -> str:
        parts = self._client.query(self._documents, filter=f"doc_id in {_quoted([doc_id])}",
                                   output_fields=["part", "text"], limit=16_384)
        if not parts:
            raise KeyError(doc_id)
        return "".join(p["text"] for p in sorted(parts, key=lambda p: int(p["part"])))

    def chunk_frequencies(self, words: Collection[str]) -> dict[str, int]:
        wanted = sorted(w for w in set(words) if len(w) <= MAX_TERM)
        found: dict[str, int] = {}
        for part in _batches(wanted):
            for r in self._client.query(self._terms, ids=list(part), output_fields=["chunks"]):
                found[r["term"]] = int(r["chunks"])
        return found

    def stored_documents(self, doc_ids: Collection[str]) -> dict[str, Document]:
        entries = self.manifest.get("documents") or {}
        return {d: Document(doc_id=d, title=entries[d].get("title", ""),
                            text=self.document_text(d),
                            source_path=entries[d].get("source_path", ""),
                            content_hash=entries[d].get("sha256", ""))
                for d in sorted(doc_ids) if d in entries}

    def close(self) -> None:
        self._client.close()

    def _iterate(self, collection: str, expr: str, fields: list[str]) -> Iterator[dict]:
        iterator = self._client.query_iterator(collection, filter=expr, batch_size=BATCH,
                                               output_fields=fields)
        try:
            while batch := iterator.next():
                yield from batch
        finally:
            iterator.close()

    # -- writing ------------------------------------------------------------------------
    def write(self, changes: Changes) -> Written:
        """Apply `changes` in place, then publish a manifest-only generation; the caller holds
        index.store.lock_index(root)."""
        live, previous = live_manifest(self.root, changes.fresh)
        record = previous.get("vector_store") or {}
        ours = record.get("uri") == self.uri
        if ours:
            self.prefix = str(record.get("collection", self.prefix))
        # With fresh, or after another store's generation, nothing in here is to be kept.
        changes = replace(changes, fresh=changes.fresh or not ours)
        self._create(drop=changes.fresh)
        replaced = sorted(set(changes.removed) | {d.doc_id for d in changes.documents})
        counts = Counter[str]()
        for part in _batches([] if changes.fresh else replaced, 100):  # fresh: nothing there
            expr = f"doc_id in {_quoted(part)}"
            gone = list(self._iterate(self._chunks, expr, ["text", "lexical"]))
            counts.subtract(count_terms(r["text"] for r in gone))
            counts.subtract(_stem_counts(r["lexical"].split() for r in gone))
            self._client.delete(self._chunks, filter=expr)
            self._client.delete(self._documents, filter=expr)
        counts.update(self._insert(changes))
        counts.update(count_terms(c.text for c in changes.chunks))
        self._update_terms(counts)
        for name in (self._chunks, self._documents, self._terms):
            self._client.flush(name)
        chunk_counts = Counter(c.doc_id for c in changes.chunks)
        manifest = next_manifest(previous, changes, model_id=self.model_id,
                                 dimension=self.dimension, chunk_counts=chunk_counts,
                                 previous_generation=live.name if live else None)
        search = {"kind": f"Milvus {self.dense_index}", "storage": "float32",
                  "metric": "inner_product", "vectors": manifest["chunk_count"]}
        if self.dense_index == "FLAT":
            search["recall_at_10"] = 1.0  # an exhaustive float32 scan
        manifest["vector_store"] = {"kind": self.kind, "uri": self.uri,
                                    "collection": self.prefix, "dense_index": self.dense_index}
        manifest["faiss_index"] = search  # how dense search works, as describe_search reads it
        name = new_generation_name(self.root)
        building = self.root / f"{BUILDING_PREFIX}{name}"
        building.mkdir(parents=True)
        path = building / MANIFEST_NAME
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(seal({**manifest, FILES: {}}), indent=2))
            handle.flush()
            os.fsync(handle.fileno())
        _fsync_dir(building)
        install_generation(self.root, building, name)
        prune(self.root)
        self.reload()
        return Written(name, len(manifest["documents"]), manifest["chunk_count"], search)

    def _create(self, drop: bool) -> None:
        """The three collections, created when missing (dropped first with `drop`)."""
        from pymilvus import DataType, Function, FunctionType

        client = self._client
        if drop:
            for name in (self._chunks, self._documents, self._terms):
                if client.has_collection(name):
                    client.drop_collection(name)
        if not client.has_collection(self._chunks):
            schema = client.create_schema(auto_id=True)
            schema.add_field("row", DataType.INT64, is_primary=True)
            schema.add_field("doc_id", DataType.VARCHAR, max_length=4096)
            schema.add_field("chunk_id", DataType.VARCHAR, max_length=256)
            schema.add_field("start_char", DataType.INT64)
            schema.add_field("end_char", DataType.INT64)
            schema.add_field("title", DataType.VARCHAR, max_length=65_535)
            schema.add_field("text", DataType.VARCHAR, max_length=65_535)
            # Already porter-stemmed here (porter_terms): the analyzer only splits on spaces.
            schema.add_field("lexical", DataType.VARCHAR, max_length=65_535,
                             enable_analyzer=True,
                             analyzer_params={"tokenizer": "standard", "filter": ["lowercase"]})
            schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dimension)
            schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
            schema.add_function(Function(name="bm25", function_type=FunctionType.BM25,
                                         input_field_names=["lexical"],
                                         output_field_names=["sparse"]))
            index = client.prepare_index_params()
            params = {"HNSW": {"M": 32, "efConstruction": 128}, "IVF_FLAT": {"nlist": 1024}}
            index.add_index("vector", index_type=self.dense_index, metric_type="IP",
                            params=params.get(self.dense_index, {}))
            # FTS5's bm25() constants, so both stores weigh words alike.
            index.add_index("sparse", index_type="SPARSE_INVERTED_INDEX", metric_type="BM25",
                            params={"bm25_k1": 1.2, "bm25_b": 0.75})
            client.create_collection(self._chunks, schema=schema, index_params=index)
        for name, key, kind in ((self._documents, "doc_id", "text"),
                                (self._terms, "term", "chunks")):
            if client.has_collection(name):
                continue
            # Milvus wants a vector field in every collection: a 2-dim zero one, never searched.
            schema = client.create_schema(auto_id=name == self._documents)
            if name == self._documents:
                schema.add_field("id", DataType.INT64, is_primary=True)
                schema.add_field(key, DataType.VARCHAR, max_length=4096)
                schema.add_field("part", DataType.INT64)
                schema.add_field(kind, DataType.VARCHAR, max_length=65_535)
            else:
                schema.add_field(key, DataType.VARCHAR, max_length=MAX_TERM, is_primary=True)
                schema.add_field(kind, DataType.INT64)
            schema.add_field("unused", DataType.FLOAT_VECTOR, dim=2)
            index = client.prepare_index_params()
            index.add_index("unused", index_type="FLAT", metric_type="IP")
            client.create_collection(name, schema=schema, index_params=index)
        for name in (self._chunks, self._documents, self._terms):
            client.load_collection(name)

    def _insert(self, changes: Changes) -> Counter[str]:
        """Insert the chunks and documents of `changes`; the porter statistics they add."""
        import numpy as np

        chunks = list(changes.chunks)
        vectors = np.asarray(changes.vectors if changes.vectors is not None
                             else np.zeros((0, self.dimension)), dtype=np.float32)
        if vectors.shape != (len(chunks), self.dimension):
            raise ValueError(f"{len(chunks)} chunks need a ({len(chunks)}, {self.dimension}) "
                             f"vector matrix, got {vectors.shape}")
        ids = {d.doc_id for d in changes.documents}
        if stray := next((c for c in chunks if c.doc_id not in ids), None):
            raise ValueError(f"chunk {stray.chunk_id} belongs to {stray.doc_id!r}, which is "
                             "not among the documents written")
        added = Counter[str]()
        for start in range(0, len(chunks), BATCH):
            part = chunks[start:start + BATCH]
            stems = porter_terms([c.text for c in part])
            added.update(_stem_counts(stems))
            self._client.insert(self._chunks, [
                {"doc_id": c.doc_id, "chunk_id": c.chunk_id, "start_char": c.start,
                 "end_char": c.end, "title": c.title, "text": c.text, "lexical": " ".join(s),
                 "vector": v.tolist()}
                for c, s, v in zip(part, stems, vectors[start:start + BATCH], strict=True)])
        rows = [{"doc_id": d.doc_id, "part": i, "text": d.text[at:at + PART_CHARS],
                 "unused": [0.0, 0.0]}
                for d in changes.documents
                for i, at in enumerate(range(0, max(len(d.text), 1), PART_CHARS))]
        for part in _batches(rows, 100):
            self._client.insert(self._documents, list(part))
        return added

    def _update_terms(self, delta: Counter[str]) -> None:
        """Add `delta` (term -> change in chunks holding it) to the terms collection."""
        changed = sorted(t for t, n in delta.items() if n and len(t) <= MAX_TERM)
        now = self.chunk_frequencies(changed)
        keep, gone = [], []
        for term in changed:
            total = now.get(term, 0) + delta[term]
            (keep if total > 0 else gone).append((term, total))
        for part in _batches(keep):
            self._client.upsert(self._terms, [{"term": t, "chunks": n, "unused": [0.0, 0.0]}
                                              for t, n in part])
        for part in _batches(gone):
            self._client.delete(self._terms, ids=[t for t, _ in part])

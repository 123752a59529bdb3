"""Carry out an ingest plan: embed only what changed, write a new generation, publish it.

    Plan --chunk + embed added/changed docs--> Changes --the vector store (index.vector_store)-->
         FAISS: unchanged docs' rows+vectors read back, all rows in doc_id order
                --write_generation--> ROOT/.building-X --rename--> ROOT/gen-X --publish-->
         Milvus: changed docs deleted and inserted in place, then a manifest-only generation

Unchanged documents keep their chunks and vectors exactly (read back from the live generation),
so re-ingesting an unchanged corpus embeds nothing, and with nothing added, changed or removed
no generation is written at all. With FAISS, a failure anywhere before `publish` leaves the
live generation untouched; the one it replaced stays on disk until the next build succeeds.
Milvus is changed in place, and the next ingest completes an interrupted one
(index.milvus_store).

`ingest` (and `build_index`, its older name with default settings) holds the index lock from
planning to publishing; `apply_plan` expects its caller to hold it.

Does not decide what changed (see ingest.plan) and does not parse files (see ingest.loaders).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm import tqdm

from common.records import Chunk, Document
from index.embedder import Embedder
from index.store import checkpoint, lock_index, prune
from index.vector_store import Changes, configured_store, open_store
from ingest.loaders import IngestError, Limits, discover, load_document
from ingest.names import shown
from ingest.plan import (
    ADDED,
    CHANGED,
    REJECTED,
    REMOVED,
    UNCHANGED,
    FileAction,
    NothingToIndex,
    Plan,
    Progress,
    Settings,
    make_plan,
)

if TYPE_CHECKING:
    import numpy as np

DEFAULT_MAX_TOKENS = 192
DEFAULT_OVERLAP_TOKENS = 48
EMBED_BATCH = 64

__all__ = ["DEFAULT_MAX_TOKENS", "DEFAULT_OVERLAP_TOKENS", "NothingToIndex", "Report",
           "apply_plan", "build_index", "ingest", "load_all", "settings_for"]


@dataclass
class Report:
    """What a run did. files are the plan's actions, with chunk counts filled in."""

    plan: Plan
    files: list[FileAction]
    generation: str | None  # live after the run
    published: bool  # False when nothing had changed, so no generation was written
    documents: int  # in the live generation
    chunks: int
    embedded: int  # chunks embedded by this run
    reused: int  # chunks carried over with their vectors
    seconds: float
    search: dict[str, Any] | None = None  # the new generation's faiss_index description

    def search_line(self) -> str:
        """How the new generation's vectors are searched, with the recall measured on build
        ("" when no generation was written). See describe_search."""
        return describe_search(self.search) if self.published and self.search else ""

    @property
    def errors(self) -> list[FileAction]:
        return [f for f in self.files if f.action == REJECTED]

    def summary(self) -> str:
        """One line: what is indexed, where, what was embedded and what reused.

        Example: "indexed 2 documents (41 chunks) into gen-... in 0.4 s: 19 chunks embedded,
        22 reused (0 added, 1 changed, 0 removed, 1 unchanged, 0 rejected)"
        """
        where = (f"into {self.generation}" if self.published
                 else f"already up to date in {self.generation}")
        line = (f"indexed {_count(self.documents, 'document')} ({_count(self.chunks, 'chunk')}) "
                f"{where} in {self.seconds:.1f} s: {_count(self.embedded, 'chunk')} embedded, "
                f"{self.reused} reused ({self.plan.summary()})")
        kept = self.plan.counts()["kept"]
        if kept:
            line += (f"; {_count(kept, 'indexed document')} not in the inputs kept (--sync "
                     "removes them)")
        return line


def describe_search(search: dict[str, Any]) -> str:
    """The manifest's faiss_index in words.

    Example: describe_search({"kind": "IndexIVFScalarQuantizer", "storage": "float16",
    "params": {"nlist": 1024, "nprobe": 16}, "recall_at_10": 0.97})
    -> "dense search: IVF, 1024 lists, nprobe 16, float16 vectors, recall@10 0.970 vs exact"
    """
    kind = str(search.get("kind", "?"))
    params = search.get("params") or {}
    words = ["IVF", f"{params.get('nlist')} lists", f"nprobe {params.get('nprobe')}"] \
        if kind.startswith("IndexIVF") else ["exact"]
    words.append(f"{search.get('storage', 'float32')} vectors")
    recall = search.get("recall_at_10")
    if isinstance(recall, int | float):
        words.append(f"recall@10 {recall:.3f} vs exact")
    return "dense search: " + ", ".join(words)


def _count(n: int, noun: str) -> str:
    """Example: _count(1, "chunk") -> "1 chunk"; _count(0, "chunk") -> "0 chunks" """
    return f"{n} {noun}{'' if n == 1 else 's'}"


def settings_for(embedder: Embedder, max_tokens: int = DEFAULT_MAX_TOKENS,
                 overlap_tokens: int = DEFAULT_OVERLAP_TOKENS) -> Settings:
    """The embedder's model, the chunking, and the vector_store setting (the store written)."""
    return Settings(embedder.model_id, embedder.dimension, max_tokens, overlap_tokens,
                    configured_store())


def load_all(paths: Sequence[Path], progress: bool,
             limits: Limits | None = None) -> tuple[list[Document], list[IngestError]]:
    """Every readable document under `paths` and one error per file that is not."""
    files, errors = discover(paths)
    documents = []
    for path, doc_id in tqdm(files, desc="reading", unit="file", disable=not progress or not files):
        try:
            documents.append(load_document(path, doc_id, limits))
        except IngestError as err:
            errors.append(err)
    return documents, errors


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk], progress: bool = False,
                 report: Progress | None = None, ray_actors: int | None = None) -> np.ndarray:
    """Vectors of the chunks in order. progress shows a bar; report(fraction, message) goes
    from 0.3 to 0.9 as batches finish. ray_actors=N embeds on Ray Data with N copies of the
    embedder (ingest.ray_embed) instead of in this process: the same calls, the same vectors.

    Chunks are embedded longest first (in tokens), in calls of EMBED_BATCH, and their rows put
    back in place: each padded batch then holds texts of about one length. In document order the
    model processed 12% more (padding) tokens on the benchmark corpus (docs/PERFORMANCE.md).
    """
    import numpy as np

    vectors = np.zeros((len(chunks), embedder.dimension), dtype=np.float32)
    # Longest in model tokens, not characters: by characters the windows were 0.92 efficient.
    tokens = [embedder.count_tokens(c.text) for c in chunks]
    order = sorted(range(len(chunks)), key=lambda i: tokens[i], reverse=True)
    with tqdm(total=len(chunks), desc="embedding", unit="chunk",
              disable=not progress or not chunks) as bar:
        finished = 0

        def advance(rows: int) -> None:
            nonlocal finished
            finished += rows
            bar.update(rows)
            if report:
                report(0.3 + 0.6 * finished / len(chunks),
                       f"embedded {finished}/{len(chunks)} chunks")

        if ray_actors is not None and chunks:
            from ingest.ray_embed import embed_texts

            vectors[order] = embed_texts(embedder, [chunks[i].text for i in order],
                                         actors=ray_actors, batch_size=EMBED_BATCH,
                                         advance=advance)
            return vectors
        for done in range(0, len(order), EMBED_BATCH):
            rows = order[done : done + EMBED_BATCH]
            vectors[rows] = embedder.embed([chunks[i].text for i in rows])
            advance(len(rows))
    return vectors


def apply_plan(plan: Plan, embedder: Embedder, *, bars: bool = False,
               progress: Progress | None = None, ray_actors: int | None = None) -> Report:
    """Run `plan`, made under the lock the caller still holds: publish a new generation if
    anything changed, else report the live one. Rejected files are left out, never raised.
    ray_actors=N embeds on Ray Data (see embed_chunks).
    """
    started = time.perf_counter()
    if not plan.has_changes:
        chunks = sum(int(e.get("chunks", 0)) for e in plan.indexed.values())
        if progress:
            progress(1.0, f"nothing changed; {plan.generation} stays live")
        return Report(plan, plan.files, plan.generation, False, len(plan.indexed), chunks,
                      0, chunks, time.perf_counter() - started)

    touched = {f.doc_id for f in plan.files if f.action in (ADDED, CHANGED, REMOVED)}
    carried = sorted(set(plan.indexed) - touched)  # unchanged, kept, rejected-but-indexed
    moved = {f.doc_id: f.path for f in plan.files if f.action == UNCHANGED}
    store = open_store(plan.root, embedder.model_id, embedder.dimension, uri=plan.settings.store)
    to_chunk = list(plan.documents.values())
    if plan.rebuild and carried:  # stored vectors unusable (or in another store); text is not
        source = open_store(plan.root, embedder.model_id, embedder.dimension)
        to_chunk += [replace(d, source_path=moved.get(d.doc_id, d.source_path))
                     for d in source.stored_documents(carried).values()]
    checkpoint("previous generation read")

    from ingest.chunker import chunk_document  # pysbd: only when something needs chunking

    chunked: dict[str, list[Chunk]] = {}
    for i, doc in enumerate(tqdm(to_chunk, desc="chunking", unit="doc",
                                 disable=not bars or not to_chunk)):
        if progress:
            progress(0.2 + 0.1 * i / len(to_chunk), f"chunking {shown(doc.doc_id)}")
        chunked[doc.doc_id] = chunk_document(doc, embedder.count_tokens, plan.settings.max_tokens,
                                             plan.settings.overlap_tokens)
    new_chunks = [c for doc in to_chunk for c in chunked[doc.doc_id]]
    new_vectors = embed_chunks(embedder, new_chunks, progress=bars, report=progress,
                               ray_actors=ray_actors)
    checkpoint("new chunks embedded")

    if progress:
        progress(0.9, "writing the new generation")
    # Unchanged documents keep their rows and vectors: the store carries them over (FAISS:
    # read back from the live generation) or leaves them in place (Milvus).
    written = store.write(Changes(
        removed=frozenset(touched), documents=to_chunk, chunks=new_chunks, vectors=new_vectors,
        chunking=plan.settings.chunking(), moved=moved, fresh=bool(plan.rebuild)))
    checkpoint("published and pruned")
    if progress:
        progress(1.0, f"published {written.generation}")
    files = [replace(f, chunks=len(chunked[f.doc_id]))
             if f.doc_id in chunked and f.action in (ADDED, CHANGED) else f for f in plan.files]
    return Report(plan, files, written.generation, True, written.documents, written.chunks,
                  len(new_chunks), written.chunks - len(new_chunks),
                  time.perf_counter() - started, written.search)


def _nothing(errors: Sequence[str]) -> NothingToIndex:
    return NothingToIndex("no document could be read: " + "; ".join(errors) if errors
                          else "no supported files were found")


def ingest(
    paths: Sequence[Path],
    root: Path,
    embedder: Embedder,
    settings: Settings,
    *,
    sync: bool = False,
    rebuild: bool = False,
    limits: Limits | None = None,
    bars: bool = False,
    progress: Progress | None = None,
    ray_actors: int | None = None,
) -> Report:
    """Lock `root`, clean up after crashed runs, plan, and apply the plan (embedding on Ray
    Data with `ray_actors` actors when given, see embed_chunks).

    Raises IndexBusy if another process holds the lock, IngestRefused (NothingToIndex) when no
    input document is readable; in both cases nothing under `root` changes. When no supported
    file is found at all, `root` is not even created.
    """
    started = time.perf_counter()
    found, errors = discover(paths)
    if not found:
        raise _nothing([str(e) for e in errors])
    with lock_index(root):
        prune(root)
        checkpoint("leftovers of earlier runs removed")
        plan = make_plan(paths, root, settings, sync=sync, rebuild=rebuild, limits=limits,
                         bars=bars, progress=progress)
        checkpoint("plan made")
        if not plan.readable:
            raise _nothing([f"{f.path}: {f.reason}" for f in plan.rejected()])
        report = apply_plan(plan, embedder, bars=bars, progress=progress,
                            ray_actors=ray_actors)
    report.seconds = time.perf_counter() - started  # reading and hashing included
    return report


def build_index(
    paths: Sequence[Path],
    root: Path,
    embedder: Embedder,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    progress: bool = False,
    sync: bool = False,
) -> Report:
    """Bring `root` up to date with the files under `paths`, embedding only what changed."""
    return ingest(paths, root, embedder, settings_for(embedder, max_tokens, overlap_tokens),
                  sync=sync, bars=progress)

"""Build an index generation from source files and publish it atomically.

    files --ingest.loaders--> Documents --ingest.chunker--> Chunks --embedder--> vectors
          --index.store.write_generation--> ROOT/.building-X --rename--> ROOT/gen-X --publish-->

A failure anywhere before `publish` leaves the live generation untouched. Per-file problems
(bad encoding, unsupported type, ...) are collected, never raised: one bad file does not stop
the batch.

Does not yet reuse vectors of unchanged documents (every build embeds every chunk).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from tqdm import tqdm

from index.embedder import Embedder
from index.manifest import IndexLoadError, make_manifest
from index.store import current_generation, publish, write_generation
from ingest.chunker import chunk_document
from ingest.document import Chunk, Document
from ingest.loaders import IngestError, discover, load_document

DEFAULT_MAX_TOKENS = 128
DEFAULT_OVERLAP_TOKENS = 32
EMBED_BATCH = 64


class NothingToIndex(Exception):
    """Every input was rejected, so no index was written."""


@dataclass
class BuildReport:
    generation: Path
    documents: list[Document]
    chunks: int
    errors: list[IngestError] = field(default_factory=list)
    seconds: float = 0.0


def load_all(paths: Sequence[Path], progress: bool) -> tuple[list[Document], list[IngestError]]:
    files, errors = discover(paths)
    documents = []
    for path, doc_id in tqdm(files, desc="reading", unit="file", disable=not progress or not files):
        try:
            documents.append(load_document(path, doc_id))
        except IngestError as err:
            errors.append(err)
    return documents, errors


def embed_chunks(embedder: Embedder, chunks: Sequence[Chunk], progress: bool) -> np.ndarray:
    parts = [np.zeros((0, embedder.dimension), dtype=np.float32)]
    with tqdm(total=len(chunks), desc="embedding", unit="chunk", disable=not progress) as bar:
        for i in range(0, len(chunks), EMBED_BATCH):
            batch = [c.text for c in chunks[i : i + EMBED_BATCH]]
            parts.append(embedder.embed(batch))
            bar.update(len(batch))
    return np.concatenate(parts)


def _remove_old(root: Path, keep: set[str]) -> None:
    """Drop stale builds and every generation but the live one and its predecessor."""
    for child in root.iterdir():
        stale_build = child.name.startswith(".building-")
        old_generation = child.name.startswith("gen-") and child.name not in keep
        if child.is_dir() and (stale_build or old_generation):
            shutil.rmtree(child, ignore_errors=True)


def build_index(
    paths: Sequence[Path],
    root: Path,
    embedder: Embedder,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    progress: bool = False,
) -> BuildReport:
    """Index every readable file under `paths` into a new generation of `root` and publish it."""
    started = time.perf_counter()
    documents, errors = load_all(paths, progress)
    if not documents:
        raise NothingToIndex("no document could be read: " + "; ".join(map(str, errors))
                             if errors else "no supported files were found")
    chunks: list[Chunk] = []
    per_doc: dict[str, dict[str, object]] = {}
    for doc in documents:
        doc_chunks = chunk_document(doc, embedder.count_tokens, max_tokens, overlap_tokens)
        chunks.extend(doc_chunks)
        per_doc[doc.doc_id] = {"sha256": doc.content_hash, "title": doc.title,
                               "chunks": len(doc_chunks)}
    vectors = embed_chunks(embedder, chunks, progress)

    root.mkdir(parents=True, exist_ok=True)
    try:
        previous = current_generation(root)
    except IndexLoadError:
        previous = None  # a damaged pointer is what this build replaces
    now = datetime.now(UTC)
    name = f"gen-{now:%Y%m%dT%H%M%S%f}"
    manifest = make_manifest(
        embedding_model=embedder.model_id, dimension=embedder.dimension,
        chunk_count=len(chunks), documents=per_doc,
        chunking={"max_tokens": max_tokens, "overlap_tokens": overlap_tokens},
        faiss_index="IndexFlatIP", built_at=now.isoformat(timespec="seconds"),
    )
    building = root / f".building-{name}"
    write_generation(building, documents, chunks, vectors, manifest)
    building.rename(root / name)
    publish(root, name)
    _remove_old(root, keep={name} | ({previous.name} if previous else set()))
    return BuildReport(root / name, documents, len(chunks), errors,
                       time.perf_counter() - started)

"""The two records that flow through the whole pipeline: a loaded Document and its Chunks.

Every other stage (index, qa, eval, the app) speaks in these types. A chunk's `start` and `end`
are character offsets into its document's `text`, and `text[start:end] == chunk.text` always
holds; citations, highlighting and the benchmark's evidence matching all rely on it.

Does not load files (see ingest.loaders) or split text (see ingest.chunker).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Document:
    """A source file turned into plain text.

    doc_id is the file's path relative to the corpus root, with forward slashes
    (e.g. "reports/2023.pdf"); content_hash is the sha256 of the file's bytes.
    """

    doc_id: str
    title: str
    text: str
    source_path: str
    content_hash: str


@dataclass(frozen=True)
class Chunk:
    """A contiguous span of a document, small enough for the embedder to see whole."""

    doc_id: str
    chunk_id: str
    text: str
    start: int
    end: int
    title: str


def make_chunk_id(doc_id: str, start: int, end: int, text: str) -> str:
    """A stable id: the same document text chunked the same way gives the same ids.

    Example: make_chunk_id("a.txt", 0, 5, "hello") -> "a.txt#" + 12 hex digits
    """
    digest = hashlib.sha256(f"{doc_id}\x00{start}\x00{end}\x00{text}".encode()).hexdigest()
    return f"{doc_id}#{digest[:12]}"

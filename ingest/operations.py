"""The operator's API: what `python -m ingest` and the web app's operators' tab call.

    plan_ingest(paths, root, sync=False)              -> Plan    what an ingest would do
    run_ingest(paths, root, embedder, sync=False, progress=None) -> Report
    remove_document(root, doc_id, embedder)           -> Report  publish without one document
    index_stats(root)                                 -> dict    what the live generation holds
    save_upload(corpus_dir, name, data)               -> Path    put an uploaded file in a corpus

A Plan lists one ingest.plan.FileAction per file (`action` is added, changed, removed,
unchanged, kept or rejected; `reason` says why; `line()` prints it) plus `counts()` and
`summary()`. A Report adds what the run did: `files` (with chunk counts), `embedded` and
`reused` chunk counts, `generation` (name of the live generation afterwards), `published`
(False when nothing changed, so nothing was written), `documents`, `chunks`, `seconds` and a
one-line `summary()`. `progress(fraction, message)` is called with fractions from 0 to 1.

Writers (run_ingest, remove_document) hold the index's exclusive lock (ROOT/.lock) and raise
index.store.IndexBusy at once if another process holds it; a crash at any point leaves the
previous generation live. Readers (plan_ingest, index_stats) do not lock: they create nothing,
and what they read is never modified after it is published. save_upload touches only the corpus
directory. Every error is an exception whose str() is one line naming the file or index and
what to do: IngestError (a bad file), IngestRefused/NothingToIndex (nothing could be indexed),
IndexBusy, IndexLoadError (a missing or unusable index), NotIndexed (unknown doc_id).

Does not load any model itself: the caller passes the embedder, which loads only if something
needs embedding. Does not print (see ingest.__main__).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from index.embedder import MINILM_ID, Embedder
from index.manifest import IndexLoadError, read_manifest, rebuild_hint
from index.store import current_generation, ingest_running, lock_index, prune
from ingest.build import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_OVERLAP_TOKENS,
    Report,
    apply_plan,
    ingest,
    settings_for,
)
from ingest.loaders import Limits
from ingest.plan import (
    KEPT,
    REJECTED,
    REMOVED,
    UNCHANGED,
    FileAction,
    Plan,
    Progress,
    Settings,
    incompatibility,
    make_plan,
)
from ingest.uploads import save_upload as _save_upload

__all__ = ["NotIndexed", "index_stats", "plan_ingest", "remove_document", "run_ingest",
           "save_upload"]

_MINILM_DIMENSION = 384  # what MiniLMEmbedder produces; a plan without an embedder assumes it


class NotIndexed(LookupError):
    """remove_document was given a doc_id the live generation does not hold."""

    def __str__(self) -> str:
        return str(self.args[0])


log = logging.getLogger(__name__)


def log_outcomes(report: Report, root: Path) -> None:
    """One log line per file that was added, changed, removed or rejected (WARNING), then the
    counts; unchanged and kept files are in the counts only."""
    for action in report.files:
        if action.action == REJECTED:
            log.warning("%s", action.line())
        elif action.action not in (UNCHANGED, KEPT):
            log.info("%s", action.line())
    log.info("index %s: %s", root, report.summary())


def plan_ingest(
    paths: Sequence[Path],
    root: Path,
    sync: bool = False,
    *,
    embedder: Embedder | None = None,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    rebuild: bool = False,
    limits: Limits | None = None,
    bars: bool = False,
) -> Plan:
    """What run_ingest would do with the same arguments; reads files, writes nothing.

    Without an embedder, the plan assumes the default MiniLM model (nothing is loaded either way).
    """
    settings = (settings_for(embedder, max_tokens, overlap_tokens) if embedder is not None else
                Settings(MINILM_ID, _MINILM_DIMENSION, max_tokens, overlap_tokens))
    return make_plan(paths, root, settings, sync=sync, rebuild=rebuild, limits=limits, bars=bars)


def run_ingest(
    paths: Sequence[Path],
    root: Path,
    embedder: Embedder,
    sync: bool = False,
    progress: Progress | None = None,
    *,
    max_tokens: int = DEFAULT_MAX_TOKENS,
    overlap_tokens: int = DEFAULT_OVERLAP_TOKENS,
    rebuild: bool = False,
    limits: Limits | None = None,
    bars: bool = False,
    ray_actors: int | None = None,
) -> Report:
    """Bring `root` up to date with `paths`: embed added and changed documents only, keep
    (or with sync=True remove) indexed documents missing from `paths`, publish atomically.

    rebuild=True builds from `paths` alone: every input is embedded again, and indexed
    documents that are not among the readable inputs are dropped (listed as removed).
    ray_actors=N embeds on Ray Data with N actors (ingest.ray_embed); the index is the same.
    """
    report = ingest(paths, root, embedder, settings_for(embedder, max_tokens, overlap_tokens),
                    sync=sync, rebuild=rebuild, limits=limits, bars=bars, progress=progress,
                    ray_actors=ray_actors)
    log_outcomes(report, root)
    return report


def _live_manifest(root: Path) -> tuple[Path, dict[str, Any]] | None:
    live = current_generation(root)
    return None if live is None else (live, read_manifest(live, root))


def remove_document(root: Path, doc_id: str, embedder: Embedder,
                    progress: Progress | None = None) -> Report:
    """Publish a new generation without `doc_id`; every other document keeps its vectors.

    The document's file is not touched: a later ingest of its directory adds it back unless
    the file is deleted too.
    """
    with lock_index(root):
        prune(root)
        live = _live_manifest(root)
        if live is None:
            raise IndexLoadError(f"no index at {root}; {rebuild_hint(root)}")
        generation, manifest = live
        documents = manifest.get("documents") or {}
        if doc_id not in documents:
            raise NotIndexed(f"no document {doc_id!r} in the index at {root} "
                             f"({generation.name}); index_stats lists the indexed documents")
        chunking = manifest.get("chunking") or {}
        settings = Settings(embedder.model_id, embedder.dimension,
                            int(chunking.get("max_tokens", DEFAULT_MAX_TOKENS)),
                            int(chunking.get("overlap_tokens", DEFAULT_OVERLAP_TOKENS)))
        if reason := incompatibility(manifest, settings):
            raise IndexLoadError(f"cannot remove {doc_id!r} from {root}: {reason}; "
                                 f"{rebuild_hint(root)}")
        files = [FileAction(REMOVED if d == doc_id else UNCHANGED, d,
                            str(e.get("source_path", "")),
                            "removed by the operator" if d == doc_id else "", e.get("chunks"))
                 for d, e in sorted(documents.items())]
        plan = Plan(root, settings, False, files, generation.name, dict(documents))
        report = apply_plan(plan, embedder, progress=progress)
    log_outcomes(report, root)
    return report


def index_stats(root: Path) -> dict[str, Any]:
    """What the live generation holds, from its manifest alone (no FAISS or SQLite opened).

    Keys: root, generation (None when nothing was ever built), model, dimension, built_at,
    chunking, documents (count), chunks (count), per_document (list of {doc_id, title, chunks,
    source_path}, sorted by doc_id), previous_generation, ingest_running (pid or None).
    Raises IndexLoadError when CURRENT or the manifest is damaged.
    """
    stats: dict[str, Any] = {
        "root": str(root), "generation": None, "model": None, "dimension": None,
        "built_at": None, "chunking": None, "documents": 0, "chunks": 0, "per_document": [],
        "previous_generation": None, "ingest_running": ingest_running(root),
    }
    live = _live_manifest(root)
    if live is None:
        return stats
    generation, manifest = live
    documents = manifest.get("documents") or {}
    stats.update(
        generation=generation.name, model=manifest.get("embedding_model"),
        dimension=manifest.get("dimension"), built_at=manifest.get("built_at"),
        chunking=manifest.get("chunking"), documents=len(documents),
        chunks=manifest.get("chunk_count"), previous_generation=manifest.get("previous_generation"),
        per_document=[{"doc_id": d, "title": e.get("title", ""), "chunks": e.get("chunks", 0),
                       "source_path": e.get("source_path", "")}
                      for d, e in sorted(documents.items())],
    )
    return stats


def save_upload(corpus_dir: Path, name: str, data: bytes, *, replace: bool = False,
                limits: Limits | None = None) -> Path:
    """Save an uploaded file as corpus_dir/<sanitized name> (see ingest.uploads.save_upload).

    Refuses unsafe names, files that could not be indexed, and overwriting a different file
    unless replace=True. Run run_ingest on corpus_dir afterwards to index it.
    """
    return _save_upload(corpus_dir, name, data, replace=replace, limits=limits)

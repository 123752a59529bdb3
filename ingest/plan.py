"""What an ingest would do: compare the input files with the live index generation.

    paths --discover, read, sha256--> Inputs --compare with the manifest--> Plan

A document is unchanged when its bytes hash to the sha256 the manifest recorded and the index
was built with the same embedding model and chunking settings. Unchanged documents are not
parsed, chunked or tokenized: planning an unchanged corpus reads each file once and the
manifest, nothing more. New and changed files are parsed here, so a file that cannot be indexed
is "rejected" in the plan, before anything is embedded or written.

Actions: added, changed, unchanged (in the inputs); removed (indexed, not in the inputs, and
--sync given); kept (indexed, not in the inputs, no --sync); rejected (cannot be indexed; if an
earlier version is indexed, that version stays).

Does not chunk, embed or write anything (see ingest.build), and does not take the index lock.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from common.records import Document
from index.manifest import FORMAT_VERSION, IndexLoadError, read_manifest
from index.store import current_generation
from index.vector_store import recorded_store
from ingest.loaders import IngestError, Limits, discover, parse_document, read_file
from ingest.names import shown

ADDED, CHANGED, UNCHANGED = "added", "changed", "unchanged"
REMOVED, KEPT, REJECTED = "removed", "kept", "rejected"
ACTIONS = (ADDED, CHANGED, REMOVED, UNCHANGED, KEPT, REJECTED)

Progress = Callable[[float, str], None]


class IngestRefused(Exception):
    """The batch was refused before anything was written; str() is one line."""


class NothingToIndex(IngestRefused):
    """Every input was rejected (or none was found), so no index was written."""


@dataclass(frozen=True)
class Settings:
    """What every vector in a generation depends on besides the text."""

    model_id: str
    dimension: int
    max_tokens: int
    overlap_tokens: int
    # Where the chunks go (index.vector_store.normalized_uri: "" is FAISS + SQLite); None:
    # wherever the live generation keeps them.
    store: str | None = None

    def chunking(self) -> dict[str, int]:
        return {"max_tokens": self.max_tokens, "overlap_tokens": self.overlap_tokens}


@dataclass(frozen=True)
class FileAction:
    """What happens to one file or indexed document.

    doc_id is None only for files rejected before they had one (unsupported type, missing
    path). path is the input file, or for removed/kept documents where it was last read from.
    chunks: in the index for unchanged/kept/removed; after the run for added/changed.
    """

    action: str
    doc_id: str | None
    path: str
    reason: str = ""
    chunks: int | None = None

    def line(self) -> str:
        """One printable line; names and reasons are escaped (see ingest.names.shown).

        Example: FileAction("changed", "a.txt", "c/a.txt", "content changed").line()
        -> "changed    a.txt: content changed" """
        name = shown(self.path if self.action == REJECTED or self.doc_id is None
                     else self.doc_id)
        detail = f": {shown(self.reason)}" if self.reason else ""
        plural = "" if self.chunks == 1 else "s"
        size = f" ({self.chunks} chunk{plural})" if self.chunks is not None else ""
        return f"{self.action:<10} {name}{size}{detail}"


@dataclass
class Plan:
    """The comparison of the inputs with the live generation, one FileAction per file."""

    root: Path
    settings: Settings
    sync: bool
    files: list[FileAction]
    generation: str | None  # the live generation compared against; None if there is none
    indexed: dict[str, dict[str, Any]]  # its manifest's documents (empty if it is unusable)
    rebuild: str = ""  # why every document is re-chunked and re-embedded; "" if none is
    documents: dict[str, Document] = field(default_factory=dict, repr=False)  # parsed, to embed

    def counts(self) -> dict[str, int]:
        """Example: {"added": 1, "changed": 0, "removed": 0, "unchanged": 2, ...}"""
        found = Counter(f.action for f in self.files)
        return {action: found[action] for action in ACTIONS}

    def summary(self) -> str:
        """Example: "1 added, 0 changed, 0 removed, 2 unchanged, 0 rejected" (+ kept if any)"""
        counts = self.counts()
        shown = [a for a in ACTIONS if a != KEPT or counts[KEPT]]
        return ", ".join(f"{counts[a]} {a}" for a in shown)

    @property
    def has_changes(self) -> bool:
        """True when running the plan would publish a new generation."""
        counts = self.counts()
        return bool(self.rebuild or counts[ADDED] or counts[CHANGED] or counts[REMOVED])

    @property
    def readable(self) -> int:
        """Input documents that will be in the index: added, changed or unchanged."""
        counts = self.counts()
        return counts[ADDED] + counts[CHANGED] + counts[UNCHANGED]

    def rejected(self) -> list[FileAction]:
        return [f for f in self.files if f.action == REJECTED]


@dataclass(frozen=True)
class Input:
    """One discovered file: its sha256, or why it could not be read."""

    doc_id: str
    path: str
    sha256: str = ""
    error: str = ""


def incompatibility(manifest: Mapping[str, Any], settings: Settings) -> str:
    """Why vectors in a generation with this manifest cannot be reused, or "".

    Example: incompatibility({... "chunking": {"max_tokens": 128, ...}}, 160-token settings)
        -> "chunking changed (max_tokens 128 -> 160)"
    """
    if manifest.get("embedding_model") != settings.model_id:
        return (f"embedding model changed ({manifest.get('embedding_model')} -> "
                f"{settings.model_id})")
    if manifest.get("dimension") != settings.dimension:
        return f"dimension changed ({manifest.get('dimension')} -> {settings.dimension})"
    if settings.store is not None and (before := recorded_store(manifest)) != settings.store:
        return (f"vector store changed ({before or 'FAISS + SQLite'} -> "
                f"{settings.store or 'FAISS + SQLite'})")
    old = manifest.get("chunking") or {}
    changed = [f"{k} {old.get(k)} -> {v}" for k, v in settings.chunking().items()
               if old.get(k) != v]
    return f"chunking changed ({', '.join(changed)})" if changed else ""


def rejected(doc_id: str | None, path: str, reason: str,
             indexed: Mapping[str, Mapping[str, Any]], fresh: bool = False) -> FileAction:
    """A rejection; says what happens to an earlier version in the index, if there is one."""
    if doc_id is None or doc_id not in indexed:
        return FileAction(REJECTED, doc_id, path, reason)
    if fresh:
        return FileAction(REJECTED, doc_id, path, f"{reason} (its indexed version is dropped: "
                                                  "--rebuild keeps only readable inputs)")
    return FileAction(REJECTED, doc_id, path, f"{reason} (the indexed version is kept)",
                      indexed[doc_id].get("chunks"))


def compare(inputs: Sequence[Input], indexed: Mapping[str, Mapping[str, Any]], *,
            sync: bool, rebuild: str = "", fresh: bool = False) -> list[FileAction]:
    """One action per input, then one per indexed document missing from the inputs.

    fresh=True (--rebuild) builds from the inputs alone: nothing indexed is kept.
    Example: compare([Input("a.txt", "c/a.txt", "ab12")], {"a.txt": {"sha256": "ab12",
        "chunks": 3}}, sync=False) -> [FileAction("unchanged", "a.txt", "c/a.txt", "", 3)]
    """
    actions = []
    for item in inputs:
        entry = indexed.get(item.doc_id)
        if item.error:
            actions.append(rejected(item.doc_id, item.path, item.error, indexed, fresh))
        elif entry is None:
            actions.append(FileAction(ADDED, item.doc_id, item.path))
        elif entry.get("sha256") != item.sha256:
            actions.append(FileAction(CHANGED, item.doc_id, item.path, "content changed"))
        elif rebuild:
            actions.append(FileAction(CHANGED, item.doc_id, item.path, rebuild))
        else:
            actions.append(FileAction(UNCHANGED, item.doc_id, item.path,
                                      chunks=entry.get("chunks")))
    seen = {item.doc_id for item in inputs}
    for doc_id, entry in sorted(indexed.items()):
        if doc_id in seen:
            continue
        where = str(entry.get("source_path", ""))
        if fresh:
            actions.append(FileAction(REMOVED, doc_id, where, "not in the inputs, and "
                                      "--rebuild keeps only those", entry.get("chunks")))
        elif sync:
            actions.append(FileAction(REMOVED, doc_id, where, "not in the inputs",
                                      entry.get("chunks")))
        else:
            reason = "not in the inputs; kept (--sync removes it)"
            if rebuild:
                reason += "; re-chunked from the indexed text"
            actions.append(FileAction(KEPT, doc_id, where, reason, entry.get("chunks")))
    return actions


def live_manifest(root: Path, settings: Settings
                  ) -> tuple[str | None, dict[str, dict[str, Any]], str]:
    """(live generation name, its documents, why nothing can be reused or "")."""
    try:
        live = current_generation(root)
        if live is None:
            return None, {}, ""
        manifest = read_manifest(live, root)
    except IndexLoadError as err:
        return None, {}, f"the current index cannot be read ({err}); building it from the inputs"
    if manifest.get("format_version") != FORMAT_VERSION:
        return live.name, {}, (f"the current index has format {manifest.get('format_version')}, "
                               f"this program writes {FORMAT_VERSION}; building it from the inputs")
    documents = manifest.get("documents")
    if not isinstance(documents, dict):
        return live.name, {}, "the current manifest lists no documents; building from the inputs"
    return live.name, documents, incompatibility(manifest, settings)


def make_plan(
    paths: Sequence[Path],
    root: Path,
    settings: Settings,
    *,
    sync: bool = False,
    rebuild: bool = False,
    limits: Limits | None = None,
    bars: bool = False,
    progress: Progress | None = None,
) -> Plan:
    """Discover and hash the inputs, compare them with ROOT's live generation, parse new ones.

    Raises IngestRefused when --sync is given with a path that does not exist: every document
    that came from it would be removed.
    """
    limits = limits or Limits()
    if sync and (missing := [str(p) for p in paths if not p.exists()]):
        raise IngestRefused(f"refusing --sync: {shown(', '.join(missing))} does not exist, and "
                            "every indexed document from it would be removed; fix the path")
    found, errors = discover(paths)
    generation, indexed, reason = live_manifest(root, settings)
    if rebuild:
        reason = "--rebuild: every input is read and embedded again"
    inputs: list[Input] = []
    data: dict[str, bytes] = {}
    for i, (path, doc_id) in enumerate(tqdm(found, desc="reading", unit="file",
                                            disable=not bars or not found)):
        if progress:
            progress(0.2 * i / len(found), f"reading {shown(path.name)}")
        try:
            content = read_file(path, limits)
        except IngestError as err:
            inputs.append(Input(doc_id, str(path), error=err.reason))
            continue
        inputs.append(Input(doc_id, str(path), hashlib.sha256(content).hexdigest()))
        if reason or indexed.get(doc_id, {}).get("sha256") != inputs[-1].sha256:
            data[doc_id] = content  # to parse below; unchanged files are never parsed
    files = [rejected(None, e.path, e.reason, {}) for e in errors]
    documents: dict[str, Document] = {}
    for action in compare(inputs, indexed, sync=sync, rebuild=reason, fresh=rebuild):
        if action.action in (ADDED, CHANGED):
            assert action.doc_id is not None
            try:
                documents[action.doc_id] = parse_document(data[action.doc_id], Path(action.path),
                                                          action.doc_id, limits)
            except IngestError as err:
                action = rejected(action.doc_id, action.path, err.reason, indexed, rebuild)
        files.append(action)
    # With --rebuild nothing indexed is carried over, so the plan holds no indexed documents.
    return Plan(root, settings, sync, files, generation, {} if rebuild else dict(indexed),
                reason, documents)

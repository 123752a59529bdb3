"""The manifest.json that describes one index generation, and the checks run when loading it.

An index built with one embedding model must never be queried with another: the vectors would
silently mean nothing. So loading compares the manifest against the configured embedder and
against the files themselves, and a mismatch says how to rebuild.

Does not read or write the index files (see index.store).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

# 2: faiss_index is index.vectors' description (kind chosen by size, float16, measured recall)
# instead of the string "IndexFlatIP".
# 3: the FTS5 index is contentless and in its own file, lexical.sqlite.
# 4: "files" records each data file's size and sha256, "manifest_sha256" seals the rest
# (index.integrity).
FORMAT_VERSION = 4
MANIFEST_NAME = "manifest.json"
_LIBRARIES = ("faiss-cpu", "sentence-transformers", "transformers", "torch", "numpy")


class IndexLoadError(Exception):
    """An index directory that is missing, damaged or built for another configuration."""


def rebuild_hint(index_root: Path, *, fresh: bool = False) -> str:
    """The command that rebuilds the index. fresh adds --rebuild, needed for a damaged
    generation: without it an unchanged corpus reuses the damaged rows and publishes nothing.

    Example: rebuild_hint(Path("var/index"), fresh=True)
    -> "rebuild it with: python -m ingest data/corpus --index var/index --rebuild"
    """
    again = " --rebuild" if fresh else ""
    return f"rebuild it with: python -m ingest data/corpus --index {index_root}{again}"


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def make_manifest(
    *,
    embedding_model: str,
    dimension: int,
    chunk_count: int,
    documents: Mapping[str, Mapping[str, Any]],
    chunking: Mapping[str, int],
    built_at: str,
    previous_generation: str | None = None,
) -> dict[str, Any]:
    """The manifest as a plain JSON-ready dict (documents: doc_id -> hash, title, chunk count).

    "faiss_index" is added by index.store.write_generation, which chooses the index, and so
    are "files" and "manifest_sha256", once the files exist (index.integrity).
    previous_generation names the generation this one replaced, which is kept on disk until the
    next build succeeds (see index.store.prune).
    """
    return {
        "format_version": FORMAT_VERSION,
        "embedding_model": embedding_model,
        "dimension": dimension,
        "chunk_count": chunk_count,
        "chunking": dict(chunking),
        "documents": {k: dict(v) for k, v in sorted(documents.items())},
        "built_at": built_at,
        "previous_generation": previous_generation,
        "library_versions": library_versions(),
    }


def read_manifest(generation_dir: Path, index_root: Path) -> dict[str, Any]:
    path = generation_dir / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as err:
        raise IndexLoadError(f"{path} is missing; {rebuild_hint(index_root, fresh=True)}"
                             ) from err
    except OSError as err:  # a directory in its place, no permission
        raise IndexLoadError(f"{path} cannot be read ({err.strerror or err}); "
                             f"{rebuild_hint(index_root, fresh=True)}") from err
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:  # [[[[... too
        raise IndexLoadError(
            f"{path} is not valid JSON ({err}); {rebuild_hint(index_root, fresh=True)}"
        ) from err
    if not isinstance(manifest, dict):
        raise IndexLoadError(
            f"{path} is not a JSON object; {rebuild_hint(index_root, fresh=True)}")
    return manifest


def check_format(manifest: Mapping[str, Any], *, where: Path, index_root: Path) -> None:
    """Raise IndexLoadError unless the manifest is of FORMAT_VERSION. Checked before anything
    else: an older format lacks what the other checks read (format 3: the files' sha256)."""
    got = manifest.get("format_version")
    if got != FORMAT_VERSION:  # worded as check_manifest words it
        raise IndexLoadError(f"index at {where} does not match: manifest format_version is "
                             f"{got!r} but this program expects {FORMAT_VERSION!r}; "
                             f"{rebuild_hint(index_root)}")


def check_manifest(
    manifest: Mapping[str, Any],
    *,
    model_id: str,
    dimension: int,
    vector_count: int,
    chunk_rows: int,
    where: Path,
    index_root: Path,
) -> None:
    """Raise IndexLoadError naming the first field that does not match what was loaded."""
    expected = {
        "format_version": FORMAT_VERSION,
        "embedding_model": model_id,
        "dimension": dimension,
        "chunk_count": vector_count,
    }
    for key, want in expected.items():
        got = manifest.get(key)
        if got != want:
            source = "the FAISS file holds" if key == "chunk_count" else "this program expects"
            raise IndexLoadError(
                f"index at {where} does not match: manifest {key} is {got!r} but {source} "
                f"{want!r}; {rebuild_hint(index_root)}"
            )
    if chunk_rows != vector_count:
        raise IndexLoadError(
            f"index at {where} is inconsistent: {vector_count} vectors but {chunk_rows} chunk "
            f"rows; {rebuild_hint(index_root)}"
        )

"""Files that arrive through the web app: check the name, check the content, save into the corpus.

An upload's name comes from a browser, so it is untrusted: `sanitize_upload_name` accepts a
plain file name of a supported type and refuses anything that could land outside the corpus
directory (`..`, absolute paths, drive letters, separators) or that ingestion would skip
(hidden names). `save_upload` also parses the bytes first, so a file that could never be
indexed is refused before it reaches the corpus.

Does not index anything (see ingest.operations.run_ingest) and does not take the index lock:
it writes only into the corpus directory, atomically.
"""

from __future__ import annotations

import os
import re
import tempfile
import unicodedata
from pathlib import Path

from ingest.loaders import SUPPORTED_SUFFIXES, IngestError, Limits, parse_document

_MAX_NAME_BYTES = 255  # the limit of common Linux file systems
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")


def sanitize_upload_name(name: str) -> str:
    """The upload's name as a safe file name, or IngestError saying why it is refused.

    Example: sanitize_upload_name("  Report 2023.PDF ") -> "Report 2023.PDF"
    Example: sanitize_upload_name("../etc/passwd.txt") raises "... must not contain '..' ..."
    """
    shown = repr(name)
    cleaned = unicodedata.normalize("NFC", name).strip()
    if not cleaned:
        raise IngestError(shown, "upload has no file name")
    if _CONTROL.search(cleaned):
        raise IngestError(shown, "file name contains control characters; rename the file")
    if cleaned.startswith(("/", "\\")) or _DRIVE.match(cleaned):
        raise IngestError(shown, "file name is an absolute path; upload the file by its name")
    parts = re.split(r"[/\\]", cleaned)
    if ".." in parts:
        raise IngestError(shown, "file name must not contain '..'; upload the file by its name")
    if len(parts) > 1:
        raise IngestError(shown, "file name contains a directory; upload the file by its name")
    if cleaned.startswith("."):
        raise IngestError(shown, "file name starts with '.'; hidden files are never indexed")
    if len(cleaned.encode()) > _MAX_NAME_BYTES:
        raise IngestError(shown, f"file name is longer than {_MAX_NAME_BYTES} bytes; shorten it")
    suffix = os.path.splitext(cleaned)[1].lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(shown, f"unsupported file type '{suffix or '(no suffix)'}'; "
                                 f"supported: {', '.join(SUPPORTED_SUFFIXES)}")
    return cleaned


def save_upload(corpus_dir: Path, name: str, data: bytes, *, replace: bool = False,
                limits: Limits | None = None) -> Path:
    """Write an uploaded file into `corpus_dir` and return its path.

    Refuses (IngestError) unsafe names, content that cannot be indexed, and an existing file
    with different content unless `replace` is set. Saving identical bytes again is a no-op.
    The file appears whole or not at all (temporary file, fsync, os.replace).
    """
    safe = sanitize_upload_name(name)
    corpus = corpus_dir.resolve()
    target = corpus / safe
    # A symlink already sitting at that name could point anywhere; never write through it.
    if target.is_symlink() or target.resolve().parent != corpus:
        raise IngestError(str(target), "is a link out of the corpus directory; remove it first")
    parse_document(data, target, safe, limits)  # refuse what could never be indexed
    if target.exists():
        if not target.is_file():
            raise IngestError(str(target), "exists and is not a regular file; remove it first")
        if target.read_bytes() == data:
            return target
        if not replace:
            raise IngestError(str(target), "already exists with different content; delete it "
                                           "first or upload with replace=True")
    corpus.mkdir(parents=True, exist_ok=True)
    # The temporary name starts with "." so a concurrent ingest never picks it up.
    fd, tmp = tempfile.mkstemp(prefix=".upload-", dir=corpus)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target

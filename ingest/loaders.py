"""Turn files on disk into Documents: find them, read them once, extract plain text.

Every failure is an IngestError naming the file and, where possible, what to do about it,
so the caller can report all bad files in one pass instead of stopping at the first.

Does not guess encodings (text and HTML must be UTF-8), does not OCR scanned PDFs, does not
keep layout or markup, and does not chunk (see ingest.chunker).
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import re
from collections.abc import Sequence
from pathlib import Path

from inscriptis import get_text
from pypdf import PdfReader

from ingest.document import Document

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_TEXT_SUFFIXES = (".txt", ".md", ".markdown")
_HTML_SUFFIXES = (".html", ".htm")
_BOM = b"\xef\xbb\xbf"
_MAX_TITLE = 200
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)


class IngestError(Exception):
    """A file that cannot become a Document; str() is one line: "{path}: {reason}"."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = " ".join(reason.split())  # library messages may span lines
        super().__init__(f"{path}: {self.reason}")

    def __reduce__(self) -> tuple[type[IngestError], tuple[str, str]]:
        return (IngestError, (self.path, self.reason))  # picklable across worker processes


def _unsupported(suffix: str) -> str:
    """Example: _unsupported(".docx") -> "unsupported file type '.docx'; supported: .txt, ..." """
    shown = suffix or "(no suffix)"
    return f"unsupported file type '{shown}'; supported: {', '.join(SUPPORTED_SUFFIXES)}"


def _decode_utf8(data: bytes, path: str) -> str:
    """Strict UTF-8 with an optional BOM; line endings become "\\n".

    Example: _decode_utf8(b"\\xef\\xbb\\xbfa\\r\\nb", "x") -> "a\\nb"
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise IngestError(path, "is UTF-16 text; re-save the file as UTF-8")
    if b"\x00" in data:
        raise IngestError(path, "looks like binary data (contains NUL bytes), not text")
    skip = len(_BOM) if data.startswith(_BOM) else 0
    try:
        text = data[skip:].decode("utf-8")
    except UnicodeDecodeError as err:
        offset = skip + err.start
        reason = f"not valid UTF-8 at byte {offset}; re-save the file as UTF-8"
        raise IngestError(path, reason) from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _first_line(text: str) -> str:
    """Example: _first_line("\\n  Hello  \\nworld") -> "Hello" """
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _markdown_title(text: str) -> str:
    """Example: _markdown_title("intro\\n# Guide #\\n") -> "Guide" """
    match = _MD_HEADING.search(text)
    return match.group(1).strip() if match else _first_line(text)


def _html_text(source: str, path: str) -> tuple[str, str]:
    """(plain text, <title> text or "") of an HTML page; scripts and styles are dropped."""
    try:
        text = get_text(source)
    except Exception as err:  # lxml raises several types on hopeless markup
        raise IngestError(path, f"HTML could not be parsed ({type(err).__name__}: {err})") from err
    match = _HTML_TITLE.search(source)
    title = " ".join(html.unescape(match.group(1)).split()) if match else ""
    # inscriptis pads lines with spaces to lay out tables; the padding is noise for search.
    return "\n".join(line.rstrip() for line in text.splitlines()), title


def _decrypts_without_password(reader: PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # e.g. AES without the optional crypto package: still just "encrypted"
        return False


def _pdf_text(data: bytes, path: str) -> tuple[str, str]:
    """(text of all pages joined by blank lines, metadata title or "")."""
    try:
        reader = PdfReader(io.BytesIO(data))
        # Many PDFs are "encrypted" with an empty password just to set permissions; those
        # open in any viewer, so they open here too.
        if reader.is_encrypted and not _decrypts_without_password(reader):
            raise IngestError(path, "PDF is encrypted; save an unencrypted copy and retry")
        pages = [page.extract_text() or "" for page in reader.pages]
        title = (reader.metadata.title or "") if reader.metadata else ""
    except IngestError:
        raise
    except Exception as err:  # pypdf raises many types (PdfReadError, KeyError, ...) on bad files
        raise IngestError(path, f"PDF could not be parsed ({type(err).__name__}: {err})") from err
    text = "\n\n".join(pages).replace("\r\n", "\n").replace("\r", "\n")
    return text, " ".join(str(title).split())


def load_document(path: Path, doc_id: str) -> Document:
    """Read one file into a Document, or raise IngestError saying why not.

    Example: load_document(Path("corpus/a.md"), "a.md") -> Document(doc_id="a.md", title=...)
    """
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(name, _unsupported(suffix))
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(name, "no such file or directory") from None
    except OSError as err:
        raise IngestError(name, f"could not be read ({err.strerror or err})") from None
    if not data:
        raise IngestError(name, "file is empty")

    if suffix in _TEXT_SUFFIXES:
        text = _decode_utf8(data, name)
        title = _markdown_title(text) if suffix != ".txt" else _first_line(text)
        empty = "file contains only whitespace"
    elif suffix in _HTML_SUFFIXES:
        text, title = _html_text(_decode_utf8(data, name), name)
        empty = "no text could be extracted (the page has no visible text)"
    else:
        text, title = _pdf_text(data, name)
        empty = "no text could be extracted (scanned PDF? run OCR first)"
    if not text.strip():
        raise IngestError(name, empty)
    return Document(
        doc_id=doc_id,
        title=(title or _first_line(text) or path.name)[:_MAX_TITLE],
        text=text,
        source_path=name,
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def _walk(root: Path, errors: list[IngestError]) -> list[Path]:
    """Regular files under root, sorted by relative path, skipping hidden files and dirs."""
    found: list[Path] = []

    def report(err: OSError) -> None:
        errors.append(IngestError(str(err.filename), f"could not be listed ({err.strerror})"))

    for folder, dirs, files in os.walk(root, onerror=report):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        found += [Path(folder, f) for f in files if not f.startswith(".")]
    # Sockets and pipes are not documents, and reading a pipe would block forever.
    return sorted((p for p in found if p.is_file()), key=lambda p: p.relative_to(root).parts)


def discover(paths: Sequence[Path]) -> tuple[list[tuple[Path, str]], list[IngestError]]:
    """Expand files and directories into (path, doc_id) pairs, plus one error per bad path.

    A doc_id is the path relative to the directory argument ("reports/2023.pdf"), or the
    file name for a file given directly.
    Example: discover([Path("corpus")]) -> ([(Path("corpus/a.txt"), "a.txt")], [])
    """
    found: list[tuple[Path, str]] = []
    errors: list[IngestError] = []
    owner: dict[str, Path] = {}
    for root in paths:
        if root.is_dir():
            candidates = [(p, p.relative_to(root).as_posix()) for p in _walk(root, errors)]
        elif root.exists():
            candidates = [(root, root.name)]
        else:
            errors.append(IngestError(str(root), "no such file or directory"))
            continue
        for path, doc_id in candidates:
            if path.suffix.lower() not in SUPPORTED_SUFFIXES:
                errors.append(IngestError(str(path), _unsupported(path.suffix.lower())))
            elif doc_id in owner:
                reason = f"duplicate document id '{doc_id}' (already used by {owner[doc_id]})"
                errors.append(IngestError(str(path), f"{reason}; rename one of the files"))
            else:
                owner[doc_id] = path
                found.append((path, doc_id))
    return found, errors

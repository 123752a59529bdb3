"""Turn files on disk into Documents: find them, read them once, extract plain text.

Every failure is an IngestError naming the file and, where possible, what to do about it,
so the caller can report all bad files in one pass instead of stopping at the first.

Size limits (`Limits`) are checked before a file is read, and again on the text a PDF or an
HTML page expands to, so one oversized or hostile file costs a rejection, not the machine's
memory. HTML is read without the indentation and padded table columns inscriptis would draw,
which grew faster than the page (see ingest.html_layout).
Hostile inputs are refused one by one, each with its reason: a name that is not UTF-8, a
symlink leading out of the directory being indexed, a named pipe, socket or device (never
opened in a way that could wait), a file with no visible text (only whitespace, control or
zero-width characters), HTML nested too deep to be read whole. Names
in messages are escaped (ingest.names.shown), and pypdf's warnings name their file
(ingest.pdf_warnings).

Symlinks inside a directory: a link to a file is followed when its target is inside that
directory too (resolved when the directory is listed; a link swapped during the run is not
caught), and refused otherwise, as are dangling links and loops; linked directories are not
descended into. A file named on the command line is read wherever it points. Hard links
cannot be told apart from the file itself.

Does not guess encodings (text and HTML must be UTF-8), does not OCR scanned PDFs, does not
keep layout or markup, and does not chunk (see ingest.chunker).
"""

from __future__ import annotations

import hashlib
import html
import io
import os
import re
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common.records import Document
from ingest.names import is_utf8, shown

if TYPE_CHECKING:
    from lxml.html import HtmlElement
    from pypdf import PdfReader

SUPPORTED_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf")
_TEXT_SUFFIXES = (".txt", ".md", ".markdown")
_HTML_SUFFIXES = (".html", ".htm")
_BOM = b"\xef\xbb\xbf"
_MAX_TITLE = 200
_MD_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_HTML_TITLE = re.compile(r"<title\b[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_XML_DECLARATION = re.compile(r"^<\?xml [^>]+?\?>")  # lxml refuses it in a str
_ALPHANUMERIC = re.compile(r"[^\W_]")
_VISIBLE_CATEGORIES = ("L", "N", "P", "S")  # letters, numbers, punctuation, symbols
# inscriptis recurses once per element and fails near Python's limit of 1000 frames; no real
# page comes close to this, but deeper ones lost their text silently past libxml2's 256.
MAX_HTML_DEPTH = 512
_TOO_DEEP = "boolean(/" + "/".join(["*"] * (MAX_HTML_DEPTH + 1)) + ")"  # linear in the page
DEFAULT_MAX_FILE_MB = 50.0
NOT_REGULAR = ("not a regular file (a named pipe, socket or device); only regular files can be "
               "indexed")
DEFAULT_MAX_PDF_PAGES = 2000


@dataclass(frozen=True)
class Limits:
    """How large one input may be. Text extracted from a PDF or an HTML page may not exceed the
    file limit either (counted in characters), which catches compressed streams that expand a
    thousandfold.

    Example: Limits.from_mb(0.5).max_file_bytes -> 524288
    """

    max_file_bytes: int = int(DEFAULT_MAX_FILE_MB * 2**20)
    max_pdf_pages: int = DEFAULT_MAX_PDF_PAGES

    @classmethod
    def from_mb(cls, max_file_mb: float) -> Limits:
        return cls(max_file_bytes=int(max_file_mb * 2**20))

    def describe(self) -> str:
        """Example: Limits().describe() -> "50 MB" """
        return human_size(self.max_file_bytes)


def human_size(size: int) -> str:
    """Example: human_size(1536) -> "1.5 KB"; human_size(50 * 2**20) -> "50 MB" """
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if size >= scale:
            return f"{size / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{size} bytes"


class IngestError(Exception):
    """A file that cannot become a Document; str() is one line: "{path}: {reason}".

    `path` is the file's real path; str() and `reason` are escaped for printing (a name or a
    library's message may hold newlines or terminal escapes).
    """

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = shown(" ".join(reason.split()))  # library messages may span lines
        super().__init__(f"{shown(path)}: {self.reason}")

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


def has_text(text: str) -> bool:
    """True when `text` holds a letter, digit, punctuation mark or symbol: something to read.

    Whitespace, control characters, zero-width and other format characters, private-use and
    unassigned code points, and combining marks on their own are not text.
    Example: has_text("\\u200b \\x01\\n") -> False; has_text("\\u200b-") -> True
    """
    if _ALPHANUMERIC.search(text):  # the common case, found at C speed
        return True
    return any(unicodedata.category(char).startswith(_VISIBLE_CATEGORIES) for char in text)


def _first_line(text: str) -> str:
    """Example: _first_line("\\n  Hello  \\nworld") -> "Hello" """
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


def _markdown_title(text: str) -> str:
    """Example: _markdown_title("intro\\n# Guide #\\n") -> "Guide" """
    match = _MD_HEADING.search(text)
    return match.group(1).strip() if match else _first_line(text)


def _html_tree(source: str, path: str) -> HtmlElement | None:
    """The page parsed whole, or IngestError if the parser could only read part of it.

    libxml2 stops at 256 levels of nesting and drops text nodes over 10 MB without raising;
    huge_tree lifts both (the file size limit still applies), and what is still too deep for
    inscriptis is refused here instead of being read in part.
    """
    from lxml.etree import ParserError
    from lxml.html import HTMLParser, document_fromstring

    source = _XML_DECLARATION.sub("", source.strip(), count=1)
    if not source:
        return None
    parser = HTMLParser(huge_tree=True)
    try:
        tree = document_fromstring(source, parser=parser)
    except ParserError:  # e.g. a comment alone: read it as inscriptis does
        tree = document_fromstring(f"<pre>{source}</pre>", parser=parser)
    too_deep = (f"HTML is nested more than {MAX_HTML_DEPTH} elements deep, so its text cannot "
                "be read whole; flatten the page or save it as text")
    if tree.xpath(_TOO_DEEP):
        raise IngestError(path, too_deep)
    for error in parser.error_log:
        if error.type_name == "ERR_RESOURCE_LIMIT" or "XML_PARSE_HUGE" in error.message:
            raise IngestError(path, too_deep if "depth" in error.message else
                              f"HTML is beyond the parser's limits ({error.message.strip()}), "
                              "so its text cannot be read whole; save it as text")
    return tree


def _html_text(source: str, path: str) -> tuple[str, str]:
    """(plain text, <title> text or "") of an HTML page; scripts and styles are dropped."""
    from ingest.html_layout import page_text  # lxml, inscriptis: only when a page needs them

    try:
        tree = _html_tree(source, path)
        text = page_text(tree) if tree is not None else ""
    except IngestError:
        raise
    except Exception as err:  # lxml raises several types on hopeless markup
        raise IngestError(path, f"HTML could not be parsed ({type(err).__name__}: {err})") from err
    match = _HTML_TITLE.search(source)
    title = " ".join(html.unescape(match.group(1)).split()) if match else ""
    # Table cells end with a space (ingest.html_layout); at the end of a line it is noise.
    return "\n".join(line.rstrip() for line in text.splitlines()), title


def _decrypts_without_password(reader: PdfReader) -> bool:
    try:
        return bool(reader.decrypt(""))
    except Exception:  # e.g. AES without the optional crypto package: still just "encrypted"
        return False


def _pdf_text(data: bytes, path: str, limits: Limits) -> tuple[str, str]:
    """(text of all pages joined by blank lines, metadata title or "").

    Stops at the first page past `limits`: pypdf caps each stream at 75 MB, but thousands of
    such streams would still exhaust memory.
    """
    from pypdf import PdfReader
    from pypdf.errors import LimitReachedError

    from ingest.pdf_warnings import naming

    too_big = (f"PDF expands to more than {limits.describe()} of text (a decompression bomb?); "
               "split it or raise --max-file-mb")
    with naming(path):
        try:
            reader = PdfReader(io.BytesIO(data))
            # Many PDFs are "encrypted" with an empty password just to set permissions; those
            # open in any viewer, so they open here too.
            if reader.is_encrypted and not _decrypts_without_password(reader):
                raise IngestError(path, "PDF is encrypted; save an unencrypted copy and retry")
            if len(reader.pages) > limits.max_pdf_pages:
                raise IngestError(path, f"PDF has {len(reader.pages)} pages, more than the "
                                        f"{limits.max_pdf_pages} allowed; split it")
            pages: list[str] = []
            size = 0
            for page in reader.pages:
                pages.append(page.extract_text() or "")
                size += len(pages[-1])
                if size > limits.max_file_bytes:
                    raise IngestError(path, too_big)
            title = (reader.metadata.title or "") if reader.metadata else ""
        except IngestError:
            raise
        except LimitReachedError:
            raise IngestError(path, too_big) from None
        except Exception as err:  # pypdf raises many types (PdfReadError, KeyError, ...)
            reason = f"PDF could not be parsed ({type(err).__name__}: {err})"
            raise IngestError(path, reason) from err
    text = "\n\n".join(pages).replace("\r\n", "\n").replace("\r", "\n")
    return text, " ".join(str(title).split())


def check_size(name: str, size: int, limits: Limits) -> None:
    """Raise IngestError for an empty file or one over the limit; run before reading it.

    Example: check_size("big.pdf", 60 * 2**20, Limits()) raises "... larger than 50 MB ..."
    """
    if size == 0:
        raise IngestError(name, "file is empty")
    if size > limits.max_file_bytes:
        raise IngestError(name, f"file is {human_size(size)}, larger than the "
                                f"{limits.describe()} limit; split it or raise --max-file-mb")


def read_file(path: Path, limits: Limits) -> bytes:
    """The bytes of a supported file within the size limit, or IngestError saying why not."""
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(name, _unsupported(suffix))
    try:
        # Open first, then check what was opened: the file may change in between. Without
        # O_NONBLOCK, opening a named pipe waits for a writer forever.
        with open(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            status = os.fstat(handle.fileno())
            if stat.S_ISDIR(status.st_mode):
                raise IsADirectoryError
            if not stat.S_ISREG(status.st_mode):
                raise IngestError(name, NOT_REGULAR)
            check_size(name, status.st_size, limits)
            data = handle.read(limits.max_file_bytes + 1)
    except FileNotFoundError:
        raise IngestError(name, "no such file or directory") from None
    except IsADirectoryError:
        raise IngestError(name, "is a directory, not a file") from None
    except OSError as err:  # ENXIO: a socket
        raise IngestError(name, f"could not be read ({err.strerror or err})") from None
    check_size(name, len(data), limits)  # it may have grown or shrunk since the stat
    return data


def load_document(path: Path, doc_id: str, limits: Limits | None = None) -> Document:
    """Read one file into a Document, or raise IngestError saying why not.

    Example: load_document(Path("corpus/a.md"), "a.md") -> Document(doc_id="a.md", title=...)
    """
    limits = limits or Limits()
    return parse_document(read_file(path, limits), path, doc_id, limits)


def parse_document(data: bytes, path: Path, doc_id: str, limits: Limits | None = None
                   ) -> Document:
    """Turn a file's bytes into a Document (no I/O; `path` names it and gives its type).

    Example: parse_document(b"Hi.", Path("a.txt"), "a.txt").text -> "Hi."
    """
    limits = limits or Limits()
    name = str(path)
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(name, _unsupported(suffix))
    check_size(name, len(data), limits)

    if suffix in _TEXT_SUFFIXES:
        text = _decode_utf8(data, name)
        title = _markdown_title(text) if suffix != ".txt" else _first_line(text)
        empty = "file contains only whitespace"
        invisible = ("no text: the file holds only control characters, zero-width or other "
                     "invisible characters")
    elif suffix in _HTML_SUFFIXES:
        text, title = _html_text(_decode_utf8(data, name), name)
        if len(text) > limits.max_file_bytes:  # e.g. thousands of empty <li>, each a number
            raise IngestError(name, f"HTML expands to more than {limits.describe()} of text; "
                                    "split it or raise --max-file-mb")
        empty = invisible = "no text could be extracted (the page has no visible text)"
    else:
        text, title = _pdf_text(data, name, limits)
        empty = invisible = "no text could be extracted (scanned PDF? run OCR first)"
    if not text.strip():
        raise IngestError(name, empty)
    if not has_text(text):
        raise IngestError(name, invisible)
    return Document(
        doc_id=doc_id,
        title=(title or _first_line(text) or path.name)[:_MAX_TITLE],
        text=text,
        source_path=name,
        content_hash=hashlib.sha256(data).hexdigest(),
    )


def link_problem(path: Path, top: Path) -> str:
    """Why the symlink `path` may not be read as part of the directory `top` (resolved), or "".

    Example: link_problem(Path("corpus/pw.txt"), Path("/srv/corpus")) with pw.txt -> /etc/passwd
        -> "symlink leaves the corpus (it points to /etc/passwd); copy the file into ..."
    """
    try:
        target = path.resolve(strict=True)
    except RuntimeError:  # a loop, before Python 3.13 (from then on OSError ELOOP)
        return "symlink cannot be followed (a loop of symlinks)"
    except OSError as err:  # a dangling link, or a loop
        return f"symlink cannot be followed ({err.strerror or err})"
    if not target.is_relative_to(top):
        return (f"symlink leaves the corpus (it points to {shown(str(target))}); copy the file "
                "into the corpus to index it")
    return ""


def _walk(root: Path, errors: list[IngestError]) -> list[Path]:
    """Regular files under root, sorted by relative path, skipping hidden files and dirs.

    Symlinked files whose target is outside root, or missing, and entries that are not regular
    files (named pipes, sockets, devices) are reported in `errors`, not returned; symlinked
    directories are not descended into (os.walk's default).
    """
    found: list[Path] = []
    top = root.resolve()

    def report(err: OSError) -> None:
        errors.append(IngestError(str(err.filename), f"could not be listed ({err.strerror})"))

    for folder, dirs, files in os.walk(root, onerror=report):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for path in (Path(folder, f) for f in files if not f.startswith(".")):
            if path.is_symlink() and (problem := link_problem(path, top)):
                errors.append(IngestError(str(path), problem))
            elif not path.is_file():  # pipes, sockets, devices are not documents
                errors.append(IngestError(str(path), NOT_REGULAR))
            else:
                found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).parts)


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
        if not is_utf8(str(root)):
            errors.append(IngestError(str(root), "path is not valid UTF-8; rename it to index it"))
            continue
        if root.is_dir():
            candidates = [(p, p.relative_to(root).as_posix()) for p in _walk(root, errors)]
        elif root.exists():
            candidates = [(root, root.name)]
        else:
            errors.append(IngestError(str(root), "no such file or directory"))
            continue
        for path, doc_id in candidates:
            if not is_utf8(doc_id):
                errors.append(IngestError(str(path), "file name is not valid UTF-8; rename the "
                                                     "file to index it"))
            elif path.suffix.lower() not in SUPPORTED_SUFFIXES:
                errors.append(IngestError(str(path), _unsupported(path.suffix.lower())))
            elif doc_id in owner:
                reason = (f"duplicate document id '{shown(doc_id)}' (already used by "
                          f"{shown(str(owner[doc_id]))})")
                errors.append(IngestError(str(path), f"{reason}; rename one of the files"))
            else:
                owner[doc_id] = path
                found.append((path, doc_id))
    return found, errors

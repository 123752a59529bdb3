"""pypdf's complaints about a PDF, logged again naming the file they are about.

pypdf reports what it repaired in a damaged file ("incorrect startxref pointer(3)") through
loggers under "pypdf", without saying which file it was reading: in a batch of a thousand PDFs
such a line cannot be acted on. Inside `naming(path)`, each record from those loggers is logged
again by this module's logger ("ingest.pdf_warnings"), at its level, as
"{path}: pypdf: {message}", both escaped (see ingest.names.shown); each distinct message once
per file, at most MAX_PER_FILE of them, so a hostile file cannot flood the terminal. Records
outside `naming` (other threads, other code) reach the root logger's handlers unchanged, as
they would have without this module.

How: the first `naming` adds one handler to the "pypdf" logger and stops that logger's own
propagation, so no record is shown twice; the file being read is held in a ContextVar, so
concurrent loads in other threads are neither renamed nor silenced.

Does not catch `warnings.warn`: pypdf uses it only for deprecated calls, which are about this
program, not about a file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from ingest.names import shown

MAX_PER_FILE = 20
_logger = logging.getLogger(__name__)
_install_lock = threading.Lock()


@dataclass
class _Reading:
    """The file being read in this context and the messages already logged for it."""

    name: str
    seen: set[str] = field(default_factory=set)


_reading: ContextVar[_Reading | None] = ContextVar("ingest_pdf_reading", default=None)


class _NameTheFile(logging.Handler):
    """On the "pypdf" logger: renames records made while a file is read, passes on the rest."""

    def emit(self, record: logging.LogRecord) -> None:
        reading = _reading.get()
        if reading is None:
            logging.getLogger().callHandlers(record)  # where propagation would have sent it
            return
        try:
            message = shown(record.getMessage())
        except Exception:  # a malformed record must not stop the file being read
            self.handleError(record)
            return
        if message in reading.seen or len(reading.seen) > MAX_PER_FILE:
            return
        reading.seen.add(message)
        if len(reading.seen) > MAX_PER_FILE:
            message = f"more than {MAX_PER_FILE} warnings; the rest are not shown"
        _logger.log(record.levelno, "%s: pypdf: %s", shown(reading.name), message)


def _install() -> None:
    pypdf_logger = logging.getLogger("pypdf")
    with _install_lock:
        if not any(isinstance(h, _NameTheFile) for h in pypdf_logger.handlers):
            pypdf_logger.addHandler(_NameTheFile())
            pypdf_logger.propagate = False


@contextmanager
def naming(name: str) -> Iterator[None]:
    """Within the block, pypdf's log records in this thread are about the file `name`.

    Example: with naming("a.pdf"): PdfReader(...)  # logs "a.pdf: pypdf: EOF marker not found"
    """
    _install()
    token = _reading.set(_Reading(name))
    try:
        yield
    finally:
        _reading.reset(token)

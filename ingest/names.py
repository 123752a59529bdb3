r"""File names from disk are untrusted: how to print them, and which cannot be indexed.

A name may hold a newline (one file would read as two lines of output), a terminal escape
sequence (ESC [2J clears the screen), a bidi override (U+202E shows "evil\u202etxt.exe" as
"evilexe.txt") or bytes that are not UTF-8 at all, which Python hands over as lone surrogates
(see os.fsdecode). `shown` makes any such name one harmless line; `is_utf8` tells the names
that cannot be stored as text.

Does not clean up names for saving (see ingest.uploads.sanitize_upload_name) or rename files.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_SURROGATE_BYTES = range(0xDC80, 0xDD00)  # os.fsdecode's stand-ins for the bytes 0x80-0xff


def _escape(char: str) -> str:
    r"""Example: _escape("\x1b") -> "\\x1b"; _escape("\udcff") -> "\\xff" (the raw byte)"""
    code = ord(char)
    if code in _SURROGATE_BYTES:
        return f"\\x{code - 0xDC00:02x}"
    if char in _NAMED:
        return _NAMED[char]
    if code < 0x80:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown(text: str) -> str:
    r"""`text` as one printable line: every character str.isprintable() refuses is escaped.

    The escapes are those of bash's $'...': \n \r \t, \xNN for other ASCII controls and for
    bytes that are not UTF-8, \uNNNN for the rest (bidi controls, zero-width characters,
    non-ASCII spaces). Printable characters, backslashes included, stay as they are, so
    shown(shown(x)) == shown(x) and a plain name prints unchanged.
    Example: shown("a\nb\u202e.txt") -> "a\\nb\\u202e.txt"; shown("r\xe9sum\xe9") -> "r\xe9sum\xe9"
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else _escape(char) for char in text)


def is_utf8(name: str) -> bool:
    r"""False for a name that holds bytes that are not UTF-8 (a lone surrogate, see os.fsdecode).

    The index stores names as text, and a chunk id, SQLite and the manifest all need UTF-8.
    Example: is_utf8("caf\xe9.txt") -> True; is_utf8("caf\udce9.txt") -> False
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

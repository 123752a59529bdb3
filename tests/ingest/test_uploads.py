"""ingest.uploads: untrusted upload names are made safe or refused; saving never escapes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ingest.loaders import IngestError, Limits
from ingest.uploads import sanitize_upload_name, save_upload


@pytest.mark.parametrize(("name", "safe"), [
    ("notes.txt", "notes.txt"),
    ("  Report 2023.PDF ", "Report 2023.PDF"),
    ("Cafe\u0301 menu.md", "Café menu.md"),  # decomposed é becomes one character (NFC)
    ("a..b.txt", "a..b.txt"),  # dots inside a name are not a parent directory
])
def test_safe_names_pass(name: str, safe: str) -> None:
    assert sanitize_upload_name(name) == safe


@pytest.mark.parametrize(("name", "reason"), [
    ("../etc/passwd.txt", "must not contain '..'"),
    ("notes/../../x.txt", "must not contain '..'"),
    ("..\\..\\windows\\x.txt", "must not contain '..'"),
    ("..", "must not contain '..'"),
    ("/etc/passwd.txt", "absolute path"),
    ("\\\\server\\share\\x.txt", "absolute path"),
    ("C:\\Users\\me\\x.txt", "absolute path"),
    ("c:x.txt", "absolute path"),
    ("sub/notes.txt", "contains a directory"),
    ("sub\\notes.txt", "contains a directory"),
    ("", "no file name"),
    ("   ", "no file name"),
    ("bad\x00name.txt", "control characters"),
    ("line\nbreak.txt", "control characters"),
    (".hidden.txt", "hidden files are never indexed"),
    ("x" * 300 + ".txt", "longer than 255 bytes"),
    ("slides.pptx", "unsupported file type '.pptx'"),
    ("README", "unsupported file type '(no suffix)'"),
])
def test_unsafe_names_are_refused(name: str, reason: str) -> None:
    with pytest.raises(IngestError, match=reason.replace("(", r"\(").replace(")", r"\)")) as info:
        sanitize_upload_name(name)
    assert repr(name) in str(info.value)  # the message names what was uploaded
    assert "\n" not in str(info.value)


def test_save_writes_into_the_corpus(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    path = save_upload(corpus, " notes.md", b"# Notes\nTai met Wang.\n")
    assert path == corpus.resolve() / "notes.md"
    assert path.read_bytes() == b"# Notes\nTai met Wang.\n"
    assert os.listdir(corpus) == ["notes.md"]  # no temporary file left behind


def test_save_refuses_silent_overwrite_but_allows_identical_or_replace(tmp_path: Path) -> None:
    first = save_upload(tmp_path, "a.txt", b"first version")
    assert save_upload(tmp_path, "a.txt", b"first version") == first  # same bytes: a no-op
    with pytest.raises(IngestError, match="already exists with different content"):
        save_upload(tmp_path, "a.txt", b"second version")
    assert first.read_bytes() == b"first version"
    save_upload(tmp_path, "a.txt", b"second version", replace=True)
    assert first.read_bytes() == b"second version"


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "file is empty"),
    (b"caf\xe9", "not valid UTF-8"),
    (b"\x00\x01binary", "binary"),
    (b"x" * 2048, "larger than the 1 KB limit"),
])
def test_save_refuses_content_that_cannot_be_indexed(tmp_path: Path, data: bytes,
                                                     reason: str) -> None:
    with pytest.raises(IngestError, match=reason):
        save_upload(tmp_path, "a.txt", data, limits=Limits(max_file_bytes=1024))
    assert list(tmp_path.iterdir()) == []


def test_save_never_writes_through_a_symlink(tmp_path: Path) -> None:
    corpus, outside = tmp_path / "corpus", tmp_path / "outside.txt"
    corpus.mkdir()
    outside.write_text("precious")
    (corpus / "a.txt").symlink_to(outside)
    with pytest.raises(IngestError, match="link out of the corpus"):
        save_upload(corpus, "a.txt", b"overwrite attempt", replace=True)
    assert outside.read_text() == "precious"


def test_unsafe_name_writes_nothing(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    with pytest.raises(IngestError):
        save_upload(corpus, "../escape.txt", b"data")
    assert not (tmp_path / "escape.txt").exists()
    assert list(corpus.iterdir()) == []

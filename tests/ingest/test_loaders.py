"""Loaders: each supported format, each way a file can be bad, and discovery of a corpus."""

from __future__ import annotations

import hashlib
import io
import zlib
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from bench.fuzzfiles import pdf
from ingest.loaders import IngestError, Limits, discover, human_size, load_document, parse_document


def make_pdf(text: str, title: str | None = None, pages: int = 1, compress: bool = False
             ) -> bytes:
    """A PDF, written by hand, whose `pages` pages each really draw `text` in Helvetica.

    compress=True stores the page content zlib-compressed (/FlateDecode), as most PDFs do; a
    long repetitive `text` then makes a small file that expands a thousandfold.
    """
    stream = b"BT /F1 12 Tf 72 720 Td (" + text.encode("ascii") + b") Tj ET"
    flate = b""
    if compress:
        stream, flate = zlib.compress(stream, 9), b" /Filter /FlateDecode"
    first_page = 5  # objects 1-4: catalog, pages, content, font; then one object per page
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(pages))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, pages),
        b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(stream), flate, stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ] + [
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 3 0 R"
        b" /Resources << /Font << /F1 4 0 R >> >> >>"
    ] * pages
    if title is not None:
        objects.append(b"<< /Title (" + title.encode("ascii") + b") >>")
    info = b" /Info %d 0 R" % len(objects) if title is not None else b""
    return pdf(objects, trailer=b"/Root 1 0 R" + info)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_txt_document_fields(tmp_path: Path) -> None:
    data = b"\n  First line  \nSecond line.\n"
    doc = load_document(write(tmp_path / "a.txt", data), "a.txt")
    assert doc.doc_id == "a.txt"
    assert doc.title == "First line"
    assert doc.text == data.decode()
    assert doc.source_path == str(tmp_path / "a.txt")
    assert doc.content_hash == hashlib.sha256(data).hexdigest()


def test_long_first_line_title_is_truncated(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.txt", b"x" * 500), "a.txt")
    assert doc.title == "x" * 200


def test_markdown_title_comes_from_first_heading(tmp_path: Path) -> None:
    path = write(tmp_path / "guide.md", b"Some preface.\n\n# The Guide #\n\n## Part\n")
    assert load_document(path, "guide.md").title == "The Guide"


def test_markdown_without_heading_uses_first_line(tmp_path: Path) -> None:
    path = write(tmp_path / "n.markdown", b"\nplain start\n#hashtag is not a heading\n")
    assert load_document(path, "n.markdown").title == "plain start"


def test_crlf_and_lone_cr_become_newlines(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.txt", b"one\r\ntwo\rthree\n"), "a.txt")
    assert doc.text == "one\ntwo\nthree\n"


def test_utf8_bom_is_stripped(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "a.txt", b"\xef\xbb\xbfTitle\nbody"), "a.txt")
    assert doc.text == "Title\nbody"
    assert doc.title == "Title"


def test_invalid_utf8_names_file_and_byte_offset(tmp_path: Path) -> None:
    path = write(tmp_path / "latin1.txt", "caf\u00e9 au lait".encode("latin-1"))
    with pytest.raises(IngestError) as info:
        load_document(path, "latin1.txt")
    assert info.value.path == str(path)
    assert "byte 3" in info.value.reason
    assert "UTF-8" in info.value.reason
    assert str(info.value) == f"{path}: {info.value.reason}"
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        ("empty.txt", b"", "file is empty"),
        ("blank.md", b" \n\t\r\n", "only whitespace"),
        ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("utf16.txt", "hi".encode("utf-16"), "UTF-16"),
        ("empty.html", b"<html><body><script>x()</script></body></html>", "no text"),
        ("broken.pdf", b"%PDF-1.4\nthis is not really a pdf", "PDF could not be parsed"),
        ("notes.docx", b"PK\x03\x04", "unsupported file type '.docx'; supported: .txt"),
    ],
)
def test_bad_files_raise_ingest_error(
    tmp_path: Path, name: str, data: bytes, expected: str
) -> None:
    with pytest.raises(IngestError, match=expected) as info:
        load_document(write(tmp_path / name, data), name)
    assert info.value.path == str(tmp_path / name)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="no such file or directory"):
        load_document(tmp_path / "gone.txt", "gone.txt")


def test_html_drops_script_and_style_and_uses_title(tmp_path: Path) -> None:
    page = (
        b"<html><head><title> Caf\xc3\xa9 &amp; Co </title><style>p {color: red}</style>"
        b"<script>var secret = 1;</script></head>"
        b"<body><h1>Menu</h1><p>Coffee is served.</p></body></html>"
    )
    doc = load_document(write(tmp_path / "p.htm", page), "p.htm")
    assert doc.title == "Caf\u00e9 & Co"
    assert "Coffee is served." in doc.text
    assert "Menu" in doc.text
    assert "secret" not in doc.text
    assert "color" not in doc.text


def test_html_without_title_uses_first_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "p.html", b"<p>Hello</p><p>World</p>"), "p.html")
    assert doc.title == "Hello"


def test_pdf_text_and_metadata_title(tmp_path: Path) -> None:
    data = make_pdf("Hello from a PDF page.", title="Quarterly Report")
    doc = load_document(write(tmp_path / "r.pdf", data), "r.pdf")
    assert "Hello from a PDF page." in doc.text
    assert doc.title == "Quarterly Report"
    assert doc.content_hash == hashlib.sha256(data).hexdigest()


def test_pdf_without_title_uses_first_line(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "r.pdf", make_pdf("Only line")), "r.pdf")
    assert doc.title == "Only line"


def test_pdf_without_text_suggests_ocr(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="OCR"):
        load_document(write(tmp_path / "scan.pdf", make_pdf("")), "scan.pdf")


def encrypted(data: bytes, user_password: str) -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_password_protected_pdf_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.pdf", encrypted(make_pdf("Secret text"), "secret"))
    with pytest.raises(IngestError, match="encrypted"):
        load_document(path, "locked.pdf")


def test_pdf_encrypted_with_empty_password_opens(tmp_path: Path) -> None:
    # Permission-only encryption: every viewer opens these without asking.
    path = write(tmp_path / "perm.pdf", encrypted(make_pdf("Open text"), ""))
    assert "Open text" in load_document(path, "perm.pdf").text


def test_discover_ids_are_relative_to_each_directory(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "b.txt", b"b")
    write(corpus / "sub" / "deep" / "a.md", b"a")
    write(corpus / "a.pdf", b"a")
    write(corpus / ".git" / "config.txt", b"hidden dir")
    write(corpus / ".hidden.txt", b"hidden file")
    single = write(tmp_path / "elsewhere" / "single.html", b"<p>x</p>")

    found, errors = discover([corpus, single])

    assert errors == []
    assert found == [
        (corpus / "a.pdf", "a.pdf"),
        (corpus / "b.txt", "b.txt"),
        (corpus / "sub" / "deep" / "a.md", "sub/deep/a.md"),
        (single, "single.html"),
    ]


def test_discover_reports_unsupported_missing_and_duplicates(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    write(corpus / "a.txt", b"a")
    write(corpus / "slides.pptx", b"x")
    duplicate = write(tmp_path / "other" / "a.txt", b"another a")

    found, errors = discover([corpus, tmp_path / "missing", duplicate])

    assert found == [(corpus / "a.txt", "a.txt")]
    reasons = {err.path: err.reason for err in errors}
    assert reasons[str(corpus / "slides.pptx")].startswith("unsupported file type '.pptx'")
    assert reasons[str(tmp_path / "missing")] == "no such file or directory"
    assert "duplicate document id 'a.txt'" in reasons[str(duplicate)]
    assert len(errors) == 3


def test_discovered_files_load(tmp_path: Path) -> None:
    write(tmp_path / "c" / "x.txt", b"Hello.")
    (found, _) = discover([tmp_path / "c"])
    docs = [load_document(path, doc_id) for path, doc_id in found]
    assert [d.doc_id for d in docs] == ["x.txt"]


def test_pdf_pages_are_joined_by_blank_lines(tmp_path: Path) -> None:
    doc = load_document(write(tmp_path / "r.pdf", make_pdf("Same line", pages=3,
                                                           compress=True)), "r.pdf")
    assert doc.text == "Same line\n\nSame line\n\nSame line"


def test_oversized_file_is_rejected_before_it_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "big.txt", b"word " * 400)  # 2000 bytes
    with pytest.raises(IngestError) as info:
        load_document(path, "big.txt", Limits(max_file_bytes=1024))
    assert info.value.reason == ("file is 2 KB, larger than the 1 KB limit; split it or raise "
                                 "--max-file-mb")
    assert load_document(path, "big.txt", Limits(max_file_bytes=2000)).text.startswith("word")


def test_pdf_that_expands_past_the_limit_is_rejected(tmp_path: Path) -> None:
    data = make_pdf("A" * 50_000, compress=True)
    assert len(data) < 1024  # a small file ...
    path = write(tmp_path / "bomb.pdf", data)
    with pytest.raises(IngestError, match="PDF expands to more than 10 KB of text"):
        load_document(path, "bomb.pdf", Limits(max_file_bytes=10 * 1024))  # ... 50 KB of text
    assert len(load_document(path, "bomb.pdf").text) == 50_000  # within the default limit


def test_pdf_with_too_many_pages_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path / "long.pdf", make_pdf("Page", pages=3))
    with pytest.raises(IngestError, match="PDF has 3 pages, more than the 2 allowed; split it"):
        load_document(path, "long.pdf", Limits(max_pdf_pages=2))


def test_parse_document_needs_no_file(tmp_path: Path) -> None:
    doc = parse_document(b"# Notes\nHello.", tmp_path / "never-written.md", "n.md")
    assert (doc.title, doc.text, doc.doc_id) == ("Notes", "# Notes\nHello.", "n.md")
    assert not (tmp_path / "never-written.md").exists()


def test_directory_with_a_supported_suffix_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "folder.txt").mkdir()
    with pytest.raises(IngestError, match="is a directory"):
        load_document(tmp_path / "folder.txt", "folder.txt")


@pytest.mark.parametrize(("size", "shown"), [
    (0, "0 bytes"), (1023, "1023 bytes"), (1024, "1 KB"), (1536, "1.5 KB"),
    (50 * 2**20, "50 MB"), (3 * 2**30, "3 GB"),
])
def test_human_size(size: int, shown: str) -> None:
    assert human_size(size) == shown

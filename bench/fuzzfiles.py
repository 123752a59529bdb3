"""Seeded hostile corpora: good files mixed with every kind of odd file issue 15 listed.

`make_corpus(corpus, outside, count, seed)` writes `count` files and returns one FuzzFile per
file: its path, its kind and what ingesting it must give: "indexed", or the reasons
(regular expressions matched at the start of the printed reason) it may be rejected with.
Most kinds have exactly one expected outcome; a truncated or random-byte PDF may be repaired
or not, so it lists what pypdf may make of it. The same seed writes the same bytes and names.

KINDS (each file is one of them, drawn by weight):
- good prose as .txt/.md/.html/.pdf, some under odd names (newline, ANSI escape, bidi
  override, tab, CR, zero-width space, combining accent, emoji, quotes, "$(...)"), some in
  sub-directories, some reached through a symlink that stays inside the corpus;
- odd but readable: abbreviation-dense prose, one line repeated, a line without spaces,
  a markdown table, thousands of one-word paragraphs or bullets, control characters and
  zero-width spaces among words, BOM + CRLF, scripts from right-to-left to emoji, HTML nested
  up to 500 deep or with unclosed tags, entities and comments, HTML whose drawn layout used to
  explode (nested divs, a table with one long cell, style margins), a PDF with a wrong xref
  offset, a PDF whose text holds control bytes;
- rejected: empty, only whitespace, only control or zero-width characters, binary with a .txt
  suffix, Latin-1, UTF-16, random bytes, unsupported suffixes, a sparse file over the size
  limit, a name that is not UTF-8, symlinks to /etc/passwd or out of the corpus, dangling and
  self-looping symlinks, a named pipe, HTML nested deeper than 512 or without visible text, PDFs
  that are encrypted, blank, not PDFs at all, decompression bombs (one stream, or 2,000 pages
  sharing one), page trees of 5,000 pages, and (may be repaired) truncated or random PDFs.

Sizes of the large kinds are drawn log-uniformly between 1 KB and `max_kb`, so a batch holds a
few large files and many small ones. Does not run the ingest (see bench.fuzz).
"""

from __future__ import annotations

import base64
import math
import os
import random
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from bench.chunking import abbreviations, repeated, table

INDEXED = "indexed"
MB = 2**20
DEFAULT_LIMIT_MB = 2.0  # --max-file-mb of a fuzz run: small, so bombs and oversize files are cheap

# The reasons ingest.loaders gives, as they start (what a user reads first).
EMPTY = r"file is empty$"
WHITESPACE = r"file contains only whitespace$"
INVISIBLE = r"no text: the file holds only control characters"
BINARY = r"looks like binary data"
NOT_UTF8 = r"not valid UTF-8 at byte \d+; re-save"
UTF16 = r"is UTF-16 text"
UNSUPPORTED = r"unsupported file type '[^']*'; supported: "
TOO_BIG = r"file is [\d.]+ [KMG]?B, larger than the [\d.]+ [KMG]?B limit"
BAD_NAME = r"file name is not valid UTF-8; rename"
LEAVES = r"symlink leaves the corpus \(it points to "
BROKEN_LINK = r"symlink cannot be followed \("
NOT_REGULAR = r"not a regular file \(a named pipe, socket or device\)"
TOO_DEEP = r"HTML is nested more than 512 elements deep"
NO_PAGE_TEXT = r"no text could be extracted \(the page has no visible text\)"
PDF_BROKEN = r"PDF could not be parsed \("
PDF_NO_TEXT = r"no text could be extracted \(scanned PDF\? run OCR first\)"
PDF_BOMB = r"PDF expands to more than [\d.]+ [KMG]?B of text"
PDF_PAGES = r"PDF has \d+ pages, more than the \d+ allowed"
PDF_ENCRYPTED = r"PDF is encrypted"

REASONS = {"empty": EMPTY, "whitespace": WHITESPACE, "invisible": INVISIBLE, "binary": BINARY,
           "not_utf8": NOT_UTF8, "utf16": UTF16, "unsupported": UNSUPPORTED, "too_big": TOO_BIG,
           "bad_name": BAD_NAME, "leaves_corpus": LEAVES, "broken_link": BROKEN_LINK,
           "not_regular": NOT_REGULAR, "too_deep": TOO_DEEP, "no_page_text": NO_PAGE_TEXT,
           "pdf_broken": PDF_BROKEN, "pdf_no_text": PDF_NO_TEXT, "pdf_bomb": PDF_BOMB,
           "pdf_pages": PDF_PAGES, "pdf_encrypted": PDF_ENCRYPTED}


def reason_family(reason: str) -> str:
    """Which of REASONS a rejection is. Example: reason_family("file is empty") -> "empty" """
    return next((name for name, pattern in REASONS.items() if re.match(pattern, reason)),
                "other")


WORDS = ("Katherine Tai met Wang Wentao in San Francisco on 18 November to discuss tariffs and "
         "export controls while the Global Security Initiative launched by Xi at the Boao Forum "
         "in April drew comment from delegates ministers and observers about trade security "
         "supply chains and the talks").split()
ODD_NAME_PARTS = ("\n", "\x1b[31m", "\x1b[2J", "\u202e", "\t", "\r", "\u200b", "e\u0301",
                  "\U0001f600", " ", "'", '"', "$(id)", "%s{}", "\u4e2d\u6587", "\u05d0\u05d1",
                  "\x07", "\x7f", "\\")


@dataclass(frozen=True)
class Spec:
    """What one kind makes: bytes under a suffix, or a link, pipe or sparse file."""

    suffix: str
    data: bytes = b""
    expect: tuple[str, ...] = (INDEXED,)
    link: str = ""  # symlink target; "{outside}", "{self}" and "{good}" are filled in
    pipe: bool = False
    sparse: int = 0  # size of a file with no data written (larger than the limit)
    raw_name: bytes = b""  # a name part that is not UTF-8


@dataclass(frozen=True)
class FuzzFile:
    """One generated file: where it is, what it is, what ingesting it must give."""

    path: Path  # as os.fsdecode gives it (a name that is not UTF-8 holds lone surrogates)
    doc_id: str  # relative to the corpus, "/" separated
    kind: str
    expect: tuple[str, ...]
    size: int  # bytes on disk (0 for links and pipes)


# --- text ----------------------------------------------------------------------------------


def prose(rng: random.Random, size: int) -> str:
    """Sentences of WORDS, paragraphs every few sentences. Example: prose(r, 40) -> "Tai met..." """
    parts, total = [], 0
    while total < size:
        words = rng.choices(WORDS, k=rng.randint(4, 18))
        sentence = " ".join(words).capitalize() + rng.choice((".", ".", ".", "?", "!"))
        parts.append(sentence + ("\n\n" if rng.random() < 0.2 else " "))
        total += len(parts[-1])
    return "".join(parts).strip() or "Tai met Wang."


def sized(rng: random.Random, max_bytes: int) -> int:
    """A size drawn log-uniformly from 1 KB to max_bytes."""
    return int(math.exp(rng.uniform(math.log(1024), math.log(max(max_bytes, 1025)))))


def _text(suffix: str, text: str, expect: tuple[str, ...] = (INDEXED,)) -> Spec:
    return Spec(suffix, text.encode("utf-8"), expect)


def good_txt(rng: random.Random, _: int) -> Spec:
    return _text(rng.choice((".txt", ".TXT")), prose(rng, rng.randint(40, 3000)))


def good_md(rng: random.Random, _: int) -> Spec:
    body = prose(rng, rng.randint(40, 3000))
    return _text(rng.choice((".md", ".markdown", ".Md")), f"# {rng.choice(WORDS)} notes\n\n{body}")


def abbreviation_dense(rng: random.Random, size: int) -> Spec:
    return _text(".txt", abbreviations(size))


def repetitive(rng: random.Random, size: int) -> Spec:
    return _text(".txt", repeated(size))


def line_without_spaces(rng: random.Random, size: int) -> Spec:
    raw = rng.randbytes(size * 3 // 4 + 3)
    return _text(".txt", base64.b64encode(raw).decode("ascii")[:size])


def markdown_table(rng: random.Random, size: int) -> Spec:
    return _text(".md", table(size))


def tiny_paragraphs(rng: random.Random, size: int) -> Spec:
    unit = rng.choice(("Tai.\n\n", "a\n\n", "- x\n", "# h\n", "1) item\n"))
    return _text(rng.choice((".txt", ".md")), unit * (size // len(unit) + 1))


def controls_among_words(rng: random.Random, size: int) -> Spec:
    noise = ("\x01", "\x1b[2J", "\u200b", "\u202e", "\x7f", "\x0c", "\ufeff")
    words = [rng.choice(WORDS) + rng.choice(noise) for _ in range(max(size // 8, 1))]
    return _text(".txt", " ".join(words))


def bom_crlf(rng: random.Random, _: int) -> Spec:
    text = prose(rng, rng.randint(40, 2000)).replace("\n", "\r\n")
    return Spec(".txt", b"\xef\xbb\xbf" + text.encode())


def many_scripts(rng: random.Random, _: int) -> Spec:
    parts = ("\u0645\u0631\u062d\u0628\u0627 \u0628\u0643\u0645.", "\u05e9\u05dc\u05d5\u05dd.",
             "\u4e2d\u6587\u53e5\u5b50\u3002", "e\u0301te\u0301.", "\U0001f600\U0001f680!",
             "\U0001d400\U0001d401.", "Tai met Wang.")
    return _text(".md", " ".join(rng.choices(parts, k=rng.randint(5, 200))))


def empty(rng: random.Random, _: int) -> Spec:
    return Spec(rng.choice((".txt", ".md", ".html", ".pdf")), b"", (EMPTY,))


def whitespace_only(rng: random.Random, _: int) -> Spec:
    return _text(rng.choice((".txt", ".md")), rng.choice((" ", "\n", "\t", "\r\n")) * 50,
                 (WHITESPACE,))


def invisible_only(rng: random.Random, _: int) -> Spec:
    chars = ("\x01", "\x02", "\x1b", "\x7f", "\x08", "\u200b", "\u200c", "\u2060", "\ufeff",
             "\u202e", "\ue000")
    return _text(rng.choice((".txt", ".md")), "".join(rng.choices(chars, k=200)) + "\n",
                 (INVISIBLE,))


def binary_as_text(rng: random.Random, _: int) -> Spec:
    data = rng.randbytes(rng.randint(64, 4096))
    data = data[:10] + b"\x00" + data[10:]
    return Spec(rng.choice((".txt", ".md", ".html")), data, (BINARY,))


def latin1(rng: random.Random, _: int) -> Spec:
    return Spec(".txt", "Caf\xe9 cr\xe8me at the d\xe9p\xf4t. ".encode("latin-1") * 20, (NOT_UTF8,))


def utf16(rng: random.Random, _: int) -> Spec:
    return Spec(".txt", prose(rng, 200).encode("utf-16"), (UTF16,))


def random_bytes(rng: random.Random, _: int) -> Spec:
    return Spec(rng.choice((".txt", ".md", ".html")), rng.randbytes(rng.randint(64, 8192)),
                (BINARY, NOT_UTF8, UTF16))


def unsupported(rng: random.Random, _: int) -> Spec:
    return Spec(rng.choice((".docx", ".exe", ".txt.bak", "", ".pdf~")), b"Tai met Wang.",
                (UNSUPPORTED,))


def oversized(rng: random.Random, _: int) -> Spec:
    return Spec(rng.choice((".txt", ".pdf", ".html")), expect=(TOO_BIG,),
                sparse=int(DEFAULT_LIMIT_MB * MB) + rng.randint(1, 4096))


# --- names and links -----------------------------------------------------------------------


def bad_name(rng: random.Random, _: int) -> Spec:
    return Spec(".txt", b"Tai met Wang.\n", (BAD_NAME,), raw_name=rng.choice((b"\xff", b"\xe9",
                                                                                b"\xc3\x28")))


def link_to_passwd(rng: random.Random, _: int) -> Spec:
    return Spec(".txt", expect=(LEAVES,), link="/etc/passwd")


def link_out(rng: random.Random, _: int) -> Spec:
    return Spec(rng.choice((".txt", ".md")), expect=(LEAVES,), link="{outside}")


def link_dangling(rng: random.Random, _: int) -> Spec:
    return Spec(".txt", expect=(BROKEN_LINK,), link="/nonexistent/fuzz/gone.txt")


def link_loop(rng: random.Random, _: int) -> Spec:
    return Spec(".md", expect=(BROKEN_LINK,), link="{self}")


def link_inside(rng: random.Random, _: int) -> Spec:
    return Spec(".txt", link="{good}")


def named_pipe(rng: random.Random, _: int) -> Spec:
    return Spec(rng.choice((".txt", ".pdf")), expect=(NOT_REGULAR,), pipe=True)


# --- HTML ----------------------------------------------------------------------------------


def _page(body: str, title: str = "") -> bytes:
    head = f"<head><title>{title}</title></head>" if title else ""
    return f"<!DOCTYPE html><html>{head}<body>{body}</body></html>".encode()


def good_html(rng: random.Random, _: int) -> Spec:
    paragraphs = "".join(f"<p>{prose(rng, rng.randint(40, 600))}</p>"
                         for _ in range(rng.randint(1, 6)))
    return Spec(rng.choice((".html", ".htm")), _page(f"<h1>Notes</h1>{paragraphs}", "Notes"))


def odd_html(rng: random.Random, _: int) -> Spec:
    pieces = ("<p>unclosed <b>bold <i>italic", "&amp;&lt;&#0;&#x110000;&#xD800;&bogus;&nbsp;",
              "<!-- a comment --> visible", "<![CDATA[ cdata ]]>", "<script>alert(1)</script>",
              "<style>p{}</style>", "<svg><text>vector text</text></svg>", "</p></div></span>",
              "<table><tr><td>cell<td>cell</table>", "<ul><li>one<li>two</ul>", "<br><br/>",
              "<img src=x onerror=alert(1)>", "<a href='javascript:x'>link text</a>",
              "<q>quoted</q>", "<pre>  pre   text  </pre>",
              "<p dir=rtl>\u05e9\u05dc\u05d5\u05dd</p>")
    body = " ".join(rng.choices(pieces, k=rng.randint(3, 40))) + " Tai met Wang."
    prefix = rng.choice(("", '<?xml version="1.0" encoding="utf-8"?>', "\ufeff"))
    return Spec(".html", (prefix + body).encode())


def deep_html(rng: random.Random, _: int) -> Spec:
    depth = rng.randint(100, 500)
    tag = rng.choice(("div", "span", "b", "section"))
    return Spec(".html", (f"<p>shallow</p>{f'<{tag}>' * depth}deep text{f'</{tag}>' * depth}"
                          "<p>closing</p>").encode())


def too_deep_html(rng: random.Random, _: int) -> Spec:
    depth = rng.randint(520, 5000)
    return Spec(".html", (b"<p>shallow</p>" + b"<div>" * depth + b"deep" + b"</div>" * depth),
                (TOO_DEEP,))


def layout_bomb_html(rng: random.Random, size: int) -> Spec:
    """Pages whose layout inscriptis used to draw: many times their size in spaces."""
    shape = rng.choice(("divs", "table", "style"))
    if shape == "divs":
        lines = max(size // 5, 1)
        page = "<div>" * 400 + "Tai<br>" * lines + "</div>" * 400
    elif shape == "table":
        rows = max(size // 30, 1)
        page = ("<table><tr><td>" + "x" * min(size, 20_000) + "</td><td>y</td></tr>"
                + "<tr><td>Tai</td><td>Wang</td></tr>" * rows + "</table>")
    else:
        page = '<p style="margin-top:99999em;padding-left:99999em">Tai met Wang.</p>' * max(
            size // 70, 1)
    return Spec(".html", page.encode())


def invisible_html(rng: random.Random, _: int) -> Spec:
    body = rng.choice(("<script>var x = 1;</script>", "<style>p {}</style>", "<!-- only -->",
                       "<p>\u200b&#8203;</p>", "<div style='display:none'>hidden</div>",
                       "<head><title>title only</title></head>"))
    return Spec(".html", body.encode(), (NO_PAGE_TEXT,))


# --- PDF -----------------------------------------------------------------------------------


def pdf(objects: Sequence[bytes], trailer: bytes = b"/Root 1 0 R") -> bytes:
    """A PDF of `objects` (numbered from 1) with a correct xref table."""
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d %s >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1,
                                                                      trailer, xref)
    return bytes(out)


def _stream(content: bytes, compress: bool) -> bytes:
    if compress:
        content = zlib.compress(content, 9)
    flate = b" /Filter /FlateDecode" if compress else b""
    return b"<< /Length %d%s >>\nstream\n%s\nendstream" % (len(content), flate, content)


def text_pdf(pages: Sequence[bytes], compress: bool = False, shared: int = 0) -> bytes:
    """A PDF whose pages draw `pages` (ASCII, no parentheses) in Helvetica; with shared=N, N
    pages all draw pages[0] from one content stream."""
    count = shared or len(pages)
    streams = pages[:1] if shared else pages
    first_page = 4 + len(streams)  # 1 catalog, 2 pages, 3 font, then the streams
    kids = b" ".join(b"%d 0 R" % (first_page + i) for i in range(count))
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [%s] /Count %d >>" % (kids, count),
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    objects += [_stream(b"BT /F1 12 Tf 72 720 Td (" + text + b") Tj ET", compress)
                for text in streams]
    objects += [b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R"
                b" /Resources << /Font << /F1 3 0 R >> >> >>" % (4 + (0 if shared else i))
                for i in range(count)]
    return pdf(objects)


def _ascii(text: str) -> bytes:
    return text.encode("ascii", "ignore").replace(b"(", b"").replace(b")", b"").replace(b"\\", b"")


def good_pdf(rng: random.Random, _: int) -> Spec:
    pages = [_ascii(prose(rng, rng.randint(40, 400)).replace("\n", " "))
             for _ in range(rng.randint(1, 3))]
    return Spec(".pdf", text_pdf(pages, compress=rng.random() < 0.5))


def repaired_pdf(rng: random.Random, _: int) -> Spec:
    """A wrong startxref offset: pypdf repairs it, logging warnings that must name the file."""
    data = text_pdf([_ascii(prose(rng, 200).replace("\n", " "))])
    head, _, tail = data.rpartition(b"startxref\n")
    offset, _, rest = tail.partition(b"\n")
    return Spec(".pdf", head + b"startxref\n" + str(int(offset) + 7).encode() + b"\n" + rest)


def control_bytes_pdf(rng: random.Random, _: int) -> Spec:
    return Spec(".pdf", text_pdf([b"Tai \\033[2J met \\007 Wang \\342\\200\\256 in Boao."]))


def truncated_pdf(rng: random.Random, _: int) -> Spec:
    data = text_pdf([_ascii(prose(rng, 300).replace("\n", " "))], compress=rng.random() < 0.5)
    return Spec(".pdf", data[: int(len(data) * rng.uniform(0.2, 0.95))],
                (INDEXED, PDF_BROKEN, PDF_NO_TEXT))


def garbage_pdf(rng: random.Random, _: int) -> Spec:
    data = rng.choice((b"%PDF-1.7\n" + rng.randbytes(rng.randint(10, 5000)), b"%PDF-1.4\n%%EOF\n",
                       b"Tai met Wang. This is not a PDF.", b"%PDF-"))
    return Spec(".pdf", data, (PDF_BROKEN, PDF_NO_TEXT))


def blank_pdf(rng: random.Random, _: int) -> Spec:
    return Spec(".pdf", text_pdf([b""] * rng.randint(1, 5)), (PDF_NO_TEXT,))


def encrypted_pdf(rng: random.Random, _: int) -> Spec:
    """Standard security handler, RC4-128, keys that no password opens (seeded, unlike pypdf's
    writer, whose file IDs are random)."""
    key = rng.randbytes(32).hex().encode()
    encrypt = b"<< /Filter /Standard /V 2 /R 3 /Length 128 /P -4 /O <%s> /U <%s> >>" % (
        key, rng.randbytes(32).hex().encode())
    file_id = rng.randbytes(16).hex().encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>",
               b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] >>", encrypt]
    return Spec(".pdf", pdf(objects, b"/Root 1 0 R /Encrypt 4 0 R /ID [<%s> <%s>]" % (
        file_id, file_id)), (PDF_ENCRYPTED,))


def bomb_pdf(rng: random.Random, _: int) -> Spec:
    """A few KB that expand to more text than the limit: one stream, or pages sharing one."""
    limit = int(DEFAULT_LIMIT_MB * MB)
    if rng.random() < 0.5:
        return Spec(".pdf", text_pdf([b"Tai met Wang " * (limit // 12)], compress=True),
                    (PDF_BOMB,))
    return Spec(".pdf", text_pdf([b"Tai met Wang " * (limit // 12 // 100)], compress=True,
                                 shared=2000), (PDF_BOMB,))


def many_pages_pdf(rng: random.Random, _: int) -> Spec:
    return Spec(".pdf", text_pdf([b"Tai met Wang."], shared=rng.randint(2001, 5000)),
                (PDF_PAGES,))


Kind = Callable[[random.Random, int], Spec]
KINDS: dict[str, tuple[float, Kind]] = {  # name: (weight, maker)
    "good_txt": (8, good_txt), "good_md": (5, good_md), "good_html": (5, good_html),
    "good_pdf": (5, good_pdf), "link_inside": (1, link_inside),
    "abbreviations": (2, abbreviation_dense), "repetitive": (2, repetitive),
    "no_spaces": (2, line_without_spaces), "table": (2, markdown_table),
    "tiny_paragraphs": (2, tiny_paragraphs), "controls_in_text": (2, controls_among_words),
    "bom_crlf": (1, bom_crlf), "many_scripts": (1, many_scripts), "odd_html": (3, odd_html),
    "deep_html": (1, deep_html), "layout_bomb_html": (2, layout_bomb_html),
    "repaired_pdf": (2, repaired_pdf), "control_bytes_pdf": (1, control_bytes_pdf),
    "empty": (2, empty), "whitespace": (1, whitespace_only), "invisible": (2, invisible_only),
    "binary_txt": (2, binary_as_text), "latin1": (1, latin1), "utf16": (1, utf16),
    "random_bytes": (2, random_bytes), "unsupported": (2, unsupported),
    "oversized": (1, oversized), "bad_name": (2, bad_name), "link_passwd": (1, link_to_passwd),
    "link_out": (1, link_out), "link_dangling": (1, link_dangling), "link_loop": (1, link_loop),
    "pipe": (1, named_pipe), "too_deep_html": (1, too_deep_html),
    "invisible_html": (1, invisible_html), "truncated_pdf": (2, truncated_pdf),
    "garbage_pdf": (2, garbage_pdf), "blank_pdf": (1, blank_pdf),
    "encrypted_pdf": (1, encrypted_pdf), "bomb_pdf": (1, bomb_pdf),
    "many_pages_pdf": (1, many_pages_pdf),
}


def odd_name(rng: random.Random, index: int, kind: str) -> str:
    """A file name, without suffix: "0042-good_txt", a third of them with odd characters in it.

    Example: odd_name(random.Random(1), 7, "empty") -> "0007-empty" (or "0007-\\u202eempty")
    """
    base = f"{index:04d}-{kind}"
    if rng.random() < 1 / 3:
        cut = rng.randint(5, len(base))
        base = base[:cut] + "".join(rng.choices(ODD_NAME_PARTS, k=rng.randint(1, 3))) + base[cut:]
    return base


def make_corpus(corpus: Path, outside: Path, count: int, seed: int = 0,
                max_kb: int = 64, kinds: Sequence[str] | None = None) -> list[FuzzFile]:
    """Write `count` files into `corpus` (created; sub-directories too), and symlink targets
    into `outside`; return what each must give. Every kind appears once before any repeats,
    so a batch of len(KINDS) or more covers them all.
    """
    rng = random.Random(seed)
    names = list(kinds or KINDS)
    weights = [KINDS[name][0] for name in names]
    order = names[:count] + rng.choices(names, weights, k=max(count - len(names), 0))
    rng.shuffle(order)
    corpus.mkdir(parents=True, exist_ok=True)
    outside.mkdir(parents=True, exist_ok=True)
    secret = outside / "secret.txt"
    secret.write_text("Tai met Wang in secret.\n", encoding="utf-8")
    files: list[FuzzFile] = []
    good: list[FuzzFile] = []
    for index, kind in enumerate(order):
        spec = KINDS[kind][1](rng, sized(rng, max_kb * 1024))
        if spec.link == "{good}":  # a link named like its target: a.md -> b.md
            spec = Spec(good[-1].path.suffix, link=spec.link) if good else good_txt(rng, 0)
        folder = corpus
        if rng.random() < 0.2:
            folder = corpus / rng.choice(("sub", "sub/deeper", "odd\u202edir", "dir.txt",
                                          "new\nline dir"))
            folder.mkdir(parents=True, exist_ok=True)
        name = os.fsencode(odd_name(rng, index, kind)) + spec.raw_name + spec.suffix.encode()
        raw = os.path.join(os.fsencode(folder), name)
        path = Path(os.fsdecode(raw))
        if spec.link:
            target = {"{outside}": str(secret), "{self}": str(path),
                      "{good}": str(good[-1].path) if good else ""}.get(spec.link, spec.link)
            os.symlink(target, raw)
        elif spec.pipe:
            os.mkfifo(raw)
        else:
            with open(raw, "wb") as handle:
                handle.write(spec.data)
                if spec.sparse:
                    handle.truncate(spec.sparse)
        entry = FuzzFile(path, path.relative_to(corpus).as_posix(), kind, spec.expect,
                         spec.sparse or len(spec.data))
        files.append(entry)
        if kind.startswith("good_"):
            good.append(entry)
    return files

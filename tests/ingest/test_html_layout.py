"""HTML pages whose drawn layout outgrew them (found by the file fuzzer, tests/ingest/test_fuzz.py):
the text of a page is now never much longer than the page, and reads the same without the
indentation and padded columns.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ingest.html_layout import safe_style
from ingest.loaders import IngestError, Limits, load_document
from tests.ingest.test_loaders import write


def text_of(tmp_path: Path, page: bytes, limits: Limits | None = None) -> str:
    return load_document(write(tmp_path / "page.html", page), "page.html", limits).text


def test_nested_divs_are_not_indented(tmp_path: Path) -> None:
    # inscriptis indented each level by 2 spaces: 105 KB became 20 MB of text.
    page = b"<div>" * 500 + b"x<br>" * 20_000 + b"</div>" * 500
    text = text_of(tmp_path, page)
    assert text == "\n".join(["x"] * 20_000)


def test_a_table_is_one_line_per_row_without_padding(tmp_path: Path) -> None:
    # Every row was padded to the width of the longest cell: 136 KB became 80 MB.
    page = (b"<table><tr><td>" + b"x" * 20_000 + b"</td><td>y</td></tr>"
            + b"<tr><td>a</td><td>b</td></tr>" * 4000 + b"</table>")
    lines = text_of(tmp_path, page).splitlines()
    assert lines == ["x" * 20_000 + " y"] + ["a b"] * 4000


def test_table_caption_headers_and_nested_tables_read_in_order(tmp_path: Path) -> None:
    page = (b"<table><caption>Prices</caption><tr><th>Name</th><th>Price</th></tr>"
            b"<tr><td>Tea</td><td align=right>2</td></tr>"
            b"<tr><td>a<table><tr><td>b</td><td>c</td></tr></table></td><td>d</td></tr>"
            b"</table><p>After the table.</p>")
    assert text_of(tmp_path, page) == "Prices\nName Price\nTea 2\na\nb c\nd\n\nAfter the table."


def test_nested_lists_keep_their_bullets_without_indentation(tmp_path: Path) -> None:
    page = b"<ul><li>a<ul><li>b<ol><li>c</li><li>d</li></ol></li></ul></li></ul>"
    assert text_of(tmp_path, page) == "* a\n+ b\n1. c\n2. d"


@pytest.mark.parametrize("style", ["margin-top:1000000000em", "margin-bottom: 1000000000em",
                                   "padding-left:1000000000em", "PADDING-LEFT: 9e9em"])
def test_style_attributes_cannot_add_space(tmp_path: Path, style: str) -> None:
    # Each such attribute wrote up to 100,000 newlines or spaces (inscriptis's cap).
    started = time.perf_counter()
    page = f'<p style="{style}">first</p><div style="{style}">second<br>third</div>'
    text = text_of(tmp_path, page.encode())
    assert time.perf_counter() - started < 5
    assert text.split() == ["first", "second", "third"]
    assert len(text) < 40


def test_display_none_still_hides_and_pre_still_keeps_spaces(tmp_path: Path) -> None:
    page = (b'<p>shown</p><div style="color:red; DISPLAY : none">hidden</div>'
            b'<p style="white-space:pre">a   b</p>')
    assert text_of(tmp_path, page) == "shown\n\na   b"


def test_html_whose_text_is_larger_than_the_limit_is_rejected(tmp_path: Path) -> None:
    page = b"<ol>" + b"<li>" * 250  # 1,004 bytes; each empty item still gets its number
    with pytest.raises(IngestError) as info:
        text_of(tmp_path, page, Limits(max_file_bytes=1024))
    assert info.value.reason == ("HTML expands to more than 1 KB of text; split it or raise "
                                 "--max-file-mb")
    assert text_of(tmp_path, page).startswith("1.\n2.\n")


def test_safe_style_keeps_only_display_and_white_space() -> None:
    assert safe_style("margin-top: 9em;DISPLAY:none;color:red") == "DISPLAY:none"
    assert safe_style("white-space: pre;padding-left:4em") == "white-space: pre"
    assert safe_style("") == ""

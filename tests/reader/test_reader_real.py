"""The committed reader's real weights (reader/model) on small passages written here.

None of these passages come from SQuAD or the default corpus: a planted fact must be found, a
passage without it must get a no-answer margin, and a damaged artifact must be refused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from reader.model import READER_DIR, Reader, ReaderLoadError

pytestmark = pytest.mark.real

BRIDGE = ("The Zephyr Bridge over the Kell River was opened in 1987 by the mayor, Alice Brandt. "
          "It carries two railway tracks and a footpath.")
MARSH = ("The Kell River floods every spring. Its water feeds the northern marshes, where "
         "herons and otters live.")


@pytest.fixture(scope="module")
def reader() -> Reader:
    loaded = Reader()
    loaded.warm_up()
    return loaded


def test_the_reader_finds_a_planted_span(reader: Reader) -> None:
    who, = reader.read("Who opened the Zephyr Bridge?", [BRIDGE])
    assert "Alice Brandt" in who.text and len(who.text) < 40
    assert who.margin > 0
    assert BRIDGE[who.start:who.end] == who.text
    when, = reader.read("In what year was the Zephyr Bridge opened?", [BRIDGE])
    assert when.text == "1987" and when.margin > 0


def test_a_passage_without_the_answer_gets_no_answer(reader: Reader) -> None:
    spans = reader.read("Who opened the Zephyr Bridge?", [MARSH, BRIDGE])
    assert [s.passage for s in spans] == [1, 0]  # best margin first: the bridge passage
    marsh = spans[1]
    assert marsh.margin < 0


def test_a_long_passage_is_read_in_windows(reader: Reader) -> None:
    filler = " ".join(f"Sentence {i} says nothing about bridges at all." for i in range(60))
    (span,) = reader.read("Who opened the Zephyr Bridge?", [f"{filler} {BRIDGE}"])
    assert "Alice Brandt" in span.text and span.margin > 0


def test_a_damaged_reader_is_refused(tmp_path: Path) -> None:
    copy = tmp_path / "reader"
    shutil.copytree(READER_DIR, copy)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ReaderLoadError, match=r"does not match its sha256.*reader\.train"):
        Reader(copy).warm_up()

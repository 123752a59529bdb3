"""Split a Document's text into sentence spans and pack them into token-bounded Chunks.

Every chunk is built from character offsets, so `doc.text[c.start:c.end] == c.text` holds by
construction; the chunker never rewrites, cleans or re-joins text.

Work is linear in the text's length, whatever the text: pysbd reads at most WINDOW characters
at a time, so no sentence is longer than a window; the tokenizer counts sentences and parts of
chunks, never a whole long line; and a run without spaces is cut into chunks of at most a
window (bench.chunking times 1 to 40 MB of such text).

Does not read files (see ingest.loaders), does not load a tokenizer (the caller passes
`count_tokens`), and does not understand document structure beyond blank-line paragraphs,
bullet lines and short heading lines.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from functools import cache, lru_cache
from itertools import accumulate, pairwise
from typing import Any

import pysbd

from common.records import Chunk, Document, make_chunk_id

Span = tuple[int, int]

_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
_BULLET = re.compile(r"\s*(?:•|[*\-–](?:\s|$)|\d{1,3}[.)]\s)")
_MARKDOWN_HEADING = re.compile(r"\s{0,3}#{1,6}\s")
_CLOSING_PUNCTUATION = ".,;:!?…"
_WORD = re.compile(r"\S+")
_NON_SPACE = re.compile(r"\S")
_SPACE = re.compile(r"\s")
_LAST_SPACE = re.compile(r".*\s", re.DOTALL)

# The most characters pysbd reads at once (see _sentences_in_block), so also the longest
# sentence span, and the longest part of a run without spaces that one chunk holds (see
# _run_cuts). Most paragraphs of prose are shorter (15 of the 646 in the SQuAD articles are
# longer). Abbreviation-dense text costs pysbd about 5 microseconds per character in 1-2 KB
# windows and twice that in 6 KB ones.
WINDOW = 2000


class _CachedRe:
    """The `re` module as pysbd sees it, with a compile cache large enough for pysbd.

    pysbd builds a regex per abbreviation it meets and calls re.sub/re.search with the
    pattern string each time. That overflows `re`'s 512-entry cache, so the same patterns are
    compiled again and again: 10,189 compilations took 60% of sentence splitting on the
    benchmark corpus (bench.ingest). Same patterns, same results, compiled once.
    """

    def __getattr__(self, name: str) -> Any:
        return getattr(re, name)

    @staticmethod
    @lru_cache(maxsize=16384)
    def compile(pattern: Any, flags: int = 0) -> re.Pattern[str]:
        return re.compile(pattern, flags)

    def sub(self, pattern: Any, repl: Any, string: str, count: int = 0, flags: int = 0) -> str:
        return self.compile(pattern, flags).sub(repl, string, count)

    def search(self, pattern: Any, string: str, flags: int = 0) -> re.Match[str] | None:
        return self.compile(pattern, flags).search(string)

    def match(self, pattern: Any, string: str, flags: int = 0) -> re.Match[str] | None:
        return self.compile(pattern, flags).match(string)

    def findall(self, pattern: Any, string: str, flags: int = 0) -> list[Any]:
        return self.compile(pattern, flags).findall(string)

    def finditer(self, pattern: Any, string: str, flags: int = 0) -> Iterator[re.Match[str]]:
        return self.compile(pattern, flags).finditer(string)

    def split(self, pattern: Any, string: str, maxsplit: int = 0, flags: int = 0) -> list[Any]:
        return self.compile(pattern, flags).split(string, maxsplit)


@cache
def _segmenter() -> pysbd.Segmenter:
    cached = _CachedRe()
    for name, module in list(sys.modules.items()):
        if name.startswith("pysbd") and getattr(module, "re", None) is re:
            module.re = cached  # type: ignore[attr-defined]
    return pysbd.Segmenter(language="en", clean=False)


def _strip_span(text: str, start: int, end: int) -> Span:
    """Example: _strip_span(" ab ", 0, 4) -> (1, 3)"""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _is_heading(line: str, next_line: str) -> bool:
    """A short unpunctuated line above a much longer one, or a markdown heading.

    Hard-wrapped prose has lines of similar length, so it is not mistaken for headings.
    Example: _is_heading("Stabilizing Relations", "Xi likely is pleased with ... (long)") -> True
    """
    if _MARKDOWN_HEADING.match(line):
        return True
    line = line.strip()
    return (
        0 < len(line) <= 80
        and not line.endswith(tuple(_CLOSING_PUNCTUATION))
        and len(next_line.strip()) >= 2 * len(line)
    )


def _blocks(text: str, start: int, end: int) -> list[Span]:
    """Cut one paragraph at line breaks that start a bullet or end a heading.

    Example: _blocks("Intro\\n- a\\n- b", 0, 13) -> [(0, 5), (6, 9), (10, 13)]
    """
    blocks: list[Span] = []
    block_start = line_start = start
    while (newline := text.find("\n", line_start, end)) != -1:
        next_end = text.find("\n", newline + 1, end)
        next_line = text[newline + 1 : end if next_end == -1 else next_end]
        if _BULLET.match(next_line) or _is_heading(text[line_start:newline], next_line):
            blocks.append((block_start, newline))
            block_start = newline + 1
        line_start = newline + 1
    blocks.append((block_start, end))
    return blocks


def _sentences_in_block(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans of text[start:end], pysbd seeing at most WINDOW characters at a time.

    pysbd's work grows with the square of its input on abbreviation-dense text (60 KB took
    14 s), so a longer block is read in windows ending at whitespace. Each window keeps all
    but its last sentence, which may run on past the window and is read again at the start of
    the next one; so results match pysbd on the whole block unless a sentence is longer than
    half a window, which is then cut at the window's end. Every window advances by at least
    half a window, so the work is linear in the block's length.
    Example: _sentences_in_block("x Hi. Yo.", 2, 9) -> [(2, 5), (6, 9)]
    """
    spans: list[Span] = []
    while end - start > WINDOW:
        cut = _window_end(text, start)
        found = _pysbd_spans(text, start, cut)
        if len(found) > 1 and found[-1][0] - start >= WINDOW // 2:
            spans.extend(found[:-1])
            start = found[-1][0]
        else:
            spans.extend(found)
            following = _NON_SPACE.search(text, cut, end)
            if following is None:
                return spans
            start = following.start()
    spans.extend(_pysbd_spans(text, start, end))
    return spans


def _window_end(text: str, start: int) -> int:
    """Where a window of text from `start` ends: at the last whitespace in its second half, or
    WINDOW characters on when there is none (a run without spaces is cut anywhere).

    Example: with WINDOW 10, _window_end("aaaa bbbb cccc", 0) -> 9
    """
    space = _LAST_SPACE.match(text, start + WINDOW // 2, start + WINDOW)
    return space.end() - 1 if space else start + WINDOW


def _pysbd_spans(text: str, start: int, end: int) -> list[Span]:
    """Sentence spans of text[start:end] found by pysbd, located by searching forward.

    Example: _pysbd_spans("x Hi. Yo.", 2, 9) -> [(2, 5), (6, 9)]
    """
    # pysbd (clean=False) treats every "\n" as a sentence end, which shreds hard-wrapped
    # prose; the remaining newlines are soft wraps, so hand it spaces (same length, same
    # offsets) instead.
    block = text[start:end].replace("\n", " ")
    try:
        # Segmenter.segment would also locate each sentence with a regex compiled from its
        # text (3 s of the 3.2 s on the benchmark corpus); the sentences are located below.
        segmenter = _segmenter()
        sentences = segmenter.processor(block).process() if block.strip() else []
    except Exception:  # pysbd is a heuristic; a crash must not lose the text
        sentences = [block]
    spans: list[Span] = []
    pos = 0
    for sentence in sentences:
        piece = sentence.strip()
        if not piece:
            continue
        found = block.find(piece, pos)
        if found == -1:
            # pysbd swaps some characters for placeholders and may return them; whatever
            # it changed becomes one span below, rather than a guess.
            break
        # Keep text that pysbd skipped over inside the span, so nothing is ever uncovered.
        span_start = found if not block[pos:found].strip() else pos
        spans.append(_strip_span(text, start + span_start, start + found + len(piece)))
        pos = found + len(piece)
    if block[pos:].strip():
        spans.append(_strip_span(text, start + pos, end))
    return spans


def split_sentences(text: str) -> list[Span]:
    """Sentence spans (start, end) of text, never crossing a blank line, without edge spaces.

    Example: split_sentences("Hi there. Bye.\\n\\nNew") -> [(0, 9), (10, 14), (16, 19)]
    """
    spans: list[Span] = []
    para_start = 0
    bounds = [(m.start(), m.end()) for m in _PARAGRAPH_BREAK.finditer(text)]
    for para_end, next_start in [*bounds, (len(text), len(text))]:
        for block_start, block_end in _blocks(text, para_start, para_end):
            start, end = _strip_span(text, block_start, block_end)
            if start < end:
                spans.extend(_sentences_in_block(text, start, end))
        para_start = next_start
    return spans


def _split_long(
    text: str, span: Span, tokens: int, count_tokens: Callable[[str], int], limit: int
) -> list[tuple[Span, int]]:
    """Split one over-long sentence (`tokens` > limit) into word runs, and over-long words into
    char windows; each piece comes with its token count.

    Each run takes as many words as fit. Adding a word never lowers the count, so the furthest
    word that fits is found by doubling, then bisecting: a few tokenizer calls per run instead
    of one per word (a markdown table is one long "sentence" of short words: 236,000 calls per
    MB, 30 s per MB with the real tokenizer).
    Assumes count_tokens(s) <= len(s) for non-whitespace s (true for WordPiece), so a window
    of `limit` characters fits; it still shrinks a window that does not.
    Example: with one token per word and limit 2, "a b c" -> [(span of "a b", 2), (span of "c", 1)]
    """
    words = [(span[0] + m.start(), span[0] + m.end()) for m in _WORD.finditer(text[slice(*span)])]
    counted = {(span[0], len(words)): tokens}  # (start, j): tokens of text[start:] to words[j-1]

    def count(start: int, j: int) -> int:
        if (start, j) not in counted:
            counted[start, j] = count_tokens(text[start : words[j - 1][1]])
        return counted[start, j]

    def furthest(start: int, i: int) -> int:
        """The largest j such that text[start:] up to words[j - 1] fits; i when none does."""
        good, bad, step = i, len(words) + 1, 1
        while good + step < bad:
            if count(start, good + step) <= limit:
                good, step = good + step, step * 2
            else:
                bad = good + step
        while bad - good > 1:
            mid = (good + bad) // 2
            good, bad = (mid, bad) if count(start, mid) <= limit else (good, mid)
        return good

    pieces: list[tuple[Span, int]] = []
    i, open_window = 0, False  # open_window: pieces[-1] is a window that may take more words
    while i < len(words):
        start = pieces[-1][0][0] if open_window else words[i][0]
        j = furthest(start, i)
        if j > i:
            if open_window:
                pieces.pop()
            pieces.append(((start, words[j - 1][1]), counted[start, j]))
            i, open_window = j, False
        elif open_window:
            open_window = False  # words[i] starts a run of its own
        else:
            pos, word_end = words[i]
            while pos < word_end:
                size = min(limit, word_end - pos)
                while (n := count_tokens(text[pos : pos + size])) > limit and size > 1:
                    size -= 1
                pieces.append(((pos, pos + size), n))
                pos += size
            i, open_window = i + 1, True
    return pieces


def _join_fragments(text: str, spans: list[Span]) -> list[Span]:
    """Join touching sentence spans that hold no whitespace, up to WINDOW characters.

    pysbd cuts a run without spaces at some punctuation ("a.com/x?b=c"), and a window cuts it
    anywhere. Counted separately, such fragments are counted again together at each step of
    the packing, and an overlap of a few "tokens" could step back over almost a whole chunk:
    1 MB of URLs made 33,268 chunks from 4.3 million tokenizer calls. Spans with spaces stay
    as they are ("France." then "[citation needed] A diaspora ...").
    Example: _join_fragments("a?b?c d", [(0, 2), (2, 4), (4, 7)]) -> [(0, 4), (4, 7)]
    """
    joined: list[Span] = []
    previous_bare = False
    for span in spans:
        start, end = span
        bare = _SPACE.search(text, start, end) is None
        if bare and previous_bare and joined[-1][1] == start and end - joined[-1][0] <= WINDOW:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append(span)
        previous_bare = bare
    return joined


def _run_cuts(units: list[Span]) -> list[int]:
    """How many cuts come before each unit, where every run of touching units is cut into
    segments of at most WINDOW characters.

    A run without spaces may count as a token or so however long it is (one [UNK], one
    "word"); packed while it fitted, a 20 MB line made one 20 MB chunk. Runs in prose (a
    sentence, then "[citation needed]" without a space) are far shorter than a window.
    Example: with WINDOW 4, _run_cuts([(0, 3), (3, 6), (7, 9)]) -> [0, 1, 1]
    """
    cuts = [0] * len(units)
    segment_start = units[0][0] if units else 0
    for i in range(1, len(units)):
        touches = units[i - 1][1] >= units[i][0]
        cut = touches and units[i][1] - segment_start > WINDOW
        if cut or not touches:
            segment_start = units[i][0]
        cuts[i] = cuts[i - 1] + cut
    return cuts


def chunk_document(
    doc: Document,
    count_tokens: Callable[[str], int],
    max_tokens: int = 200,
    overlap_tokens: int = 40,
) -> list[Chunk]:
    """Pack consecutive sentences into chunks of at most max_tokens, overlapping by sentences.

    A chunk closes early at a paragraph break once it holds half of max_tokens. The next chunk
    repeats the previous chunk's trailing sentences worth at most overlap_tokens.
    `count_tokens` must be additive over whitespace: count("a b") == count("a") + count("b"),
    as for WordPiece (which splits on whitespace first) and word counts. Each sentence is
    counted once (bench.ingest: 11,064 tokenizer calls for 869 chunks became ~3,700). No chunk
    holds more than WINDOW characters of a run without spaces (see _run_cuts).
    Example: chunk_document(doc_with_text("One. Two."), lambda s: len(s.split()), 1, 0)
        -> chunks with text "One." and "Two."
    """
    if max_tokens <= 0:
        raise ValueError("max_tokens must be positive")
    if overlap_tokens < 0:
        raise ValueError("overlap_tokens must not be negative")
    if overlap_tokens >= max_tokens:
        raise ValueError("overlap_tokens must be less than max_tokens")

    text = doc.text
    units: list[Span] = []  # sentences, or pieces of a sentence longer than max_tokens
    unit_tokens: list[int] = []
    for span in _join_fragments(text, split_sentences(text)):
        count = count_tokens(text[slice(*span)])
        if count <= max_tokens:
            units.append(span)
            unit_tokens.append(count)
        else:
            for piece, piece_tokens in _split_long(text, span, count, count_tokens, max_tokens):
                units.append(piece)
                unit_tokens.append(piece_tokens)

    # Each unit is counted once; a run of units separated by whitespace counts as the sum of
    # its units (see the docstring), so packing needs no further tokenizer calls. Units that
    # touch (a long word cut into windows) are counted together, as the model would see them.
    prefix = list(accumulate(unit_tokens, initial=0))
    touching = list(accumulate((int(a[1] >= b[0]) for a, b in pairwise(units)), initial=0))
    cuts = _run_cuts(units)

    def tokens(first: int, last: int) -> int:
        if touching[last] == touching[first]:
            return prefix[last + 1] - prefix[first]
        if cuts[last] != cuts[first]:
            return max_tokens + 1  # never across a cut in a run of touching units
        return count_tokens(text[units[first][0] : units[last][1]])

    def paragraph_ends(i: int) -> bool:
        return i + 1 < len(units) and text.count("\n", units[i][1], units[i + 1][0]) >= 2

    chunks: list[Chunk] = []
    first, new = 0, 0  # next chunk starts at units[first]; units[first:new] are its overlap
    while new < len(units):
        last = new  # units[first..new] fit: `new` fits alone, or overlap was chosen to fit
        while last + 1 < len(units) and tokens(first, last + 1) <= max_tokens:
            if paragraph_ends(last) and 2 * tokens(first, last) >= max_tokens:
                break
            last += 1
        start, end = units[first][0], units[last][1]
        chunk_text = text[start:end]
        chunk_id = make_chunk_id(doc.doc_id, start, end, chunk_text)
        chunks.append(Chunk(doc.doc_id, chunk_id, chunk_text, start, end, doc.title))
        new = last + 1
        # Overlap: step back over whole trailing sentences, but never to `first`, so every
        # chunk advances, and never so far that the next new sentence no longer fits.
        overlap_start = new
        while (
            new < len(units)
            and overlap_start - 1 > first
            and tokens(overlap_start - 1, new - 1) <= overlap_tokens
            and tokens(overlap_start - 1, new) <= max_tokens
        ):
            overlap_start -= 1
        first = overlap_start
    return chunks

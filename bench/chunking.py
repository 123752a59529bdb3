"""bench.chunking: seconds per MB of chunking hostile text at growing sizes, to show it is linear.

Four generated texts, each one block without blank lines (the worst case: nothing cuts it
before the chunker's own windows): abbreviation-dense prose, one line repeated, one line
without spaces (base64) and a markdown table. Each (text, size) is chunked in a fresh child
process, so its peak memory is its own, with the default chunk settings of ingest.build and
either the fake word counter of the fast tests or all-MiniLM-L6-v2's own tokenizer.

Linear time shows as a constant time per MB: `vs_smallest` is each size's seconds per MB over
the smallest size's (1.0 is linear; 10 at ten times the size would be quadratic).
A MB here is 10^6 characters; every generated text is ASCII, so also 10^6 bytes.

Does not read files, embed or build an index; only ingest.chunker.chunk_document is timed.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import base64  # noqa: E402
import random  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from itertools import product  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import bench_parser, median, run_child, write_result  # noqa: E402

EXAMPLES = """\
  python -m bench.chunking                                  # 1, 10 and 40 MB, word counter
  python -m bench.chunking --sizes 1,2 --kinds table        # a quick look
  python -m bench.chunking --tokenizer real --repeats 3     # the embedder's own tokenizer
"""
MB = 1_000_000
DEFAULT_SIZES = (1.0, 10.0, 40.0)

ABBREVIATIONS = (
    "Dr. A. B. Smith et al. vs. U.S. Co. Inc. e.g. i.e. cf. No. {n} St. James Ave. approx. "
    "10 a.m. Jan. {n} Mr. J. R. R. Doe Jr. of Acme Corp. Ltd. wrote to Prof. K. L. Wong Ph.D. "
    "at the Dept. of Econ. Univ. of Calif. re: the U.K. vs. E.U. dispute, i.e. Fig. {n}. "
)
REPEATED_LINE = "All work and no play makes Jack a dull boy.\n"


def abbreviations(size: int) -> str:
    """Prose of abbreviations and initials, one paragraph (what made pysbd quadratic).

    Example: abbreviations(12) -> "Dr. A. B. Sm"
    """
    parts, total, n = [], 0, 0
    while total < size:
        parts.append(ABBREVIATIONS.format(n=n))
        total += len(parts[-1])
        n += 1
    return "".join(parts)[:size]


def repeated(size: int) -> str:
    """One short line repeated, with no blank line. Example: repeated(8) -> "All work" """
    return (REPEATED_LINE * (size // len(REPEATED_LINE) + 1))[:size]


def no_spaces(size: int) -> str:
    """One line without whitespace: base64 of seeded random bytes (many tokens, no [UNK]).

    Example: len(no_spaces(10)) -> 10, and no_spaces(10).split() has one element
    """
    raw = random.Random(0).randbytes(size * 3 // 4 + 3)
    return base64.b64encode(raw).decode("ascii")[:size]


def table(size: int) -> str:
    """A markdown table with a header row and as many numbered rows as fit.

    Example: table(200).splitlines()[2] -> "| 0 | item-0 | 0.00 | in stock |"
    """
    lines = ["| id | name | price | note |", "|---|---|---|---|"]
    total, n = sum(len(line) + 1 for line in lines), 0
    while total < size:
        lines.append(f"| {n} | item-{n} | {n * 0.37:.2f} | {('in stock', 'sold out')[n % 2]} |")
        total += len(lines[-1]) + 1
        n += 1
    return "\n".join(lines)[:size]


KINDS: dict[str, Callable[[int], str]] = {
    "abbreviations": abbreviations, "repeated": repeated, "no_spaces": no_spaces, "table": table,
}
TOKENIZERS = ("words", "real")


def counter(tokenizer: str) -> Callable[[str], int]:
    """The token counter: "words" (whitespace words, as tests.fakes) or "real" (the embedder's)."""
    if tokenizer == "words":
        return lambda text: len(text.split())
    from transformers.utils import logging

    from index.embedder import MiniLMEmbedder

    logging.set_verbosity_error()  # "sequence length is longer than 512": counted, not encoded
    return MiniLMEmbedder().count_tokens


def chunk_generated(kind: str, size_mb: float, tokenizer: str = "words") -> dict[str, Any]:
    """Generate `size_mb` MB of `kind`, then time one chunk_document of it (run in a child).

    Also reports the tokenizer's calls and its longest input, and the largest chunk in
    characters and in tokens (counted after the clock stops).
    """
    from common.records import Document
    from ingest.build import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS
    from ingest.chunker import chunk_document, split_sentences

    text = KINDS[kind](int(size_mb * MB))
    count = counter(tokenizer)
    calls = {"n": 0, "longest": 0}

    def counting(piece: str) -> int:
        calls["n"] += 1
        calls["longest"] = max(calls["longest"], len(piece))
        return count(piece)

    split_sentences(ABBREVIATIONS * 3)  # pysbd compiles its patterns on first use
    count("warm up")
    doc = Document(f"{kind}.txt", kind, text, f"{kind}.txt", "0")
    begun = time.perf_counter()
    chunks = chunk_document(doc, counting, DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS)
    seconds = time.perf_counter() - begun
    return {
        "seconds": seconds, "characters": len(text), "chunks": len(chunks),
        "tokenizer_calls": calls["n"], "longest_tokenizer_input": calls["longest"],
        "max_chunk_chars": max((len(c.text) for c in chunks), default=0),
        "max_chunk_tokens": max((count(c.text) for c in chunks), default=0),
        "max_tokens": DEFAULT_MAX_TOKENS,
    }


def measure(kinds: list[str], sizes: list[float], tokenizer: str, repeats: int
            ) -> dict[str, Any]:
    """Every (kind, size), `repeats` times each in a fresh child; medians per size."""
    from tqdm import tqdm

    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
    for kind, size in tqdm(list(product(kinds, sizes)), desc="chunking", unit="size"):
        runs = [run_child("bench.chunking:chunk_generated",
                          {"kind": kind, "size_mb": size, "tokenizer": tokenizer})
                for _ in range(repeats)]
        seconds = median([r["seconds"] for r in runs])
        results[kind].append({**runs[0], "size_mb": size, "seconds": seconds,
                              "seconds_all": [r["seconds"] for r in runs],
                              "mb_per_s": size / seconds if seconds else None,
                              "seconds_per_mb": seconds / size,
                              "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)})
    for rows in results.values():
        smallest = rows[0]["seconds_per_mb"]
        for row in rows:
            row["vs_smallest"] = row["seconds_per_mb"] / smallest if smallest else None
    return {"tokenizer": tokenizer, "sizes_mb": sizes, "repeats": repeats, "kinds": results}


def parse_sizes(value: str) -> list[float]:
    """argparse type for --sizes. Example: parse_sizes("1,10") -> [1.0, 10.0]"""
    try:
        sizes = [float(part) for part in value.split(",")]
    except ValueError:
        raise ValueError(f"{value!r} is not a comma-separated list of numbers") from None
    if not all(size > 0 for size in sizes):
        raise ValueError(f"{value!r}: every size must be positive")
    return sorted(sizes)


parse_sizes.__name__ = "sizes"  # argparse: "invalid sizes value"


def parse_kinds(value: str) -> list[str]:
    """argparse type for --kinds. Example: parse_kinds("table,repeated") -> ["table", "repeated"]"""
    kinds = value.split(",")
    unknown = [kind for kind in kinds if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown kind {unknown[0]!r}; choose from {', '.join(KINDS)}")
    return kinds


parse_kinds.__name__ = "kinds"


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("chunking", "Seconds and MB/s of chunk_document on generated hostile "
                          "texts at growing sizes: time per MB stays flat when chunking is "
                          "linear.", EXAMPLES, repeats=1)
    parser.add_argument("--sizes", type=parse_sizes, default=list(DEFAULT_SIZES),
                        metavar="MB,MB,...", help="text sizes in MB (default 1,10,40)")
    parser.add_argument("--kinds", type=parse_kinds, default=list(KINDS), metavar="KIND,...",
                        help=f"which texts (default all: {','.join(KINDS)})")
    parser.add_argument("--tokenizer", choices=TOKENIZERS, default="words",
                        help="count tokens as whitespace words (default; no model needed) or "
                             "with all-MiniLM-L6-v2's tokenizer (real)")
    args = parser.parse_args(argv)
    result = measure(args.kinds, args.sizes, args.tokenizer, args.repeats)
    write_result(args.out, {"bench": "chunking", **result})
    print(f"tokenizer {args.tokenizer}, median of {args.repeats} run(s) per size")
    print(f"  {'kind':<14}{'MB':>7}{'seconds':>10}{'MB/s':>9}{'s/MB vs smallest':>18}"
          f"{'chunks':>9}{'peak MiB':>10}")
    for kind, rows in result["kinds"].items():
        for row in rows:
            print(f"  {kind:<14}{row['size_mb']:>7g}{row['seconds']:>10.2f}"
                  f"{row['mb_per_s']:>9.3f}{row['vs_smallest']:>18.2f}{row['chunks']:>9}"
                  f"{row['peak_rss_mb']:>10.0f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

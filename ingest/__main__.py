"""python -m ingest: index documents for the chat (see --help)."""

from __future__ import annotations

from ingest.cli import Parser, fail, prepare_environment

prepare_environment()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402

EXAMPLES = """\
examples:
  python -m ingest data/corpus                  index the default corpus into var/index
  python -m ingest ~/papers notes.md --index /srv/rag-index
  python -m ingest docs/ --max-tokens 160 --overlap 32

Supported files: .txt .md .markdown .html .htm .pdf (text files must be UTF-8).
Each run builds a new index generation and switches to it atomically; a running chat keeps
answering from the previous one until it reloads.

exit codes: 0 all files indexed, 3 indexed but some files were rejected (listed above the
summary), 1 nothing could be indexed, 2 bad arguments
"""


def main(argv: list[str] | None = None) -> int:
    from index import default_index_root

    parser = Parser(prog="python -m ingest", description="Chunk, embed and index documents.",
                    epilog=EXAMPLES)
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="files or directories (searched recursively)")
    parser.add_argument("--index", type=Path, default=default_index_root(), metavar="DIR",
                        help="index directory (default: %(default)s, or $RAG_INDEX_DIR)")
    parser.add_argument("--max-tokens", type=int, default=None, metavar="N",
                        help="largest chunk, in embedder tokens (default: 128)")
    parser.add_argument("--overlap", type=int, default=None, metavar="N",
                        help="tokens repeated between neighbouring chunks (default: 32)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    args = parser.parse_args(argv)

    from index.build import (
        DEFAULT_MAX_TOKENS,
        DEFAULT_OVERLAP_TOKENS,
        NothingToIndex,
        build_index,
    )
    from index.embedder import MiniLMEmbedder

    max_tokens = DEFAULT_MAX_TOKENS if args.max_tokens is None else args.max_tokens
    overlap = DEFAULT_OVERLAP_TOKENS if args.overlap is None else args.overlap
    embedder = MiniLMEmbedder()
    if not 0 < max_tokens <= embedder.max_tokens:
        parser.error(f"--max-tokens must be between 1 and {embedder.max_tokens}")
    if not 0 <= overlap < max_tokens:
        parser.error("--overlap must be at least 0 and less than --max-tokens")
    try:
        report = build_index(args.paths, args.index, embedder, max_tokens=max_tokens,
                             overlap_tokens=overlap, progress=not args.quiet)
    except NothingToIndex as err:
        fail(parser.prog, str(err))
    for error in report.errors:
        print(f"rejected: {error}", file=sys.stderr)
    print(f"indexed {len(report.documents)} documents ({report.chunks} chunks) into "
          f"{report.generation} in {report.seconds:.1f} s; {len(report.errors)} rejected")
    return 3 if report.errors else 0


if __name__ == "__main__":
    sys.exit(main())

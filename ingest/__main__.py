"""python -m ingest: index documents for the chat (see --help)."""

from __future__ import annotations

from common.cli import Parser, fail, prepare_environment

prepare_environment()

import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING  # noqa: E402

if TYPE_CHECKING:
    from index.embedder import Embedder

EXIT_PARTIAL = 3
EXIT_BUSY = 4

EXAMPLES = """\
examples:
  python -m ingest data/corpus                  index the default corpus into var/index
  python -m ingest data/corpus --dry-run        show what would be added, changed, removed
  python -m ingest data/corpus --sync           also drop indexed documents no longer there
  python -m ingest ~/papers notes.md --index /srv/rag-index
  python -m ingest docs/ --max-tokens 160 --overlap 32 --max-file-mb 200
  python -m ingest data/corpus --ray            embed in 2 Ray actors (pip install ray[data])

Supported files: .txt .md .markdown .html .htm .pdf (text files must be UTF-8).
Only new and changed files are embedded: a file whose sha256 matches the index keeps its chunks
and vectors, so re-running on an unchanged corpus takes well under a second. Indexed documents
missing from the inputs are kept unless --sync is given. Each run that changes something writes
a new index generation and switches to it atomically; a running chat keeps answering from the
previous one until it reloads. Only one ingest runs on an index at a time.

exit codes: 0 all files indexed, 3 indexed but some files were rejected (listed above the
summary), 1 nothing could be indexed, 2 bad arguments, 4 another ingest is running on the index
"""


def main(argv: list[str] | None = None, embedder: Embedder | None = None) -> int:
    """Run the command; `embedder` replaces MiniLM (tests pass a fake)."""
    from common.paths import default_index_root
    from ingest.build import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS  # light: no numpy, torch
    from ingest.loaders import DEFAULT_MAX_FILE_MB, Limits
    from ingest.ray_embed import DEFAULT_RAY_ACTORS, RayMissing, check_ray  # ray loads later

    parser = Parser(prog="python -m ingest", description="Chunk, embed and index documents.",
                    epilog=EXAMPLES)
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH",
                        help="files or directories (searched recursively)")
    parser.add_argument("--index", type=Path, default=default_index_root(), metavar="DIR",
                        help="index directory (default: %(default)s, or $RAG_INDEX_DIR)")
    parser.add_argument("--sync", action="store_true",
                        help="remove indexed documents that are not among the inputs")
    parser.add_argument("--dry-run", action="store_true",
                        help="print what would be added, changed, removed; write nothing")
    parser.add_argument("--rebuild", action="store_true",
                        help="build afresh from the inputs alone: embed every one again and "
                             "drop indexed documents that are not among them")
    parser.add_argument("--max-tokens", type=int, default=None, metavar="N",
                        help=f"largest chunk, in embedder tokens (default: {DEFAULT_MAX_TOKENS})")
    parser.add_argument("--overlap", type=int, default=None, metavar="N",
                        help="tokens repeated between neighbouring chunks "
                             f"(default: {DEFAULT_OVERLAP_TOKENS})")
    parser.add_argument("--max-file-mb", type=float, default=None, metavar="MB",
                        help="reject larger files, and PDFs whose text is larger "
                             f"(default: {DEFAULT_MAX_FILE_MB:g})")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--ray", action="store_true",
                        help="embed on Ray Data, in a pool of embedder actors: a local Ray, or "
                             "the cluster $RAY_ADDRESS names; the same index as without it")
    parser.add_argument("--ray-actors", type=int, default=None, metavar="N",
                        help=f"embedder actors for --ray, which it implies (default: "
                             f"{DEFAULT_RAY_ACTORS})")
    args = parser.parse_args(argv)

    # Only the embedder's class is needed to get going: torch loads later, and only if some
    # chunk has to be embedded.
    from index.embedder import MiniLMEmbedder

    embedder = embedder or MiniLMEmbedder()
    max_tokens = DEFAULT_MAX_TOKENS if args.max_tokens is None else args.max_tokens
    overlap = DEFAULT_OVERLAP_TOKENS if args.overlap is None else args.overlap
    max_mb = DEFAULT_MAX_FILE_MB if args.max_file_mb is None else args.max_file_mb
    if not 0 < max_tokens <= embedder.max_tokens:
        parser.error(f"--max-tokens must be between 1 and {embedder.max_tokens}")
    if not 0 <= overlap < max_tokens:
        parser.error("--overlap must be at least 0 and less than --max-tokens")
    if not max_mb > 0:
        parser.error("--max-file-mb must be more than 0")
    ray_actors = None
    if args.ray or args.ray_actors is not None:
        ray_actors = DEFAULT_RAY_ACTORS if args.ray_actors is None else args.ray_actors
        if ray_actors < 1:
            parser.error("--ray-actors must be at least 1")
        try:
            check_ray()
        except RayMissing as err:
            fail(parser.prog, str(err))
    limits = Limits.from_mb(max_mb)

    from index.manifest import IndexLoadError
    from index.store import IndexBusy
    from ingest.names import shown
    from ingest.operations import plan_ingest, run_ingest
    from ingest.plan import REJECTED, IngestRefused

    try:
        if args.dry_run:
            plan = plan_ingest(args.paths, args.index, args.sync, embedder=embedder,
                               max_tokens=max_tokens, overlap_tokens=overlap,
                               rebuild=args.rebuild, limits=limits, bars=not args.quiet)
            for action in plan.files:
                print(action.line())
            if plan.rebuild:
                print(f"every document is re-embedded: {plan.rebuild}")
            print(f"dry run: {plan.summary()}; nothing was written")
            if not plan.readable:
                return 1
            return EXIT_PARTIAL if plan.rejected() else 0
        report = run_ingest(args.paths, args.index, embedder, args.sync, max_tokens=max_tokens,
                            overlap_tokens=overlap, rebuild=args.rebuild, limits=limits,
                            bars=not args.quiet, ray_actors=ray_actors)
    # Names in these messages come from the disk or the command line: shown() keeps each one
    # line, whatever control characters they hold.
    except IndexBusy as err:
        fail(parser.prog, shown(str(err)), EXIT_BUSY)
    except (IngestRefused, IndexLoadError) as err:
        fail(parser.prog, shown(str(err)))
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        fail(parser.prog, shown(f"could not write the index at {args.index}: "
                                f"{err.strerror or err}{where}; nothing was published, the live "
                                "index is unchanged"))
    for action in report.files:
        if action.action == REJECTED:
            print(f"rejected: {shown(action.path)}: {shown(action.reason)}", file=sys.stderr)
        elif action.action not in ("unchanged", "kept"):
            print(action.line())
    print(report.summary())
    if report.search_line():
        print(report.search_line())
    return EXIT_PARTIAL if report.errors else 0


if __name__ == "__main__":
    from common.logs import setup_logging

    setup_logging("WARNING")  # the output says what happened; RAG_LOG_LEVEL=INFO for more
    sys.exit(main())

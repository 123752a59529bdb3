"""python -m qa: ask the indexed documents one question (see --help)."""

from __future__ import annotations

from ingest.cli import Parser, fail, prepare_environment

prepare_environment()

import json  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import asdict  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

if TYPE_CHECKING:
    from qa.answer import Answer

EXAMPLES = """\
examples:
  python -m qa "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"
  python -m qa "When was the Central National Security Commission established?" --json
  python -m qa "What did Xi tell Scholz?" --index /srv/rag-index

The first run builds the index of data/corpus if there is none, and converts the model once
into var/models (about 30 s); later runs start in a few seconds.
"""


def main(argv: list[str] | None = None) -> int:
    from index import DEFAULT_CORPUS, default_index_root
    from qa.config import default_model_cache

    parser = Parser(prog="python -m qa", description="Answer a question from the documents, "
                    "with cited sources.", epilog=EXAMPLES)
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument("--index", type=Path, default=default_index_root(), metavar="DIR",
                        help="index directory (default: %(default)s, or $RAG_INDEX_DIR)")
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS, metavar="DIR",
                        help="documents to index when no index exists (default: %(default)s)")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = parser.parse_args(argv)
    if not args.question.strip():
        parser.error("the question is empty")

    from index.manifest import IndexLoadError
    from qa.answer import Answer
    from qa.service import load_pipeline

    try:
        pipeline = load_pipeline(args.index, args.corpus, default_model_cache())
    except (IndexLoadError, RuntimeError) as err:
        fail(parser.prog, str(err))
    answer = None
    for event in pipeline.stream(args.question):
        if isinstance(event, Answer):
            answer = event
    assert answer is not None
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False, indent=2))
    else:
        print(format_answer(answer, pipeline.index.document_text))
    return 0


def answer_json(answer: Answer) -> dict[str, Any]:
    return asdict(answer)


def format_answer(answer: Answer, document_text: Callable[[str], str]) -> str:
    """The answer, then one line per citation with document, span and supporting text."""
    lines = [answer.text, ""]
    if answer.citations:
        lines.append("Sources:")
    for c in answer.citations:
        supporting = document_text(c.chunk.doc_id)[c.start:c.end]
        lines.append(f"  [{c.marker}] {c.chunk.doc_id}, characters {c.start}-{c.end}: "
                     f"“{' '.join(supporting.split())}”")
    t = answer.timings
    ttft = f"{t.ttft_s:.2f} s" if t.ttft_s is not None else "no model call"
    lines.append(f"(retrieval {t.retrieval_s:.2f} s, first token {ttft}, total {t.total_s:.2f} s)")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())

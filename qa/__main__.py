"""python -m qa: ask the indexed documents one question (see --help)."""

from __future__ import annotations

from common.cli import Parser, fail, prepare_environment

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
  RAG_TOP_K=3 python -m qa "What did Xi tell Scholz?" --settings my-settings.toml
      answering settings from a file, one overridden by the environment (README, Configuration)

The first run builds the index of data/corpus if there is none, and converts the model once
into var/models (about 30 s); later runs start in a few seconds.
"""


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m qa", description="Answer a question from the documents, "
                    "with cited sources.", epilog=EXAMPLES)
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument("--index", type=Path, default=None, metavar="DIR",
                        help="index directory (default: $RAG_INDEX_DIR, else [paths] index_dir "
                        "of the settings file, else var/index)")
    parser.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                        help="documents to index when no index exists (default: "
                        "$RAG_CORPUS_DIR, else [paths] corpus_dir, else data/corpus)")
    parser.add_argument("--settings", type=Path, default=None, metavar="FILE",
                        help="settings file (default: $RAG_SETTINGS, else settings.toml in the "
                        "project if there is one); RAG_<FIELD> variables override it")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    args = parser.parse_args(argv)
    if not args.question.strip():
        parser.error("the question is empty")

    from common.paths import default_corpus_dir, default_index_root
    from common.settings_file import SettingsError
    from qa.config import default_model_cache, load_settings

    try:
        settings = load_settings(named=args.settings)
        index_root = args.index or default_index_root(args.settings)
        corpus = args.corpus or default_corpus_dir(args.settings)
        model_cache = default_model_cache(args.settings)
    except SettingsError as err:
        fail(parser.prog, str(err), 2)

    from index.manifest import IndexLoadError
    from qa.answer import Answer
    from qa.generator import GeneratorUnavailable
    from qa.service import load_pipeline

    try:
        pipeline = load_pipeline(index_root, corpus, model_cache, settings)
    except (IndexLoadError, RuntimeError) as err:
        fail(parser.prog, str(err))
    answer = None
    try:
        for event in pipeline.stream(args.question):
            if isinstance(event, Answer):
                answer = event
    except GeneratorUnavailable as err:  # the model server (generator_url) is down or slow
        fail(parser.prog, str(err))
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
    from common.logs import setup_logging

    setup_logging("WARNING")  # the output says what happened; RAG_LOG_LEVEL=INFO for more
    sys.exit(main())

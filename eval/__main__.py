"""python -m eval: the QA benchmark (see --help)."""

from __future__ import annotations

from common.cli import Parser, fail, prepare_environment

prepare_environment()

import sys  # noqa: E402
from datetime import UTC, datetime  # noqa: E402
from pathlib import Path  # noqa: E402

EXAMPLES = """\
examples:
  python -m eval --qa eval/qa.jsonl --corpus data/corpus --out var/eval/default
  python -m eval --qa eval/qa.jsonl --corpus data/corpus --out var/eval/retr --retrieval-only
  python -m eval.squad --out var/squad-heldout --role heldout --limit 400 --seed 1
  python -m eval --qa var/squad-heldout/qa.jsonl --corpus var/squad-heldout/corpus \
                 --out var/eval/squad-heldout
      400 SQuAD questions from the 8 articles the reader never saw in training
  python -m eval --qa eval/qa.jsonl --corpus data/corpus --out var/eval/no-reader --no-reader
      the pipeline as it was before the reader (sentence scoring and its own calibration)
  python -m eval.compare var/eval/before/metrics.json var/eval/after/metrics.json

Writes OUT/metrics.json, OUT/per_question.jsonl, OUT/report.md, OUT/plot.png and OUT/run.json.
The index of the corpus is built once under var/eval-index and reused while the corpus is
unchanged. The question file is validated first; any error stops the run before it starts.
"""


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="python -m eval", description="Score retrieval, citations, answers and "
                    "refusals on a question file.", epilog=EXAMPLES)
    parser.add_argument("--qa", type=Path, required=True, metavar="FILE",
                        help="question file (JSON Lines)")
    parser.add_argument("--corpus", type=Path, required=True, metavar="DIR",
                        help="the documents the questions are about")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR",
                        help="where to write the report")
    parser.add_argument("--k", type=int, default=10, help="retrieval depth scored (default 10)")
    parser.add_argument("--retrieval-only", action="store_true",
                        help="score retrieval only; no model is loaded")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N questions")
    parser.add_argument("--no-reader", action="store_true",
                        help="answer without the reader: the best-scoring sentence is the "
                        "evidence, refused by qa/calibration-no-reader.json")
    args = parser.parse_args(argv)
    if args.k < 10:
        parser.error("--k must be at least 10 (recall@10 is reported)")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    if not args.qa.is_file():
        fail(parser.prog, f"{args.qa}: no such question file", 2)
    if not args.corpus.is_dir():
        fail(parser.prog, f"{args.corpus}: no such corpus directory", 2)

    from eval.questions import QuestionFileError, load_questions
    from eval.report import write_report
    from eval.run import ensure_eval_index, load_corpus, run_questions
    from index.embedder import MiniLMEmbedder
    from index.vector_store import open_store, recorded_store
    from qa.abstain import NO_READER_CALIBRATION
    from qa.config import Settings, default_model_cache
    from qa.generator import SmolLM2Generator
    from qa.pipeline import Pipeline
    from qa.service import load_reader

    documents, rejected = load_corpus(args.corpus)
    for line in rejected:
        print(f"rejected: {line}", file=sys.stderr)
    try:
        questions = load_questions(args.qa, {d.doc_id: d.text for d in documents})
    except QuestionFileError as err:
        fail(parser.prog, str(err), 2)
    questions = questions[: args.limit] if args.limit else questions

    embedder = MiniLMEmbedder()
    root = ensure_eval_index(args.corpus, documents, embedder)
    index = open_store(root, embedder.model_id, embedder.dimension)
    pipeline = None
    if not args.retrieval_only:
        settings = Settings(reader=None, calibration=NO_READER_CALIBRATION) if (
            args.no_reader) else Settings()
        generator = SmolLM2Generator(default_model_cache(), settings.max_new_tokens,
                                     settings.fp16_decode)
        generator.warm_up()
        pipeline = Pipeline(index, embedder, generator, settings, load_reader(settings))
    metrics, rows, curve = run_questions(questions, index, embedder, pipeline, k=args.k)
    run_info = {"questions": str(args.qa), "corpus": str(args.corpus), "k": args.k,
                "date": datetime.now(UTC).isoformat(timespec="seconds"),
                "retrieval_only": args.retrieval_only, "index": str(index.generation),
                "reader": None if args.retrieval_only or args.no_reader else str(
                    Settings().reader),
                "n_chunks": index.count(),
                "vector_store": recorded_store(index.manifest) or "faiss",
                "command": "python -m eval " + " ".join(sys.argv[1:] if argv is None else argv)}
    write_report(args.out, metrics, rows, run_info, recall_curve=curve)
    width = max(map(len, metrics))
    for key, value in metrics.items():
        shown = "—" if value is None else (f"{value:.3f}" if isinstance(value, float) else value)
        print(f"{key:<{width}}  {shown}")
    print(f"report: {args.out / 'report.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sweep the support check's min_new_share on recorded model answers (qa/config.py).

    python -m eval.support --set eval/qa.jsonl data/corpus \\
                           --set var/squad-tune/qa.jsonl var/squad-tune/corpus

Each answerable question is answered once by the chat's pipeline, with the share check at its
most permissive (any share above zero, the rule before the threshold). Every model sentence that
passes the other checks is recorded with the share it carries of what the evidence adds to the
question (qa.evidence.new_information_share). For each threshold the answer is then rebuilt as
the pipeline would build it: the recorded sentences at or above the threshold, else the evidence
quoted, and scored with eval.metrics (answer hit, citation precision and recall, quotes). The
model runs once per question, whatever the number of thresholds.

Does not change qa/config.py: pick the threshold from the table (the smallest at which every
set stops improving) and write it there with the figures. Does not score refusals (the
threshold never changes whether a question is refused).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.cli import Parser, prepare_environment

EXAMPLES = """examples:
  python -m eval.support --set eval/qa.jsonl data/corpus \\
                         --set var/squad-tune/qa.jsonl var/squad-tune/corpus
  python -m eval.support --set eval/qa.jsonl data/corpus --shares 0.3 0.5 --limit 20
"""
DEFAULT_SHARES = (0.0, 0.2, 0.3, 0.4, 0.5, 0.6, 1.0)
# "Any share above zero": the permissive rule the answers are recorded under.
_ANY_SHARE = 1e-9


@dataclass(frozen=True)
class Recorded:
    """One answerable question: what the pipeline saw and every checked model sentence."""

    answers: tuple[str, ...]
    evidence: tuple[Any, ...]  # eval.metrics.Span of each gold passage
    passages: tuple[Any, ...]  # Span of each retrieved chunk, marker n = passages[n - 1]
    quote: str  # the evidence sentences, as the fallback quotes them
    quote_markers: tuple[int, ...]
    sentences: tuple[tuple[str, tuple[int, ...], float], ...]  # (text, markers, share)
    refused: bool


def score(recorded: Sequence[Recorded], share: float) -> dict[str, float]:
    """Answer hit, citation precision/recall and quote rate if min_new_share were `share`.

    A refused question scores 0 for hit and citation recall and cites nothing, as in the eval.
    """
    from eval.metrics import contains_answer, covers

    hits = recall = 0.0
    correct = total = quoted = 0
    for r in recorded:
        if r.refused:
            continue
        kept: dict[str, tuple[int, ...]] = {}
        for text, markers, carried in r.sentences:
            if carried >= max(share, _ANY_SHARE):
                kept.setdefault(text, markers)
        if kept:
            text, markers = " ".join(kept), sorted({m for ms in kept.values() for m in ms})
        else:
            text, markers = r.quote, sorted(set(r.quote_markers))
            quoted += 1
        cited = [r.passages[m - 1] for m in markers]
        hits += any(contains_answer(text, a) for a in r.answers)
        correct += sum(any(covers(c, e) for e in r.evidence) for c in cited)
        total += len(cited)
        recall += sum(any(covers(c, e) for c in cited) for e in r.evidence) / len(r.evidence)
    n = max(1, len(recorded))
    return {"answer_hit": hits / n, "citation_precision": correct / total if total else 0.0,
            "citation_recall": recall / n, "quoted": quoted / n}


def record(questions: Sequence[Any], pipeline: Any) -> list[Recorded]:
    """Answer each answerable question once, logging each model sentence's share."""
    from tqdm import tqdm

    from eval.metrics import Span
    from qa.evidence import new_information_share

    log: list[tuple[str, tuple[int, ...], float]] = []
    chosen_log: list[Any] = []
    checks = type(pipeline)._faithful

    def logged(self: Any, sentence: Any, query: str, evidence: str, chosen: Any) -> bool:
        ok = checks(self, sentence, query, evidence, chosen)
        if ok:
            log.append((sentence.text, tuple(sentence.markers),
                        new_information_share(sentence.text, query, evidence)))
        chosen_log.append(chosen)
        return ok

    pipeline._faithful = logged.__get__(pipeline)
    out = []
    for q in tqdm([q for q in questions if q.answerable], desc="recording", unit="question"):
        log.clear()
        chosen_log.clear()
        answer = pipeline.answer(q.question)
        passages = tuple(Span(r.chunk.doc_id, r.chunk.start, r.chunk.end)
                         for r in answer.retrieved)
        if chosen_log:  # the evidence the fallback would quote
            quote = " ".join(f"“{c.sentence.text.strip()}”" for c in chosen_log[0])
            quote_markers = tuple(c.sentence.passage for c in chosen_log[0])
        else:  # refused, or the model said nothing: what was shown is all there is
            quote = answer.text
            quote_markers = tuple(c.marker for c in answer.citations)
        out.append(Recorded(tuple(q.answers), tuple(Span(e.doc, e.start, e.end)
                                                    for e in q.evidence),
                            passages, quote, quote_markers, tuple(log), answer.abstained))
    return out


def main(argv: list[str] | None = None) -> int:
    prepare_environment()
    from eval.run import add_question_set_argument

    parser = Parser(prog="python -m eval.support", epilog=EXAMPLES,
                    description="Record model answers once and score the support check's "
                    "min_new_share at several thresholds.")
    add_question_set_argument(parser)
    parser.add_argument("--shares", nargs="+", type=float, default=list(DEFAULT_SHARES),
                        metavar="S", help="thresholds to score (default: %(default)s)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N answerable questions of each set")
    parser.add_argument("--out", type=Path, default=Path("var/eval/support.json"),
                        metavar="FILE", help="where to write the table (%(default)s)")
    args = parser.parse_args(argv)
    if any(not 0 <= s <= 1 for s in args.shares):
        parser.error("--shares must lie in [0, 1]")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")

    from eval.run import open_question_set
    from index.embedder import MiniLMEmbedder
    from qa.config import Settings, default_model_cache
    from qa.generator import SmolLM2Generator
    from qa.pipeline import Pipeline
    from qa.service import load_reader

    embedder = MiniLMEmbedder()
    generator = SmolLM2Generator(default_model_cache())
    table: dict[str, dict[str, dict[str, float]]] = {}
    for qfile, corpus in args.set:
        questions, index = open_question_set(parser.prog, qfile, corpus, embedder)
        if args.limit:
            questions = [q for q in questions if q.answerable][:args.limit]
        settings = Settings(min_new_share=_ANY_SHARE)
        pipeline = Pipeline(index, embedder, generator, settings, load_reader(settings))
        recorded = record(questions, pipeline)
        table[str(qfile)] = {f"{s:g}": score(recorded, s) for s in args.shares}
    print_table(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = "python -m eval.support " + " ".join(sys.argv[1:] if argv is None else argv)
    args.out.write_text(json.dumps({"command": command, "table": table}, indent=2) + "\n",
                        encoding="utf-8")
    print(f"wrote {args.out}")
    return 0


def print_table(table: dict[str, dict[str, dict[str, float]]]) -> None:
    for name, rows in table.items():
        print(name)
        print(f"  {'share':>6} {'hit':>6} {'cit.prec':>9} {'cit.rec':>8} {'quoted':>7}")
        for share, m in rows.items():
            print(f"  {share:>6} {m['answer_hit']:6.3f} {m['citation_precision']:9.3f} "
                  f"{m['citation_recall']:8.3f} {m['quoted']:7.2f}")


if __name__ == "__main__":
    sys.exit(main())

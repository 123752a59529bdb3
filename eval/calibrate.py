"""Derive the refusal calibration (qa/calibration.json) from benchmark questions.

    python -m eval.squad --out var/squad-calibration --role calibration
    python -m eval.calibrate --set var/squad-calibration/qa.jsonl var/squad-calibration/corpus

The committed calibration is fitted on the two SQuAD articles that data/squad2/split.json keeps
for it: training-side articles the reader never learned from. Neither eval/qa.jsonl nor a
held-out article is in the fit, so both stay fair to report.

For every question of every set the chat's own pipeline retrieves and scores the evidence
(no generation), giving the signals qa.abstain uses. A logistic regression separates answerable
from unanswerable questions (each set weighs the same, however many questions it has), then the
threshold is the highest one that keeps the false refusal rate of every set at or below
--max-false-refusal. The file records the weights, the threshold, the per-set rates and the
command, so anyone can re-derive it.

Does not generate answers or score citations (python -m eval does), and does not check that
the sets differ from the ones later evaluated on: keep a held-out set (e.g. another SQuAD seed).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from common.cli import Parser, prepare_environment

EXAMPLES = """examples:
  python -m eval.squad --out var/squad-calibration --role calibration
  python -m eval.calibrate --set var/squad-calibration/qa.jsonl var/squad-calibration/corpus
      the committed qa/calibration.json: the calibration articles only
  python -m eval.calibrate --set eval/qa.jsonl data/corpus --max-false-refusal 0.05 \\
                           --out /tmp/calibration.json
"""


def fit_logistic(x: np.ndarray, y: np.ndarray, sample_weight: np.ndarray,
                 l2: float = 1e-3, steps: int = 50) -> tuple[np.ndarray, float]:
    """Weighted L2-regularized logistic regression by Newton's method: (weights, bias).

    Example: points x=[[0],[1]] labelled [0, 1] -> a positive weight.
    """
    design = np.hstack([x, np.ones((len(x), 1))])
    beta = np.zeros(design.shape[1])
    penalty = l2 * np.eye(design.shape[1])
    penalty[-1, -1] = 0.0  # the bias is not shrunk
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-design @ beta))
        gradient = design.T @ (sample_weight * (p - y)) + penalty @ beta
        hessian = (design * (sample_weight * p * (1 - p))[:, None]).T @ design + penalty
        step = np.linalg.solve(hessian + 1e-9 * np.eye(len(beta)), gradient)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return beta[:-1], float(beta[-1])


def choose_threshold(confidence: Sequence[np.ndarray], answerable: Sequence[np.ndarray],
                     max_false_refusal: float) -> float:
    """The highest threshold whose false refusal rate is <= the limit on every set.

    A question is refused when its confidence is below the threshold.
    Example: confidences [0.2, 0.6, 0.9] (answerable, answerable, unanswerable... ) see tests.
    """
    candidates = np.unique(np.concatenate(confidence))
    best = 0.0
    for t in candidates:
        ok = all((c[a] < t).mean() <= max_false_refusal if a.any() else True
                 for c, a in zip(confidence, answerable, strict=True))
        if ok:
            best = max(best, float(t))
    return best


class _NoGenerator:
    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        raise AssertionError("calibration never generates")


def main(argv: list[str] | None = None) -> int:
    prepare_environment()
    from eval.run import add_question_set_argument

    parser = Parser(prog="python -m eval.calibrate", epilog=EXAMPLES,
                    description="Fit the refusal threshold on benchmark questions and write "
                    "qa/calibration.json.")
    add_question_set_argument(parser)
    parser.add_argument("--max-false-refusal", type=float, default=0.10, metavar="RATE",
                        help="largest share of answerable questions refused, per set (0.10)")
    parser.add_argument("--out", type=Path, default=None, metavar="FILE",
                        help="where to write (default: qa/calibration.json, or "
                        "qa/calibration-no-reader.json with --no-reader)")
    parser.add_argument("--no-reader", action="store_true",
                        help="calibrate the pipeline without the reader (sentence scoring)")
    args = parser.parse_args(argv)
    if not 0 <= args.max_false_refusal < 1:
        parser.error("--max-false-refusal must be in [0, 1)")

    from eval.run import open_question_set
    from index.embedder import MiniLMEmbedder
    from qa.abstain import DEFAULT_CALIBRATION, FEATURES, NO_READER_CALIBRATION, Calibration
    from qa.config import Settings
    from qa.pipeline import Pipeline
    from qa.service import load_reader

    out = args.out or (NO_READER_CALIBRATION if args.no_reader else DEFAULT_CALIBRATION)
    embedder = MiniLMEmbedder()
    settings = Settings(calibration=None, reader=None if args.no_reader else Settings().reader)
    reader = load_reader(settings)
    # Without a reader there is no reader's passage: its three signals stay 0.
    reader_only = ("reader", "passage_coverage", "rarest_missing")
    features = [f for f in FEATURES if not (args.no_reader and f in reader_only)]
    rows, labels, groups, names = [], [], [], []
    for group, (qfile, corpus) in enumerate(args.set):
        questions, index = open_question_set(parser.prog, qfile, corpus, embedder)
        pipeline = Pipeline(index, embedder, _NoGenerator(), settings, reader)
        from tqdm import tqdm

        for q in tqdm(questions, desc=Path(qfile).name, unit="question"):
            found = pipeline.evidence(q.question)
            if not found.chosen:  # refused by min_relevance whatever the calibration says
                continue
            rows.append([found.signals[f] for f in features])
            labels.append(float(q.answerable))
            groups.append(group)
        names.append(str(qfile))

    x, y, g = np.array(rows), np.array(labels), np.array(groups)
    weight = np.zeros(len(y))
    for group in np.unique(g):  # every set, and both classes within it, weigh the same
        for label in (0.0, 1.0):
            members = (g == group) & (y == label)
            if members.any():
                weight[members] = 1.0 / members.sum()
    w, b = fit_logistic(x, y, weight / weight.sum() * len(y))
    confidence = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    by_set = [confidence[g == k] for k in range(len(names))]
    answerable = [y[g == k] == 1.0 for k in range(len(names))]
    threshold = choose_threshold(by_set, answerable, args.max_false_refusal)
    stats = {}
    for name, c, a in zip(names, by_set, answerable, strict=True):
        stats[name] = {
            "answerable": int(a.sum()), "unanswerable": int((~a).sum()),
            "false_refusal_rate": round(float((c[a] < threshold).mean()), 3) if a.any() else None,
            "abstention_rate_unanswerable": round(float((c[~a] < threshold).mean()), 3)
            if (~a).any() else None,
        }
    command = "python -m eval.calibrate " + " ".join(sys.argv[1:] if argv is None else argv)
    calibration = Calibration(dict(zip(features, map(float, w), strict=True)), b, threshold,
                              command)
    out.write_text(calibration.to_json({
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "max_false_refusal": args.max_false_refusal,
        "note": "questions refused by min_relevance are left out of the fit; rates are over "
                "the rest",
        "sets": stats}), encoding="utf-8")
    for name, st in stats.items():
        print(f"{name}: false refusal {st['false_refusal_rate']}, "
              f"abstention on unanswerable {st['abstention_rate_unanswerable']}")
    print(f"threshold {threshold:.3f}; wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m bench.reader_head`: would a separate answerability head beat the reader's margin?

The reader decides "no answer" by its margin (best span score minus the [CLS] score). This
benchmark asks whether a head fitted on more of what the reader sees does better: for each
question against its own paragraph it takes the margin, the span and no-answer scores, the
softmax mass at [CLS] and at the best start/end, the span length, and the 384 numbers of the
[CLS] vector of the last layer. A logistic regression (eval.calibrate.fit_logistic, standardized
features) is fitted on the --fit-role articles, its L2 strength chosen by leaving one of those
articles out at a time, and scored on the --test-role articles (held out by default), beside
the margin alone.

Fits only on the fit-role articles; the test articles are scored once, never tuned on.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from common.cli import Parser, fail, prepare_environment

EXAMPLES = """examples:
  python -m bench.reader_head --out var/bench/reader-head.json
      the committed reader: fit on the 2 calibration articles, score the 8 held-out ones
      (about 20 minutes on 2 cores)
  python -m bench.reader_head --reader var/reader-v2 --limit 300
"""
L2_GRID = (1.0, 3.0, 10.0, 30.0, 100.0, 300.0, 1000.0, 3000.0, 10000.0, 30000.0)
SCALARS = ("margin", "span score", "no-answer score", "P(start at [CLS])", "P(end at [CLS])",
           "max P(start)", "max P(end)", "span words")
HEADS = {"scalars": slice(0, len(SCALARS)), "[CLS] vector": slice(len(SCALARS), None),
         "scalars + [CLS] vector": slice(0, None)}


def softmax(logits: Sequence[float]) -> np.ndarray:
    """Example: softmax([0, 0]) -> [0.5, 0.5]"""
    x = np.asarray(logits, dtype=np.float64)
    e = np.exp(x - x.max())
    return e / e.sum()


def features(reader: Any, question: str, context: str) -> np.ndarray:
    """The scalars of SCALARS then the first window's [CLS] vector, for one question."""
    import torch

    from reader.model import decode, pad

    batch = reader.encode(question, [context])
    starts, ends, cls = [], [], []
    with torch.inference_mode():
        for row in range(len(batch["input_ids"])):
            out = reader._model(**pad(batch, [row], multiple_of=1), output_hidden_states=True)
            starts += out.start_logits.tolist()
            ends += out.end_logits.tolist()
            cls.append(out.hidden_states[-1][0, 0].float().numpy())
    (span,) = decode(batch, starts, ends, [context])
    p_start, p_end = softmax(starts[0]), softmax(ends[0])
    scalars = [span.margin, span.score, span.null_score, p_start[0], p_end[0], p_start.max(),
               p_end.max(), len(span.text.split())]
    return np.concatenate([np.asarray(scalars, dtype=np.float64), cls[0]])


def fit_head(x: np.ndarray, y: np.ndarray, l2: float) -> Any:
    """A logistic head on standardized features: a function from features to scores."""
    from eval.calibrate import fit_logistic

    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    weights, bias = fit_logistic((x - mean) / std, y.astype(np.float64), np.ones(len(y)), l2=l2)
    return lambda z: ((z - mean) / std) @ weights + bias


def auc_of(scores: np.ndarray, y: np.ndarray) -> float:
    from reader.scores import auc

    return auc(scores[y == 1].tolist(), scores[y == 0].tolist())


def leave_one_article_out(x: np.ndarray, y: np.ndarray, articles: np.ndarray,
                          l2: float) -> float:
    """Mean test AUC over folds that each hold out one article (nan with fewer than two)."""
    folds = []
    for article in np.unique(articles):
        test = articles == article
        if test.all() or len(np.unique(y[test])) < 2 or len(np.unique(y[~test])) < 2:
            continue
        head = fit_head(x[~test], y[~test], l2)
        folds.append(auc_of(head(x[test]), y[test]))
    return float(np.mean(folds)) if folds else float("nan")


def compare(fit: tuple[np.ndarray, np.ndarray, np.ndarray],
            test: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """Margin alone against each head: L2 chosen on the fit articles, AUC on the test ones."""
    x_fit, y_fit, articles = fit
    x_test, y_test = test
    out: dict[str, Any] = {"margin alone": {"fit_auc": round(auc_of(x_fit[:, 0], y_fit), 4),
                                            "test_auc": round(auc_of(x_test[:, 0], y_test), 4)}}
    for name, columns in HEADS.items():
        cv = {l2: leave_one_article_out(x_fit[:, columns], y_fit, articles, l2)
              for l2 in L2_GRID}
        finite = {l2: a for l2, a in cv.items() if a == a}
        l2 = max(finite, key=finite.__getitem__) if finite else L2_GRID[-1]
        head = fit_head(x_fit[:, columns], y_fit, l2)
        out[name] = {"l2": l2, "fit_cv_auc": round(cv[l2], 4),
                     "test_auc": round(auc_of(head(x_test[:, columns]), y_test), 4)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    from tqdm import tqdm

    from reader.data import ROLES, DataError, articles_for, squad_examples
    from reader.model import READER_DIR, Reader, ReaderLoadError
    from reader.scores import sample

    parser = Parser(prog="python -m bench.reader_head", description=__doc__.split("\n\n")[0],
                    epilog=EXAMPLES)
    parser.add_argument("--reader", type=Path, default=READER_DIR,
                        help="reader directory (default: reader/model)")
    parser.add_argument("--fit-role", choices=ROLES, default="calibration")
    parser.add_argument("--test-role", choices=ROLES, default="heldout")
    parser.add_argument("--limit", type=int, default=None,
                        help="a sample of N questions of each role")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)
    if args.fit_role == args.test_role:
        parser.error("--fit-role and --test-role must differ")
    prepare_environment()
    import torch

    torch.set_num_threads(1)
    try:
        reader = Reader(args.reader)
        reader.warm_up()
        roles = {role: sample(squad_examples(articles_for(role)), args.limit, args.seed)
                 for role in (args.fit_role, args.test_role)}
    except (DataError, ReaderLoadError) as err:
        fail(parser.prog, str(err))
    table = {}
    for role, examples in roles.items():
        x = np.stack([features(reader, e.question, e.context)
                      for e in tqdm(examples, desc=role, unit="q", file=sys.stderr)])
        y = np.array([int(bool(e.answers)) for e in examples])
        table[role] = (x, y, np.array([e.article for e in examples]))
    result = {"reader": str(args.reader), "fit_role": args.fit_role,
              "test_role": args.test_role,
              "questions": {role: len(y) for role, (_, y, _) in table.items()},
              "scores": compare(table[args.fit_role], table[args.test_role][:2])}
    text = json.dumps(result, indent=2)
    if args.out:
        try:
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(text + "\n", encoding="utf-8")
        except OSError as err:
            fail(parser.prog, f"cannot write {args.out}: {err}")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

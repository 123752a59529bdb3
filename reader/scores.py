"""The reader's own scores on SQuAD 2.0 examples, each question read against its own paragraph
(python -m reader.train records them in the manifest; python -m eval.reader re-scores a reader).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Sequence
from typing import Any

from common.answer_text import normalize_answer, token_f1
from reader.data import Example


def auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(a positive scores above a negative), ties half. Example: auc([2, 0], [1]) -> 0.5"""
    pairs = sorted([(s, 1) for s in positive] + [(s, 0) for s in negative])
    below = 0.0
    total = 0.0
    i = 0
    while i < len(pairs):  # walk groups of equal scores
        j = i
        while j < len(pairs) and pairs[j][0] == pairs[i][0]:
            j += 1
        pos = sum(1 for k in range(i, j) if pairs[k][1])
        neg = (j - i) - pos
        total += pos * (below + 0.5 * neg)
        below += neg
        i = j
    return total / (len(positive) * len(negative)) if positive and negative else float("nan")


def score(reader: Any, examples: Sequence[Example], desc: str) -> dict[str, float | int]:
    """SQuAD 2.0 scores of each question against its own paragraph.

    auc: how well the margin separates answerable from unanswerable questions;
    has_answer_exact/f1: the best span on answerable ones; f1_at_0: SQuAD 2.0 F1 answering
    only when the margin is positive (an abstention on an unanswerable question scores 1).
    """
    from tqdm import tqdm

    margins_yes, margins_no, exact, f1, overall = [], [], [], [], []
    for example in tqdm(examples, desc=desc, unit="q", file=sys.stderr):
        spans = reader.read(example.question, [example.context])
        margin = spans[0].margin if spans else float("-inf")
        prediction = spans[0].text if spans else ""
        if example.answers:
            margins_yes.append(margin)
            golds = [text for _, text in example.answers]
            exact.append(max(float(normalize_answer(prediction) == normalize_answer(g))
                             for g in golds))
            f1.append(max(token_f1(prediction, g) for g in golds))
            overall.append(f1[-1] if margin > 0 else 0.0)
        else:
            margins_no.append(margin)
            overall.append(1.0 if margin <= 0 else 0.0)
    mean = lambda xs: round(sum(xs) / len(xs), 4) if xs else float("nan")  # noqa: E731
    return {"questions": len(examples), "answerable": len(margins_yes),
            "auc": round(auc(margins_yes, margins_no), 4), "has_answer_exact": mean(exact),
            "has_answer_f1": mean(f1), "f1_at_0": mean(overall)}


def sample(examples: list[Example], limit: int | None, seed: int) -> list[Example]:
    """A reproducible random sample of `limit` examples (all of them without a limit)."""
    if limit is None or limit >= len(examples):
        return examples
    return random.Random(seed).sample(examples, limit)

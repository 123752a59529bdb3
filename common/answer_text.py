"""SQuAD's answer comparison: normalised words, whole-word containment, token F1.

Shared by the reader's own scores (reader.scores) and the pipeline's eval (eval.metrics).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter


def normalize_answer(text: str) -> str:
    """Example: normalize_answer("The  Katherine Tai!") -> "katherine tai" """
    text = "".join(
        " " if ch in string.punctuation or unicodedata.category(ch).startswith("P") else ch
        for ch in text.lower()
    )
    return " ".join(re.sub(r"\b(a|an|the)\b", " ", text).split())


def contains_answer(text: str, answer: str) -> bool:
    """Normalized `answer` occurs in normalized `text` as whole words.

    Example: contains_answer("It was Katherine Tai.", "the katherine tai") -> True
    """
    needle = normalize_answer(answer)
    return bool(needle) and f" {needle} " in f" {normalize_answer(text)} "


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD token F1 of normalized words. Example: token_f1("Katherine Tai said", "Tai") -> 0.5"""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(gold).split()
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)

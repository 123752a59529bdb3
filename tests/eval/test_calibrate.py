"""eval.calibrate: the logistic fit and the threshold choice, on numbers checkable by hand."""

from __future__ import annotations

import numpy as np

from eval.calibrate import choose_threshold, fit_logistic


def test_fit_separates_the_classes_in_the_right_direction() -> None:
    x = np.array([[0.1], [0.2], [0.3], [0.7], [0.8], [0.9]])
    y = np.array([0, 0, 1, 0, 1, 1], dtype=float)
    w, b = fit_logistic(x, y, np.ones(6))
    assert w[0] > 0
    p = 1 / (1 + np.exp(-(x @ w + b)))
    assert p[0] < 0.5 < p[-1]


def test_threshold_is_the_highest_keeping_false_refusals_under_the_limit() -> None:
    # answerable confidences 0.2, 0.6, 0.7, 0.9 and 0.95; unanswerable 0.1, 0.3, 0.65.
    confidence = np.array([0.2, 0.6, 0.7, 0.9, 0.95, 0.1, 0.3, 0.65])
    answerable = np.array([True] * 5 + [False] * 3)
    # refusing below 0.6 refuses 1 of 5 answerable (0.2): allowed at a 0.2 limit;
    # below 0.7 it would refuse 2 of 5.
    assert choose_threshold([confidence], [answerable], 0.2) == 0.6
    assert choose_threshold([confidence], [answerable], 0.0) == 0.2
    # every set must stay under the limit
    other = np.array([0.5, 0.55])
    assert choose_threshold([confidence, other], [answerable, np.array([True, True])],
                            0.2) == 0.5

"""bench.reader_head: the head comparison on numbers made here, and once on the real reader."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bench import reader_head


def made_up(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Questions whose margin is noise and whose first [CLS] number tells the answerable ones."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    x = rng.normal(size=(n, len(reader_head.SCALARS) + 4))
    x[:, len(reader_head.SCALARS)] += 3.0 * y
    articles = np.array(["A", "B", "C"])[np.arange(n) % 3]
    return x, y, articles


def test_softmax_example() -> None:
    assert reader_head.softmax([0.0, 0.0]).tolist() == [0.5, 0.5]


def test_a_head_that_sees_the_telling_feature_beats_the_margin() -> None:
    fit = made_up(300, 1)
    x_test, y_test, _ = made_up(300, 2)
    scores = reader_head.compare(fit, (x_test, y_test))
    assert 0.4 < scores["margin alone"]["test_auc"] < 0.6
    assert scores["[CLS] vector"]["test_auc"] > 0.9
    assert scores["scalars + [CLS] vector"]["test_auc"] > 0.9
    assert scores["scalars"]["test_auc"] < 0.65
    assert scores["[CLS] vector"]["l2"] in reader_head.L2_GRID


def test_folds_need_two_articles() -> None:
    x, y, _ = made_up(60, 3)
    assert np.isnan(reader_head.leave_one_article_out(x, y, np.array(["A"] * 60), 1.0))


def test_same_roles_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stop:
        reader_head.main(["--fit-role", "heldout", "--test-role", "heldout"])
    assert stop.value.code == 2
    assert "must differ" in capsys.readouterr().err


@pytest.mark.real
def test_the_real_reader_is_compared_on_squad_articles(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "head.json"
    assert reader_head.main(["--limit", "30", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["questions"] == {"calibration": 30, "heldout": 30}
    assert set(result["scores"]) == {"margin alone", *reader_head.HEADS}
    for row in result["scores"].values():
        assert 0.0 <= row["test_auc"] <= 1.0
    assert json.loads(capsys.readouterr().out) == result

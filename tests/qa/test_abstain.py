"""qa.abstain: the calibrated confidence and its file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.abstain import DEFAULT_CALIBRATION, Calibration, CalibrationError, load_calibration


def test_confidence_docstring() -> None:
    c = Calibration({"cosine": 2.0}, -1.0, 0.5)
    assert c.confidence({"cosine": 0.5}) == pytest.approx(0.5)
    assert c.confidence({"cosine": 1.0}) > 0.5 > c.confidence({"cosine": 0.0})


def test_round_trip(tmp_path: Path) -> None:
    c = Calibration({"cosine": 2.0, "coverage": 1.5}, -1.0, 0.4, "python -m eval.calibrate ...")
    path = tmp_path / "c.json"
    path.write_text(c.to_json({"sets": {}}))
    assert load_calibration(path) == c


@pytest.mark.parametrize("content", ["not json", '{"weights": {}}',
                                     '{"weights": {"shoe_size": 1}, "bias": 0, "threshold": 0}'])
def test_a_bad_file_names_itself_and_the_command_that_rebuilds_it(tmp_path: Path,
                                                                  content: str) -> None:
    path = tmp_path / "c.json"
    path.write_text(content)
    with pytest.raises(CalibrationError, match=r"c\.json.*python -m eval\.calibrate"):
        load_calibration(path)


def test_the_shipped_calibration_loads_and_says_how_it_was_derived() -> None:
    c = load_calibration(DEFAULT_CALIBRATION)
    assert 0 < c.threshold < 1
    assert c.derived_by.startswith("python -m eval.calibrate")
    data = json.loads(DEFAULT_CALIBRATION.read_text())
    for stats in data["sets"].values():  # the limit it was fitted under holds on its data
        if stats["false_refusal_rate"] is not None:
            assert stats["false_refusal_rate"] <= data["max_false_refusal"]

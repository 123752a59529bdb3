"""When to refuse: a calibrated confidence that the retrieved evidence answers the question.

The confidence is a logistic function of a few signals (qa.pipeline computes them): the reader's
margin (its best span's score minus its "no answer" score, reader.model), the evidence
sentence's cosine similarity to the question, how much of the question it covers, the best
passage's similarity, whether the answer holds the kind of thing the question asks for, and,
for the reader's passage, how much of the question it covers and how rare the rarest question
term it lacks is (a name the passage never mentions).
The weights and the refusal threshold are fitted on benchmark questions by
`python -m eval.calibrate` and stored in qa/calibration.json with the command that derived them;
nothing here is guessed.

Does not look at the model's answer: refusing before generation keeps a refusal instant and
keeps the model from ever seeing a question the documents cannot answer.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

FEATURES = ("cosine", "coverage", "passage_similarity", "typed_answer", "reader",
            "passage_coverage", "rarest_missing")
DEFAULT_CALIBRATION = Path(__file__).with_name("calibration.json")
# The calibration of the pipeline without a reader (Settings(reader=None)), fitted before the
# reader existed; bench.answer's baseline runs with it.
NO_READER_CALIBRATION = Path(__file__).with_name("calibration-no-reader.json")


class CalibrationError(ValueError):
    """The calibration file is missing, malformed or for other features."""


@dataclass(frozen=True)
class Calibration:
    weights: Mapping[str, float]
    bias: float
    threshold: float  # answer when confidence >= threshold
    derived_by: str = ""  # the command that re-derives this file

    def confidence(self, signals: Mapping[str, float]) -> float:
        """Probability-like score in (0, 1) that the question is answerable from the evidence.

        Example: weights {"cosine": 2}, bias -1, cosine 0.5 -> sigmoid(0) = 0.5
        """
        z = self.bias + sum(w * signals[name] for name, w in self.weights.items())
        return 1.0 / (1.0 + math.exp(-z))

    def to_json(self, extra: Mapping[str, object] | None = None) -> str:
        data = {"features": list(self.weights), "weights": dict(self.weights), "bias": self.bias,
                "threshold": self.threshold, "derived_by": self.derived_by, **(extra or {})}
        return json.dumps(data, indent=2) + "\n"


def load_calibration(path: Path = DEFAULT_CALIBRATION) -> Calibration:
    """Read a calibration file written by `python -m eval.calibrate`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        weights = {str(k): float(v) for k, v in data["weights"].items()}
        calibration = Calibration(weights, float(data["bias"]), float(data["threshold"]),
                                  str(data.get("derived_by", "")))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise CalibrationError(f"{path}: cannot read calibration ({exc}); re-derive it with: "
                               "python -m eval.calibrate") from exc
    unknown = set(weights) - set(FEATURES)
    if unknown:
        raise CalibrationError(f"{path}: unknown features {sorted(unknown)}; re-derive it with: "
                               "python -m eval.calibrate")
    return calibration

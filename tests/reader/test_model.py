"""reader.model without weights: span search, decoding windows, and the manifest checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reader.model import (
    BASE_MODEL,
    FORMAT_VERSION,
    MANIFEST_NAME,
    ReaderLoadError,
    Span,
    best_span,
    check_manifest,
    file_sha256,
)


def test_best_span_docstring_and_limits() -> None:
    assert best_span([0, 5, 1], [0, 1, 4], [False, True, True], 5) == (1, 2, 9.0)
    # the best end comes before the best start: the best valid pair wins instead
    assert best_span([0, 1, 5], [0, 4, 1], [False, True, True], 5) == (2, 2, 6.0)
    # (1, 3) would score 14 but is 3 tokens long; with at most 2 the best is 9, ending at 3
    start, end, score = best_span([0, 5, 0, 0], [0, 0, 0, 9], [False, True, True, True], 2)
    assert end == 3 and start >= 2 and score == 9.0
    assert best_span([1.0], [1.0], [False], 5) == (0, 0, float("-inf"))


def test_span_margin() -> None:
    assert Span(0, 0, 3, "Tai", 7.5, 2.5).margin == 5.0


def write_reader(directory: Path, **changes: object) -> Path:
    """A reader directory with two small files and a manifest that lists them correctly."""
    directory.mkdir()
    (directory / "model.safetensors").write_bytes(b"weights")
    (directory / "config.json").write_text("{}")
    manifest = {"format_version": FORMAT_VERSION, "base_model": BASE_MODEL,
                "files": {n: file_sha256(directory / n)
                          for n in ("model.safetensors", "config.json")}}
    manifest.update(changes)
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest))
    return directory


def test_a_matching_manifest_is_accepted(tmp_path: Path) -> None:
    assert check_manifest(write_reader(tmp_path / "r"))["base_model"] == BASE_MODEL


@pytest.mark.parametrize(("change", "message"), [
    ({"format_version": FORMAT_VERSION + 1}, "reader format"),
    ({"base_model": "someone/else"}, "base model"),
    ({"files": {}}, "lists no model files"),
])
def test_a_mismatched_manifest_is_refused_with_the_retrain_command(
        tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ReaderLoadError, match=message) as err:
        check_manifest(write_reader(tmp_path / "r", **change))
    assert "python -m reader.train" in str(err.value)


def test_a_changed_or_missing_file_is_refused(tmp_path: Path) -> None:
    directory = write_reader(tmp_path / "r")
    (directory / "model.safetensors").write_bytes(b"weightz")
    with pytest.raises(ReaderLoadError, match="does not match its sha256"):
        check_manifest(directory)
    (directory / "model.safetensors").unlink()
    with pytest.raises(ReaderLoadError, match=r"model\.safetensors is missing"):
        check_manifest(directory)


def test_a_missing_or_unreadable_manifest_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ReaderLoadError, match=r"manifest\.json is missing"):
        check_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(ReaderLoadError, match="unreadable manifest"):
        check_manifest(tmp_path)

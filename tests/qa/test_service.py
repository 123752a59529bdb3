"""qa.service.ensure_index: a fresh checkout, an up-to-date index and an older index format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.manifest import FORMAT_VERSION, MANIFEST_NAME
from index.store import current_generation, open_index
from qa.service import ensure_index
from tests.fakes import FakeEmbedder


def test_a_missing_index_is_built_and_a_current_one_left_alone(
        corpus_dir: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    assert ensure_index(root, corpus_dir, embedder, progress=False) is not None
    live = current_generation(root)
    assert ensure_index(root, corpus_dir, embedder, progress=False) is None
    assert current_generation(root) == live


def test_an_index_of_an_older_format_is_rebuilt_from_the_corpus(
        corpus_dir: Path, tmp_path: Path, embedder: FakeEmbedder,
        capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "index"
    ensure_index(root, corpus_dir, embedder, progress=False)
    old = current_generation(root)
    assert old is not None
    manifest = json.loads((old / MANIFEST_NAME).read_text())
    manifest["format_version"] = FORMAT_VERSION - 1  # as an earlier release wrote it
    (old / MANIFEST_NAME).write_text(json.dumps(manifest))

    assert ensure_index(root, corpus_dir, embedder, progress=False) is not None
    assert f"has format {FORMAT_VERSION - 1}" in capsys.readouterr().err
    assert current_generation(root) != old
    index = open_index(root, embedder.model_id, embedder.dimension)  # opens: it is current
    assert set(index.manifest["documents"]) == {"trade.txt", "security.txt"}
    index.close()


def test_the_eval_index_of_an_older_format_is_rebuilt(
        corpus_dir: Path, tmp_path: Path, embedder: FakeEmbedder) -> None:
    from eval.run import ensure_eval_index, load_corpus

    documents, _ = load_corpus(corpus_dir)
    root = ensure_eval_index(corpus_dir, documents, embedder, root=tmp_path / "eval-index")
    old = current_generation(root)
    assert old is not None
    manifest = json.loads((old / MANIFEST_NAME).read_text())
    manifest["format_version"] = FORMAT_VERSION - 1
    (old / MANIFEST_NAME).write_text(json.dumps(manifest))
    ensure_eval_index(corpus_dir, documents, embedder, root=root)
    open_index(root, embedder.model_id, embedder.dimension).close()  # no "rebuild it" error


def test_load_pipeline_hands_the_decode_setting_to_the_generator(
        corpus_dir: Path, tmp_path: Path, embedder: FakeEmbedder,
        monkeypatch: pytest.MonkeyPatch) -> None:
    from qa import service
    from qa.config import Settings

    asked: list[bool] = []

    class RecordingGenerator:
        model_id = "fake/recording"

        def __init__(self, cache: Path, max_new_tokens: int, fp16_decode: bool) -> None:
            asked.append(fp16_decode)

        def warm_up(self) -> None:
            pass

    monkeypatch.setattr(embedder, "warm_up", lambda: None, raising=False)
    monkeypatch.setattr(service, "MiniLMEmbedder", lambda backend: embedder)
    monkeypatch.setattr(service, "SmolLM2Generator", RecordingGenerator)
    for fp16 in (True, False):
        service.load_pipeline(tmp_path / "index", corpus_dir, tmp_path / "models",
                              Settings(calibration=None, reader=None, fp16_decode=fp16),
                              progress=False)
    assert asked == [True, False]
    assert Settings().fp16_decode  # the app's default

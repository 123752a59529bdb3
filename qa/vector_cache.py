"""Vectors of sentences already embedded, so the next question on the same passages skips them.

Picking the evidence embeds every sentence of the top passages: ~24 sentences, 0.3-0.5 s of
MiniLM on this 2-core CPU, most of the time before the model starts writing
(docs/PERFORMANCE.md). Questions in a conversation, and questions about one corpus in general,
keep retrieving the same passages, so their sentences are embedded once and kept, the most
recently used first, up to a fixed count.

Does not persist anything and does not embed queries (they rarely repeat). One cache per
pipeline, which is per index generation; a vector depends only on the text and the embedder.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from index.embedder import Embedder


class VectorCache:
    """embed() like the embedder's, remembering up to `max_entries` texts' vectors.

    Example: with FakeEmbedder, embed(["cat sat"]) twice embeds "cat sat" once.
    """

    def __init__(self, embedder: Embedder, max_entries: int) -> None:
        if max_entries < 0:
            raise ValueError("max_entries must be 0 (no cache) or more")
        self.embedder = embedder
        self.max_entries = max_entries
        self._vectors: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()  # the in-process app answers from several threads

    def __len__(self) -> int:
        return len(self._vectors)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """A (len(texts), dimension) float32 matrix; only texts not kept are embedded."""
        found: dict[str, np.ndarray] = {}
        with self._lock:
            for text in texts:
                if text in self._vectors:
                    self._vectors.move_to_end(text)
                    found[text] = self._vectors[text]
        missing = [t for t in dict.fromkeys(texts) if t not in found]
        if missing:
            fresh = self.embedder.embed(missing)
            found.update(zip(missing, fresh, strict=True))
            with self._lock:
                for text, vector in zip(missing, fresh, strict=True):
                    # A copy: a row view would keep its whole batch's matrix alive.
                    self._vectors[text] = vector.copy()
                while len(self._vectors) > self.max_entries:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.embedder.dimension), dtype=np.float32)
        return np.stack([found[t] for t in texts]).astype(np.float32, copy=False)

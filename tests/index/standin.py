"""A fake embedder under MiniLM's name and width, for tests that run the real `python -m ingest`.

The command always uses MiniLM; an index built with this stand-in looks like its own, so a
re-ingest that embeds nothing (unchanged or removed documents) runs the real command end to end
without loading the model. Vectors are the bag-of-words fake's, widened to 384 (vocabulary
words first, the "unknown" dimension last, zeros between).
"""

from __future__ import annotations

from index.embedder import MINILM_ID
from tests.fakes import FakeEmbedder


def minilm_standin() -> FakeEmbedder:
    embedder = FakeEmbedder()
    embedder.model_id = MINILM_ID  # type: ignore[misc]
    embedder.dimension = 384
    return embedder

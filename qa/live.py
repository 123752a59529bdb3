"""The pipeline for whatever index generation is live, and the embedder the app shares.

`LivePipeline.get()` hands out the Pipeline for the generation CURRENT names now: a newly
published generation (an ingest from the Operators tab or the CLI) is picked up on the next
question, reusing the loaded models. The app runs it in its answering worker (qa.worker); the
tests run it in-process.

Does not answer questions (qa.pipeline) and does not build the UI (app.py).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from index.embedder import Embedder
from index.manifest import IndexLoadError
from index.store import current_generation
from index.vector_store import open_store
from qa.config import Settings, load_settings
from qa.pipeline import Pipeline

if TYPE_CHECKING:
    import numpy as np


def refreshed(pipeline: Pipeline) -> Pipeline:
    """`pipeline`, or a new one on the same models when CURRENT now names another generation.

    The old Pipeline is left alone, not closed: a question in flight finishes on it, and its
    index is freed when the last answer using it is done.
    """
    index = pipeline.index
    live = current_generation(index.root)
    if live is None or live in (index.generation, index.stands_in_for):
        return pipeline
    embedder = pipeline.embedder
    new_index = open_store(index.root, embedder.model_id, embedder.dimension)
    return Pipeline(new_index, embedder, pipeline.generator, pipeline.settings, pipeline.reader)


class SerializedEmbedder:
    """One embedder shared by several threads (answers and an ingest), entered one at a time.

    A Hugging Face fast tokenizer raises "RuntimeError: Already borrowed" when two threads use
    it at once (huggingface/tokenizers#537), and an ingest runs while questions are answered.
    Example: SerializedEmbedder(FakeEmbedder()).embed(["tai"]) is FakeEmbedder's answer.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.max_tokens = inner.max_tokens
        self._lock = threading.Lock()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        with self._lock:
            return self.inner.embed(texts)

    def count_tokens(self, text: str) -> int:
        with self._lock:
            return self.inner.count_tokens(text)

    def warm_up(self) -> None:
        with self._lock:
            getattr(self.inner, "warm_up", lambda: None)()


class LivePipeline:
    """Hands out the Pipeline for the generation CURRENT names now; `load` runs once."""

    def __init__(self, load: Callable[[], Pipeline]) -> None:
        self._load = load
        self._pipeline: Pipeline | None = None
        self._lock = threading.Lock()

    def get(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._load()
                return self._pipeline
            try:
                self._pipeline = refreshed(self._pipeline)
            except IndexLoadError as err:
                # Answering from the previous generation beats refusing every question.
                print(f"keeping {self._pipeline.index.generation}: {err}", file=sys.stderr)
            return self._pipeline


def load_default(index_root: Path, corpus: Path, model_cache: Path,
                 settings: Settings | None = None) -> Pipeline:
    """The app's pipeline: index built from `corpus` if missing, both real models loaded,
    answering with `settings`, else those of the settings file and environment (load_settings).
    """
    from qa.service import load_pipeline

    loaded = load_pipeline(index_root, corpus, model_cache, settings or load_settings())
    return Pipeline(loaded.index, SerializedEmbedder(loaded.embedder), loaded.generator,
                    loaded.settings, loaded.reader)

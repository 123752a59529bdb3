"""Assemble a ready Pipeline from paths: the one place the app, the CLI and the eval share.

Builds the index from the corpus when none exists yet, so a fresh checkout answers on the first
start. Does not rebuild an existing index, even if the corpus changed (run `python -m ingest`).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from index.embedder import Embedder, MiniLMEmbedder
from index.manifest import FORMAT_VERSION, IndexLoadError, read_manifest
from index.store import current_generation
from index.vector_store import configured_store, open_store, recorded_store
from ingest.build import build_index
from qa.config import Settings
from qa.generator import Generator, SmolLM2Generator
from qa.openai_generator import OpenAIGenerator
from qa.pipeline import Pipeline
from reader.model import Reader


def ensure_index(root: Path, corpus: Path, embedder: Embedder, progress: bool = True
                 ) -> float | None:
    """Build `root` from `corpus` if it has no published generation, or one in an older index
    format than this program reads, or one in another vector store than the vector_store
    setting names; the seconds it took (None when nothing was built)."""
    live = current_generation(root)
    if live is not None:
        try:
            manifest = read_manifest(live, root)
        except IndexLoadError:
            return None  # open_store reports it, with the command that rebuilds it
        version = manifest.get("format_version")
        store, wanted = recorded_store(manifest), configured_store()
        if version == FORMAT_VERSION and store == wanted:
            return None
        why = (f"has format {version}, this version reads {FORMAT_VERSION}"
               if version != FORMAT_VERSION else
               f"keeps its chunks in {store or 'FAISS + SQLite'}, the vector_store setting "
               f"names {wanted or 'FAISS + SQLite'}")
        print(f"the index at {root} {why}: rebuilding it from {corpus} (ingest documents from "
              "elsewhere again with python -m ingest)", file=sys.stderr)
    started = time.perf_counter()
    build_index([corpus], root, embedder, progress=progress)
    return time.perf_counter() - started


def load_reader(settings: Settings) -> Reader | None:
    """The settings' reader with its weights loaded (manifest checked), or None when off."""
    if settings.reader is None:
        return None
    reader = Reader(settings.reader)
    reader.warm_up()
    return reader


def load_generator(settings: Settings, model_cache: Path) -> Generator:
    """The settings' generator, ready: the model server at generator_url (not called yet), else
    SmolLM2 in this process, loaded (converted into `model_cache` on its first start)."""
    generator: OpenAIGenerator | SmolLM2Generator
    if settings.generator_url:
        generator = OpenAIGenerator(settings.generator_url, settings.generator_model,
                                    settings.generator_key, settings.generator_timeout,
                                    settings.max_new_tokens)
    else:
        generator = SmolLM2Generator(model_cache, max_new_tokens=settings.max_new_tokens,
                                     fp16_decode=settings.fp16_decode)
    generator.warm_up()
    return generator


def load_pipeline(index_root: Path, corpus: Path, model_cache: Path,
                  settings: Settings | None = None, progress: bool = True) -> Pipeline:
    """Open (building first if needed) the index, load both models, return the pipeline.

    Without `settings` it answers with the code defaults, Settings(): the entry points pass
    qa.config.load_settings() (the settings file and environment), the benchmarks do not.
    """
    settings = settings or Settings()
    embedder = MiniLMEmbedder(backend="transformers")  # no sentence-transformers import
    ensure_index(index_root, corpus, embedder, progress)
    index = open_store(index_root, embedder.model_id, embedder.dimension)
    embedder.warm_up()
    pipeline = Pipeline(index, embedder, load_generator(settings, model_cache), settings,
                        load_reader(settings))
    pipeline.idf()  # the chunk count now, not on the first question
    return pipeline

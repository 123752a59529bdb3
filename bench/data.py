"""Benchmark vectors: real MiniLM vectors of corpus text spans, cached, and noisy samples of them.

The real set embeds every sentence, every run of 2-3 sentences and word windows of several
widths of data/corpus plus the 16 SQuAD articles: about 1e5 distinct spans of real text, the
kind of neighbourhoods overlapping chunks produce. Queries are the SQuAD questions, which are
never in the database. Sizes above the real set are noisy copies (real vector + gaussian noise,
renormalized), and say so in their results.

Cached in var/bench/ as .npy blocks (float32) and .json (texts); nothing is pickled.
Does not time anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from bench.common import BENCH_DIR, squad_documents, squad_questions
from common.paths import PROJECT_ROOT

WORD_WINDOWS = (10, 15, 20, 30, 40, 60)
WORD_STRIDE = 5
REAL_LIMIT = 100_000
BLOCK = 2048
# Per-dimension noise of synthetic vectors: cos(real, noisy) ~ 1/sqrt(1 + 384 s^2) ~ 0.85.
NOISE_SIGMA = 0.032


def corpus_texts() -> dict[str, str]:
    """data/corpus plus the SQuAD articles as {name: text}."""
    texts = {p.name: p.read_text(encoding="utf-8")
             for p in sorted((PROJECT_ROOT / "data" / "corpus").iterdir())}
    texts.update(squad_documents())
    return texts


def text_spans(documents: dict[str, str], limit: int = REAL_LIMIT) -> list[str]:
    """Distinct spans of the documents: sentences, 2-3 sentence runs, then word windows.

    Deterministic; stops at `limit`. Example: text_spans({"a": "One. Two."}, 10)
        -> ["One.", "Two.", "One. Two."] followed by word windows ("One. Two." again is skipped)
    """
    from ingest.chunker import split_sentences

    seen: dict[str, None] = {}
    sentence_lists = [[text[s:e] for s, e in split_sentences(text)]
                      for text in documents.values()]
    for sentences in sentence_lists:
        seen.update(dict.fromkeys(sentences))
    for width in (2, 3):
        for sentences in sentence_lists:
            seen.update(dict.fromkeys(" ".join(sentences[i:i + width])
                                      for i in range(len(sentences) - width + 1)))
    for width in WORD_WINDOWS:
        for text in documents.values():
            words = text.split()
            seen.update(dict.fromkeys(" ".join(words[i:i + width])
                                      for i in range(0, max(1, len(words) - width + 1),
                                                     WORD_STRIDE)))
            if len(seen) >= limit:
                return list(seen)[:limit]
    return list(seen)[:limit]


def _embed_cached(texts: list[str], directory: Path, desc: str, limit: int | None = None
                  ) -> np.ndarray:
    """MiniLM vectors of texts[:limit], embedded in blocks saved as directory/NNNNNNN-B.npy.

    Blocks always hold BLOCK texts of the full list (the last one fewer), so a later call with
    a larger limit reuses them. An interrupted run keeps its finished blocks.
    """
    limit = len(texts) if limit is None else min(limit, len(texts))
    from tqdm import tqdm

    from index.embedder import MiniLMEmbedder

    embedder = MiniLMEmbedder(batch_size=64)
    directory.mkdir(parents=True, exist_ok=True)
    parts = []
    for start in tqdm(range(0, limit, BLOCK), desc=desc, unit="block"):
        part = directory / f"{start:07d}-{BLOCK}.npy"
        if not part.is_file():
            block = embedder.embed(texts[start:start + BLOCK])
            np.save(directory / f".{part.name}.tmp.npy", block)
            (directory / f".{part.name}.tmp.npy").replace(part)
        parts.append(np.load(part))
    if not parts:
        return np.zeros((0, embedder.dimension), np.float32)
    return np.concatenate(parts)[:limit]


def real_vectors(cache: Path = BENCH_DIR, limit: int = REAL_LIMIT
                 ) -> tuple[list[str], np.ndarray]:
    """(texts, unit MiniLM vectors) of the first `limit` real spans; embedded once, cached."""
    texts_file = cache / "real-texts.json"
    if texts_file.is_file():
        texts = json.loads(texts_file.read_text(encoding="utf-8"))
    else:
        texts = text_spans(corpus_texts())
        cache.mkdir(parents=True, exist_ok=True)
        texts_file.write_text(json.dumps(texts), encoding="utf-8")
    vectors = _embed_cached(texts, cache / "real-vectors",
                            f"embedding {min(limit, len(texts))} corpus spans (cached)", limit)
    return texts[:limit], vectors


def query_vectors(cache: Path = BENCH_DIR) -> np.ndarray:
    """Unit MiniLM vectors of the SQuAD questions (never part of a database); cached."""
    return _embed_cached(squad_questions(), cache / "query-vectors",
                         "embedding SQuAD questions (cached)")


def noisy_copies(vectors: np.ndarray, n: int, sigma: float = NOISE_SIGMA,
                 seed: int = 0) -> np.ndarray:
    """n unit vectors, row i = vectors[i % len] + N(0, sigma^2) per dimension, renormalized.

    Example: noisy_copies(v, 3 * len(v)) has three noisy variants of each real row.
    """
    rng = np.random.default_rng(seed)
    out = np.empty((n, vectors.shape[1]), dtype=np.float32)
    step = 100_000
    for start in range(0, n, step):
        rows = np.arange(start, min(n, start + step)) % len(vectors)
        block = vectors[rows] + rng.normal(0, sigma, (len(rows), vectors.shape[1]))
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[start:start + len(rows)] = block
    return out


def database(size: int, cache: Path = BENCH_DIR, real_limit: int = REAL_LIMIT
             ) -> tuple[np.ndarray, str]:
    """`size` database vectors and how they were made ("real" or "synthetic: ...")."""
    _, real = real_vectors(cache, min(size, real_limit))
    if size <= len(real):
        pick = np.random.default_rng(1).permutation(len(real))[:size]
        return np.ascontiguousarray(real[np.sort(pick)]), "real"
    return noisy_copies(real, size), (f"synthetic: {len(real)} real MiniLM vectors + gaussian "
                                      f"noise (sigma {NOISE_SIGMA}/dim), renormalized")

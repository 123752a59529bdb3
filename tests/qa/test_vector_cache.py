"""qa.vector_cache with the bag-of-words fake, whose `embedded` counter says what was embedded."""

from __future__ import annotations

import numpy as np
import pytest

from qa.vector_cache import VectorCache
from tests.fakes import FakeEmbedder


def test_vectors_are_the_embedders_and_each_text_is_embedded_once() -> None:
    embedder = FakeEmbedder()
    cache = VectorCache(embedder, max_entries=10)
    texts = ["Tai met Wang", "security initiative", "Tai met Wang"]
    first = cache.embed(texts)
    assert embedder.embedded == 2  # the repeated text within one call too
    np.testing.assert_array_equal(first, FakeEmbedder().embed(texts))
    assert first.dtype == np.float32 and first.shape == (3, embedder.dimension)
    again = cache.embed(["security initiative", "Tai met Wang", "launched"])
    assert embedder.embedded == 3  # only "launched" is new
    np.testing.assert_array_equal(again[:2], first[[1, 0]])
    # Each kept vector owns its 1.5 KB, rather than pinning the batch matrix it came from.
    assert all(v.base is None for v in cache._vectors.values())


def test_the_least_recently_used_text_goes_first() -> None:
    embedder = FakeEmbedder()
    cache = VectorCache(embedder, max_entries=2)
    cache.embed(["a", "b"])
    cache.embed(["a"])  # a is now the more recent
    cache.embed(["c"])  # b goes
    assert len(cache) == 2
    before = embedder.embedded
    cache.embed(["a", "c"])
    assert embedder.embedded == before
    cache.embed(["b"])
    assert embedder.embedded == before + 1


def test_no_texts_and_no_cache() -> None:
    embedder = FakeEmbedder()
    assert VectorCache(embedder, 5).embed([]).shape == (0, embedder.dimension)
    off = VectorCache(embedder, 0)
    off.embed(["tai"])
    off.embed(["tai"])
    assert embedder.embedded == 2 and len(off) == 0
    with pytest.raises(ValueError, match="max_entries"):
        VectorCache(embedder, -1)

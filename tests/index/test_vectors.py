"""index.vectors: exact below the threshold, IVF above it with nprobe chosen by measured recall.

Sizes are small and the threshold is lowered, so the approximate path runs in well under a
second; vectors are seeded random unit rows around a few centres, so neighbours mean something.
"""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from index.vectors import (
    EXACT_MAX_VECTORS,
    build_vector_index,
    configure_search,
    exact_top_k,
    ivf_lists,
    measure_recall,
    read_vectors,
    recall_at_k,
)


def unit_rows(n: int, d: int = 16, seed: int = 0) -> np.ndarray:
    """n unit vectors around 20 random centres."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(20, d))
    rows = centres[rng.integers(0, 20, n)] + 0.3 * rng.normal(size=(n, d))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_recall_at_k_counts_shared_ids_per_row() -> None:
    found = np.array([[1, 2], [3, -1]])
    truth = np.array([[2, 1], [3, 4]])
    assert recall_at_k(found, truth, 2) == 0.75
    assert recall_at_k(np.zeros((0, 2)), np.zeros((0, 2)), 2) == 1.0


@pytest.mark.parametrize("block", [7, 1 << 17])
def test_exact_top_k_agrees_with_faiss_flat_search(block: int) -> None:
    rows, queries = unit_rows(500, seed=1), unit_rows(30, seed=2)
    flat = faiss.IndexFlatIP(rows.shape[1])
    flat.add(rows)
    scores, expected = flat.search(queries, 10)
    found = exact_top_k(queries, rows, 10, block=block)
    assert found.shape == (30, 10)
    # Same ids, best first; where two scores tie to float precision the order may differ.
    got_scores = np.take_along_axis(queries @ rows.T, found, axis=1)
    np.testing.assert_allclose(got_scores, scores, atol=1e-5)
    assert recall_at_k(found, expected, 10) > 0.99


def test_exact_top_k_breaks_ties_by_row_and_caps_k_at_the_rows() -> None:
    rows = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.6, 0.8]], dtype=np.float32)
    assert exact_top_k(np.array([[1.0, 0.0]]), rows, 3).tolist() == [[1, 2, 3]]
    assert exact_top_k(np.array([[1.0, 0.0]]), rows, 10, block=3).tolist() == [[1, 2, 3, 0]]


def test_ivf_lists_grow_with_the_square_root_and_stay_trainable() -> None:
    assert ivf_lists(100_000) == 512
    assert ivf_lists(200_000) == 512
    assert ivf_lists(1_000_000) == 2048
    assert ivf_lists(600) * 40 <= 600
    assert ivf_lists(10) == 1


def test_small_sets_get_exact_search_over_float16_vectors() -> None:
    vectors = unit_rows(50)
    index, info = build_vector_index(vectors)
    assert isinstance(index, faiss.IndexScalarQuantizer)
    assert info["kind"] == "IndexScalarQuantizer" and info["storage"] == "float16"
    assert index.sa_code_size() == 2 * 16  # two bytes per dimension: half of float32
    assert info["exact_max"] == EXACT_MAX_VECTORS
    assert info["vectors"] == 50 and info["dimension"] == 16
    assert info["recall_at_10"] == 1.0  # measured against float32 exact search
    _, ids = index.search(vectors[:3], 1)
    assert ids[:, 0].tolist() == [0, 1, 2]


def test_float32_storage_keeps_the_vectors_exactly() -> None:
    vectors = unit_rows(50)
    index, info = build_vector_index(vectors, storage="float32")
    assert info["kind"] == "IndexFlatIP" and info["storage"] == "float32"
    assert np.array_equal(read_vectors(index), vectors)


@pytest.mark.parametrize("exact_max", [20_000, 100])
def test_stored_vectors_read_back_within_float16_rounding(exact_max: int) -> None:
    vectors = unit_rows(3000)
    index, _ = build_vector_index(vectors, exact_max=exact_max, recall_queries=20)
    back = read_vectors(faiss.deserialize_index(faiss.serialize_index(index)))
    assert back.dtype == np.float32 and back.shape == vectors.shape
    assert np.abs(back - vectors).max() < 1e-3
    # stored again (an unchanged document carried into the next generation): bit-identical
    again, _ = build_vector_index(back, exact_max=exact_max, recall_queries=20)
    assert np.array_equal(read_vectors(again), back)


def test_large_sets_get_ivf_with_the_smallest_nprobe_reaching_the_target_on_queries() -> None:
    vectors = unit_rows(3000)
    queries = unit_rows(40, seed=1)
    index, info = build_vector_index(vectors, exact_max=100, queries=queries)
    assert info["kind"] == "IndexIVFScalarQuantizer" and info["storage"] == "float16"
    assert info["params"]["nlist"] == ivf_lists(3000)
    assert info["calibrated_on"] == "queries" and info["nprobe_margin"] == 1
    assert info["recall_queries"] == 40
    chosen = info["params"]["nprobe"]
    assert info["recall_at_10"] >= 0.95
    assert info["recall_by_nprobe"][str(chosen)] == info["recall_at_10"]
    assert all(r < 0.95 for p, r in info["recall_by_nprobe"].items() if int(p) < chosen)
    assert index.ntotal == 3000 and faiss.extract_index_ivf(index).nprobe == chosen


def test_without_queries_stored_rows_calibrate_with_a_margin() -> None:
    vectors = unit_rows(3000)
    index, info = build_vector_index(vectors, exact_max=100, recall_queries=50,
                                     nprobe_candidates=(1, 2, 4))
    assert info["calibrated_on"] == "stored rows" and info["nprobe_margin"] == 4
    found = min(int(p) for p, r in info["recall_by_nprobe"].items() if r >= 0.95)
    assert info["params"]["nprobe"] == min(info["params"]["nlist"], 4 * found)
    assert measure_recall(index, vectors, queries=50) == pytest.approx(info["recall_at_10"])


def test_an_unreachable_target_keeps_the_largest_nprobe_tried() -> None:
    _, info = build_vector_index(unit_rows(3000), exact_max=100, target_recall=1.0,
                                 nprobe_candidates=(1, 2), queries=unit_rows(30, seed=1))
    assert info["params"]["nprobe"] == 2
    assert 0.0 < info["recall_at_10"] < 1.0


def test_configure_search_restores_nprobe_after_loading() -> None:
    index, info = build_vector_index(unit_rows(3000), exact_max=100, recall_queries=20)
    loaded = faiss.deserialize_index(faiss.serialize_index(index))
    faiss.extract_index_ivf(loaded).nprobe = 1
    configure_search(loaded, info)
    assert faiss.extract_index_ivf(loaded).nprobe == info["params"]["nprobe"]


def test_configure_search_refuses_a_description_of_another_kind() -> None:
    _, info = build_vector_index(unit_rows(3000), exact_max=100, recall_queries=20)
    with pytest.raises(ValueError, match=r"IndexIVFScalarQuantizer.*IndexFlatIP.*rebuild"):
        configure_search(faiss.IndexFlatIP(16), info)


def test_bad_input_names_the_shape_and_the_fix() -> None:
    with pytest.raises(ValueError, match=r"shape \(16,\).*reshape"):
        build_vector_index(unit_rows(1)[0])
    with pytest.raises(ValueError, match="exact_max >= 0"):
        build_vector_index(unit_rows(5), exact_max=-1)
    with pytest.raises(ValueError, match="storage must be one of float16, float32"):
        build_vector_index(unit_rows(5), storage="int8")

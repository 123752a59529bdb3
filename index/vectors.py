"""Choose and build the FAISS index for a set of unit vectors: exact when small, IVF when large.

Exact inner-product search (IndexFlatIP) costs 40-100 ns per stored 384-dim vector per single
query on this machine, more once the vectors outgrow the CPU cache, so it stays under 2 ms up to
about EXACT_MAX_VECTORS rows. Above that,
an inverted-file index (IndexIVFFlat, ~2 sqrt(n) k-means lists) answers in well under a
millisecond. `python -m bench.retrieval` measured both it and HNSW (docs/PERFORMANCE.md): at
1e6 vectors IVF reached recall@10 0.97 at 0.27 ms, while HNSW (M 32, efConstruction 40) stayed
below 0.86 even at efSearch 256, and took longer to build.

nprobe is not guessed: the build measures recall@10 against exact search for growing nprobe
and keeps the smallest that reaches `target_recall`. Best measured on real queries (pass
`queries`, e.g. embedded questions); without them it is measured on a sample of the stored rows
and multiplied by SELF_QUERY_MARGIN, because stored rows are easier queries than questions: at
1e5 vectors nprobe 4 gave 0.994 on stored rows but 0.90 on SQuAD questions, which needed 16.

The description returned with the index is meant for the manifest (kind, parameters,
threshold, measured recall), and `configure_search` applies it again after loading: the
manifest, not the FAISS file, is the record of the search-time settings.

Vectors are stored as float16 by default (faiss's QT_fp16 scalar quantizer, flat or inside the
IVF lists): half the memory and disk of float32, and a faster exact scan (22 vs 38 ms per query
at 1e5 vectors, bench.retrieval), at recall@10 0.9996 against float32 exact search. So even the
"exact" kind has its recall measured on build, against float32 exact search.

Does not read or write files (see index.store) and does not embed anything. Row i of the
returned index is row i of `vectors`, as for IndexFlatIP.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import faiss
import numpy as np

# From bench.retrieval on this 2-core machine: exact single-query p50 0.40 ms at 1e4 rows,
# 2.42 ms at 2.5e4, 11.4 ms at 1e5 (past the CPU cache the scan is memory-bound), so the 2 ms
# line is near 2e4.
EXACT_MAX_VECTORS = 20_000
NPROBE_CANDIDATES = (4, 8, 16, 32, 64, 128)
TARGET_RECALL = 0.95
# Lists ~ 2 sqrt(n), the low end of faiss's usual 4-16 sqrt(n): training and assigning cost in
# proportion to the lists, scanning in inverse proportion. At 200k vectors 512 lists built in
# 1.7-1.9 s instead of 3.1-3.3 s with 1024, for a query p50 of 0.22 instead of 0.19 ms and
# SQuAD-question recall@10 0.967 instead of 0.973 at the calibrated nprobe (var/exp/lists.py).
LISTS_PER_SQRT = 2
# k-means training: faiss wants at least 39 points per list. 5 iterations instead of faiss's
# 10: at 200k vectors training took 3.0-3.4 s instead of 4.0-4.9 s, and recall@10 on 1,000
# SQuAD questions at the same nprobe was 0.973 instead of 0.978 (nprobe is calibrated anyway).
TRAIN_PER_LIST = 40
KMEANS_ITERATIONS = 5
# Stored rows used to measure recall on build: 100 x 10 neighbours put the estimate within about
# +-0.007 of the truth; the exact search behind it (exact_top_k) costs ~0.6 s of one core at
# 200k vectors (faiss IndexFlatIP.search: 2.3 s).
RECALL_QUERIES = 100
RECALL_K = 10
# nprobe found on stored rows x this = what real questions needed (bench.retrieval --module).
SELF_QUERY_MARGIN = 4
STORAGES = ("float16", "float32")
DEFAULT_STORAGE = "float16"


def recall_at_k(found: np.ndarray, truth: np.ndarray, k: int = RECALL_K) -> float:
    """Mean share of each row's true k nearest ids that were found (ids < 0 never match).

    Example: recall_at_k(np.array([[1, 2], [3, -1]]), np.array([[2, 1], [3, 4]]), 2) -> 0.75
    """
    if len(truth) == 0:
        return 1.0
    hits = 0
    for got, want in zip(found[:, :k], truth[:, :k], strict=True):
        hits += len(set(got[got >= 0].tolist()) & set(want.tolist()))
    return hits / (len(truth) * k)


def ivf_lists(n: int) -> int:
    """Inverted lists for n vectors: a power of two near LISTS_PER_SQRT sqrt(n), trainable
    from n points.

    Example: ivf_lists(200_000) -> 512; ivf_lists(1_000_000) -> 2048; ivf_lists(600) -> 8
    """
    target = LISTS_PER_SQRT * n ** 0.5
    lists = 1
    while lists * 2 <= target * 1.1 and lists * 2 * TRAIN_PER_LIST <= max(n, TRAIN_PER_LIST):
        lists *= 2
    return lists


def _as_matrix(vectors: np.ndarray) -> np.ndarray:
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-d (rows, dimension) array, got shape "
                         f"{vectors.shape}; reshape a single vector with v.reshape(1, -1)")
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _drop_self(ids: np.ndarray, own: np.ndarray, k: int) -> np.ndarray:
    """Each row's ids without its own row number, cut (or padded with -1) to k.

    Example: _drop_self(np.array([[5, 1, 2]]), np.array([5]), 2) -> [[1, 2]]
    """
    out = np.full((len(ids), k), -1, dtype=np.int64)
    for i, (row, me) in enumerate(zip(ids, own, strict=True)):
        kept = row[row != me][:k]
        out[i, :len(kept)] = kept
    return out


def exact_top_k(queries: np.ndarray, vectors: np.ndarray, k: int,
                block: int = 1 << 17) -> np.ndarray:
    """Row ids of each query's k largest inner products with `vectors`, best first (float32,
    exhaustive; equal scores in row order).

    One matrix product per block of rows and a value-only partition to find each block's k-th
    score: 0.35 s for 100 queries over 200k rows here, where IndexFlatIP.search, which keeps a
    heap per query, takes 2 s.
    Example: exact_top_k(np.array([[1., 0.]]), np.array([[0., 1.], [1., 0.], [.5, .5]]), 2)
        -> [[1, 2]]
    """
    queries, vectors = _as_matrix(queries), _as_matrix(vectors)
    n = len(vectors)
    k = min(k, n)
    ids: list[list[np.ndarray]] = [[] for _ in queries]
    scores: list[list[np.ndarray]] = [[] for _ in queries]
    for start in range(0, n, block):
        part = queries @ vectors[start:start + block].T
        keep = min(k, part.shape[1])
        kth = np.partition(part, -keep, axis=1)[:, -keep]
        for i, (row, bound) in enumerate(zip(part, kth, strict=True)):
            kept = np.flatnonzero(row >= bound)
            ids[i].append(kept + start)
            scores[i].append(row[kept])
    top = np.empty((len(queries), k), dtype=np.int64)
    for i in range(len(queries)):
        row_ids, row_scores = np.concatenate(ids[i]), np.concatenate(scores[i])
        top[i] = row_ids[np.lexsort((row_ids, -row_scores))[:k]]
    return top


class _RecallProbe:
    """Queries with their exact top k, to score an approximate index against.

    Without `queries`, a random sample of the stored rows is the query set; each finds itself
    first in any search, so the self match is dropped and the next k neighbours are compared.
    """

    def __init__(self, vectors: np.ndarray, sample: int, k: int, seed: int = 0,
                 queries: np.ndarray | None = None) -> None:
        n = len(vectors)
        if queries is not None:
            self.rows = None
            self.k = min(k, n)
            self.sample = _as_matrix(queries)
            self.truth = exact_top_k(self.sample, vectors, self.k)
            return
        self.k = min(k, max(0, n - 1))
        self.rows = np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False)
        self.sample = vectors[self.rows]
        self.truth = _drop_self(exact_top_k(self.sample, vectors, self.k + 1), self.rows, self.k)

    def recall(self, index: faiss.Index) -> float:
        if self.k == 0:
            return 1.0
        if self.rows is None:
            return recall_at_k(index.search(self.sample, self.k)[1], self.truth, self.k)
        _, found = index.search(self.sample, self.k + 1)
        return recall_at_k(_drop_self(found, self.rows, self.k), self.truth, self.k)


def _flat_index(dimension: int, storage: str) -> faiss.Index:
    if storage == "float16":
        return faiss.IndexScalarQuantizer(dimension, faiss.ScalarQuantizer.QT_fp16,
                                          faiss.METRIC_INNER_PRODUCT)
    return faiss.IndexFlatIP(dimension)


def _ivf_index(dimension: int, lists: int, storage: str) -> faiss.Index:
    quantizer = faiss.IndexFlatIP(dimension)
    if storage == "float16":
        index = faiss.IndexIVFScalarQuantizer(quantizer, dimension, lists,
                                              faiss.ScalarQuantizer.QT_fp16,
                                              faiss.METRIC_INNER_PRODUCT)
        # Store the vectors themselves, not their residuals from the list centroid: then
        # reading them back and storing them again (reused documents) is exact.
        index.by_residual = False
    else:
        index = faiss.IndexIVFFlat(quantizer, dimension, lists, faiss.METRIC_INNER_PRODUCT)
    return index


def kind_of(index: faiss.Index) -> str:
    """The FAISS class name of `index`, as recorded in the manifest ("IndexFlatIP", ...)."""
    return type(faiss.downcast_index(index)).__name__


def read_vectors(index: faiss.Index) -> np.ndarray:
    """Every stored vector, in row order, as float32 (float16 storage comes back widened).

    Example: read_vectors(build_vector_index(np.eye(2, dtype=np.float32))[0]) -> [[1, 0], [0, 1]]
    """
    if index.ntotal == 0:
        return np.zeros((0, index.d), dtype=np.float32)
    if kind_of(index).startswith("IndexIVF"):
        faiss.extract_index_ivf(index).make_direct_map()
    return np.asarray(index.reconstruct_n(0, index.ntotal), dtype=np.float32)


def measure_recall(index: faiss.Index, vectors: np.ndarray, queries: int = RECALL_QUERIES,
                   k: int = RECALL_K, seed: int = 0) -> float:
    """recall@k of `index` vs exact search, querying with a random sample of its own rows."""
    return _RecallProbe(_as_matrix(vectors), queries, k, seed).recall(index)


def build_vector_index(
    vectors: np.ndarray,
    *,
    exact_max: int = EXACT_MAX_VECTORS,
    target_recall: float = TARGET_RECALL,
    nprobe_candidates: Sequence[int] = NPROBE_CANDIDATES,
    recall_queries: int = RECALL_QUERIES,
    queries: np.ndarray | None = None,
    seed: int = 0,
    storage: str = DEFAULT_STORAGE,
) -> tuple[faiss.Index, dict[str, Any]]:
    """An inner-product index over `vectors` (unit rows) and its description for the manifest.

    At most `exact_max` rows: a flat index, every row scanned (IndexScalarQuantizer for float16
    `storage`, IndexFlatIP for float32). More: an IVF index (IndexIVFScalarQuantizer or
    IndexIVFFlat) with ivf_lists(n) lists, searched with the smallest nprobe of
    `nprobe_candidates` whose recall@10 vs exact reaches `target_recall` (else the largest
    candidate), measured on `queries` when given, else on `recall_queries` of its own rows and
    then multiplied by SELF_QUERY_MARGIN. Recall is always against float32 exact search.
    Example: build_vector_index(np.eye(3, dtype=np.float32))[1]
        -> {"kind": "IndexScalarQuantizer", "storage": "float16", "recall_at_10": 1.0, ...}
    """
    vectors = _as_matrix(vectors)
    if exact_max < 0 or not 0 < target_recall <= 1 or not nprobe_candidates \
            or min(nprobe_candidates) < 1:
        raise ValueError("need exact_max >= 0, 0 < target_recall <= 1 and positive "
                         f"nprobe_candidates (got {exact_max}, {target_recall}, "
                         f"{list(nprobe_candidates)})")
    if storage not in STORAGES:
        raise ValueError(f"storage must be one of {', '.join(STORAGES)}, got {storage!r}")
    n, dimension = vectors.shape
    info: dict[str, Any] = {"vectors": n, "dimension": dimension, "exact_max": exact_max,
                            "metric": "inner_product", "storage": storage}
    if n <= exact_max:
        index = _flat_index(dimension, storage)
        index.add(vectors)
        if storage == "float32":
            recall = 1.0  # the same scan as the truth
        else:
            recall = round(_RecallProbe(vectors, recall_queries, RECALL_K, seed,
                                        queries).recall(index), 4)
        return index, {"kind": kind_of(index), **info, "params": {},
                       f"recall_at_{RECALL_K}": recall,
                       "recall_queries": min(n, recall_queries) if queries is None
                       else len(queries)}

    lists = ivf_lists(n)
    index = _ivf_index(dimension, lists, storage)
    index.cp.niter = KMEANS_ITERATIONS
    index.cp.seed = seed
    train = np.random.default_rng(seed).permutation(n)[:TRAIN_PER_LIST * lists]
    index.train(vectors[np.sort(train)])
    index.add(vectors)

    probe = _RecallProbe(vectors, recall_queries, RECALL_K, seed, queries)
    measured: dict[int, float] = {}
    for nprobe in sorted(p for p in set(nprobe_candidates) if p <= lists) or [lists]:
        index.nprobe = nprobe
        measured[nprobe] = round(probe.recall(index), 4)
        if measured[nprobe] >= target_recall:
            break
    found = max(measured) if max(measured.values()) < target_recall else min(
        p for p, r in measured.items() if r >= target_recall)
    margin = 1 if queries is not None else SELF_QUERY_MARGIN
    chosen = min(lists, found * margin)
    index.nprobe = chosen
    if chosen not in measured:
        measured[chosen] = round(probe.recall(index), 4)
    return index, {"kind": kind_of(index), **info,
                   "params": {"nlist": lists, "nprobe": chosen},
                   f"recall_at_{RECALL_K}": measured[chosen], "target_recall": target_recall,
                   "calibrated_on": "queries" if queries is not None else "stored rows",
                   "nprobe_margin": margin,
                   "recall_by_nprobe": {str(p): r for p, r in sorted(measured.items())},
                   "recall_queries": len(probe.sample)}


def configure_search(index: faiss.Index, info: dict[str, Any]) -> None:
    """Apply the search-time parameters of `info` (as built) to an index read back from disk.

    The manifest is the record of these settings, whatever the FAISS file kept, so call this
    after loading. Raises ValueError naming the mismatch when `info` describes another kind.
    """
    kind = info.get("kind")
    params = info.get("params") or {}
    actual = kind_of(index)
    if kind != actual:
        raise ValueError(f"the index description says {kind!r} but the loaded index is "
                         f"{actual!r}; rebuild the index so its manifest matches")
    if actual.startswith("IndexIVF"):
        faiss.extract_index_ivf(index).nprobe = int(params["nprobe"])
    elif kind == "IndexHNSWFlat":
        faiss.downcast_index(index).hnsw.efSearch = int(params["efSearch"])

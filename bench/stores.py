"""bench.stores: the two vector stores at one size: single-query dense and lexical latency,
dense recall@10 against exact float32 search, and build time; Milvus as a ratio to FAISS
measured in the same run.

Both stores are written through the seam (index.vector_store: FaissStore.add, MilvusStore.add)
with the same synthetic chunks: random unit vectors in clusters (queries are noisy copies of
stored rows, never stored themselves) and texts of words drawn from a Zipf-like vocabulary, so
BM25 has common and rare words to weigh. FAISS chooses its index as an ingest does (exact up
to 20,000 chunks, IVF with a calibrated nprobe above); Milvus uses FLAT (exact) by default, or
--milvus-index. One thread, one query at a time, as the app searches.

Does not embed anything and does not measure the pipeline around retrieval (bench.answer).
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import hashlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import bench_parser, median, percentile, ratio, write_result  # noqa: E402

EXAMPLES = """\
  python -m bench.stores                           # 1e5 chunks, FAISS vs milvus-lite FLAT
  python -m bench.stores --size 20000 --repeats 5
  python -m bench.stores --milvus-index HNSW --out var/bench/stores-hnsw.json
"""
DIMENSION = 384
K = 10
VOCABULARY = 20_000
WORDS_PER_CHUNK = 40
MODEL_ID = "bench/synthetic"


def synthetic(size: int, queries: int, seed: int = 0) -> tuple[Any, Any, list[str], list[str]]:
    """(unit vectors, query vectors, chunk texts, query texts): `size` rows in ~sqrt(size)
    clusters; queries are stored rows plus noise; texts use word i with weight 1/(i+10)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((max(8, int(size ** 0.5)), DIMENSION)).astype(np.float32)
    vectors = centres[rng.integers(0, len(centres), size)] + 0.6 * rng.standard_normal(
        (size, DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    picked = rng.choice(size, queries, replace=False)
    query = vectors[picked] + 0.05 * rng.standard_normal((queries, DIMENSION)).astype(
        np.float32)
    query /= np.linalg.norm(query, axis=1, keepdims=True)
    weights = 1 / (np.arange(VOCABULARY) + 10)
    weights /= weights.sum()
    ids = rng.choice(VOCABULARY, (size, WORDS_PER_CHUNK), p=weights)
    texts = [" ".join(f"w{i}" for i in row) for row in ids]
    query_texts = [" ".join(f"w{i}" for i in rng.choice(VOCABULARY, 4, p=weights))
                   for _ in range(queries)]
    return vectors, query, texts, query_texts


def fill(store: Any, vectors: Any, texts: list[str]) -> float:
    """Write the chunks as one document per 50 chunks; the seconds it took."""
    from common.records import Chunk, Document

    documents, chunks = [], []
    for start in range(0, len(texts), 50):
        doc_id = f"doc{start // 50:06d}.txt"
        part = texts[start:start + 50]
        text = "\n".join(part)
        documents.append(Document(doc_id, doc_id, text, doc_id,
                                  hashlib.sha256(text.encode()).hexdigest()))
        at = 0
        for i, piece in enumerate(part):
            chunks.append(Chunk(doc_id, f"{doc_id}#{i}", piece, at, at + len(piece), doc_id))
            at += len(piece) + 1
    begun = time.perf_counter()
    store.add(documents, chunks, vectors)
    return time.perf_counter() - begun


def timed(search: Any, items: Any, repeats: int) -> dict[str, float]:
    """p50/p95 single-query latency in ms: the median over `repeats` passes of each pass's."""
    p50s, p95s = [], []
    for _ in range(repeats):
        times = []
        for item in items:
            begun = time.perf_counter()
            search(item)
            times.append((time.perf_counter() - begun) * 1000)
        p50s.append(percentile(times, 50))
        p95s.append(percentile(times, 95))
    return {"p50_ms": round(median(p50s), 3), "p95_ms": round(median(p95s), 3)}


def measure(store: Any, vectors: Any, queries: Any, query_texts: list[str], truth: Any,
            repeats: int) -> dict[str, Any]:
    """Latencies and recall@10 of one filled store (rows map back to chunk ids)."""
    from index.vectors import recall_at_k

    def position(chunk_id: str) -> int:
        doc, i = chunk_id.split("#")
        return int(doc[3:9]) * 50 + int(i)

    found = []
    for q in queries:
        rows = [r for r, _ in store.search_dense(q, K)]
        found.append([position(c.chunk_id) for c in store.chunks(rows)])
    import numpy as np

    return {"dense": timed(lambda q: store.search_dense(q, K), queries, repeats),
            "lexical": timed(lambda t: store.search_lexical(t, 20), query_texts, repeats),
            "recall_at_10": round(recall_at_k(np.array(found), truth, K), 4)}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("stores", "FAISS + SQLite vs Milvus (milvus-lite): single-query "
                          "latency, dense recall@10 vs exact, build time.", EXAMPLES, repeats=3)
    parser.add_argument("--size", type=int, default=100_000, metavar="N",
                        help="chunks (default 100000)")
    parser.add_argument("--queries", type=int, default=200, metavar="N",
                        help="queries per pass (default 200)")
    parser.add_argument("--milvus-index", default="FLAT", choices=["FLAT", "HNSW", "IVF_FLAT"],
                        help="Milvus dense index (default FLAT: exact)")
    args = parser.parse_args(argv)
    if args.size < 1000 or args.queries < 10:
        parser.error("--size must be >= 1000 and --queries >= 10")

    import faiss

    from index.faiss_store import FaissStore
    from index.milvus_store import MilvusStore
    from index.vectors import exact_top_k

    faiss.omp_set_num_threads(1)
    vectors, queries, texts, query_texts = synthetic(args.size, args.queries)
    truth = exact_top_k(queries, vectors, K)
    results: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-stores-"))
    try:
        stores = {"faiss": FaissStore(work / "faiss", MODEL_ID, DIMENSION),
                  "milvus-lite": MilvusStore(work / "milvus", str(work / "milvus.db"), MODEL_ID,
                                             DIMENSION, dense_index=args.milvus_index)}
        for name, store in stores.items():
            print(f"{name}: writing {args.size} chunks", flush=True)
            built = fill(store, vectors, texts)
            store.reload()
            results[name] = {"build_s": round(built, 1), **measure(
                store, vectors, queries, query_texts, truth, args.repeats),
                "search": store.manifest.get("faiss_index", {})}
            print(f"  {results[name]}", flush=True)
            store.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    base, other = results["faiss"], results["milvus-lite"]
    ratios = {"dense_p50": ratio(other["dense"]["p50_ms"], base["dense"]["p50_ms"]),
              "lexical_p50": ratio(other["lexical"]["p50_ms"], base["lexical"]["p50_ms"]),
              "build": ratio(other["build_s"], base["build_s"])}
    write_result(args.out, {"bench": "stores", "size": args.size, "k": K,
                            "queries": args.queries, "repeats": args.repeats,
                            "milvus_index": args.milvus_index, "results": results,
                            "milvus_over_faiss": {k: round(v, 2) if v else v
                                                  for k, v in ratios.items()}})
    print("\nstore         dense p50 ms  lexical p50 ms  recall@10  build s")
    for name, r in results.items():
        print(f"{name:<13} {r['dense']['p50_ms']:12.2f}  {r['lexical']['p50_ms']:14.2f}  "
              f"{r['recall_at_10']:9.3f}  {r['build_s']:7.1f}")
    print(f"milvus-lite / FAISS: {ratios}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

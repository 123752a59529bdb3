"""bench.retrieval: single-query dense search latency and recall@10, exact vs HNSW vs IVF.

For each database size, in its own child process (clean peak memory): exact IndexFlatIP is the
baseline (its latency, and its top 10 as the truth for recall); then HNSW over efSearch values
and IVF over nprobe values, one query at a time with faiss.omp_set_num_threads(1); then the
same chosen configurations with 2 threads. Queries are SQuAD questions embedded with MiniLM
(never in the database). Vectors come from bench.data: real MiniLM vectors up to --real (10240
by default), noisy copies of them beyond (said so in each result).

Does not change index/vectors.py: its EXACT_MAX_VECTORS and its choice of IVF were set by hand
from these results (docs/PERFORMANCE.md).
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_DIR,
    bench_parser,
    median,
    percentile,
    ratio,
    run_child,
    write_result,
)

EXAMPLES = """\
  python -m bench.retrieval                                   # 1e4, 1e5, 1e6 vectors
  python -m bench.retrieval --sizes 10000 100000 --repeats 5
  python -m bench.retrieval --sizes 1000000 --out var/bench/retrieval-1e6.json
  python -m bench.retrieval --sizes 100000 --module --out var/bench/retrieval-module.json
  python -m bench.retrieval --sizes 1000000 --module-only --out var/bench/retrieval-store.json
"""
EF_SEARCH = (16, 32, 64, 96, 128, 256)
NPROBE = (1, 4, 8, 16, 32, 64, 128)
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 40
IVF_TRAIN_PER_LIST = 40
IVF_NITER = 10
TARGET_P50_MS = 2.0
TARGET_RECALL = 0.95
K = 10


def time_queries(index: Any, queries: Any, repeats: int, k: int = K) -> dict[str, float]:
    """p50/p95 single-query latency in ms: median over `repeats` passes of each pass's value."""
    p50s, p95s = [], []
    for _ in range(repeats):
        times = []
        for i in range(len(queries)):
            begun = time.perf_counter()
            index.search(queries[i:i + 1], k)
            times.append((time.perf_counter() - begun) * 1000)
        p50s.append(percentile(times, 50))
        p95s.append(percentile(times, 95))
    return {"p50_ms": median(p50s), "p95_ms": median(p95s)}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def ivf_nlist(n: int) -> int:
    """Inverted lists for n vectors: about 4 sqrt(n), a power of two, at least 16.

    Example: ivf_nlist(10_000) -> 256; ivf_nlist(1_000_000) -> 4096
    """
    target = 4 * n ** 0.5
    nlist = 16
    while nlist * 2 <= target * 1.1:
        nlist *= 2
    return nlist


def prepare_size(size: int, cache: str, real_limit: int) -> dict[str, Any]:
    """Write the database of `size` vectors and the queries as .npy files (child process)."""
    import numpy as np

    from bench.data import database, query_vectors

    directory = Path(cache)
    vectors_file = directory / f"retrieval-db-{size}-real{real_limit}.npy"
    origin_file = vectors_file.with_suffix(".json")
    if not origin_file.is_file():
        vectors, origin = database(size, directory, real_limit)
        np.save(vectors_file, vectors)
        origin_file.write_text(json.dumps(origin), encoding="utf-8")
    queries_file = directory / "retrieval-queries.npy"
    if not queries_file.is_file():
        np.save(queries_file, query_vectors(directory))
    return {"vectors_file": str(vectors_file), "queries_file": str(queries_file),
            "origin": json.loads(origin_file.read_text(encoding="utf-8"))}


def measure_size(vectors_file: str, queries_file: str, origin: str, repeats: int,
                 latency_queries: int, recall_queries: int, ef_search: list[int],
                 nprobe: list[int], module: bool = False, sweep: bool = True
                 ) -> dict[str, Any]:
    """Every configuration on one database (run in a child process for a clean peak).

    module=True also builds index.vectors.build_vector_index's own choice (what index.store
    builds) and scores it on the same (SQuAD question) queries; sweep=False skips the HNSW
    and IVF sweeps, leaving exact search as the baseline.
    """
    import faiss
    import numpy as np

    from index.vectors import recall_at_k

    faiss.omp_set_num_threads(1)
    vectors = np.load(vectors_file)
    queries = np.load(queries_file)
    size = len(vectors)
    recall_q = np.ascontiguousarray(queries[:recall_queries])
    latency_q = np.ascontiguousarray(queries[-latency_queries:])
    d = vectors.shape[1]

    exact = faiss.IndexFlatIP(d)
    exact.add(vectors)
    faiss.omp_set_num_threads(2)  # the truth in one batched (BLAS) call; not timed
    _, truth = exact.search(recall_q, K)
    faiss.omp_set_num_threads(1)
    exact_lat = time_queries(exact, latency_q, repeats)
    rows: list[dict[str, Any]] = [{"kind": "IndexFlatIP", "params": {}, **exact_lat,
                                   "recall_at_10": 1.0, "build_s": 0.0}]

    def row(kind: str, index: Any, params: dict[str, Any], build_s: float) -> dict[str, Any]:
        _, found = index.search(recall_q, K)
        lat = time_queries(index, latency_q, repeats)
        return {"kind": kind, "params": params, **lat,
                "recall_at_10": recall_at_k(found, truth, K), "build_s": build_s,
                "p50_vs_exact": ratio(lat["p50_ms"], exact_lat["p50_ms"])}

    if not sweep:
        return _module_only(vectors, rows, row, exact, latency_q, size, origin, d, recall_q)
    log(f"{size}: exact p50 {exact_lat['p50_ms']:.2f} ms; building HNSW")
    faiss.omp_set_num_threads(2)  # build with both cores; search timings use one
    begun = time.perf_counter()
    hnsw = faiss.IndexHNSWFlat(d, HNSW_M, faiss.METRIC_INNER_PRODUCT)
    hnsw.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
    hnsw.add(vectors)
    hnsw_build = time.perf_counter() - begun
    faiss.omp_set_num_threads(1)
    for ef in ef_search:
        hnsw.hnsw.efSearch = ef
        rows.append(row("IndexHNSWFlat", hnsw, {"M": HNSW_M, "efConstruction":
                                                HNSW_EF_CONSTRUCTION, "efSearch": ef},
                        hnsw_build))

    nlist = ivf_nlist(size)
    log(f"{size}: HNSW built in {hnsw_build:.0f} s; training IVF with {nlist} lists")
    faiss.omp_set_num_threads(2)
    begun = time.perf_counter()
    quantizer = faiss.IndexFlatIP(d)
    ivf = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
    ivf.cp.niter = IVF_NITER
    train = vectors[np.random.default_rng(0).permutation(size)[:IVF_TRAIN_PER_LIST * nlist]]
    ivf.train(train)
    ivf.add(vectors)
    ivf_build = time.perf_counter() - begun
    faiss.omp_set_num_threads(1)
    for probes in (p for p in nprobe if p <= nlist):
        ivf.nprobe = probes
        rows.append(row("IndexIVFFlat", ivf, {"nlist": nlist, "nprobe": probes}, ivf_build))

    log(f"{size}: IVF built in {ivf_build:.0f} s; 1 vs 2 threads")
    threads = []
    for kind, index in (("IndexFlatIP", exact), ("IndexHNSWFlat", hnsw),
                        ("IndexIVFFlat", ivf)):
        chosen = pick([r for r in rows if r["kind"] == kind])
        if kind == "IndexHNSWFlat":
            hnsw.hnsw.efSearch = chosen["params"]["efSearch"]
        elif kind == "IndexIVFFlat":
            ivf.nprobe = chosen["params"]["nprobe"]
        timings = {}
        for n_threads in (1, 2):
            faiss.omp_set_num_threads(n_threads)
            timings[f"p50_ms_{n_threads}_thread"] = time_queries(index, latency_q[:100],
                                                                 1)["p50_ms"]
        threads.append({"kind": kind, "params": chosen["params"], **timings})
    faiss.omp_set_num_threads(1)
    result = {"size": size, "vectors": origin, "dimension": d, "rows": rows, "threads": threads,
              "latency_queries": len(latency_q), "recall_queries": len(recall_q)}
    if module:
        del hnsw, ivf
        result["module"] = _build_module(vectors, row, size)[0]
    return result


def _build_module(vectors: Any, row: Any, size: int) -> tuple[dict[str, Any], Any]:
    """index.vectors' own choice, built with both cores and scored by `row`; (row, index)."""
    import faiss

    from index.vectors import build_vector_index

    log(f"{size}: index.vectors.build_vector_index")
    faiss.omp_set_num_threads(2)
    begun = time.perf_counter()
    index, info = build_vector_index(vectors)
    build_s = time.perf_counter() - begun
    faiss.omp_set_num_threads(1)
    return {**row(info["kind"], index, info["params"], build_s), "description": info}, index


def _module_only(vectors: Any, rows: list[dict[str, Any]], row: Any, exact: Any,
                 latency_q: Any, size: int, origin: Any, d: int, recall_q: Any
                 ) -> dict[str, Any]:
    """measure_size without the sweeps: exact search vs index.vectors' choice."""
    import faiss

    module, index = _build_module(vectors, row, size)
    info = module["description"]
    threads = []
    for kind, searched in (("IndexFlatIP", exact), (info["kind"], index)):
        timings = {}
        for n_threads in (1, 2):
            faiss.omp_set_num_threads(n_threads)
            timings[f"p50_ms_{n_threads}_thread"] = time_queries(searched, latency_q[:100],
                                                                 1)["p50_ms"]
        threads.append({"kind": kind, "params": info["params"] if searched is index else {},
                        **timings})
    faiss.omp_set_num_threads(1)
    return {"size": size, "vectors": origin, "dimension": d, "rows": rows, "threads": threads,
            "latency_queries": len(latency_q), "recall_queries": len(recall_q),
            "module": module}


def pick(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The fastest row (by p50) reaching the recall target, else the one with best recall.

    Example: pick([{"p50_ms": 1, "recall_at_10": 0.9}, {"p50_ms": 2, "recall_at_10": 0.97}])
        -> the second row
    """
    good = [r for r in rows if r["recall_at_10"] >= TARGET_RECALL]
    if good:
        return min(good, key=lambda r: r["p50_ms"])
    return max(rows, key=lambda r: (r["recall_at_10"], -r["p50_ms"]))


def summarize(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per size: exact, and the best HNSW and IVF settings meeting the recall target."""
    out = []
    for res in results:
        exact = next(r for r in res["rows"] if r["kind"] == "IndexFlatIP")
        best = {kind: pick([r for r in res["rows"] if r["kind"] == kind])
                for kind in ("IndexHNSWFlat", "IndexIVFFlat")
                if any(r["kind"] == kind for r in res["rows"])}
        if "module" in res:  # what the store builds, scored on the same questions
            best["module"] = res["module"]
        chosen = pick([exact, *best.values()]) if exact["p50_ms"] > TARGET_P50_MS else exact
        chosen_key = next((k for k, r in best.items() if r is chosen), "IndexFlatIP")
        out.append({"size": res["size"], "exact_p50_ms": exact["p50_ms"],
                    "exact_p95_ms": exact["p95_ms"], **{
                        kind: {k: r[k] for k in ("params", "p50_ms", "p95_ms", "recall_at_10",
                                                 "build_s", "p50_vs_exact")}
                        for kind, r in best.items()},
                    "chosen": chosen_key, "chosen_params": chosen["params"],
                    "target_met": chosen["p50_ms"] <= TARGET_P50_MS
                    and chosen["recall_at_10"] >= TARGET_RECALL,
                    "peak_rss_mb": res["peak_rss_mb"]})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("retrieval", "Single-query dense search latency (p50/p95, 1 thread) "
                          "and recall@10 vs exact search, for exact, HNSW and IVF indexes.",
                          EXAMPLES, repeats=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000],
                        metavar="N", help="database sizes (default 10000 100000 1000000)")
    parser.add_argument("--queries", type=int, default=300, metavar="N",
                        help="single queries timed per pass (default 300)")
    parser.add_argument("--recall-queries", type=int, default=1000, metavar="N",
                        help="queries scored for recall@10 (default 1000)")
    parser.add_argument("--module", action="store_true",
                        help="also build and score index.vectors.build_vector_index's choice")
    parser.add_argument("--module-only", action="store_true",
                        help="only exact search and index.vectors' choice (no HNSW/IVF sweep)")
    parser.add_argument("--real", type=int, default=10_240, metavar="N",
                        help="real MiniLM vectors to embed and cache (default 10240); "
                             "larger databases are noisy copies of them")
    args = parser.parse_args(argv)
    if min(args.sizes) < 100 or args.queries < 10 or args.recall_queries < 10:
        parser.error("--sizes must be >= 100, --queries and --recall-queries >= 10")
    from tqdm import tqdm

    results = []
    for size in tqdm(args.sizes, desc="database sizes", unit="size"):
        files = run_child("bench.retrieval:prepare_size", {"size": size, "cache": str(BENCH_DIR),
                                                           "real_limit": args.real})
        files.pop("peak_rss_mb")
        results.append(run_child("bench.retrieval:measure_size", {
            **files, "repeats": args.repeats, "latency_queries": args.queries,
            "recall_queries": args.recall_queries, "ef_search": list(EF_SEARCH),
            "nprobe": list(NPROBE), "module": args.module or args.module_only,
            "sweep": not args.module_only}))
        print_size(results[-1])
    summary = summarize(results)
    write_result(args.out, {"bench": "retrieval", "k": K, "target_p50_ms": TARGET_P50_MS,
                            "target_recall": TARGET_RECALL, "summary": summary,
                            "results": results})
    print("\nsize       exact p50   chosen                       p50 ms  recall@10  target")
    for s in summary:
        c = s[s["chosen"]] if s["chosen"] != "IndexFlatIP" else {
            "p50_ms": s["exact_p50_ms"], "recall_at_10": 1.0}
        print(f"{s['size']:<10} {s['exact_p50_ms']:8.2f}   {s['chosen']:<13}"
              f"{s['chosen_params']!s:<16}{c['p50_ms']:6.2f}  {c['recall_at_10']:9.3f}  "
              f"{'met' if s['target_met'] else 'NOT met'}")
    print(f"wrote {args.out}")
    return 0


def print_size(res: dict[str, Any]) -> None:
    print(f"\n{res['size']} vectors ({res['vectors']}), peak {res['peak_rss_mb']:.0f} MiB")
    print("  kind           params                                   p50 ms  p95 ms  recall  "
          "x exact")
    for r in res["rows"]:
        shown = ratio(r["p50_ms"], res["rows"][0]["p50_ms"])
        print(f"  {r['kind']:<14} {r['params']!s:<40} {r['p50_ms']:6.3f}  {r['p95_ms']:6.3f}  "
              f"{r['recall_at_10']:.3f}  {shown:.2f}")
    if "module" in res:
        m = res["module"]
        print(f"  index.vectors chose {m['kind']} {m['params']}: p50 {m['p50_ms']:.3f} ms, "
              f"recall@10 {m['recall_at_10']:.3f} on questions, "
              f"{m['description']['recall_at_10']:.3f} on its own rows, built in "
              f"{m['build_s']:.0f} s")
    for t in res["threads"]:
        print(f"  threads {t['kind']:<14} 1 thread {t['p50_ms_1_thread']:.3f} ms, "
              f"2 threads {t['p50_ms_2_thread']:.3f} ms")


if __name__ == "__main__":
    sys.exit(main())

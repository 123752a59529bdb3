"""bench.ray_ingest: ingest throughput with embedding on Ray Data vs the local path, same run.

Both sides run ingest.operations.run_ingest (read, chunk, embed, write, publish) on the SQuAD
dev articles into a fresh index, each in a fresh child process with the libraries imported
before the clock starts and the model not yet loaded: the local side loads MiniLM once, the Ray
side starts a local Ray (timed on its own too), whose actors each load their own copy, and shuts
it down. Runs alternate local/Ray, so noise from other work on the machine hits both alike.
After the runs the two indexes are compared: the same chunk ids, and the largest difference
between their vectors.

Does not measure a Ray cluster (RAY_ADDRESS is ignored) or the embedding stage alone.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import importlib  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_DIR,
    bench_parser,
    median,
    positive_int,
    ratio,
    run_child,
    squad_documents,
    write_result,
)

EXAMPLES = """\
  python -m bench.ray_ingest                       # 16 SQuAD articles, 3 runs each way
  python -m bench.ray_ingest --articles 4 --repeats 1 --actors 1   # a quick look
"""
MINILM = "index.embedder:MiniLMEmbedder"
# What a run imports before its clock starts: import time is not ingest throughput.
PRELOAD = ("torch", "sentence_transformers", "faiss")
MAX_ABS_DIFF = 1e-5  # issue 17: the Ray path's vectors are the local path's to within this


def squad_corpus(directory: Path, articles: int) -> Path:
    """The first `articles` SQuAD dev articles as text files in `directory` (rewritten)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for name, text in list(squad_documents().items())[:articles]:
        (directory / name).write_text(text, encoding="utf-8", newline="")
    return directory


def ingest_run(corpus: str, root: str, actors: int = 0, embedder: str = MINILM,
               preload: Sequence[str] = PRELOAD) -> dict[str, Any]:
    """One run_ingest of `corpus` into a fresh `root`: in this process when actors is 0, else
    on a local Ray with `actors` embedder actors (its start and shutdown inside the clock)."""
    from ingest.operations import run_ingest
    from ingest.ray_embed import ray_session

    for module in (*preload, *(("ray", "ray.data") if actors else ())):
        importlib.import_module(module)
    factory, name = embedder.split(":")
    model = getattr(importlib.import_module(factory), name)()
    shutil.rmtree(root, ignore_errors=True)
    os.environ.pop("RAY_ADDRESS", None)
    begun = time.perf_counter()
    ray_init_s = 0.0
    if actors:
        with ray_session(num_cpus=max(actors, os.cpu_count() or 1)):
            ray_init_s = time.perf_counter() - begun
            report = run_ingest([Path(corpus)], Path(root), model, ray_actors=actors)
    else:
        report = run_ingest([Path(corpus)], Path(root), model)
    seconds = time.perf_counter() - begun
    torch = sys.modules.get("torch")
    return {"seconds": seconds, "ray_init_s": ray_init_s, "chunks": report.chunks,
            "embedded": report.embedded,
            "driver_torch_threads": torch.get_num_threads() if torch else None}


def stored(root: Path) -> tuple[list[str], Any]:
    """The live generation's chunk ids and vectors, in row order."""
    import numpy as np

    from index.store import current_generation, read_stored
    from ingest.operations import index_stats

    generation = current_generation(root)
    if generation is None:
        raise RuntimeError(f"no index was built at {root}")
    parts = read_stored(generation, [d["doc_id"] for d in index_stats(root)["per_document"]])
    ordered = [parts[d] for d in sorted(parts)]
    return ([c.chunk_id for p in ordered for c in p.chunks],
            np.concatenate([p.vectors for p in ordered]))


def measure(corpus: Path, repeats: int, work: Path, actors: int, embedder: str = MINILM,
            preload: Sequence[str] = PRELOAD) -> dict[str, Any]:
    """`repeats` alternating local/Ray runs, then the two last indexes compared."""
    from tqdm import tqdm

    work.mkdir(parents=True, exist_ok=True)
    roots = {"local": work / "ray-ingest-local", "ray": work / "ray-ingest-ray"}
    runs: dict[str, list[dict[str, Any]]] = {"local": [], "ray": []}
    for _ in tqdm(range(repeats), desc="local/Ray runs", unit="pair"):
        for side, n in (("local", 0), ("ray", actors)):
            runs[side].append(run_child("bench.ray_ingest:ingest_run", {
                "corpus": str(corpus), "root": str(roots[side]), "actors": n,
                "embedder": embedder, "preload": list(preload)}))
    local_ids, local_vectors = stored(roots["local"])
    ray_ids, ray_vectors = stored(roots["ray"])
    diff = float(abs(ray_vectors - local_vectors).max()) if len(ray_ids) == len(local_ids) \
        else float("inf")
    for root in roots.values():
        shutil.rmtree(root, ignore_errors=True)
    chunks = runs["local"][0]["chunks"]
    rate = {side: median([r["chunks"] / r["seconds"] for r in runs[side]]) for side in runs}
    return {
        "corpus": str(corpus), "documents": len(list(corpus.iterdir())), "chunks": chunks,
        "repeats": repeats, "actors": actors,
        "local_chunks_per_s": rate["local"], "ray_chunks_per_s": rate["ray"],
        "ratio_ray_vs_local": ratio(rate["ray"], rate["local"]),
        "local_seconds": [r["seconds"] for r in runs["local"]],
        "ray_seconds": [r["seconds"] for r in runs["ray"]],
        "ray_init_s": median([r["ray_init_s"] for r in runs["ray"]]),
        "local_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["local"]),
        "ray_driver_peak_rss_mb": max(r["peak_rss_mb"] for r in runs["ray"]),
        "local_torch_threads": runs["local"][0]["driver_torch_threads"],
        "same_chunk_ids": ray_ids == local_ids,
        "max_abs_diff": diff, "max_abs_diff_limit": MAX_ABS_DIFF,
        "identical": ray_ids == local_ids and diff < MAX_ABS_DIFF,
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("ray_ingest", "Ingest throughput (chunks/s) with embedding on Ray "
                          "Data vs in this process, on the SQuAD dev articles.", EXAMPLES,
                          repeats=3)
    parser.add_argument("--articles", type=positive_int, default=16, metavar="N",
                        help="how many of the 16 SQuAD dev articles to index (default 16)")
    parser.add_argument("--actors", type=positive_int, default=2, metavar="N",
                        help="embedder actors on Ray (default 2, this machine's cores)")
    args = parser.parse_args(argv)
    corpus = squad_corpus(BENCH_DIR / "ray-corpus", args.articles)
    result = measure(corpus, args.repeats, BENCH_DIR, args.actors)
    write_result(args.out, {"bench": "ray_ingest", **result})
    print(f"{result['documents']} SQuAD articles, {result['chunks']} chunks, median of "
          f"{args.repeats} runs each way")
    print(f"  local        {result['local_chunks_per_s']:6.1f} chunks/s  "
          f"({result['local_torch_threads']} torch threads)")
    print(f"  Ray, {args.actors} actors {result['ray_chunks_per_s']:6.1f} chunks/s  "
          f"(Ray start {result['ray_init_s']:.1f} s included)")
    print(f"  ratio Ray/local {result['ratio_ray_vs_local']:.2f}; same chunk ids: "
          f"{result['same_chunk_ids']}; max abs diff {result['max_abs_diff']:.2e} "
          f"(limit {MAX_ABS_DIFF:g})")
    print(f"wrote {args.out}")
    return 0 if result["identical"] else 1


if __name__ == "__main__":
    sys.exit(main())

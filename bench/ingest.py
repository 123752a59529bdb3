"""bench.ingest: index build throughput vs raw SentenceTransformer.encode on the same chunks.

The pipeline run is ingest.build.build_index (read, chunk, embed, write, publish) on data/corpus
plus the SQuAD articles; the baseline is one SentenceTransformer.encode call over the same chunk
texts. Runs alternate pipeline/raw, each in a fresh child process (model already loaded when the
clock starts), so noise hits both alike and each peak memory is its own.

A breakdown run times the stages separately and counts the tokenizer calls of the chunker, and
padding_waste() shows what encoding in fixed windows of chunks costs in padded tokens.

Does not modify index/ or ingest/.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_DIR,
    bench_corpus,
    bench_parser,
    median,
    ratio,
    run_child,
    write_result,
)

EXAMPLES = """\
  python -m bench.ingest
  python -m bench.ingest --repeats 5 --out var/bench/ingest.json
  python -m bench.ingest --corpus data/corpus --repeats 1      # quick look, tiny corpus
"""
TARGET_RATIO = 0.9
MINILM = "index.embedder:MiniLMEmbedder"
RAW = "bench.ingest:sentence_transformer"


def padding_waste(lengths: Sequence[int], window: int, batch_size: int) -> dict[str, float]:
    """Tokens the model processes when `lengths` are encoded in calls of `window` texts, each
    call sorting its texts by length and padding every batch of `batch_size` to its longest.

    Example: padding_waste([1, 9, 1, 9], window=2, batch_size=2)
        -> {"real": 20, "padded": 36, "efficiency": 0.556}   (sorted globally: 20, 1.0)
    """
    padded = 0
    for start in range(0, len(lengths), window):
        ordered = sorted(lengths[start:start + window], reverse=True)
        for b in range(0, len(ordered), batch_size):
            batch = ordered[b:b + batch_size]
            padded += batch[0] * len(batch)
    real = sum(lengths)
    return {"real": real, "padded": padded,
            "efficiency": round(real / padded, 3) if padded else 1.0}


def load_object(path: str) -> Any:
    """Call the factory at "module:name". Example: load_object("tests.fakes:FakeEmbedder")"""
    import importlib

    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)()


def pipeline_breakdown(corpus: str, embedder: str = MINILM) -> dict[str, Any]:
    """One build, stage by stage, as build_index does it (read, chunk, embed).

    Counts the chunker's tokenizer calls and the tokens of every chunk (with [CLS]/[SEP]).
    """
    from ingest import build
    from ingest.build import EMBED_BATCH, embed_chunks, load_all
    from ingest.chunker import chunk_document

    # The chunk settings build_index uses by default (they have changed over time).
    max_tokens = getattr(build, "DEFAULT_MAX_TOKENS", 128)
    overlap = getattr(build, "DEFAULT_OVERLAP_TOKENS", 32)
    model = load_object(embedder)
    started = time.perf_counter()
    getattr(model, "warm_up", lambda: None)()
    load_s = time.perf_counter() - started
    calls = {"n": 0, "seconds": 0.0}

    def counting(text: str) -> int:
        begun = time.perf_counter()
        calls["n"] += 1
        n = model.count_tokens(text)
        calls["seconds"] += time.perf_counter() - begun
        return n

    stages: dict[str, float] = {}
    begun = time.perf_counter()
    documents, _ = load_all([Path(corpus)], progress=False)
    stages["read_s"] = time.perf_counter() - begun
    begun = time.perf_counter()
    chunks = [c for d in documents for c in chunk_document(d, counting, max_tokens, overlap)]
    stages["chunk_s"] = time.perf_counter() - begun
    begun = time.perf_counter()
    embed_chunks(model, chunks, progress=False)
    stages["embed_s"] = time.perf_counter() - begun
    begun = time.perf_counter()
    model.embed([c.text for c in chunks])  # the whole list in one call: sorted globally
    stages["embed_one_call_s"] = time.perf_counter() - begun

    texts = [c.text for c in chunks]
    lengths = [model.count_tokens(t) + 2 for t in texts]  # + [CLS] and [SEP]
    batch_size = getattr(model, "batch_size", 32)
    return {
        "model_load_s": load_s, "documents": len(documents), "chunks": len(chunks),
        "max_tokens": max_tokens, "overlap_tokens": overlap,
        "characters": sum(len(d.text) for d in documents), **stages,
        "tokenizer_calls": calls["n"], "tokenizer_s": calls["seconds"],
        "tokenizer_calls_per_chunk": calls["n"] / max(1, len(chunks)),
        "tokens_per_chunk_median": median(lengths) if lengths else 0,
        # embed_chunks hands the model windows of EMBED_BATCH chunks, longest (in tokens)
        # first; in document order, as before, the windows were 0.89 efficient here.
        "padding_embed_batch_windows": padding_waste(
            sorted(lengths, reverse=True), EMBED_BATCH, batch_size),
        "padding_document_order_windows": padding_waste(lengths, EMBED_BATCH, batch_size),
        "padding_one_call": padding_waste(lengths, len(lengths) or 1, batch_size),
        "embed_batch": EMBED_BATCH, "encode_batch_size": batch_size,
    }


def pipeline_run(corpus: str, root: str, chunks_file: str, embedder: str = MINILM
                 ) -> dict[str, Any]:
    """Time one build_index of `corpus` into a fresh `root`, with the model loaded beforehand.

    Writes the built generation's chunk texts to chunks_file, so the baseline encodes exactly
    what the pipeline embedded.
    """
    from index.store import open_index
    from ingest.build import build_index

    model = load_object(embedder)
    getattr(model, "warm_up", lambda: None)()
    shutil.rmtree(root, ignore_errors=True)
    begun = time.perf_counter()
    build_index([Path(corpus)], Path(root), model)
    seconds = time.perf_counter() - begun
    index = open_index(Path(root), model.model_id, model.dimension)
    texts = [c.text for c in index.all_chunks()]
    index.close()
    Path(chunks_file).write_text(json.dumps(texts), encoding="utf-8")
    return {"seconds": seconds, "chunks": len(texts)}


def sentence_transformer() -> Any:
    """The raw all-MiniLM-L6-v2 SentenceTransformer, as the baseline uses it."""
    from sentence_transformers import SentenceTransformer

    from index.embedder import minilm_path

    return SentenceTransformer(minilm_path(), device="cpu")


def raw_encode(chunks_file: str, batch_size: int = 32, encoder: str = RAW) -> dict[str, Any]:
    """Time one SentenceTransformer.encode over every chunk text (the baseline)."""
    texts = json.loads(Path(chunks_file).read_text(encoding="utf-8"))
    model = load_object(encoder)
    model.encode(texts[:8])  # first-call setup is not throughput
    begun = time.perf_counter()
    model.encode(texts, batch_size=batch_size, normalize_embeddings=True,
                 convert_to_numpy=True, show_progress_bar=False)
    return {"seconds": time.perf_counter() - begun, "chunks": len(texts)}


def measure(corpus: Path, repeats: int, work: Path, embedder: str = MINILM, encoder: str = RAW
            ) -> dict[str, Any]:
    """The whole measurement: breakdown once, then `repeats` alternating pipeline/raw runs.

    `embedder` and `encoder` name factories ("module:name"), so tests can pass fakes.
    """
    from tqdm import tqdm

    work.mkdir(parents=True, exist_ok=True)
    chunks_file = work / "ingest-chunks.json"
    breakdown = run_child("bench.ingest:pipeline_breakdown",
                          {"corpus": str(corpus), "embedder": embedder})
    pipeline: list[dict[str, Any]] = []
    raw: list[dict[str, Any]] = []
    for _ in tqdm(range(repeats), desc="pipeline/raw runs", unit="pair"):
        pipeline.append(run_child("bench.ingest:pipeline_run",
                                  {"corpus": str(corpus), "root": str(work / "ingest-index"),
                                   "chunks_file": str(chunks_file), "embedder": embedder}))
        raw.append(run_child("bench.ingest:raw_encode", {"chunks_file": str(chunks_file),
                                                         "encoder": encoder}))
    shutil.rmtree(work / "ingest-index", ignore_errors=True)
    chunks = pipeline[0]["chunks"]
    pipe_rate = median([chunks / r["seconds"] for r in pipeline])
    raw_rate = median([r["chunks"] / r["seconds"] for r in raw])
    result_ratio = ratio(pipe_rate, raw_rate)
    return {
        "corpus": str(corpus), "chunks": chunks, "repeats": repeats,
        "pipeline_chunks_per_s": pipe_rate, "raw_encode_chunks_per_s": raw_rate,
        "ratio_pipeline_vs_raw": result_ratio, "target_ratio": TARGET_RATIO,
        "target_met": result_ratio is not None and result_ratio >= TARGET_RATIO,
        "pipeline_seconds": [r["seconds"] for r in pipeline],
        "raw_seconds": [r["seconds"] for r in raw],
        "pipeline_peak_rss_mb": max(r["peak_rss_mb"] for r in pipeline),
        "raw_peak_rss_mb": max(r["peak_rss_mb"] for r in raw),
        "breakdown": breakdown,
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("ingest", "Index build throughput (chunks/s) of ingest.build."
                          "build_index vs raw SentenceTransformer.encode on the same chunks.",
                          EXAMPLES, repeats=3)
    parser.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                        help="documents to index (default: data/corpus plus the 16 SQuAD "
                             "articles, copied into var/bench/corpus)")
    args = parser.parse_args(argv)
    if args.corpus is not None and not args.corpus.is_dir():
        parser.error(f"--corpus {args.corpus}: no such directory")
    corpus = args.corpus or bench_corpus()
    result = measure(corpus, args.repeats, BENCH_DIR)
    write_result(args.out, {"bench": "ingest", **result})
    b = result["breakdown"]
    print(f"{result['chunks']} chunks, median of {args.repeats} runs")
    print(f"  pipeline (build_index)   {result['pipeline_chunks_per_s']:7.1f} chunks/s  "
          f"peak {result['pipeline_peak_rss_mb']:.0f} MiB")
    print(f"  raw encode (baseline)    {result['raw_encode_chunks_per_s']:7.1f} chunks/s  "
          f"peak {result['raw_peak_rss_mb']:.0f} MiB")
    print(f"  ratio {result['ratio_pipeline_vs_raw']:.2f} (target >= {TARGET_RATIO}: "
          f"{'met' if result['target_met'] else 'NOT met'})")
    print(f"  stages: read {b['read_s']:.1f}s, chunk {b['chunk_s']:.1f}s "
          f"({b['tokenizer_calls']} tokenizer calls, {b['tokenizer_s']:.1f}s), embed in "
          f"{b['embed_batch']}-chunk calls {b['embed_s']:.1f}s vs one call "
          f"{b['embed_one_call_s']:.1f}s")
    print(f"  padding efficiency: {b['embed_batch']}-chunk calls, longest first "
          f"{b['padding_embed_batch_windows']['efficiency']:.2f}, one call "
          f"{b['padding_one_call']['efficiency']:.2f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

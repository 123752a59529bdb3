"""bench.peers: our index store vs LangChain's FAISS and LlamaIndex's FaissVectorStore.

All three get the same chunk texts, metadata (doc id, start, end) and precomputed 384-dim unit
vectors; the peers use an exact inner-product FAISS index, ours the one index.store picks by
size. Each store's own input objects are made from those before its build clock starts, and
timed apart as "inputs" (ours: the Document and Chunk objects, chunk ids included, that
ingestion's chunker produces; LangChain: (text, embedding list) pairs and metadata dicts;
LlamaIndex: TextNodes). For each: build in memory, save, load in a fresh process, resident
memory added by the load (before and after queries), disk size, and single-query latency
returning the 10 texts. LangChain is the baseline the targets name.
"ours+mmap" opens the same generation with FAISS's IO_FLAG_MMAP_IFC, a proposed change to
index.store.open_index, measured here without editing it.

The peers are benchmark-only: install them into var/bench-venv (bench/requirements.txt), never
into the app's environment; each measurement runs in a child of that venv's python.

Does not embed: texts are real corpus spans joined to ~500 characters, vectors real MiniLM
vectors + gaussian noise (bench.data), since embedding 200k chunks here would take hours.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import json  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_DIR,
    bench_parser,
    dir_size_mb,
    median,
    percentile,
    ratio,
    rss_mb,
    run_child,
    write_result,
)
from common.paths import PROJECT_ROOT  # noqa: E402

EXAMPLES = """\
  python -m venv --system-site-packages var/bench-venv
  var/bench-venv/bin/pip install -r bench/requirements.txt
  python -m bench.peers                        # children run with var/bench-venv/bin/python
  python -m bench.peers --chunks 20000 --repeats 1 --stores ours langchain
"""
STORES = ("ours", "ours+mmap", "langchain", "llamaindex")
VENV_PYTHON = PROJECT_ROOT / "var" / "bench-venv" / "bin" / "python"
CHUNK_CHARS = 480
DOC_CHUNKS = 100
K = 10


def chunk_texts(spans: list[str], n: int, chars: int = CHUNK_CHARS) -> list[str]:
    """n texts of about `chars` characters, each joining consecutive spans (cycling).

    Example: chunk_texts(["ab", "cd"], 2, 4) -> ["ab cd", "cd ab"]
    """
    texts = []
    for i in range(n):
        parts, size, j = [], 0, i
        while size < chars:
            parts.append(spans[j % len(spans)])
            size += len(parts[-1]) + 1
            j += 1
        texts.append(" ".join(parts))
    return texts


def make_data(n: int, directory: Path, real_limit: int) -> dict[str, Any]:
    """Write texts.json (with doc ids and offsets), vectors.npy, queries.npy into directory."""
    import numpy as np

    from bench.data import noisy_copies, query_vectors, real_vectors

    texts_all, real = real_vectors(limit=real_limit)
    texts = chunk_texts(texts_all, n)
    directory.mkdir(parents=True, exist_ok=True)
    np.save(directory / "vectors.npy", noisy_copies(real, n, seed=2))
    np.save(directory / "queries.npy", query_vectors()[:200])
    (directory / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    return {"chunks": n, "real_vectors": len(real),
            "mean_chars": sum(map(len, texts)) / max(1, n)}


def _documents(texts: list[str]) -> tuple[list[Any], list[Any]]:
    """Group texts into documents of DOC_CHUNKS chunks joined by blank lines, with offsets."""
    import hashlib

    from common.records import Chunk, Document, make_chunk_id

    documents, chunks = [], []
    for d in range(0, len(texts), DOC_CHUNKS):
        doc_id = f"doc-{d // DOC_CHUNKS:05d}.txt"
        pos, spans = 0, []
        for text in texts[d:d + DOC_CHUNKS]:
            spans.append((pos, pos + len(text), text))
            pos += len(text) + 2
        body = "\n\n".join(t for _, _, t in spans)
        documents.append(Document(doc_id, doc_id, body, doc_id,
                                  hashlib.sha256(body.encode()).hexdigest()))
        chunks += [Chunk(doc_id, make_chunk_id(doc_id, s, e, t), t, s, e, doc_id)
                   for s, e, t in spans]
    return documents, chunks


def _metadata(texts: list[str]) -> list[dict[str, Any]]:
    _, chunks = _documents(texts)
    return [{"doc_id": c.doc_id, "start": c.start, "end": c.end} for c in chunks]


def _load_inputs(data: str) -> tuple[list[str], Any, Any]:
    import numpy as np

    directory = Path(data)
    return (json.loads((directory / "texts.json").read_text(encoding="utf-8")),
            np.load(directory / "vectors.npy"), np.load(directory / "queries.npy"))


def build_and_save(store: str, data: str, target: str) -> dict[str, Any]:
    """Make `store`'s input objects, build it in memory from them, then save it to `target`
    (child process); each step timed on its own.

    Builds run with faiss's default threads (both cores), as each library's own ingest would;
    queries are timed with one (load_and_query).
    """
    shutil.rmtree(target, ignore_errors=True)
    import_s = _import_library(store)
    _release_freed_memory()
    base = rss_mb()  # before the inputs exist: what stays at the end is held by the store
    texts, vectors, _ = _load_inputs(data)
    prepare, build = BUILDERS[store.removesuffix("+mmap")]
    begun = time.perf_counter()
    prepared = prepare(texts, vectors)
    inputs_s = time.perf_counter() - begun
    before = rss_mb()
    begun = time.perf_counter()
    saver = build(prepared, Path(target))
    build_s = time.perf_counter() - begun
    built = rss_mb()
    begun = time.perf_counter()
    saver()
    save_s = time.perf_counter() - begun
    del texts, vectors, prepared
    _release_freed_memory()
    held = rss_mb() - base  # the built store, alive in `saver`, as a loaded one would be
    del saver
    return {"import_s": import_s, "inputs_s": inputs_s, "build_s": build_s, "save_s": save_s,
            "build_plus_save_s": build_s + save_s, "build_rss_increase_mb": built - before,
            "held_after_build_mb": held, "disk_mb": dir_size_mb(Path(target))}


def _release_freed_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so RSS shows what is still held."""
    import ctypes
    import gc

    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)


def load_and_query(store: str, data: str, target: str) -> dict[str, Any]:
    """Load `store` from `target` in this fresh process and time single queries (child)."""
    import faiss
    import numpy as np

    faiss.omp_set_num_threads(1)
    queries = np.load(Path(data) / "queries.npy")  # only these: the peak is the store's
    _import_library(store)
    before = rss_mb()
    begun = time.perf_counter()
    search = LOADERS[store](Path(target))
    load_s = time.perf_counter() - begun
    loaded = rss_mb()
    times = []
    for q in queries:
        started = time.perf_counter()
        found = search(q)
        times.append((time.perf_counter() - started) * 1000)
        assert len(found) == K and all(isinstance(t, str) for t in found)
    return {"load_s": load_s, "load_rss_increase_mb": loaded - before,
            "rss_increase_after_queries_mb": rss_mb() - before,
            "query_p50_ms": percentile(times, 50), "query_p95_ms": percentile(times, 95)}


# --- ours: index.store.write_generation / open_index ---------------------------------------


def _inputs_ours(texts: list[str], vectors: Any) -> tuple[list[Any], list[Any], Any]:
    """The Document and Chunk objects (ids included) that ingestion's chunker hands the store."""
    documents, chunks = _documents(texts)
    return documents, chunks, vectors


def _build_ours(inputs: tuple[list[Any], list[Any], Any], target: Path) -> Any:
    from datetime import UTC, datetime

    from index.embedder import MINILM_ID
    from index.manifest import make_manifest
    from index.store import publish, write_generation

    documents, chunks, vectors = inputs
    per_doc = {d.doc_id: {"sha256": d.content_hash, "title": d.title, "chunks": DOC_CHUNKS}
               for d in documents}
    manifest = make_manifest(embedding_model=MINILM_ID, dimension=vectors.shape[1],
                             chunk_count=len(chunks), documents=per_doc,
                             chunking={"max_tokens": 128, "overlap_tokens": 32},
                             built_at=datetime.now(UTC).isoformat(timespec="seconds"))

    # write_generation builds the FAISS index and the SQLite file in one call and writes as
    # it goes, so "build" here is the whole write and "save" is the publish.
    write_generation(target / "gen-bench", documents, chunks, vectors, manifest)
    return lambda: publish(target, "gen-bench")


def _open_ours(target: Path, mmap: bool = False) -> Any:
    from index.embedder import MINILM_ID
    from index.store import open_index

    if mmap:
        import faiss

        original = faiss.read_index

        def read_mmap(path: str, flags: int = 0) -> Any:
            return original(path, flags | faiss.IO_FLAG_MMAP_IFC)

        faiss.read_index = read_mmap
        try:
            index = open_index(target, MINILM_ID, 384)
        finally:
            faiss.read_index = original
    else:
        index = open_index(target, MINILM_ID, 384)

    def search(q: Any) -> list[str]:
        rows = [r for r, _ in index.search_dense(q, K)]
        return [c.text for c in index.chunks(rows)]

    return search


# --- LangChain: langchain_community.vectorstores.FAISS ------------------------------------


def _inputs_langchain(texts: list[str], vectors: Any) -> tuple[list[Any], list[Any]]:
    """(text, embedding list) pairs and metadata dicts, as FAISS.from_embeddings takes them."""
    return list(zip(texts, vectors.tolist(), strict=True)), _metadata(texts)


def _build_langchain(inputs: tuple[list[Any], list[Any]], target: Path) -> Any:
    from langchain_community.vectorstores import FAISS
    from langchain_community.vectorstores.utils import DistanceStrategy
    from langchain_core.embeddings import FakeEmbeddings

    pairs, metadatas = inputs
    store = FAISS.from_embeddings(pairs, FakeEmbeddings(size=len(pairs[0][1])),
                                  metadatas=metadatas,
                                  distance_strategy=DistanceStrategy.MAX_INNER_PRODUCT)
    return lambda: store.save_local(str(target))


# No _open_langchain: LangChain's FAISS.load_local unpickles its docstore (it refuses unless
# explicitly told to accept that risk), and this project never unpickles anything. So the
# LangChain store is built, saved and measured on disk, but not loaded back; load time and
# load RAM are compared with LlamaIndex (JSON docstore) instead.


# --- LlamaIndex: llama_index.vector_stores.faiss.FaissVectorStore -------------------------


def _inputs_llamaindex(texts: list[str], vectors: Any) -> list[Any]:
    """TextNodes with their embeddings and metadata, as VectorStoreIndex takes them."""
    from llama_index.core.schema import TextNode

    return [TextNode(text=t, embedding=v, metadata=m) for t, v, m in
            zip(texts, vectors.tolist(), _metadata(texts), strict=True)]


def _build_llamaindex(nodes: list[Any], target: Path) -> Any:
    import faiss
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    dimension = len(nodes[0].embedding)
    context = StorageContext.from_defaults(
        vector_store=FaissVectorStore(faiss_index=faiss.IndexFlatIP(dimension)))
    index = VectorStoreIndex(nodes, storage_context=context,
                             embed_model=MockEmbedding(embed_dim=dimension))
    return lambda: index.storage_context.persist(persist_dir=str(target))


def _open_llamaindex(target: Path) -> Any:
    from llama_index.core import QueryBundle, StorageContext, load_index_from_storage
    from llama_index.core.embeddings import MockEmbedding
    from llama_index.vector_stores.faiss import FaissVectorStore

    context = StorageContext.from_defaults(
        vector_store=FaissVectorStore.from_persist_dir(str(target)), persist_dir=str(target))
    index = load_index_from_storage(context, embed_model=MockEmbedding(embed_dim=384))
    retriever = index.as_retriever(similarity_top_k=K)
    return lambda q: [n.node.get_content() for n in
                      retriever.retrieve(QueryBundle(query_str="", embedding=q.tolist()))]


IMPORTS = {"ours": ["index.store", "index.manifest", "faiss"],
           "langchain": ["langchain_community.vectorstores", "langchain_core.embeddings"],
           "llamaindex": ["llama_index.core", "llama_index.vector_stores.faiss"]}


def _import_library(store: str) -> float:
    """Import the store's library before any clock starts; the seconds it took."""
    import importlib

    begun = time.perf_counter()
    for module in IMPORTS[store.removesuffix("+mmap")]:
        importlib.import_module(module)
    return time.perf_counter() - begun


# Each store: (its native inputs from the shared texts and vectors, untimed; the timed build).
BUILDERS = {"ours": (_inputs_ours, _build_ours),
            "langchain": (_inputs_langchain, _build_langchain),
            "llamaindex": (_inputs_llamaindex, _build_llamaindex)}
LOADERS = {"ours": _open_ours, "ours+mmap": lambda t: _open_ours(t, mmap=True),
           "llamaindex": _open_llamaindex}


def summarize(results: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """Median of each figure per store, and ours/LangChain ratios (speed-ups are LC/ours).

    Example: summarize({"ours": [{"build_s": 1.0}], "langchain": [{"build_s": 3.0}]})
        -> {"ours": {"build_s": 1.0, "build_speedup_vs_langchain": 3.0, ...}, ...}
    """
    table = {store: {key: median([r[key] for r in runs]) for key in runs[0]}
             for store, runs in results.items()}
    for row in table.values():
        # What a store holds while serving: measured after a load where one is made, else
        # (LangChain, which is never loaded: it would unpickle) what its built store holds.
        served = row.get("load_rss_increase_mb", row.get("held_after_build_mb"))
        if served is not None:
            row["serving_ram_mb"] = served
    base = table.get("langchain")
    if base:
        for row in table.values():
            for key in ("build_s", "load_s", "save_s", "build_plus_save_s"):
                if key in row and key in base:
                    row[key[:-2] + "_speedup_vs_langchain"] = ratio(base[key], row[key])
            if "serving_ram_mb" in row and "serving_ram_mb" in base:
                row["ram_vs_langchain"] = ratio(row["serving_ram_mb"], base["serving_ram_mb"])
    return table


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("peers", "Build, save, load, RAM, disk and query latency of our "
                          "index store vs LangChain's FAISS and LlamaIndex's FaissVectorStore "
                          "on the same precomputed chunks.", EXAMPLES, repeats=3)
    parser.add_argument("--chunks", type=int, default=200_000, metavar="N",
                        help="chunks in the store (default 200000)")
    parser.add_argument("--stores", nargs="+", choices=STORES, default=list(STORES),
                        help="which stores to measure (default all)")
    parser.add_argument("--python", default=None, metavar="EXE",
                        help="interpreter for the children (default var/bench-venv/bin/python)")
    parser.add_argument("--real", type=int, default=10_240, metavar="N",
                        help="real MiniLM vectors the synthetic ones are drawn around "
                             "(default 10240)")
    args = parser.parse_args(argv)
    if args.chunks < 100:
        parser.error("--chunks must be at least 100")
    python = args.python or str(VENV_PYTHON)
    needs_peers = {"langchain", "llamaindex"} & set(args.stores)
    if needs_peers and not Path(python).is_file():
        parser.error(f"{python} not found; create the benchmark venv first:\n"
                     "  python -m venv --system-site-packages var/bench-venv && "
                     "var/bench-venv/bin/pip install -r bench/requirements.txt")
    from tqdm import tqdm

    data = BENCH_DIR / f"peers-data-{args.chunks}"
    info = make_data(args.chunks, data, args.real)
    results: dict[str, list[dict[str, Any]]] = {s: [] for s in args.stores}
    for _ in tqdm(range(args.repeats), desc="rounds (every store once)", unit="round"):
        for store in args.stores:
            target = BENCH_DIR / "peers-stores" / store.removesuffix("+mmap")
            row: dict[str, Any] = {}
            if store != "ours+mmap" or "ours" not in args.stores:  # else: open what "ours" wrote
                built = run_child("bench.peers:build_and_save",
                                  {"store": store, "data": str(data), "target": str(target)},
                                  python=python)
                row.update(built, build_peak_rss_mb=built.pop("peak_rss_mb"))
            if store not in LOADERS:  # LangChain: loading would unpickle (see above)
                results[store].append(row)
                continue
            loaded = run_child("bench.peers:load_and_query",
                               {"store": store, "data": str(data), "target": str(target)},
                               python=python)
            row.update(loaded, load_peak_rss_mb=loaded.pop("peak_rss_mb"))
            results[store].append(row)
    table = summarize(results)
    write_result(args.out, {"bench": "peers", "data": info, "k": K, "summary": table,
                            "runs": results, "note": "vectors are real MiniLM vectors + "
                            "gaussian noise; texts are real corpus spans joined"})
    print_table(table, info)
    print(f"wrote {args.out}")
    return 0


def print_table(table: dict[str, dict[str, Any]], info: dict[str, Any]) -> None:
    print(f"{info['chunks']} chunks (~{info['mean_chars']:.0f} chars), 384-dim, k={K}")
    columns = [("inputs_s", "inputs s"), ("build_s", "build s"), ("save_s", "save s"),
               ("load_s", "load s"),
               ("held_after_build_mb", "built MiB"), ("serving_ram_mb", "serving MiB"),
               ("disk_mb", "disk MiB"),
               ("query_p50_ms", "query p50 ms"), ("query_p95_ms", "p95 ms")]
    print(f"{'store':<12}" + "".join(f"{title:>14}" for _, title in columns))
    for store, row in table.items():
        cells = [f"{row[key]:14.2f}" if key in row else f"{'-':>14}" for key, _ in columns]
        print(f"{store:<12}" + "".join(cells))
    for store, row in table.items():
        if store != "langchain" and "load_speedup_vs_langchain" in row:
            build = row.get("build_plus_save_speedup_vs_langchain")
            shown = f"build+save x{build:.1f}, " if build else ""
            print(f"{store}: {shown}load x{row['load_speedup_vs_langchain']:.1f} faster than "
                  f"LangChain; serving RAM {row['ram_vs_langchain']:.2f} of LangChain's")
        elif store != "langchain" and "ram_vs_langchain" in row:
            build = row.get("build_plus_save_speedup_vs_langchain")
            shown = f"build+save x{build:.1f} faster than LangChain; " if build else ""
            print(f"{store}: {shown}serving RAM {row['ram_vs_langchain']:.2f} of LangChain's")


if __name__ == "__main__":
    sys.exit(main())

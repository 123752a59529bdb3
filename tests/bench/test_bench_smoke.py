"""Each bench command's core function runs on tiny inputs and fakes and writes the JSON keys
its docs promise. Seconds each; the real measurements are `python -m bench.<name>`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from bench import answer, coldstart, ingest, peers, retrieval
from bench.common import percentile, write_result
from index.store import Index
from qa.pipeline import Pipeline
from tests.fakes import FakeEmbedder, FakeGenerator


def written(tmp_path: Path, payload: dict[str, Any]) -> dict[str, Any]:
    out = tmp_path / "out" / "result.json"
    write_result(out, payload)
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"machine", "command"} <= set(result)
    return result


def test_percentile_and_padding_examples() -> None:
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    waste = ingest.padding_waste([1, 9, 1, 9], window=2, batch_size=2)
    assert waste == {"real": 20, "padded": 36, "efficiency": 0.556}
    assert ingest.padding_waste([1, 9, 1, 9], window=4, batch_size=2)["efficiency"] == 1.0


def test_ingest(corpus_dir: Path, tmp_path: Path) -> None:
    result = written(tmp_path, ingest.measure(
        corpus_dir, 1, tmp_path / "work", embedder="tests.fakes:FakeEmbedder",
        encoder="tests.bench.fakes:FakeSentenceTransformer"))
    assert result["chunks"] == 2
    assert {"pipeline_chunks_per_s", "raw_encode_chunks_per_s", "ratio_pipeline_vs_raw",
            "target_met", "pipeline_peak_rss_mb", "raw_peak_rss_mb", "breakdown"} <= set(result)
    assert result["breakdown"]["tokenizer_calls"] > 0


def retrieval_inputs(tmp_path: Path) -> None:
    """db.npy: 500 random unit vectors; q.npy: 40 queries near the first 40 of them."""
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(500, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(tmp_path / "db.npy", vectors)
    np.save(tmp_path / "q.npy", vectors[:40] + 0.01)


def test_retrieval(tmp_path: Path) -> None:
    retrieval_inputs(tmp_path)
    res = retrieval.measure_size(str(tmp_path / "db.npy"), str(tmp_path / "q.npy"), "random",
                                 repeats=1, latency_queries=20, recall_queries=20,
                                 ef_search=[16, 64], nprobe=[1, 4])
    res["peak_rss_mb"] = 1.0
    result = written(tmp_path, {"summary": retrieval.summarize([res]), "results": [res]})
    kinds = {r["kind"] for r in result["results"][0]["rows"]}
    assert kinds == {"IndexFlatIP", "IndexHNSWFlat", "IndexIVFFlat"}
    summary = result["summary"][0]
    assert {"size", "exact_p50_ms", "IndexHNSWFlat", "IndexIVFFlat", "chosen",
            "target_met"} <= set(summary)
    assert 0.0 <= summary["IndexHNSWFlat"]["recall_at_10"] <= 1.0
    assert {t["kind"] for t in result["results"][0]["threads"]} == kinds


def test_retrieval_module_only_scores_what_the_store_builds(tmp_path: Path) -> None:
    retrieval_inputs(tmp_path)
    res = retrieval.measure_size(str(tmp_path / "db.npy"), str(tmp_path / "q.npy"), "random",
                                 repeats=1, latency_queries=20, recall_queries=20,
                                 ef_search=[16], nprobe=[1], module=True, sweep=False)
    res["peak_rss_mb"] = 1.0
    assert [r["kind"] for r in res["rows"]] == ["IndexFlatIP"]
    assert res["module"]["kind"] == "IndexScalarQuantizer"  # 500 vectors: exact, float16
    assert res["module"]["recall_at_10"] == pytest.approx(1.0, abs=0.02)
    summary = retrieval.summarize([res])[0]
    assert summary["module"]["recall_at_10"] == res["module"]["recall_at_10"]
    assert summary["chosen"] in {"IndexFlatIP", "module"}


def test_answer(index: Index, embedder: FakeEmbedder, tmp_path: Path) -> None:
    generator = FakeGenerator(["Katherine Tai met Wang Wentao. [1]"])
    pipeline = Pipeline(index, embedder, generator)
    rows, prompts = answer.answer_all(pipeline, ["Who met Wang about tariffs?", "Bananas?"],
                                      lambda text: len(text.split()))
    assert pipeline.generator is generator
    assert len(prompts) == 1
    assert [r["model_called"] for r in rows] == [True, False]
    assert rows[0]["tokens"] == 6
    result = written(tmp_path, {**answer.summarize(rows), "rows": rows})
    assert result["answered_by_model"] == 1
    assert {"ttft_p50_s", "ttft_p95_s", "total_p50_s", "total_p95_s",
            "tokens_per_s_p50"} <= set(result)


def test_coldstart(tmp_path: Path) -> None:
    result = written(tmp_path, coldstart.measure(
        tmp_path, tmp_path, 1, command=[sys.executable, "-m", "tests.bench.fakes"],
        with_breakdown=False, floor_code="import json", model_floor_code="import csv"))
    assert result["runs"][0]["ready_s"] <= result["first_answer_s"]
    assert {"ready_s", "first_answer_s", "import_floor_s", "ratio_vs_import_floor",
            "model_import_floor_s", "ratio_vs_model_import_floor", "target_met",
            "breakdown_steps_s"} <= set(result)
    assert result["ratio_vs_model_import_floor"] == pytest.approx(
        result["first_answer_s"] / result["model_import_floor_s"])


def test_coldstart_model_import_floor_runs_as_written() -> None:
    # The baseline is a code string run by the real bench only; a typo in it would surface
    # only there. It imports what the worker imports, so it takes seconds.
    assert coldstart.import_floor(coldstart.MODEL_IMPORT_FLOOR) > 0


def test_coldstart_refuses_to_time_a_refusal(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # A refused question never reaches the model, so it would time a start without generation.
    monkeypatch.setenv("FAKE_ASK_REFUSES", "1")
    with pytest.raises(RuntimeError, match="refused"):
        coldstart.launch_to_answer(tmp_path, command=[sys.executable, "-m", "tests.bench.fakes"])


def test_peers_ours(tmp_path: Path) -> None:
    assert peers.chunk_texts(["ab", "cd"], 2, 4) == ["ab cd", "cd ab"]
    rng = np.random.default_rng(0)
    data = tmp_path / "data"
    data.mkdir()
    vectors = rng.normal(size=(120, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    np.save(data / "vectors.npy", vectors)
    np.save(data / "queries.npy", vectors[:5])
    texts = peers.chunk_texts([f"sentence number {i}." for i in range(50)], 120, 60)
    (data / "texts.json").write_text(json.dumps(texts), encoding="utf-8")
    target = tmp_path / "store"
    built = peers.build_and_save("ours", str(data), str(target))
    runs = {"ours": [{**built, **peers.load_and_query("ours", str(data), str(target))}],
            "ours+mmap": [peers.load_and_query("ours+mmap", str(data), str(target))]}
    result = written(tmp_path, {"summary": peers.summarize(runs)})
    ours = result["summary"]["ours"]
    assert {"build_s", "save_s", "load_s", "load_rss_increase_mb", "disk_mb", "query_p50_ms",
            "query_p95_ms"} <= set(ours)
    assert ours["disk_mb"] > 0
    assert "query_p50_ms" in result["summary"]["ours+mmap"]
    assert "held_after_build_mb" in ours and ours["serving_ram_mb"] == ours["load_rss_increase_mb"]


def test_peers_compare_serving_ram_with_what_langchains_built_store_holds() -> None:
    # LangChain is never loaded back (its loader unpickles), so its serving RAM is what its
    # built store holds; a store that was loaded is compared by its load increase.
    table = peers.summarize({
        "langchain": [{"build_s": 30.0, "held_after_build_mb": 600.0}],
        "ours": [{"build_s": 10.0, "held_after_build_mb": 1.0, "load_s": 1.0,
                  "load_rss_increase_mb": 150.0}]})
    assert table["langchain"]["serving_ram_mb"] == 600.0
    assert table["ours"]["serving_ram_mb"] == 150.0
    assert table["ours"]["ram_vs_langchain"] == 0.25
    assert table["ours"]["build_speedup_vs_langchain"] == 3.0

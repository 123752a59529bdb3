"""bench.ray_ingest's core runs on the two-document corpus with the fake embedder (one local
run, one on a local Ray in a child process) and writes the keys docs/PERFORMANCE.md quotes."""

from __future__ import annotations

from pathlib import Path

from bench import ray_ingest


def test_measure(corpus_dir: Path, tmp_path: Path) -> None:
    result = ray_ingest.measure(corpus_dir, 1, tmp_path / "work", actors=1,
                                embedder="tests.fakes:FakeEmbedder", preload=())
    assert result["chunks"] == 2 and result["documents"] == 2
    assert result["same_chunk_ids"] and result["max_abs_diff"] == 0.0 and result["identical"]
    assert result["ratio_ray_vs_local"] > 0 and result["ray_init_s"] > 0
    assert not (tmp_path / "work" / "ray-ingest-ray").exists()

"""Embedding on Ray Data gives the index the local path gives: the same chunk ids, the same
vectors (exactly with the fake embedder, within 1e-5 with MiniLM on two SQuAD articles).

One local Ray (2 CPUs) serves the whole module: starting one takes several seconds. The code
under test finds it running and leaves it so; the fixture shuts it down.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.embedder import MiniLMEmbedder
from index.store import current_generation, read_stored
from ingest import ray_embed
from ingest.__main__ import main
from ingest.build import embed_chunks
from ingest.operations import index_stats, run_ingest
from tests.fakes import VOCAB, FakeEmbedder

SMALL = ["--max-tokens", "16", "--overlap", "4"]  # FakeEmbedder's window is 128 tokens


@pytest.fixture(scope="module")
def ray() -> Iterator[Any]:
    with ray_embed.ray_session(num_cpus=2) as module:
        yield module


def fake_corpus(directory: Path, documents: int = 12) -> Path:
    """`documents` files of vocabulary words in varied orders and lengths (several chunks each
    at max_tokens=16), so the fake vectors differ from chunk to chunk."""
    directory.mkdir()
    words = itertools.cycle([*VOCAB, "and", "the", "a"])
    for d in range(documents):
        sentences = [" ".join(next(words) for _ in range(3 + (d + s) % 7)).capitalize() + "."
                     for s in range(4 + d % 5)]
        (directory / f"doc-{d:02d}.txt").write_text(" ".join(sentences) + "\n", encoding="utf-8")
    return directory


def built(root: Path) -> tuple[list[str], np.ndarray]:
    """The live generation's chunk ids and vectors, in row order."""
    generation = current_generation(root)
    assert generation is not None
    stored = read_stored(generation, [d["doc_id"] for d in index_stats(root)["per_document"]])
    parts = [stored[d] for d in sorted(stored)]
    return ([c.chunk_id for p in parts for c in p.chunks],
            np.concatenate([p.vectors for p in parts]))


def test_vectors_come_back_in_input_order_whatever_order_actors_finish(ray: Any) -> None:
    texts = [" ".join(VOCAB[i % len(VOCAB)] for i in range(n, 2 * n + 1)) for n in range(23)]
    seen: list[int] = []
    vectors = ray_embed.embed_texts(FakeEmbedder(), texts, actors=2, batch_size=4,
                                    advance=seen.append)
    assert np.array_equal(vectors, FakeEmbedder().embed(texts))
    assert sum(seen) == len(texts) and max(seen) <= 4
    assert ray.is_initialized()  # a Ray it did not start is left running


class WindowEmbedder:
    """Each text's vector is [size of its embed call, its place in that call]: equal results
    mean equal calls. Example: embed(["a", "b"]) -> [[2, 0], [2, 1]]"""

    model_id, dimension, max_tokens = "test/window", 2, 128

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.array([[len(texts), i] for i in range(len(texts))], dtype=np.float32)


def test_each_call_gets_the_local_paths_window(ray: Any) -> None:
    vectors = ray_embed.embed_texts(WindowEmbedder(), [str(i) for i in range(10)], actors=2,
                                    batch_size=4)
    assert vectors.tolist() == [[4, 0], [4, 1], [4, 2], [4, 3]] * 2 + [[2, 0], [2, 1]]


def test_no_text_starts_no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ray_embed, "ray_session", None)  # calling it would fail
    assert ray_embed.embed_texts(FakeEmbedder(), [], actors=2, batch_size=4).shape == (0, 10)


def test_the_ray_path_builds_the_index_the_local_path_builds(ray: Any, tmp_path: Path) -> None:
    corpus = fake_corpus(tmp_path / "corpus")
    local = run_ingest([corpus], tmp_path / "local", FakeEmbedder(), max_tokens=16,
                       overlap_tokens=4)
    on_ray = run_ingest([corpus], tmp_path / "ray", FakeEmbedder(), max_tokens=16,
                        overlap_tokens=4, ray_actors=2)
    assert on_ray.embedded == local.embedded > 12
    ids, vectors = built(tmp_path / "local")
    ray_ids, ray_vectors = built(tmp_path / "ray")
    assert ray_ids == ids
    assert np.array_equal(ray_vectors, vectors)


def test_embed_chunks_reports_progress_on_ray(ray: Any, tmp_path: Path) -> None:
    from ingest.chunker import chunk_document
    from ingest.loaders import load_document

    corpus = fake_corpus(tmp_path / "corpus", documents=3)
    embedder = FakeEmbedder()
    chunks = [c for path in sorted(corpus.iterdir())
              for c in chunk_document(load_document(path, path.name), embedder.count_tokens,
                                      16, 4)]
    fractions: list[float] = []
    vectors = embed_chunks(embedder, chunks, report=lambda f, _: fractions.append(f),
                           ray_actors=1)
    assert np.array_equal(vectors, embed_chunks(FakeEmbedder(), chunks))
    assert fractions[-1] == pytest.approx(0.9)


def test_python_m_ingest_ray(ray: Any, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    corpus = fake_corpus(tmp_path / "corpus", documents=3)
    assert main([str(corpus), "--index", str(tmp_path / "index"), "--ray-actors", "1",
                 *SMALL, "--quiet"], embedder=FakeEmbedder()) == 0
    assert "indexed 3 documents" in capsys.readouterr().out
    ids, _ = built(tmp_path / "index")
    assert len(ids) > 3


def test_missing_ray_is_one_line_naming_the_package(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setattr(ray_embed, "find_spec", lambda name: None)
    corpus = fake_corpus(tmp_path / "corpus", documents=1)
    with pytest.raises(SystemExit) as exit_:
        main([str(corpus), "--index", str(tmp_path / "index"), "--ray", *SMALL],
             embedder=FakeEmbedder())
    assert exit_.value.code == 1
    assert capsys.readouterr().err == (
        "python -m ingest: error: embedding on Ray needs Ray Data, which is not installed; "
        "install it with: pip install 'ray[data]==2.60.0'\n")
    assert not (tmp_path / "index").exists()


def test_ray_actors_must_be_positive(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([str(tmp_path), "--ray-actors", "0", *SMALL], embedder=FakeEmbedder())
    assert exit_.value.code == 2
    assert "--ray-actors must be at least 1" in capsys.readouterr().err


@pytest.mark.real
def test_minilm_on_ray_matches_local_on_squad_articles(ray: Any, tmp_path: Path) -> None:
    """Must-show 2 of issue 17: same chunk ids, vectors within 1e-5, on two SQuAD articles."""
    from eval.squad import DEFAULT_SQUAD, convert, load_squad

    documents, _ = convert(load_squad(DEFAULT_SQUAD))
    corpus = tmp_path / "squad"
    corpus.mkdir()
    for name in ("1973-oil-crisis.txt", "packet-switching.txt"):
        (corpus / name).write_text(documents[name], encoding="utf-8")
    local = run_ingest([corpus], tmp_path / "local", MiniLMEmbedder())
    on_ray = run_ingest([corpus], tmp_path / "ray", MiniLMEmbedder(), ray_actors=2)
    assert on_ray.embedded == local.embedded > 40
    ids, vectors = built(tmp_path / "local")
    ray_ids, ray_vectors = built(tmp_path / "ray")
    assert ray_ids == ids
    assert float(np.abs(ray_vectors - vectors).max()) < 1e-5

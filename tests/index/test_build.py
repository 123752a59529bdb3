"""ingest.build: a small corpus with two bad files, built with the fake embedder and reloaded.

Tokens are whitespace words (FakeEmbedder.count_tokens), so chunk limits can be counted by eye.
Incremental re-ingestion has its own file (test_incremental.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from index.store import CURRENT, current_generation, open_index
from ingest.build import NothingToIndex, Report, build_index
from ingest.operations import run_ingest
from tests.fakes import CORPUS, FakeEmbedder


def generations(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("gen-"))


@pytest.fixture
def mixed_corpus(corpus_dir: Path) -> Path:
    """trade.txt and security.txt, plus a Latin-1 text file and a .docx, both rejected."""
    (corpus_dir / "latin1.txt").write_bytes("café au lait\n".encode("latin-1"))
    (corpus_dir / "notes.docx").write_bytes(b"PK\x03\x04 not really a docx")
    return corpus_dir


def build(corpus: Path, root: Path, embedder: FakeEmbedder) -> Report:
    # At most 12 words per chunk: each document's two sentences (trade 11 + 7 words, security
    # 10 + 7) no longer fit together, and neither fits in a 4-word overlap, so 2 + 2 chunks.
    return build_index([corpus], root, embedder, max_tokens=12, overlap_tokens=4)


def test_build_publishes_and_reports_rejected_files(mixed_corpus: Path, tmp_path: Path,
                                                    embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    report = build(mixed_corpus, root, embedder)

    assert report.published
    assert root / report.generation == current_generation(root)
    assert (root / CURRENT).read_text().strip() == report.generation
    assert sorted(f.doc_id for f in report.files if f.action == "added") == [
        "security.txt", "trade.txt"]
    assert report.documents == 2
    rejected = sorted(f"{e.path}: {e.reason}" for e in report.errors)
    assert len(rejected) == 2
    assert "latin1.txt" in rejected[0] and "UTF-8" in rejected[0]
    assert "notes.docx" in rejected[1] and "unsupported file type '.docx'" in rejected[1]
    assert report.chunks == 4
    assert embedder.embedded == report.chunks == report.embedded  # each chunk once, no more
    assert report.reused == 0


def test_manifest_describes_the_build(mixed_corpus: Path, tmp_path: Path,
                                      embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    report = build(mixed_corpus, root, embedder)
    index = open_index(root, embedder.model_id, embedder.dimension)
    m = index.manifest
    assert (m["format_version"], m["embedding_model"], m["dimension"]) == (
        4, "fake/bag-of-words", 10)
    assert sorted(m["files"]) == ["chunks.sqlite", "lexical.sqlite", "vectors.faiss"]
    for name, entry in m["files"].items():
        data = (index.generation / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}
    assert m["faiss_index"]["vectors"] == report.chunks
    assert report.search == m["faiss_index"]
    assert report.search_line() == "dense search: exact, float16 vectors, recall@10 1.000 vs exact"
    assert m["chunk_count"] == report.chunks == len(index)
    assert m["chunking"] == {"max_tokens": 12, "overlap_tokens": 4}
    assert set(m["documents"]) == {"security.txt", "trade.txt"}
    for doc_id, entry in m["documents"].items():
        assert entry["sha256"] == hashlib.sha256(CORPUS[doc_id].encode()).hexdigest()
        assert entry["source_path"] == str(mixed_corpus / doc_id)
    assert m["previous_generation"] is None  # the first build replaced nothing
    assert sum(e["chunks"] for e in m["documents"].values()) == report.chunks
    assert {"python", "numpy", "faiss-cpu"} <= set(m["library_versions"])
    index.close()


def test_every_chunk_is_its_document_span(mixed_corpus: Path, tmp_path: Path,
                                          embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    build(mixed_corpus, root, embedder)
    index = open_index(root, embedder.model_id, embedder.dimension)
    chunks = index.all_chunks()
    for c in chunks:
        assert index.document_text(c.doc_id)[c.start:c.end] == c.text
        assert embedder.count_tokens(c.text) <= 12
    # and the stored vectors are those of the stored texts: each chunk finds itself first
    for c in chunks:
        (_, score), = index.search_dense(embedder.embed([c.text])[0], 1)
        assert score == pytest.approx(1.0, abs=1e-3)  # float16 storage
    index.close()


def chunk_ids(root: Path, embedder: FakeEmbedder) -> list[str]:
    index = open_index(root, embedder.model_id, embedder.dimension)
    ids = [c.chunk_id for c in index.all_chunks()]
    index.close()
    return ids


def test_rebuild_gives_same_chunk_ids_in_a_new_generation(corpus_dir: Path, tmp_path: Path,
                                                          embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    first = build(corpus_dir, root, embedder)
    ids_first = chunk_ids(root, embedder)
    second = run_ingest([corpus_dir], root, embedder, max_tokens=12, overlap_tokens=4,
                        rebuild=True)
    assert second.embedded == 4 and second.reused == 0  # --rebuild embeds everything again
    assert chunk_ids(root, embedder) == ids_first
    assert second.generation != first.generation
    assert current_generation(root) == root / second.generation
    # the previous generation stays for readers that still have it open
    assert generations(root) == sorted([first.generation, second.generation])


def test_only_live_and_previous_generations_are_kept(corpus_dir: Path, tmp_path: Path,
                                                     embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    reports = []
    for round_ in range(3):
        (corpus_dir / "extra.txt").write_text(f"Round {round_} of Xi at the forum.\n")
        reports.append(build(corpus_dir, root, embedder))
    assert all(r.published for r in reports)
    assert generations(root) == sorted(r.generation for r in reports[1:])
    assert current_generation(root) == root / reports[2].generation


def test_leftover_building_directory_is_removed(corpus_dir: Path, tmp_path: Path,
                                                embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    leftover = root / ".building-gen-20000101T000000000000"
    leftover.mkdir(parents=True)
    (leftover / "vectors.faiss").write_bytes(b"half written")
    (root / ".CURRENT.999.tmp").write_text("gen-20000101T000000000000\n")
    build(corpus_dir, root, embedder)
    assert not leftover.exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == [".lock"]


def test_only_bad_files_raise_and_publish_nothing(tmp_path: Path,
                                                  embedder: FakeEmbedder) -> None:
    corpus = tmp_path / "bad"
    corpus.mkdir()
    (corpus / "latin1.txt").write_bytes("café\n".encode("latin-1"))
    (corpus / "empty.md").write_bytes(b"")
    root = tmp_path / "index"
    with pytest.raises(NothingToIndex) as caught:
        build(corpus, root, embedder)
    assert "latin1.txt" in str(caught.value) and "empty.md" in str(caught.value)
    assert not (root / CURRENT).exists()
    assert not root.exists() or generations(root) == []
    assert embedder.embedded == 0


def test_empty_directory_says_no_supported_files(tmp_path: Path,
                                                 embedder: FakeEmbedder) -> None:
    with pytest.raises(NothingToIndex, match="no supported files were found"):
        build(tmp_path, tmp_path / "index", embedder)


class BrokenEmbedder(FakeEmbedder):
    def embed(self, texts: list[str]) -> np.ndarray:
        raise RuntimeError("out of memory")


def test_failed_build_leaves_the_live_generation_alone(corpus_dir: Path, tmp_path: Path,
                                                       embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    live = build(corpus_dir, root, embedder).generation
    (corpus_dir / "trade.txt").write_text("Tai met Wang again.\n")  # so something is embedded
    with pytest.raises(RuntimeError, match="out of memory"):
        build(corpus_dir, root, BrokenEmbedder())
    assert current_generation(root) == root / live
    assert generations(root) == [live]
    assert len(open_index(root, embedder.model_id, embedder.dimension)) > 0


def test_damaged_current_does_not_block_a_rebuild(corpus_dir: Path, tmp_path: Path,
                                                  embedder: FakeEmbedder) -> None:
    root = tmp_path / "index"
    root.mkdir()
    (root / CURRENT).write_text("garbage\n")
    report = build(corpus_dir, root, embedder)
    assert current_generation(root) == root / report.generation
    assert "cannot be read" in report.plan.rebuild


def test_chunks_are_embedded_longest_first_and_come_back_in_their_order(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from common.records import Chunk
    from ingest import build as build_module

    class Recording(FakeEmbedder):
        def __init__(self) -> None:
            super().__init__()
            self.calls: list[list[str]] = []

        def embed(self, texts):  # type: ignore[no-untyped-def]
            self.calls.append(list(texts))
            return super().embed(texts)

    monkeypatch.setattr(build_module, "EMBED_BATCH", 2)
    texts = ["tai", "wang met tai in san francisco", "tariffs", "security initiative boao",
             "xi forum"]
    chunks = [Chunk("d", f"id{i}", t, 0, len(t), "d") for i, t in enumerate(texts)]
    embedder = Recording()
    progress: list[float] = []
    vectors = build_module.embed_chunks(embedder, chunks, report=lambda f, _: progress.append(f))
    # batches hold texts of similar length in tokens (less padding), longest first ...
    assert embedder.calls == [[texts[1], texts[3]], [texts[4], texts[0]], [texts[2]]]
    # ... but row i is still chunk i's vector
    np.testing.assert_array_equal(vectors, FakeEmbedder().embed(texts))
    assert progress == [pytest.approx(0.3 + 0.6 * n / 5) for n in (2, 4, 5)]

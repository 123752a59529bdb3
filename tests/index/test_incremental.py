"""Re-ingestion embeds only what changed: counted with the fake embedder, checked on disk.

The corpus is tests.fakes.CORPUS; at 12 words per chunk each of its documents is two chunks
(see test_build.py), so "one document changed" means exactly two chunks embedded.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from index.manifest import IndexLoadError
from index.store import current_generation, open_index
from ingest.build import Report
from ingest.operations import plan_ingest, run_ingest
from tests.fakes import FakeEmbedder

SETTINGS = {"max_tokens": 12, "overlap_tokens": 4}


def ingest(corpus: Path | list[Path], root: Path, embedder: FakeEmbedder, sync: bool = False,
           **settings: int) -> Report:
    paths = corpus if isinstance(corpus, list) else [corpus]
    return run_ingest(paths, root, embedder, sync, **{**SETTINGS, **settings})


def contents(root: Path, embedder: FakeEmbedder) -> tuple[list[tuple[str, str]], np.ndarray]:
    """(chunk id, text) per row and the stored vectors, in row order."""
    index = open_index(root, embedder.model_id, embedder.dimension)
    rows = [(c.chunk_id, c.text) for c in index.all_chunks()]
    vectors = index._vectors.reconstruct_n(0, len(index))
    index.close()
    return rows, vectors


def generations(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("gen-"))


@pytest.fixture
def root(tmp_path: Path, corpus_dir: Path, embedder: FakeEmbedder) -> Path:
    """The corpus indexed once (4 chunks embedded); the embedder's counter is reset after."""
    root = tmp_path / "index"
    first = ingest(corpus_dir, root, embedder)
    assert (first.embedded, first.reused, first.chunks) == (4, 0, 4)
    embedder.embedded = 0
    return root


def test_unchanged_corpus_embeds_nothing_and_writes_nothing(
        root: Path, corpus_dir: Path, embedder: FakeEmbedder) -> None:
    before = generations(root), contents(root, embedder)
    report = ingest(corpus_dir, root, embedder)
    assert embedder.embedded == 0
    assert (report.embedded, report.reused, report.published) == (0, 4, False)
    assert report.generation == current_generation(root).name
    assert [f.action for f in report.files] == ["unchanged", "unchanged"]
    assert report.summary().startswith("indexed 2 documents (4 chunks) already up to date in gen-")
    assert "0 chunks embedded, 4 reused (0 added, 0 changed, 0 removed, 2 unchanged" in (
        report.summary())
    assert generations(root) == before[0]
    assert contents(root, embedder)[0] == before[1][0]


def test_changing_one_document_embeds_only_its_chunks(
        root: Path, corpus_dir: Path, embedder: FakeEmbedder) -> None:
    old_rows, old_vectors = contents(root, embedder)
    (corpus_dir / "trade.txt").write_text(
        "Katherine Tai met Wang Wentao again in Beijing on 2 May. "
        "The talks covered tariffs and rare earths.\n")
    report = ingest(corpus_dir, root, embedder)

    assert embedder.embedded == 2  # trade.txt's two chunks, nothing else
    assert (report.embedded, report.reused, report.chunks) == (2, 2, 4)
    assert {f.doc_id: f.action for f in report.files} == {"security.txt": "unchanged",
                                                          "trade.txt": "changed"}
    rows, vectors = contents(root, embedder)
    # security.txt (rows 0-1) is byte-for-byte what it was, vectors included
    assert rows[:2] == old_rows[:2]
    np.testing.assert_array_equal(vectors[:2], old_vectors[:2])
    assert "Beijing" in rows[2][1] and rows[2:] != old_rows[2:]
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert index.chunks([index.search_lexical("Beijing", 1)[0][0]])[0].doc_id == "trade.txt"
    index.close()


def test_incremental_result_equals_a_build_from_scratch(
        root: Path, corpus_dir: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    (corpus_dir / "trade.txt").write_text("Tai met Wang. Tariffs were discussed at length.\n")
    (corpus_dir / "more.md").write_text("# Forum\nXi spoke at the Boao Forum in April.\n")
    ingest(corpus_dir, root, embedder)
    ingest(corpus_dir, tmp_path / "fresh", embedder)
    incremental, fresh = contents(root, embedder), contents(tmp_path / "fresh", embedder)
    assert incremental[0] == fresh[0]
    np.testing.assert_array_equal(incremental[1], fresh[1])


def test_new_file_is_added_alone(root: Path, corpus_dir: Path, tmp_path: Path,
                                 embedder: FakeEmbedder) -> None:
    extra = tmp_path / "elsewhere" / "forum.txt"
    extra.parent.mkdir()
    extra.write_text("Xi spoke at the forum.\n")
    report = ingest([extra], root, embedder)  # just the one file, the corpus is not re-read
    assert embedder.embedded == 1
    assert {f.doc_id: f.action for f in report.files} == {
        "forum.txt": "added", "security.txt": "kept", "trade.txt": "kept"}
    assert report.documents == 3 and report.chunks == 5
    assert "2 indexed documents not in the inputs kept (--sync removes them)" in report.summary()


def test_missing_documents_are_removed_only_with_sync(
        root: Path, corpus_dir: Path, embedder: FakeEmbedder) -> None:
    (corpus_dir / "trade.txt").unlink()
    kept = ingest(corpus_dir, root, embedder)
    assert not kept.published and kept.documents == 2
    assert "1 indexed document not in the inputs kept (--sync removes them)" in kept.summary()

    removed = ingest(corpus_dir, root, embedder, sync=True)
    assert embedder.embedded == 0  # removing re-embeds nothing
    assert removed.published and (removed.documents, removed.chunks) == (1, 2)
    assert [(f.doc_id, f.action) for f in removed.files] == [("security.txt", "unchanged"),
                                                             ("trade.txt", "removed")]
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert index.search_lexical("Tai Wang tariffs", 5) == []
    assert {c.doc_id for c in index.all_chunks()} == {"security.txt"}
    index.close()


def test_new_chunking_settings_re_embed_everything_even_kept_documents(
        root: Path, corpus_dir: Path, embedder: FakeEmbedder) -> None:
    (corpus_dir / "trade.txt").unlink()  # kept: re-chunked from the text the index holds
    report = ingest(corpus_dir, root, embedder, max_tokens=40, overlap_tokens=0)
    assert "chunking changed (max_tokens 12 -> 40, overlap_tokens 4 -> 0)" in report.plan.rebuild
    assert (report.embedded, report.reused, report.chunks) == (2, 0, 2)  # one chunk per doc now
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert index.manifest["chunking"] == {"max_tokens": 40, "overlap_tokens": 0}
    assert sorted(c.doc_id for c in index.all_chunks()) == ["security.txt", "trade.txt"]
    index.close()


class OtherModel(FakeEmbedder):
    model_id = "fake/another-model"


def test_another_embedding_model_re_embeds_everything(
        root: Path, corpus_dir: Path) -> None:
    other = OtherModel()
    report = ingest(corpus_dir, root, other)
    assert report.plan.rebuild == ("embedding model changed (fake/bag-of-words -> "
                                   "fake/another-model)")
    assert other.embedded == 4 and report.reused == 0
    assert len(open_index(root, other.model_id, other.dimension)) == 4


def test_a_file_that_turned_bad_keeps_its_indexed_version(
        root: Path, corpus_dir: Path, embedder: FakeEmbedder) -> None:
    old_rows, _ = contents(root, embedder)
    (corpus_dir / "trade.txt").write_bytes("Tai met Wang in caf\xe9s.\n".encode("latin-1"))
    report = ingest(corpus_dir, root, embedder, sync=True)
    bad, = report.errors
    assert bad.path == str(corpus_dir / "trade.txt")
    assert "not valid UTF-8" in bad.reason and "(the indexed version is kept)" in bad.reason
    assert not report.published and embedder.embedded == 0
    assert contents(root, embedder)[0] == old_rows


def test_dry_run_writes_nothing(root: Path, corpus_dir: Path, embedder: FakeEmbedder,
                                tmp_path: Path) -> None:
    (corpus_dir / "trade.txt").write_text("Changed text about tariffs.\n")
    (corpus_dir / "new.txt").write_text("A new note.\n")
    before = sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*"))
    plan = plan_ingest([corpus_dir], root, sync=True, embedder=embedder, **SETTINGS)
    assert {f.doc_id: f.action for f in plan.files} == {
        "new.txt": "added", "security.txt": "unchanged", "trade.txt": "changed"}
    assert sorted((p.name, p.stat().st_mtime_ns) for p in root.rglob("*")) == before
    assert embedder.embedded == 0
    # planning against an index that does not exist creates nothing either
    nowhere = tmp_path / "no-index-yet"
    assert plan_ingest([corpus_dir], nowhere, embedder=embedder).counts()["added"] == 3
    assert not nowhere.exists()


def test_a_plan_without_an_embedder_assumes_minilm_and_loads_nothing(
        root: Path, corpus_dir: Path) -> None:
    plan = plan_ingest([corpus_dir], root)  # this index was built with the fake model
    assert plan.rebuild.startswith("embedding model changed (fake/bag-of-words -> "
                                   "sentence-transformers/all-MiniLM-L6-v2)")


def test_unreadable_live_generation_says_to_rebuild(root: Path, corpus_dir: Path,
                                                    embedder: FakeEmbedder) -> None:
    live = current_generation(root)
    (live / "chunks.sqlite").write_bytes(b"not a database" * 100)
    (corpus_dir / "trade.txt").write_text("Tai met Wang once more.\n")
    with pytest.raises(IndexLoadError, match="run the ingest again with --rebuild") as caught:
        ingest(corpus_dir, root, embedder)
    assert str(live) in str(caught.value)
    assert current_generation(root) == live  # nothing was published
    report = run_ingest([corpus_dir], root, embedder, rebuild=True, **SETTINGS)
    assert report.published and report.reused == 0
    assert len(open_index(root, embedder.model_id, embedder.dimension)) == report.chunks


def test_rebuild_keeps_only_the_readable_inputs(root: Path, corpus_dir: Path, tmp_path: Path,
                                                embedder: FakeEmbedder) -> None:
    other = tmp_path / "other.txt"
    other.write_text("Xi spoke at the forum.\n")
    ingest([other], root, embedder)  # the index now also holds other.txt
    (corpus_dir / "trade.txt").write_bytes(b"")  # and trade.txt turns bad
    report = run_ingest([corpus_dir], root, embedder, rebuild=True, **SETTINGS)
    assert {f.doc_id: f.action for f in report.files} == {
        "security.txt": "changed", "trade.txt": "rejected", "other.txt": "removed"}
    reasons = {f.doc_id: f.reason for f in report.files}
    assert reasons["other.txt"] == "not in the inputs, and --rebuild keeps only those"
    assert reasons["trade.txt"] == ("file is empty (its indexed version is dropped: --rebuild "
                                    "keeps only readable inputs)")
    assert (report.documents, report.reused) == (1, 0)

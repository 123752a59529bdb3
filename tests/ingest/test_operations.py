"""ingest.operations: the calls the operators' tab makes, on the fake corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.manifest import IndexLoadError
from index.store import current_generation, open_index
from ingest.build import DEFAULT_MAX_TOKENS, DEFAULT_OVERLAP_TOKENS, NothingToIndex
from ingest.operations import (
    NotIndexed,
    index_stats,
    plan_ingest,
    remove_document,
    run_ingest,
    save_upload,
)
from tests.fakes import FakeEmbedder


@pytest.fixture
def root(tmp_path: Path, corpus_dir: Path, embedder: FakeEmbedder) -> Path:
    root = tmp_path / "index"
    run_ingest([corpus_dir], root, embedder)
    return root


def test_stats_describe_the_live_generation(root: Path, corpus_dir: Path) -> None:
    stats = index_stats(root)
    assert stats["generation"] == current_generation(root).name
    assert (stats["documents"], stats["chunks"]) == (2, 2)
    assert stats["model"] == "fake/bag-of-words" and stats["dimension"] == 10
    assert stats["chunking"] == {"max_tokens": DEFAULT_MAX_TOKENS,
                                 "overlap_tokens": DEFAULT_OVERLAP_TOKENS}
    assert stats["built_at"] and stats["previous_generation"] is None
    assert stats["per_document"] == [
        {"doc_id": "security.txt", "title": "The Global Security Initiative was launched in "
         "April 2022. Xi presented it at the Boao Forum.", "chunks": 1,
         "source_path": str(corpus_dir / "security.txt")},
        {"doc_id": "trade.txt", "title": "Katherine Tai met Wang Wentao in San Francisco on 18 "
         "November. The talks covered tariffs and export controls.", "chunks": 1,
         "source_path": str(corpus_dir / "trade.txt")},
    ]
    assert stats["ingest_running"] is None
    json.dumps(stats)  # plain data, ready for a UI


def test_stats_of_no_index(tmp_path: Path) -> None:
    stats = index_stats(tmp_path / "nothing")
    assert (stats["generation"], stats["documents"], stats["chunks"]) == (None, 0, 0)
    assert not (tmp_path / "nothing").exists()


def test_remove_document_publishes_without_it(root: Path, embedder: FakeEmbedder) -> None:
    before = current_generation(root).name
    report = remove_document(root, "trade.txt", embedder)
    assert embedder.embedded == 2  # the initial build only
    assert report.published and (report.documents, report.chunks, report.reused) == (1, 1, 1)
    assert report.plan.summary() == "0 added, 0 changed, 1 removed, 1 unchanged, 0 rejected"
    stats = index_stats(root)
    assert [d["doc_id"] for d in stats["per_document"]] == ["security.txt"]
    assert stats["previous_generation"] == before
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert index.search_lexical("tariffs", 5) == []
    index.close()


def test_remove_unknown_document(root: Path, embedder: FakeEmbedder) -> None:
    with pytest.raises(NotIndexed, match=r"no document 'nope\.txt' in the index at"):
        remove_document(root, "nope.txt", embedder)
    with pytest.raises(IndexLoadError, match="no index at"):
        remove_document(root.parent / "empty", "trade.txt", embedder)


def test_remove_refuses_another_model(root: Path) -> None:
    class Other(FakeEmbedder):
        model_id = "fake/other"

    with pytest.raises(IndexLoadError, match="embedding model changed"):
        remove_document(root, "trade.txt", Other())


def test_remove_the_last_document_leaves_an_empty_index(root: Path,
                                                        embedder: FakeEmbedder) -> None:
    remove_document(root, "trade.txt", embedder)
    report = remove_document(root, "security.txt", embedder)
    assert (report.documents, report.chunks) == (0, 0)
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert len(index) == 0 and index.search_lexical("Xi", 3) == []
    index.close()


def test_progress_is_reported_from_zero_to_one(tmp_path: Path, corpus_dir: Path,
                                               embedder: FakeEmbedder) -> None:
    seen: list[tuple[float, str]] = []
    run_ingest([corpus_dir], tmp_path / "index", embedder,
               progress=lambda fraction, message: seen.append((fraction, message)))
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[0] == 0.0 and fractions[-1] == 1.0
    assert any("embedded 2/2 chunks" in m for _, m in seen)
    assert seen[-1][1].startswith("published gen-")


def test_upload_then_ingest(root: Path, corpus_dir: Path, embedder: FakeEmbedder) -> None:
    saved = save_upload(corpus_dir, "forum.md", b"# Forum\nXi spoke at the Boao Forum.\n")
    plan = plan_ingest([corpus_dir], root, embedder=embedder)
    assert [(f.doc_id, f.action) for f in plan.files if f.action != "unchanged"] == [
        ("forum.md", "added")]
    report = run_ingest([corpus_dir], root, embedder)
    assert report.embedded == 1 and saved.name == "forum.md"
    assert index_stats(root)["documents"] == 3


def test_nothing_readable_changes_nothing(root: Path, tmp_path: Path,
                                          embedder: FakeEmbedder) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "empty.txt").write_bytes(b"")
    before = current_generation(root)
    with pytest.raises(NothingToIndex, match=r"no document could be read: .*empty.txt: file is "
                                             "empty"):
        run_ingest([bad], root, embedder, sync=True)
    assert current_generation(root) == before and index_stats(root)["documents"] == 2

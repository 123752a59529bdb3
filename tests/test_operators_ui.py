"""The Operators tab's logic with the fake embedder: what the operator sees in the plan, the
outcome table, the statistics and the corpus directory after each action.

The corpus (tests/fakes.py) is trade.txt and security.txt, indexed before each test; uploads are
files in a separate "browser" directory, as Gradio hands them over.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import operators_ui as ui
from index.manifest import IndexLoadError
from ingest.build import build_index
from ingest.operations import NotIndexed, index_stats
from tests.fakes import TRADE, FakeEmbedder

NOTES = "Xi met the forum.\n"


@pytest.fixture
def root(corpus_dir: Path, embedder: FakeEmbedder, tmp_path: Path) -> Path:
    root = tmp_path / "index"
    build_index([corpus_dir], root, embedder)
    return root


def upload(tmp_path: Path, name: str, data: bytes | str) -> str:
    """A file as the browser uploaded it: its path in Gradio's cache."""
    path = tmp_path / "browser" / name
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return str(path)


def table(actions: list) -> dict[str, tuple[str, str]]:
    """{document: (action, reason)} of the rows the operator sees."""
    return {row[0]: (row[1], row[3]) for row in ui.rows(actions)}


def test_plan_shows_the_upload_as_added_and_the_corpus_unchanged(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    staged = ui.stage_uploads([upload(tmp_path, "notes.md", NOTES)])
    plan = table(ui.plan_actions(corpus_dir, staged, root, embedder, sync=False))
    assert plan == {"notes.md": ("added", ""), "security.txt": ("unchanged", ""),
                    "trade.txt": ("unchanged", "")}
    assert not (corpus_dir / "notes.md").exists()  # planning writes nothing into the corpus


def test_unsafe_or_unsupported_upload_names_are_refused_with_the_reason(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    staged = ui.stage_uploads([upload(tmp_path, ".secret.txt", NOTES),
                               upload(tmp_path, "report.docx", NOTES),
                               upload(tmp_path, "a\\..\\b.txt", NOTES)])
    plan = table(ui.plan_actions(corpus_dir, staged, root, embedder, sync=False))
    assert plan[".secret.txt"] == ("rejected", "file name starts with '.'; hidden files are "
                                               "never indexed")
    assert plan["report.docx"][0] == "rejected"
    assert "unsupported file type '.docx'" in plan["report.docx"][1]
    assert plan["a\\..\\b.txt"][0] == "rejected"
    assert "'..'" in plan["a\\..\\b.txt"][1]


def test_ingest_copies_the_upload_into_the_corpus_and_publishes_it(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    before = index_stats(root)
    staged = ui.stage_uploads([upload(tmp_path, "  notes.md ", NOTES)])
    embedded = embedder.embedded
    summary, outcomes = ui.ingest_uploads(corpus_dir, staged, root, embedder, sync=False)
    assert table(outcomes)["notes.md"] == ("added", "")
    assert (corpus_dir / "notes.md").read_text(encoding="utf-8") == NOTES  # sanitized name
    assert embedder.embedded - embedded == 1  # only the new document's one chunk
    after = index_stats(root)
    assert after["documents"] == 3 and after["generation"] != before["generation"]
    assert "indexed 3 documents" in summary
    assert f"| generation | `{after['generation']}` |" in ui.stats_markdown(root, corpus_dir)
    assert staged.files == []  # the staging directory is gone


def test_upload_named_like_a_corpus_file_is_planned_as_changed_and_replaces_it(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    new_trade = TRADE.replace("18 November", "19 November")
    staged = ui.stage_uploads([upload(tmp_path, "trade.txt", new_trade)])
    plan = table(ui.plan_actions(corpus_dir, staged, root, embedder, sync=False))
    assert plan["trade.txt"] == ("changed", "content changed")
    _, outcomes = ui.ingest_uploads(corpus_dir, staged, root, embedder, sync=False)
    assert table(outcomes)["trade.txt"][0] == "changed"
    assert (corpus_dir / "trade.txt").read_text(encoding="utf-8") == new_trade


def test_unreadable_upload_is_rejected_and_never_reaches_the_corpus(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    staged = ui.stage_uploads([upload(tmp_path, "bad.txt", b"caf\xe9 au lait"),
                               upload(tmp_path, "notes.md", NOTES)])
    plan = table(ui.plan_actions(corpus_dir, staged, root, embedder, sync=False))
    assert plan["bad.txt"][0] == "rejected" and "UTF-8" in plan["bad.txt"][1]
    _, outcomes = ui.ingest_uploads(corpus_dir, staged, root, embedder, sync=False)
    assert table(outcomes)["bad.txt"][0] == "rejected"
    assert table(outcomes)["notes.md"][0] == "added"
    assert not (corpus_dir / "bad.txt").exists()


def test_sync_plans_removal_of_documents_whose_file_is_gone(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder) -> None:
    (corpus_dir / "security.txt").unlink()
    kept = table(ui.plan_actions(corpus_dir, ui.Staged(), root, embedder, sync=False))
    removed = table(ui.plan_actions(corpus_dir, ui.Staged(), root, embedder, sync=True))
    assert kept["security.txt"][0] == "kept"
    assert removed["security.txt"][0] == "removed"
    assert removed["trade.txt"][0] == "unchanged"


def test_remove_drops_the_document_from_index_and_corpus(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder) -> None:
    message, removed = ui.remove(corpus_dir, root, "trade.txt", embedder, delete_file=True)
    assert table(removed) == {"trade.txt": ("removed", "removed by the operator")}
    assert ui.indexed_documents(root) == ["security.txt"]
    assert not (corpus_dir / "trade.txt").exists()
    assert message.startswith("Removed trade.txt from the index: 1 documents, 1 chunks in gen-")
    assert message.endswith("Deleted its file trade.txt from the corpus directory.")
    assert str(corpus_dir) not in message  # no absolute path on the page


def test_remove_can_keep_the_file_and_says_the_next_ingest_adds_it_back(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder) -> None:
    message, _ = ui.remove(corpus_dir, root, "trade.txt", embedder, delete_file=False)
    assert (corpus_dir / "trade.txt").exists()
    assert "next ingest of the corpus adds it back" in message
    plan = table(ui.plan_actions(corpus_dir, ui.Staged(), root, embedder, sync=False))
    assert plan["trade.txt"][0] == "added"


def test_removing_an_unknown_document_names_it(
        corpus_dir: Path, root: Path, embedder: FakeEmbedder) -> None:
    with pytest.raises(NotIndexed, match=r"no document 'nope\.txt' in the index"):
        ui.remove(corpus_dir, root, "nope.txt", embedder, delete_file=True)


def test_stats_without_an_index_say_how_to_make_one(tmp_path: Path) -> None:
    text = ui.stats_markdown(tmp_path / "no-index", tmp_path / "corpus")
    assert "none yet: upload documents and press Ingest" in text


def test_stats_of_a_damaged_index_show_the_reason(tmp_path: Path) -> None:
    (tmp_path / "CURRENT").write_text("gen-missing\n", encoding="utf-8")
    text = ui.stats_markdown(tmp_path, tmp_path / "corpus")
    assert text.startswith("**The index cannot be read:**")
    with pytest.raises(IndexLoadError):
        index_stats(tmp_path)


def test_corpus_directory_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch,
                                                     tmp_path: Path) -> None:
    monkeypatch.setenv("RAG_CORPUS_DIR", str(tmp_path))
    assert ui.corpus_dir() == tmp_path
    monkeypatch.delenv("RAG_CORPUS_DIR")
    assert ui.corpus_dir().parts[-2:] == ("data", "corpus")

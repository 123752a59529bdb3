"""ingest.plan: the pure comparison of inputs with a manifest, and how a plan reads.

Hashes here are short stand-ins ("h1"): compare only checks them for equality.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.plan import FileAction, Input, Plan, Settings, compare, incompatibility

INDEXED = {
    "a.txt": {"sha256": "h1", "chunks": 3, "source_path": "corpus/a.txt"},
    "b.txt": {"sha256": "h2", "chunks": 2, "source_path": "corpus/b.txt"},
    "gone.txt": {"sha256": "h3", "chunks": 4, "source_path": "old/gone.txt"},
}
SETTINGS = Settings("fake/model", 10, 128, 32)
MANIFEST = {"embedding_model": "fake/model", "dimension": 10,
            "chunking": {"max_tokens": 128, "overlap_tokens": 32}}


def actions(result: list[FileAction]) -> dict[str | None, str]:
    return {f.doc_id: f.action for f in result}


def test_each_input_is_added_changed_or_unchanged() -> None:
    result = compare([Input("a.txt", "corpus/a.txt", "h1"),
                      Input("b.txt", "corpus/b.txt", "EDITED"),
                      Input("new.txt", "corpus/new.txt", "h9")], INDEXED, sync=False)
    assert actions(result) == {"a.txt": "unchanged", "b.txt": "changed", "new.txt": "added",
                               "gone.txt": "kept"}
    assert result[0] == FileAction("unchanged", "a.txt", "corpus/a.txt", "", 3)
    assert result[1].reason == "content changed"


def test_missing_documents_are_kept_unless_sync() -> None:
    kept, = [f for f in compare([], {"gone.txt": INDEXED["gone.txt"]}, sync=False)]
    assert kept == FileAction("kept", "gone.txt", "old/gone.txt",
                              "not in the inputs; kept (--sync removes it)", 4)
    removed, = compare([], {"gone.txt": INDEXED["gone.txt"]}, sync=True)
    assert removed == FileAction("removed", "gone.txt", "old/gone.txt", "not in the inputs", 4)


def test_a_rebuild_reason_changes_every_unchanged_input() -> None:
    result = compare([Input("a.txt", "corpus/a.txt", "h1")], INDEXED, sync=False,
                     rebuild="chunking changed (max_tokens 128 -> 160)")
    assert result[0] == FileAction("changed", "a.txt", "corpus/a.txt",
                                   "chunking changed (max_tokens 128 -> 160)")
    assert all("re-chunked from the indexed text" in f.reason for f in result[1:])


def test_a_bad_file_with_an_indexed_version_keeps_it() -> None:
    result = compare([Input("a.txt", "corpus/a.txt", error="not valid UTF-8 at byte 3"),
                      Input("z.txt", "corpus/z.txt", error="file is empty")], INDEXED, sync=True)
    assert result[0] == FileAction("rejected", "a.txt", "corpus/a.txt",
                                   "not valid UTF-8 at byte 3 (the indexed version is kept)", 3)
    assert result[1] == FileAction("rejected", "z.txt", "corpus/z.txt", "file is empty")
    # present in the inputs, so even --sync does not remove it
    assert actions(result)["a.txt"] == "rejected"


@pytest.mark.parametrize(("manifest", "reason"), [
    (MANIFEST, ""),
    ({**MANIFEST, "embedding_model": "other/model"},
     "embedding model changed (other/model -> fake/model)"),
    ({**MANIFEST, "dimension": 384}, "dimension changed (384 -> 10)"),
    ({**MANIFEST, "chunking": {"max_tokens": 160, "overlap_tokens": 32}},
     "chunking changed (max_tokens 160 -> 128)"),
    ({**MANIFEST, "chunking": {"max_tokens": 100, "overlap_tokens": 0}},
     "chunking changed (max_tokens 100 -> 128, overlap_tokens 0 -> 32)"),
    ({}, "embedding model changed (None -> fake/model)"),
])
def test_incompatibility(manifest: dict, reason: str) -> None:
    assert incompatibility(manifest, SETTINGS) == reason


def test_plan_counts_summary_and_lines() -> None:
    files = compare([Input("a.txt", "corpus/a.txt", "h1"), Input("n.md", "corpus/n.md", "h5"),
                     Input("bad.txt", "corpus/bad.txt", error="file is empty")],
                    INDEXED, sync=False)
    files.append(FileAction("rejected", None, "corpus/x.docx", "unsupported file type '.docx'"))
    plan = Plan(Path("idx"), SETTINGS, False, files, "gen-1", INDEXED)
    assert plan.counts() == {"added": 1, "changed": 0, "removed": 0, "unchanged": 1, "kept": 2,
                             "rejected": 2}
    assert plan.summary() == "1 added, 0 changed, 0 removed, 1 unchanged, 2 kept, 2 rejected"
    assert plan.has_changes and plan.readable == 2
    assert [f.line() for f in plan.files] == [
        "unchanged  a.txt (3 chunks)",
        "added      n.md",
        "rejected   corpus/bad.txt: file is empty",
        "kept       b.txt (2 chunks): not in the inputs; kept (--sync removes it)",
        "kept       gone.txt (4 chunks): not in the inputs; kept (--sync removes it)",
        "rejected   corpus/x.docx: unsupported file type '.docx'",
    ]


def test_a_plan_without_changes_publishes_nothing() -> None:
    files = compare([Input(d, e["source_path"], e["sha256"]) for d, e in INDEXED.items()],
                    INDEXED, sync=True)
    plan = Plan(Path("idx"), SETTINGS, True, files, "gen-1", INDEXED)
    assert not plan.has_changes
    assert plan.summary() == "0 added, 0 changed, 0 removed, 3 unchanged, 0 rejected"

"""bench.stores runs end to end on a tiny index and writes the keys docs/PERFORMANCE.md reads.
Seconds; the real measurement is `python -m bench.stores` (1e5 chunks)."""

from __future__ import annotations

import json
from pathlib import Path

from bench import stores


def test_stores(tmp_path: Path) -> None:
    out = tmp_path / "stores.json"
    assert stores.main(["--size", "1000", "--queries", "10", "--repeats", "1",
                        "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"machine", "command", "milvus_over_faiss"} <= set(result)
    for name in ("faiss", "milvus-lite"):
        row = result["results"][name]
        assert {"build_s", "dense", "lexical", "recall_at_10"} <= set(row)
        assert row["recall_at_10"] == 1.0  # both exact at 1,000 chunks
    assert set(result["milvus_over_faiss"]) == {"dense_p50", "lexical_p50", "build"}

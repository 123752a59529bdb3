"""bench.chunking on 10 and 20 KB of text: the generators make what they say, and a run writes
the promised JSON and prints one line per size. About a second; the measurement is
`python -m bench.chunking`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import chunking


@pytest.mark.parametrize("kind", list(chunking.KINDS))
def test_each_kind_is_the_size_asked_for(kind: str) -> None:
    assert len(chunking.KINDS[kind](5000)) == 5000


def test_the_generated_texts_have_the_shape_they_are_named_after() -> None:
    assert chunking.abbreviations(12) == "Dr. A. B. Sm"
    assert chunking.repeated(50).count("\n") == 1
    assert len(chunking.no_spaces(5000).split()) == 1
    assert chunking.table(200).splitlines()[2] == "| 0 | item-0 | 0.00 | in stock |"


def test_a_run_reports_seconds_and_mb_per_s_per_size(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "chunking.json"
    code = chunking.main(["--sizes", "0.02,0.01", "--kinds", "table,no_spaces",
                          "--out", str(out)])
    assert code == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"tokenizer", "sizes_mb", "repeats", "kinds", "machine", "command"} <= set(result)
    assert result["sizes_mb"] == [0.01, 0.02]
    for rows in result["kinds"].values():
        assert [row["size_mb"] for row in rows] == [0.01, 0.02]
        assert rows[0]["vs_smallest"] == 1.0
        for row in rows:
            assert row["mb_per_s"] == pytest.approx(row["size_mb"] / row["seconds"])
            assert row["max_chunk_tokens"] <= row["max_tokens"]
            assert {"seconds_per_mb", "chunks", "peak_rss_mb", "tokenizer_calls"} <= set(row)
    printed = capsys.readouterr().out.splitlines()
    assert sum(line.split()[0] in ("table", "no_spaces") for line in printed if line) == 4


@pytest.mark.parametrize(("flag", "value"), [("--sizes", "1,x"), ("--sizes", "0"),
                                             ("--kinds", "poetry")])
def test_a_bad_flag_is_one_line_and_exit_code_2(
        flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        chunking.main([flag, value])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1

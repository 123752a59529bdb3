"""bench.fuzz on 45 tiny files: a run writes the promised JSON and summary, and bad flags are one
line. A few seconds; the measurement is `python -m bench.fuzz` (the checks themselves are
tests/ingest/test_fuzz.py).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import fuzz


def test_a_run_reports_files_per_second_per_file_maxima_and_outcomes(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "fuzz.json"
    assert fuzz.main(["--files", "45", "--max-kb", "4", "--seed", "5", "--out", str(out)]) == 0
    result = json.loads(out.read_text(encoding="utf-8"))
    assert {"files", "seed", "files_per_s", "per_file_max_seconds", "per_file_max_peak_mib",
            "peak_rss_mib", "problem_count", "runs", "machine", "command"} <= set(result)
    assert result["problem_count"] == 0
    run = result["runs"][0]
    assert run["files"] == 45 and len(run["per_file"]) == 45
    assert sum(run["outcomes"].values()) == 45
    assert run["outcomes"]["indexed"] > 0 and run["outcomes"]["rejected"] > 0
    assert run["files_per_s"] == pytest.approx(45 / run["seconds"])
    printed = capsys.readouterr().out.splitlines()
    assert printed[0].startswith("45 files (")
    assert printed[-2] == "  problems: 0"


@pytest.mark.parametrize(("flag", "value"), [("--files", "0"), ("--max-kb", "x"),
                                             ("--embedder", "bert")])
def test_a_bad_flag_is_one_line_and_exit_code_2(
        flag: str, value: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        fuzz.main([flag, value])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1

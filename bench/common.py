"""What every bench command shares: the parser, medians, memory readings, child processes, JSON.

A measurement whose peak memory matters runs in a child process (`run_child`), so one
measurement's allocations never inflate the next one's peak.

Does not measure anything by itself and does not import numpy, torch or faiss (callers set the
environment first with common.cli.prepare_environment()).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.cli import Parser
from common.paths import PROJECT_ROOT

BENCH_DIR = PROJECT_ROOT / "var" / "bench"


def bench_parser(name: str, description: str, examples: str, repeats: int) -> Parser:
    """The argparse parser of `python -m bench.<name>` with --out and --repeats already added."""
    parser = Parser(prog=f"python -m bench.{name}", description=description,
                    epilog="examples:\n" + examples)
    parser.add_argument("--out", type=Path, default=BENCH_DIR / f"{name}.json", metavar="FILE",
                        help=f"where to write the JSON result (default var/bench/{name}.json)")
    parser.add_argument("--repeats", type=positive_int, default=repeats, metavar="N",
                        help=f"timed runs per measurement; medians are reported (default "
                             f"{repeats})")
    return parser


def positive_int(value: str) -> int:
    """argparse type for counts. Example: positive_int("3") -> 3; positive_int("0") fails."""
    try:
        number = int(value)
    except ValueError:
        raise ValueError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise ValueError(f"{value!r} must be at least 1")
    return number


positive_int.__name__ = "count"  # argparse names the type in its message: "invalid count value"


def median(values: Sequence[float]) -> float:
    """Example: median([3.0, 1.0, 2.0]) -> 2.0"""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), linear between closest ranks.

    Example: percentile([1.0, 2.0, 3.0, 4.0], 50) -> 2.5
    """
    ordered = sorted(values)
    if not ordered:
        raise ValueError("percentile of no values")
    pos = (len(ordered) - 1) * q / 100
    low = int(pos)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)


def ratio(value: float, baseline: float) -> float | None:
    """value / baseline, or None when the baseline is zero. Example: ratio(3.0, 2.0) -> 1.5"""
    return value / baseline if baseline else None


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports ru_maxrss in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_mb() -> float:
    """This process's resident memory now, in MiB."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def dir_size_mb(path: Path) -> float:
    """Total size of the files under `path` (or of the file `path`), in MiB."""
    if path.is_file():
        return path.stat().st_size / 2**20
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20


def run_child(target: str, kwargs: dict[str, Any], python: str | None = None,
              timeout: float = 3600) -> dict[str, Any]:
    """Run `module:function(**kwargs)` in a fresh interpreter and return its JSON-ready result.

    The child adds `peak_rss_mb` (its own ru_maxrss) to the result. Its stderr (progress bars)
    passes through; a failure raises RuntimeError with the child's last lines.
    Example: run_child("bench.ingest:raw_encode", {"texts": [...]}) -> {"seconds": ..., ...}
    """
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        args_file, result_file = Path(tmp) / "args.json", Path(tmp) / "result.json"
        args_file.write_text(json.dumps(kwargs), encoding="utf-8")
        command = [python or sys.executable, "-m", "bench._child", target, str(args_file),
                   str(result_file)]
        done = subprocess.run(command, cwd=PROJECT_ROOT, timeout=timeout, text=True,
                              stdout=subprocess.PIPE, stderr=None)
        if done.returncode != 0 or not result_file.is_file():
            tail = "\n".join(done.stdout.splitlines()[-20:])
            raise RuntimeError(f"{target} failed in a child process (exit {done.returncode}); "
                               f"its output ends with:\n{tail}")
        return json.loads(result_file.read_text(encoding="utf-8"))


def machine() -> dict[str, Any]:
    """What the numbers were measured on."""
    return {"cpus": os.cpu_count(), "platform": platform.platform(),
            "python": platform.python_version(),
            "date": datetime.now(UTC).isoformat(timespec="seconds")}


def write_result(out: Path, payload: dict[str, Any]) -> None:
    """Write `payload` plus the machine description as indented JSON to `out`."""
    out.parent.mkdir(parents=True, exist_ok=True)
    script = Path(sys.argv[0]).resolve()
    module = (".".join(script.relative_to(PROJECT_ROOT).with_suffix("").parts)
              if script.is_relative_to(PROJECT_ROOT) else script.stem)
    payload = {**payload, "machine": machine(),
               "command": " ".join(["python -m", module, *sys.argv[1:]])}
    out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")


def squad_documents() -> dict[str, str]:
    """The 16 SQuAD 2.0 dev articles (data/squad2, committed) as {file name: text}."""
    from eval.squad import DEFAULT_SQUAD, convert, load_squad

    documents, _ = convert(load_squad(DEFAULT_SQUAD))
    return documents


def bench_corpus(directory: Path = BENCH_DIR / "corpus") -> Path:
    """data/corpus plus the SQuAD articles, copied into `directory` (rewritten each call)."""
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    for source in (PROJECT_ROOT / "data" / "corpus").iterdir():
        shutil.copy(source, directory / source.name)
    for name, text in squad_documents().items():
        (directory / f"squad-{name}").write_text(text, encoding="utf-8", newline="")
    return directory


def squad_questions() -> list[str]:
    """Every SQuAD question text of the dev articles (answerable or not), in file order."""
    from eval.squad import DEFAULT_SQUAD, convert, load_squad

    _, questions = convert(load_squad(DEFAULT_SQUAD))
    return [q["question"] for q in questions]

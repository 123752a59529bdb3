"""Compare two benchmark runs side by side: metric | A | B | delta (B minus A).

    python -m eval.compare runs/baseline/metrics.json runs/hybrid/metrics.json

Rows follow eval.metrics.METRIC_KEYS, then any keys only one file has. Whether a delta is good
depends on the metric (higher recall is better, higher latency is worse), so no verdict is
printed. Does not test significance: on a few dozen questions, one question moves a rate by
several points.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from eval.metrics import METRIC_KEYS


def _cell(value: Any) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def _delta(a: Any, b: Any) -> str:
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (a, b))
    if not numbers:
        return "n/a" if a != b else ""
    diff = b - a
    return f"{diff:+d}" if isinstance(diff, int) else f"{diff:+.3f}"


def compare(a: dict, b: dict, names: tuple[str, str] = ("A", "B")) -> str:
    """A plain-text table of both runs' metrics.

    Example: compare({"mrr": 0.5}, {"mrr": 0.75}) -> a table whose mrr row is
             "mrr  0.500  0.750  +0.250" (columns padded to line up)
    """
    known = [k for k in METRIC_KEYS if k in a or k in b]
    extra = [k for k in (*a, *b) if k not in METRIC_KEYS]
    keys = known + list(dict.fromkeys(extra))
    rows = [("metric", *names, "delta")]
    rows += [(k, _cell(a.get(k)), _cell(b.get(k)), _delta(a.get(k), b.get(k))) for k in keys]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    lines = [
        "  ".join([row[0].ljust(widths[0]), *(c.rjust(w) for c, w in zip(row[1:], widths[1:],
                                                                         strict=True))])
        for row in rows
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(line.rstrip() for line in lines)


def _load(path: Path) -> dict:
    """The metrics in `path`; raises ValueError with a one-line message on any problem."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a metrics file (expected a JSON object)")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eval.compare",
        description="Print two benchmark runs' metrics side by side with the change (B - A).",
        epilog="example:\n  python -m eval.compare runs/baseline/metrics.json "
        "runs/hybrid/metrics.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("a", type=Path, metavar="A", help="metrics.json of the first run")
    parser.add_argument("b", type=Path, metavar="B", help="metrics.json of the second run")
    args = parser.parse_args(argv)
    try:
        a, b = _load(args.a), _load(args.b)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"A = {args.a}\nB = {args.b}\n\n{compare(a, b)}", flush=True)
    except BrokenPipeError:
        # Piped into `head`: the reader stopped early, which is not an error worth a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 0


if __name__ == "__main__":
    sys.exit(main())

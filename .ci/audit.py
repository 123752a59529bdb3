"""`python .ci/audit.py`: pip-audit over the pinned requirements; fails on any known vulnerability.

Runs `pip-audit -r requirements.txt -r requirements-models.txt --no-deps --format json` (every
line there is pinned, so no resolver runs) and reads its report:

- a pin with a known vulnerability: one line per advisory (package, version, id, fixed in),
  exit 1;
- no vulnerability, every pin audited: exit 0;
- pins pip-audit could not audit (its vulnerability service, PyPI's JSON API or OSV, is
  unreachable: on this offline machine every pin is skipped): one warning line with the count,
  exit 0, or exit 1 with --strict (set RAG_AUDIT_STRICT=1 where the network allows).

Does not install or upgrade anything.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ("requirements.txt", "requirements-models.txt")

EXAMPLES = """examples:
  python .ci/audit.py              audit the pins; warn if no vulnerability service answers
  python .ci/audit.py --strict     also fail when a pin could not be audited
"""


def verdict(report: dict[str, Any], strict: bool) -> tuple[int, list[str]]:
    """(exit status, lines to print) for a pip-audit JSON report.

    Example: verdict({"dependencies": [{"name": "a", "version": "1", "vulns": []}]}, False)
             -> (0, ["pip-audit: 1 packages audited, no known vulnerabilities"])
    """
    deps = report.get("dependencies", [])
    found = [(d, v) for d in deps for v in d.get("vulns", [])]
    skipped = [d for d in deps if d.get("skip_reason")]
    lines = [f"pip-audit: {d['name']} {d.get('version', '?')} has {v.get('id', '?')}"
             f" (fixed in {', '.join(v.get('fix_versions') or []) or 'no release yet'})"
             for d, v in found]
    audited = len(deps) - len(skipped)
    if skipped:
        lines.append(f"pip-audit: WARNING {len(skipped)} of {len(deps)} packages could "
                     f"not be audited (no vulnerability service reachable?), e.g. "
                     f"{skipped[0]['skip_reason']}")
    if not found and audited:
        lines.append(f"pip-audit: {audited} packages audited, no known vulnerabilities")
    status = 1 if found or (strict and skipped) else 0
    return status, lines


def run_pip_audit(files: Sequence[Path] = tuple(ROOT / n for n in REQUIREMENTS)
                  ) -> dict[str, Any]:
    """pip-audit's JSON report over requirement files (its exit status 1 just means 'found')."""
    command = [sys.executable, "-m", "pip_audit", "--no-deps", "--format", "json",
               "--progress-spinner", "off"]
    for file in files:
        command += ["-r", str(file)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    try:
        return json.loads(done.stdout)
    except ValueError:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise SystemExit(f"pip-audit failed (exit {done.returncode}): {tail}") from None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python .ci/audit.py",
                                     description=__doc__.split("\n\n")[0],
                                     epilog=EXAMPLES,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strict", action="store_true",
                        default=os.environ.get("RAG_AUDIT_STRICT") == "1",
                        help="fail when a pin could not be audited (default: $RAG_AUDIT_STRICT=1)")
    args = parser.parse_args(argv)
    status, lines = verdict(run_pip_audit(), args.strict)
    for line in lines:
        print(line, file=sys.stderr)
    return status


if __name__ == "__main__":
    sys.exit(main())

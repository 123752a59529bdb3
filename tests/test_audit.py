"""CI's dependency audit (.ci/audit.py): a known vulnerability in a pin fails the run, and a
pin that could not be audited is said out loud instead of passing in silence."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("ci_audit", PROJECT / ".ci" / "audit.py")
assert _spec is not None and _spec.loader is not None
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)


def test_a_vulnerable_pin_fails_and_names_package_advisory_and_fix() -> None:
    report = {"dependencies": [
        {"name": "requests", "version": "2.19.1",
         "vulns": [{"id": "PYSEC-2018-28", "fix_versions": ["2.20.0"]}]},
        {"name": "numpy", "version": "2.4.6", "vulns": []}]}
    status, lines = audit.verdict(report, strict=False)
    assert status == 1
    assert lines == ["pip-audit: requests 2.19.1 has PYSEC-2018-28 (fixed in 2.20.0)"]


def test_clean_pins_pass() -> None:
    report = {"dependencies": [{"name": "numpy", "version": "2.4.6", "vulns": []}]}
    assert audit.verdict(report, strict=False) == (
        0, ["pip-audit: 1 packages audited, no known vulnerabilities"])


def test_unaudited_pins_warn_and_fail_only_when_strict() -> None:
    report = {"dependencies": [
        {"name": "torch", "skip_reason": "Dependency not found on PyPI: torch (2.13.0+cpu)"},
        {"name": "numpy", "version": "2.4.6", "vulns": []}]}
    status, lines = audit.verdict(report, strict=False)
    assert status == 0
    assert "1 of 2 packages could not be audited" in lines[0]
    assert "torch" in lines[0]
    assert audit.verdict(report, strict=True)[0] == 1


def test_real_pip_audit_over_the_pins_reports_every_pin(tmp_path: Path) -> None:
    """The real tool over a two-pin file: each pin is either audited or reported as skipped
    (this machine reaches no vulnerability service, so here they are skipped)."""
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("numpy==2.4.6\ntqdm==4.70.1\n")
    report = audit.run_pip_audit([requirements])
    names = sorted(d["name"] for d in report["dependencies"])
    assert names == ["numpy", "tqdm"]
    status, lines = audit.verdict(report, strict=False)
    assert status == 0 and lines


def test_the_command_has_help_with_examples() -> None:
    done = subprocess.run([sys.executable, str(PROJECT / ".ci" / "audit.py"), "--help"],
                          capture_output=True, text=True)
    assert done.returncode == 0 and "--strict" in done.stdout and "examples:" in done.stdout

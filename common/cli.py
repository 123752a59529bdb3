"""What every entry point shares: offline environment, a readable settings file, and argument
errors as one clear line.

Call `prepare_environment()` before importing numpy, faiss, torch or transformers: the
variables it sets are read once, when those libraries load.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import NoReturn


def prepare_environment() -> None:
    """Never reach for a model hub; let OpenBLAS use this CPU's real kernels."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    # The faiss wheel's OpenBLAS detects this CPU as "Prescott"; SkylakeX kernels are 5x faster.
    os.environ.setdefault("OPENBLAS_CORETYPE", "SkylakeX")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    check_settings_file()


def check_settings_file() -> None:
    """Exit with one line when the settings file in use (common.settings_file) cannot be read
    or names an unknown table or path key: every entry point calls this before it reads a
    default path, so a broken file never ends in a traceback. [answering] values are checked
    where the answering settings are built (qa.config.load_settings)."""
    from common.logs import log_level
    from common.paths import settings_root
    from common.settings_file import SettingsError, find_settings_file

    try:
        find_settings_file(settings_root())
        log_level(settings_root(), "INFO")
    except SettingsError as err:
        script = Path(sys.argv[0])
        prog = f"python -m {script.parent.name}" if script.name == "__main__.py" else (
            script.name or "python")
        fail(prog, str(err), code=2)


class Parser(argparse.ArgumentParser):
    """argparse with examples kept as written and mistakes reported in one line, exit code 2."""

    def __init__(self, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if sys.argv and sys.argv[0].startswith("groundwork "):  # run as `groundwork ingest`
            kwargs["prog"] = sys.argv[0]
        super().__init__(**kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def fail(prog: str, message: str, code: int = 1) -> NoReturn:
    """Print one line to stderr and exit; for user mistakes, never a traceback."""
    print(f"{prog}: error: {message}", file=sys.stderr)
    raise SystemExit(code)

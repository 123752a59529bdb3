"""Logs through the standard logging module: one format, one level setting, stderr.

The level is $RAG_LOG_LEVEL, else `level` of the settings file's [logging] table, else the
entry point's default: INFO for the app and its answering worker (one line per question with
its timings, one per ingested file), WARNING for the command-line tools, whose own output
already says what happened. Modules log to `logging.getLogger(__name__)`; nothing is logged
to a file unless an operator redirects stderr.

Imports nothing of the project but common.settings_file.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from common.settings_file import SettingsError, find_settings_file

LEVEL_ENV = "RAG_LOG_LEVEL"
LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def log_level(root: Path, default: str, env: Mapping[str, str] | None = None) -> str:
    """The level name in force: $RAG_LOG_LEVEL, else [logging] level of the settings file
    found from `root`, else `default`. A value that is not a level is a SettingsError naming
    where it came from. Example: log_level(root, "INFO", {"RAG_LOG_LEVEL": "debug"}) -> "DEBUG"
    """
    env = os.environ if env is None else env
    if value := env.get(LEVEL_ENV, "").strip():
        return _checked(value, f"environment variable {LEVEL_ENV}")
    file = find_settings_file(root, env)
    if file is not None and "level" in file.logging:
        return _checked(file.logging["level"], file.where("logging", "level"))
    return default


def _checked(value: object, where: str) -> str:
    name = value.strip().upper() if isinstance(value, str) else ""
    if name not in LEVELS:
        raise SettingsError(f"{where}: expected one of {', '.join(LEVELS)} (any case), got "
                            f"{value!r}", ("level",))
    return name


def setup_logging(default: str = "INFO", root: Path | None = None) -> str:
    """Send log records at the level in force (log_level) to stderr, one line each; returns
    the level. Called once by each entry point, after common.cli.prepare_environment (which
    has already refused a broken settings file)."""
    from common.paths import settings_root

    level = log_level(settings_root() if root is None else root, default)
    logging.basicConfig(level=level, format=FORMAT, stream=sys.stderr, force=True)
    return level

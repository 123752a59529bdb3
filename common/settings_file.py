"""The optional settings file: where it is, its three tables, and the paths it names.

A TOML file with an [answering] table (qa.config.Settings fields, converted and checked there),
a [paths] table (index_dir, corpus_dir, model_cache, checked here; vector_store, a URI kept as
written: index.vector_store) and a [logging] table (level, checked by common.logs). It is the
file that $RAG_SETTINGS names, else settings.toml in common.paths.settings_root() (the project
root of a checkout) when there is one. Paths in it are relative to its own directory.
Environment variables win over the file.

Imports nothing of the project, so every stage may read it. Does not convert [answering] values
(qa.config knows the Settings fields) and never writes a file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

SETTINGS_ENV = "RAG_SETTINGS"
FILE_NAME = "settings.toml"
TABLES = ("answering", "paths", "logging")
LOGGING_KEYS = ("level",)
# Each [paths] key and the environment variable that overrides it.
PATH_KEYS = {"index_dir": "RAG_INDEX_DIR", "corpus_dir": "RAG_CORPUS_DIR",
             "model_cache": "RAG_MODEL_CACHE"}
# Not a directory: a URI or a .db path (index.vector_store.store_kind), kept as written.
STORE_KEY, STORE_ENV = "vector_store", "RAG_VECTOR_STORE"


class SettingsError(ValueError):
    """A setting that cannot be used. The message is one line naming where it came from (file
    and key, or environment variable) and what is expected; `keys` are the fields involved."""

    def __init__(self, message: str, keys: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.keys = keys


@dataclass(frozen=True)
class SettingsFile:
    """A read settings file: [answering] and [logging] as TOML gave them, [paths] resolved to
    directories."""

    path: Path
    answering: Mapping[str, object] = field(default_factory=dict)
    paths: Mapping[str, Path] = field(default_factory=dict)
    logging: Mapping[str, object] = field(default_factory=dict)
    vector_store: str | None = None  # [paths] vector_store as written, None when absent

    def where(self, table: str, key: str) -> str:
        """How errors name a key. Example: "settings file /x/s.toml, [paths] index_dir"."""
        return f"settings file {self.path}, [{table}] {key}"


def unknown_key(where: str, key: str, known: list[str]) -> SettingsError:
    """The error for a key nobody reads, with the closest known one when there is one."""
    import difflib  # only on this error path

    close = difflib.get_close_matches(key, known, n=1)
    hint = f"did you mean {close[0]}? " if close else ""
    return SettingsError(f"{where}: unknown key; {hint}known keys: {', '.join(known)}")


def read_settings_file(path: Path) -> SettingsFile:
    """Read and parse the settings file at `path` (parse_settings)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"settings file {path}: no such file; create it (see "
                            "settings.example.toml) or name another") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"settings file {path} cannot be read ({err}); it must be a "
                            "UTF-8 TOML file") from None
    return parse_settings(text, path)


def parse_settings(text: str, path: Path) -> SettingsFile:
    """The settings file `path` holding `text`, refusing unknown tables and [paths] keys and
    [paths] values that are not paths; those are resolved against path's directory.

    Example: parse_settings('[paths]\nindex_dir = "idx"', Path("/srv/s.toml")).paths
             -> {"index_dir": Path("/srv/idx")}
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SettingsError(f"settings file {path}: not valid TOML ({err})") from None
    for name, value in data.items():
        if not isinstance(value, dict):
            raise SettingsError(f"settings file {path}: {name} = {value!r} is outside a table; "
                                "put it under [answering], [paths] or [logging]")
        if name not in TABLES:
            raise SettingsError(f"settings file {path}: unknown table [{name}]; the tables are "
                                "[answering], [paths] and [logging]")
    file = SettingsFile(path, data.get("answering", {}))
    paths: dict[str, Path] = {}
    store: str | None = None
    for key, value in data.get("paths", {}).items():
        where = file.where("paths", key)
        if key == STORE_KEY:
            if not isinstance(value, str):
                raise SettingsError(f'{where}: expected a URI or path in quotes, or "", got '
                                    f"{value!r}")
            store = value.strip()
            continue
        if key not in PATH_KEYS:
            raise unknown_key(where, key, [*PATH_KEYS, STORE_KEY])
        if not isinstance(value, str) or not value.strip():
            raise SettingsError(f"{where}: expected a directory path in quotes, got {value!r}")
        paths[key] = path.parent / Path(value).expanduser()  # an absolute value stays as it is
    for key in data.get("logging", {}):
        if key not in LOGGING_KEYS:
            raise unknown_key(file.where("logging", key), key, list(LOGGING_KEYS))
    return SettingsFile(path, file.answering, paths, data.get("logging", {}),
                        vector_store=store)


def find_settings_file(root: Path, env: Mapping[str, str] | None = None,
                       named: Path | None = None) -> SettingsFile | None:
    """The settings file in use: `named`, else $RAG_SETTINGS (which must exist), else
    root/settings.toml if it exists, else None (code defaults and environment only)."""
    env = os.environ if env is None else env
    if named is not None:
        return read_settings_file(named)
    if value := env.get(SETTINGS_ENV, "").strip():
        path = Path(value).expanduser()
        if not path.is_file():
            raise SettingsError(f"{SETTINGS_ENV}={value}: no such settings file; create it (see "
                                f"settings.example.toml) or unset {SETTINGS_ENV}")
        return read_settings_file(path)
    local = root / FILE_NAME
    return read_settings_file(local) if local.is_file() else None


def path_setting(key: str, default: Path, root: Path, env: Mapping[str, str] | None = None,
                 named: Path | None = None) -> Path:
    """A [paths] directory: its environment variable, else the settings file's value, else
    `default`. The file is not read when the variable is set.

    Example: path_setting("index_dir", Path("var/index"), root, {"RAG_INDEX_DIR": "/srv/i"})
             -> Path("/srv/i")
    """
    env = os.environ if env is None else env
    if value := env.get(PATH_KEYS[key]):
        return Path(value)
    file = find_settings_file(root, env, named)
    return file.paths.get(key, default) if file else default


def store_setting(root: Path, env: Mapping[str, str] | None = None,
                  named: Path | None = None) -> tuple[str, Path | None]:
    """(the vector_store setting as written, the directory a relative .db path is relative
    to): $RAG_VECTOR_STORE (None: the current directory), else the settings file's value (its
    directory), else ("", None).

    Example: store_setting(root, {"RAG_VECTOR_STORE": "var/m.db"}) -> ("var/m.db", None)
    """
    env = os.environ if env is None else env
    if value := env.get(STORE_ENV, "").strip():
        return value, None
    file = find_settings_file(root, env, named)
    if file is None or file.vector_store is None:
        return "", None
    return file.vector_store, file.path.parent

"""Imports run one way: common <- index <- ingest, reader <- qa <- app, eval <- bench.

Every import in every module counts, also those inside functions, so a lazy import cannot
sneak a dependency the wrong way.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

from common.paths import PROJECT_ROOT

# A module may import its own package and packages of a lower layer.
LAYERS = {
    "common": 0,
    "index": 1,
    "ingest": 2, "reader": 2,
    "qa": 3,
    "app": 4, "eval": 4,
    "bench": 5,
}
# The web app's modules sit at the top of the project beside app.py and form one package.
WEB_APP = {"app", "openai_api", "web_guard", "operators_ui"}


def package_of(module: str) -> str | None:
    """The layer name of a project module, None for anything else.
    Example: package_of("qa.cite") -> "qa"; package_of("web_guard") -> "app";
    package_of("os") -> None
    """
    top = module.split(".")[0]
    if top in WEB_APP:
        return "app"
    return top if top in LAYERS else None


def project_imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every absolute import of a project module in `path`."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if package_of(name)]


def project_modules() -> list[Path]:
    files = [PROJECT_ROOT / f"{name}.py" for name in sorted(WEB_APP)]
    for package in LAYERS:
        files += sorted((PROJECT_ROOT / package).rglob("*.py")) if package != "app" else []
    return [f for f in files if f.is_file()]


def wrong_way(path: Path) -> list[str]:
    own = package_of(".".join(path.relative_to(PROJECT_ROOT).with_suffix("").parts))
    assert own is not None
    return [f"{path.relative_to(PROJECT_ROOT)}:{line} imports {name}"
            for line, name in project_imports(path)
            if (other := package_of(name)) != own and LAYERS[other] >= LAYERS[own]]


def test_every_package_is_checked() -> None:
    names = {p.relative_to(PROJECT_ROOT).parts[0] for p in project_modules()}
    assert {"common", "index", "ingest", "reader", "qa", "eval", "bench", "app.py"} <= names


@pytest.mark.parametrize("path", project_modules(), ids=lambda p: str(p.relative_to(PROJECT_ROOT)))
def test_imports_run_one_way(path: Path) -> None:
    assert wrong_way(path) == []


def test_common_imports_nothing_of_the_project() -> None:
    for path in sorted((PROJECT_ROOT / "common").glob("*.py")):
        others = [name for _, name in project_imports(path) if package_of(name) != "common"]
        assert others == [], path


def test_a_wrong_way_import_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The check itself: an index module importing ingest, even inside a function, is named."""
    fake_root = tmp_path
    (fake_root / "index").mkdir()
    module = fake_root / "index" / "late.py"
    module.write_text("def f():\n    from ingest.chunker import chunk\n    import qa.cite\n")
    monkeypatch.setattr(sys.modules[__name__], "PROJECT_ROOT", fake_root)
    assert wrong_way(module) == ["index/late.py:2 imports ingest.chunker",
                                 "index/late.py:3 imports qa.cite"]

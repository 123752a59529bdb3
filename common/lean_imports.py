"""Start-up shortcuts for the two processes of `python app.py` (measured in bench.coldstart).

- `skip_gradio_stub_writing()`: every `import gradio` (6.x) re-parses the source of each of
  its ~80 components with `ast` and renders a jinja template to rewrite the `.pyi` type stubs
  beside them in site-packages (gradio.component_meta.create_or_modify_pyi). That is about
  1.5 of the 4.5 s the import takes here, and only an editor's type checker reads those stubs.
  This turns the rewrite off for this process; the components themselves are unchanged.
- `block_unused_imports()`: transformers imports scipy when it is installed, for loss
  functions of models we never train (0.4-0.8 s). Marking a module None in sys.modules makes
  `find_spec` report it missing, so transformers skips it.
- `block_unused_imports(UNUSED_BY_THE_WEB_PROCESS)`: gradio imports its notebook extension
  (gradio.ipython_ext), which imports IPython inside `try/except ImportError` and uses it only
  when IPython loads the extension; a server never does. 0.2-0.5 s of the gradio import here.

All three are for processes that serve, never for ones that test or train: they change nothing a
user sees except the start-up time. Does not touch files on disk.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any

_COMPONENT_META = "gradio.component_meta"


class _NoStubWriting(importlib.abc.MetaPathFinder):
    """Finds gradio.component_meta as usual, then replaces its stub writer once it has run."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != _COMPONENT_META:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        run_module = spec.loader.exec_module

        def exec_module(module: ModuleType) -> None:
            run_module(module)
            if hasattr(module, "create_or_modify_pyi"):
                module.create_or_modify_pyi = _write_no_stub

        spec.loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


def _write_no_stub(*args: Any, **kwargs: Any) -> None:
    return None


def skip_gradio_stub_writing() -> bool:
    """Make the coming `import gradio` skip rewriting its .pyi stubs. False (and nothing
    done) when gradio is already imported."""
    if _COMPONENT_META in sys.modules:
        return False
    if not any(isinstance(finder, _NoStubWriting) for finder in sys.meta_path):
        sys.meta_path.insert(0, _NoStubWriting())
    return True


UNUSED_BY_THE_WORKER = ("scipy",)
UNUSED_BY_THE_WEB_PROCESS = ("IPython",)


def block_unused_imports(names: Sequence[str] = UNUSED_BY_THE_WORKER) -> list[str]:
    """Mark `names` missing for this process (those not already imported); returns them."""
    blocked = [name for name in names if name not in sys.modules]
    for name in blocked:
        sys.modules[name] = None  # type: ignore[assignment]
    return blocked

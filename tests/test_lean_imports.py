"""lean_imports: gradio without its stub rewriting, transformers without scipy, each checked
in a fresh interpreter (both act on the process's import machinery)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from common.paths import PROJECT_ROOT


def run_python(code: str) -> Any:
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_gradio_imports_without_rewriting_its_stubs_and_still_builds_components() -> None:
    seen = run_python("""
import json; from common import lean_imports
first = lean_imports.skip_gradio_stub_writing()
import gradio as gr, gradio.component_meta as meta
again = lean_imports.skip_gradio_stub_writing()
with gr.Blocks() as demo:
    box = gr.Textbox(label="Question")
    chat = gr.Chatbot()
    box.submit(lambda q: q, box, box)
print(json.dumps({"first": first, "again": again, "label": box.label,
                  "stub_writer_off": meta.create_or_modify_pyi is lean_imports._write_no_stub,
                  "events": len(demo.fns)}))
""")
    assert seen == {"first": True, "again": False, "label": "Question", "stub_writer_off": True,
                    "events": 1}


def test_gradio_builds_and_launches_without_ipython_once_it_is_blocked() -> None:
    seen = run_python("""
import json; from common import lean_imports
blocked = lean_imports.block_unused_imports(lean_imports.UNUSED_BY_THE_WEB_PROCESS)
import gradio as gr
with gr.Blocks() as demo:
    box = gr.Textbox(label="Question")
    box.submit(lambda q: q.upper(), box, box)
demo.launch(prevent_thread_lock=True, quiet=True)
from gradio_client import Client
answer = Client(demo.local_url, verbose=False).predict("tai", api_name="/lambda")
demo.close()
try:
    import IPython
    importable = True
except ImportError:
    importable = False
print(json.dumps({"blocked": blocked, "answer": answer, "importable": importable}))
""")
    assert seen == {"blocked": ["IPython"], "answer": "TAI", "importable": False}


def test_without_the_shortcut_gradio_keeps_its_own_stub_writer() -> None:
    seen = run_python("""
import json, gradio.component_meta as meta; from common import lean_imports
print(json.dumps({"own": meta.create_or_modify_pyi is not lean_imports._write_no_stub,
                  "late": lean_imports.skip_gradio_stub_writing()}))
""")
    assert seen == {"own": True, "late": False}


def test_transformers_loads_without_scipy_once_it_is_blocked() -> None:
    seen = run_python("""
import json; from common import lean_imports
blocked = lean_imports.block_unused_imports()
import transformers.modeling_utils
from transformers.utils import is_scipy_available
try:
    import scipy
    importable = True
except ImportError:
    importable = False
import sys
from typing import Any
print(json.dumps({"blocked": blocked, "scipy_seen": is_scipy_available(),
                  "importable": importable,
                  "loaded": sorted(m for m in sys.modules if m.startswith("scipy."))}))
""")
    assert seen == {"blocked": ["scipy"], "scipy_seen": False, "importable": False,
                    "loaded": []}


def test_a_module_already_imported_is_left_alone() -> None:
    seen = run_python("""
import json, scipy; from common import lean_imports
print(json.dumps({"blocked": lean_imports.block_unused_imports(), "kept": scipy.__name__}))
""")
    assert seen == {"blocked": [], "kept": "scipy"}


def test_app_starts_its_worker_before_importing_numpy_or_anything_heavier() -> None:
    # app.py imports qa.remote, then starts the worker: everything imported before that delays
    # the worker, the long pole of a cold start (docs/PERFORMANCE.md).
    seen = run_python("""
import json, sys
from common.cli import prepare_environment
from common.paths import default_corpus_dir, default_index_root
from qa.config import default_model_cache
from qa.remote import RemotePipelines, worker_command
print(json.dumps(sorted(m for m in ("numpy", "torch", "transformers", "gradio", "faiss")
                        if m in sys.modules)))
""")
    assert seen == []

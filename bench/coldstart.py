"""bench.coldstart: from launching `python app.py` to its first answer, and where the time goes.

Cold start: start app.py (index and converted model already present) on a free port, poll
the port until it accepts a connection, connect gradio_client, then time one `/ask`. Baselines,
in the same run: a bare `python -c "import torch, transformers, gradio"`, the floor any start
pays today; and the imports alone of the answering worker's critical path (torch, transformers
and its BERT and Llama model code, scipy blocked as the worker blocks it), which no answer can
arrive before.
The breakdown, in a child process, times each step of the two processes app.py runs (the
answering worker: imports, index, both models, first and second answer; the web process:
gradio, the UI, the server), one after the other, so each step's cost is its own.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import os  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_DIR,
    bench_parser,
    median,
    ratio,
    run_child,
    write_result,
)
from common.paths import PROJECT_ROOT  # noqa: E402

EXAMPLES = """\
  python -m bench.coldstart
  python -m bench.coldstart --repeats 5 --out var/bench/coldstart.json
"""
# The chat's first example question: the documents answer it and the model is called, so the
# first answer includes generation (a refused question would skip the model entirely).
QUESTION = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"
TARGET_S = 5.0
IMPORT_FLOOR = "import torch, transformers, gradio"
MODEL_IMPORT_FLOOR = ("from common.lean_imports import block_unused_imports; "
                      "block_unused_imports(); "
                      "import torch, transformers; "
                      "from transformers import BertModel, LlamaForCausalLM")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(port: int) -> bool:
    """True when something accepts TCP connections on 127.0.0.1:`port`."""
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def prepare(index_root: str, corpus: str, cache: str) -> dict[str, Any]:
    """Build the index and convert the model if needed (untimed set-up, run in a child)."""
    from index.embedder import MiniLMEmbedder
    from qa.generator import converted_model_dir
    from qa.service import ensure_index

    built = ensure_index(Path(index_root), Path(corpus), MiniLMEmbedder(), progress=True)
    converted_model_dir(Path(cache))
    return {"index_built_s": built}


def launch_to_answer(index_root: Path, command: list[str] | None = None,
                     timeout: float = 300) -> dict[str, Any]:
    """Seconds from starting `python app.py` until it accepts a client, and until /ask answers.

    `command` replaces `python app.py` (tests start a tiny app). The app is terminated
    afterwards (only the process started here).
    """
    from gradio_client import Client

    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "RAG_INDEX_DIR": str(index_root)}
    begun = time.perf_counter()
    app = subprocess.Popen(command or [sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = None
        while client is None:
            if app.poll() is not None:
                raise RuntimeError(f"app.py exited with code {app.returncode} before serving; "
                                   "run `python app.py` by hand to see why")
            if time.perf_counter() - begun > timeout:
                raise TimeoutError(f"app.py did not serve on port {port} within {timeout} s")
            if not listening(port):
                # A bare connect costs microseconds; a failing Client() costs ~50 ms of CPU,
                # which polling every 50 ms would take from the app it times.
                time.sleep(0.05)
                continue
            try:
                client = Client(f"http://127.0.0.1:{port}/", verbose=False)
            except Exception:  # listening, but not serving the app yet
                time.sleep(0.05)
        ready = time.perf_counter() - begun
        reply = client.predict(QUESTION, api_name="/ask")
        answered = time.perf_counter() - begun
        if isinstance(reply, dict) and reply.get("abstained"):
            raise RuntimeError(f"app.py refused {QUESTION!r}, so its first answer never called "
                               "the model; pick a question the documents answer")
        return {"ready_s": ready, "first_answer_s": answered,
                "answer_timings": reply.get("timings", {}) if isinstance(reply, dict) else {}}
    finally:
        app.terminate()
        try:
            app.wait(10)
        except subprocess.TimeoutExpired:
            app.kill()


def import_floor(code: str = IMPORT_FLOOR) -> float:
    """Seconds for a fresh `python -c "import torch, transformers, gradio"` (or `code`)."""
    begun = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, cwd=PROJECT_ROOT)
    return time.perf_counter() - begun


def breakdown(index_root: str, cache: str) -> dict[str, Any]:
    """Each step of a cold start, timed in order in this (fresh) process, as the two processes
    of `python app.py` take them: the worker's (qa.worker: torch, transformers, the index, both
    models, the answers) and then the web process's (gradio, the UI, the server)."""
    steps: dict[str, float] = {}
    started = time.perf_counter()

    def step(name: str, begun: float) -> float:
        now = time.perf_counter()
        steps[name] = now - begun
        return now

    t = time.perf_counter()
    from common.lean_imports import (
        UNUSED_BY_THE_WEB_PROCESS,
        block_unused_imports,
        skip_gradio_stub_writing,
    )

    block_unused_imports()  # as qa.worker; gradio does not use them either
    skip_gradio_stub_writing()  # as app.py
    block_unused_imports(UNUSED_BY_THE_WEB_PROCESS)  # as app.py; the worker does not use it
    import qa.live  # noqa: F401

    t = step("worker: import qa (pipeline, store)", t)
    import torch  # noqa: F401

    t = step("worker: import torch", t)
    import transformers  # noqa: F401

    t = step("worker: import transformers", t)
    from index.embedder import MiniLMEmbedder
    from index.store import open_index
    from qa.config import Settings
    from qa.generator import SmolLM2Generator
    from qa.pipeline import Pipeline
    from qa.service import load_reader

    embedder = MiniLMEmbedder(backend="transformers")  # as qa.service.load_pipeline
    index = open_index(Path(index_root), embedder.model_id, embedder.dimension)
    t = step("worker: open index", t)
    embedder.warm_up()
    t = step("worker: load MiniLM (AutoModel; first from_pretrained)", t)
    generator = SmolLM2Generator(Path(cache))
    generator.warm_up()
    t = step("worker: load SmolLM2 (fp32 safetensors)", t)
    reader = load_reader(Settings())
    t = step("worker: load the reader (manifest checked)", t)
    pipeline = Pipeline(index, embedder, generator, reader=reader)
    pipeline.idf()
    t = step("worker: term statistics", t)
    worker_ready = time.perf_counter() - started
    pipeline.answer(QUESTION)
    t = step("worker: first answer", t)
    pipeline.answer(QUESTION)
    t = step("worker: second answer (warm)", t)
    import gradio  # noqa: F401

    t = step("web: import gradio", t)
    os.environ["RAG_INDEX_DIR"] = index_root
    import app

    t = step("web: import app (build the UI)", t)
    app.demo.queue().launch(server_name="127.0.0.1", server_port=free_port(),
                            prevent_thread_lock=True, quiet=True)
    step("web: launch gradio server", t)
    app.demo.close()
    return {"steps": steps, "worker_ready_s": worker_ready,
            "total_s": time.perf_counter() - started}


def measure(index_root: Path, cache: Path, repeats: int, command: list[str] | None = None,
            with_breakdown: bool = True, floor_code: str = IMPORT_FLOOR,
            model_floor_code: str = MODEL_IMPORT_FLOOR) -> dict[str, Any]:
    """`repeats` cold starts alternating with the two import baselines, then the breakdown.

    `command` and the floor codes replace app.py and the baselines' imports (tests use fakes).
    """
    from tqdm import tqdm

    runs, floors, model_floors = [], [], []
    for _ in tqdm(range(repeats), desc="cold starts", unit="start"):
        floors.append(import_floor(floor_code))
        model_floors.append(import_floor(model_floor_code))
        runs.append(launch_to_answer(index_root, command))
    parts = [run_child("bench.coldstart:breakdown", {"index_root": str(index_root),
                                                     "cache": str(cache)})
             for _ in range(repeats if with_breakdown else 0)]
    steps = {name: median([p["steps"][name] for p in parts])
             for name in (parts[0]["steps"] if parts else {})}
    first = median([r["first_answer_s"] for r in runs])
    floor, model_floor = median(floors), median(model_floors)
    return {"question": QUESTION, "repeats": repeats,
            "ready_s": median([r["ready_s"] for r in runs]), "first_answer_s": first,
            "import_floor_s": floor, "ratio_vs_import_floor": ratio(first, floor),
            "model_import_floor_s": model_floor,
            "ratio_vs_model_import_floor": ratio(first, model_floor),
            "target_s": TARGET_S, "target_met": first <= TARGET_S, "runs": runs,
            "breakdown_steps_s": steps,
            "breakdown_peak_rss_mb": max((p["peak_rss_mb"] for p in parts), default=None)}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("coldstart", "Seconds from `python app.py` to the first answer via "
                          "gradio_client /ask, vs a bare import of torch, transformers and "
                          "gradio; plus an in-process breakdown.", EXAMPLES, repeats=3)
    args = parser.parse_args(argv)
    from qa.config import default_model_cache

    index_root = BENCH_DIR / "answer-index"
    run_child("bench.coldstart:prepare", {"index_root": str(index_root),
                                          "corpus": str(PROJECT_ROOT / "data" / "corpus"),
                                          "cache": str(default_model_cache())})
    result = measure(index_root, default_model_cache(), args.repeats)
    write_result(args.out, {"bench": "coldstart", **result})
    first, floor = result["first_answer_s"], result["import_floor_s"]
    print(f"python app.py -> first /ask answer: median {first:.1f} s over {args.repeats} "
          f"(server ready {result['ready_s']:.1f} s); target <= {TARGET_S} s: "
          f"{'met' if result['target_met'] else 'NOT met'}")
    print(f"baseline `python -c \"{IMPORT_FLOOR}\"`: {floor:.1f} s (ratio "
          f"{result['ratio_vs_import_floor']:.2f})")
    print(f"baseline, the worker's model-code imports alone: "
          f"{result['model_import_floor_s']:.1f} s (ratio "
          f"{result['ratio_vs_model_import_floor']:.2f})")
    print(f"breakdown, steps run one after another in one process (median, peak "
          f"{result['breakdown_peak_rss_mb']:.0f} MiB):")
    for name, seconds in result["breakdown_steps_s"].items():
        print(f"  {name:<45} {seconds:6.2f} s")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

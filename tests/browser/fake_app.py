"""The real `app.demo` served in-process on fakes, as `python app.py` serves it (web_guard.serve).

Each answer is "You asked: <question>", after a real retrieval from whatever generation CURRENT
names, so an answer that reached the wrong user, or a generation switched under a question,
shows. Used by tests/test_web_surface.py and tests/browser/test_web_surface_page.py.

Does not load a model and does not start the answering worker.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client

import app
import web_guard
from index.store import Index, current_generation, open_index
from ingest.build import build_index
from qa.answer import Answer, Timings
from qa.retrieve import retrieve
from tests.browser.server import free_port
from tests.fakes import CORPUS, FakeEmbedder
from web_guard import WebSettings


class InFlight:
    """Counts the answers being written at once (`with counter:`) and the most there were."""

    def __init__(self) -> None:
        self.now = self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


class EchoPipeline:
    """Retrieves from the live generation for real, then answers "You asked: <question>"."""

    def __init__(self, index: Index, embedder: FakeEmbedder, delay_s: float) -> None:
        self.index, self.embedder, self.delay_s = index, embedder, delay_s
        self.counter = InFlight()
        # When set: each question says it arrived (entered), then waits for the gate to open.
        self.gate: threading.Event | None = None
        self.entered = threading.Event()

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]:
        if self.gate is not None:
            self.entered.set()
            self.gate.wait(60)
        retrieved = tuple(retrieve(self.index, self.embedder, question))
        reply = f"You asked: {question}"
        yield reply
        with self.counter:
            time.sleep(self.delay_s)
        yield Answer(question, reply, (), retrieved, False, Timings(0.0, 0.0, self.delay_s))

    def answer(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        *_, answer = self.stream(question, history)
        assert isinstance(answer, Answer)
        return answer


class EchoPipelines:
    """app.pipelines on the fakes: an EchoPipeline on whatever generation CURRENT names."""

    def __init__(self, root: Path, delay_s: float = 0.05) -> None:
        self.root, self.delay_s = root, delay_s
        self.embedder = FakeEmbedder()
        self.gate: threading.Event | None = None
        self.entered = threading.Event()
        self.counter = InFlight()
        self._lock = threading.Lock()
        self._pipeline: EchoPipeline | None = None

    def get(self) -> EchoPipeline:
        with self._lock:
            live = current_generation(self.root)
            if self._pipeline is None or self._pipeline.index.generation != live:
                self._pipeline = EchoPipeline(open_index(self.root, self.embedder.model_id,
                                                         self.embedder.dimension),
                                              self.embedder, self.delay_s)
            self._pipeline.gate, self._pipeline.entered = self.gate, self.entered
            self._pipeline.counter = self.counter
            return self._pipeline


class Served:
    """One in-process server of app.demo: its URL, corpus and index, and its pipelines."""

    def __init__(self, base: Path, settings: WebSettings) -> None:
        self.corpus, self.index = base / "corpus", base / "index"
        self.corpus.mkdir(parents=True)
        for name, text in CORPUS.items():
            (self.corpus / name).write_text(text, encoding="utf-8")
        self.pipelines = EchoPipelines(self.index)
        build_index([self.corpus], self.index, self.pipelines.embedder)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        self.settings = settings

    def client(self, **kwargs: Any) -> Client:
        return Client(self.url, verbose=False, **kwargs)


@contextmanager
def serving(monkeypatch: pytest.MonkeyPatch, base: Path) -> Iterator[Callable[..., Served]]:
    """start(settings) -> Served: app.demo launched by web_guard.serve (one at a time) with
    its own corpus and index under `base`; the server is closed on exit.

    The handlers read their settings from the environment, as in `python app.py`, so `start`
    sets RAG_AUTH and RAG_OPERATORS (through `monkeypatch`) to match `settings`.
    """
    launched: list[Served] = []

    def start(settings: WebSettings = WebSettings()) -> Served:  # noqa: B008
        if launched:
            app.demo.close()
        served = Served(base / f"app{len(launched)}", settings)
        monkeypatch.setenv("RAG_CORPUS_DIR", str(served.corpus))
        monkeypatch.setenv("RAG_INDEX_DIR", str(served.index))
        monkeypatch.delenv("RAG_AUTH_FILE", raising=False)
        monkeypatch.setenv("RAG_AUTH", "\n".join(f"{u}:{p}" for u, p in settings.auth))
        monkeypatch.setenv("RAG_OPERATORS", settings.operators)
        monkeypatch.setattr(app, "pipelines", served.pipelines)
        web_guard.serve(app.demo, settings, server_port=served.port, prevent_thread_lock=True,
                        quiet=True)
        launched.append(served)
        return served

    try:
        yield start
    finally:
        if launched:
            app.demo.close()

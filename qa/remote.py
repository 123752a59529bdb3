"""app.py's side of the answering worker (qa.worker): a Pipeline look-alike over a pipe.

`RemotePipelines.get()` returns what the chat handlers use of a Pipeline: `stream(question,
history)` yielding checked sentences then the Answer, `answer(question)`, `index.document_text`
for the documents the answer cites, and `embedder` for the Operators tab's ingests (loaded in
this process on first use). A worker that died is started again on the next question.

Does not load models itself except that embedder, and does not import gradio.
"""

from __future__ import annotations

import itertools
import json
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from index.embedder import Embedder
from qa.answer import Answer, answer_from_json
from qa.generator import GeneratorUnavailable


class WorkerError(Exception):
    """The answering worker could not start, died, or failed on a question."""


class Worker:
    """One running `python -m qa.worker` and the replies it sends, routed to each request."""

    def __init__(self, command: Sequence[str]) -> None:
        self._process = subprocess.Popen(list(command), stdin=subprocess.PIPE,
                                          stdout=subprocess.PIPE, text=True, encoding="utf-8")
        self._ready = threading.Event()
        self._fatal: str | None = None
        self._closed = False  # the reader saw the worker's stdout end
        self._lock = threading.Lock()
        self._ids = itertools.count(1)
        self._waiting: dict[int, queue.Queue[dict[str, Any]]] = {}
        self.generation: str | None = None
        threading.Thread(target=self._read, name="worker-replies", daemon=True).start()

    def _read(self) -> None:
        assert self._process.stdout is not None
        for line in self._process.stdout:
            try:
                message = json.loads(line)
            except ValueError:
                continue  # not the protocol; the worker sends everything else to stderr
            if "ready" in message:
                self.generation = message["ready"]
                self._ready.set()
            elif "fatal" in message:
                self._fatal = str(message["fatal"])
            elif (waiting := self._waiting.get(message.get("id"))) is not None:
                waiting.put(message)
        code = self._process.wait()
        with self._lock:  # a request either sees _closed or is in _waiting, never neither
            self._closed = True
            self._fatal = self._fatal or (f"the answering process stopped (exit code {code}); "
                                          "see the messages above, then ask again to restart it")
            self._ready.set()
            for waiting in self._waiting.values():
                waiting.put({"error": self._fatal})

    @property
    def alive(self) -> bool:
        return self._process.poll() is None

    @property
    def loading(self) -> bool:
        """True until the worker says it is ready, reports a failure, or exits."""
        return not self._ready.is_set()

    @property
    def gone(self) -> bool:
        """The process has exited and its last words (if any) have been read."""
        return not self.alive and self._ready.is_set()

    def wait_ready(self, timeout: float | None = None) -> str:
        """The live generation once the worker has loaded; WorkerError if it could not."""
        if not self._ready.wait(timeout):
            raise WorkerError(f"the answering process is not ready after {timeout} s")
        if self._fatal is not None:
            raise WorkerError(self._fatal)
        return str(self.generation)

    def request(self, question: str, history: Sequence[tuple[str, str]]) -> Iterator[dict]:
        """The worker's messages for this question, up to its answer or error."""
        self.wait_ready()
        replies: queue.Queue[dict[str, Any]] = queue.Queue()
        with self._lock:
            if self._closed:
                raise WorkerError(str(self._fatal))
            request_id = next(self._ids)
            self._waiting[request_id] = replies
            try:
                assert self._process.stdin is not None
                self._process.stdin.write(json.dumps(
                    {"id": request_id, "question": question, "history": list(history)}) + "\n")
                self._process.stdin.flush()
            except OSError as err:
                self._waiting.pop(request_id, None)
                raise WorkerError(f"the answering process is gone ({err}); ask again to "
                                  "restart it") from err
        try:
            while True:
                message = replies.get()
                yield message
                if "piece" not in message:
                    return
        finally:
            self._waiting.pop(request_id, None)

    def stop(self) -> None:
        if self.alive:
            assert self._process.stdin is not None
            self._process.stdin.close()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()


class RemoteIndex:
    """The cited documents' texts, as the answer brought them (all sources_html needs)."""

    def __init__(self) -> None:
        self.documents: dict[str, str] = {}

    def document_text(self, doc_id: str) -> str:
        return self.documents[doc_id]


class RemotePipeline:
    """One question's view of the worker: stream or answer, then look up its documents."""

    def __init__(self, worker: Worker, embedder: Callable[[], Embedder]) -> None:
        self._worker = worker
        self._embedder = embedder
        self.index = RemoteIndex()

    @property
    def embedder(self) -> Embedder:
        return self._embedder()

    @property
    def loading(self) -> bool:
        """The worker has not loaded its models yet: a question now waits for them."""
        return self._worker.loading

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]:
        for message in self._worker.request(question, history):
            if "piece" in message:
                yield str(message["piece"])
            elif "answer" in message:
                self.index.documents.update(message.get("documents") or {})
                yield answer_from_json(message["answer"])
            elif message.get("unavailable"):
                raise GeneratorUnavailable(str(message.get("error")))
            else:
                raise WorkerError(str(message.get("error") or message))

    def answer(self, question: str, history: Sequence[tuple[str, str]] = ()) -> Answer:
        events = list(self.stream(question, history))
        if not events or not isinstance(events[-1], Answer):
            raise WorkerError(f"the answering process sent no answer to {question!r}")
        return events[-1]


def worker_command(index_root: Path, corpus: Path, model_cache: Path) -> list[str]:
    return [sys.executable, "-m", "qa.worker", "--index", str(index_root), "--corpus",
            str(corpus), "--models", str(model_cache)]


class RemotePipelines:
    """Stands where LivePipeline stands in app.py, with the models in a worker process."""

    def __init__(self, command: Sequence[str], embedder: Callable[[], Embedder]) -> None:
        self._command = list(command)
        self._embedder = embedder
        self._lock = threading.Lock()
        self.worker = Worker(self._command)

    def get(self) -> RemotePipeline:
        with self._lock:
            if self.worker.gone:
                print("app: restarting the answering process", file=sys.stderr)
                self.worker = Worker(self._command)
            return RemotePipeline(self.worker, self._embedder)

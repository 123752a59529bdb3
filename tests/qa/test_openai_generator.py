"""The OpenAI-compatible generator (qa.openai_generator) and how the chat reports its server.

The fast tests talk to tests/qa/fake_model_server.py, a real HTTP server in a thread that
streams server-sent events, stalls or fails on cue, over real sockets. The real test at the end
starts `transformers serve` on the converted SmolLM2 and asks the chat through it, then stops
the server twice over (frozen, then gone) and checks that the chat says so within the timeout.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

import app
from common.paths import DEFAULT_CORPUS
from index.store import Index
from qa.answer import Answer
from qa.config import Settings, default_model_cache, settings_from
from qa.generator import Generator, GeneratorUnavailable, converted_model_dir
from qa.openai_generator import OpenAIGenerator, server_detail, shown_url
from qa.pipeline import Pipeline
from qa.remote import RemotePipeline
from qa.service import load_generator, load_pipeline
from qa.worker import serve
from tests.fakes import FakeEmbedder
from tests.qa.fake_model_server import FakeModelServer, Reply

MESSAGES = [{"role": "user", "content": "When was it launched?"}]
LAUNCH_Q = "When was the Security Initiative launched?"
LAUNCH = ["It", " was", " launched", " in", " April", " 2022", " [1]."]


def free_port() -> int:
    """A port nothing listens on now (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def failure(generator: OpenAIGenerator) -> tuple[list[str], str, float]:
    """(the pieces before the failure, its message, seconds it took) of one stream."""
    pieces: list[str] = []
    started = time.perf_counter()
    with pytest.raises(GeneratorUnavailable) as raised:
        for piece in generator.stream(MESSAGES):
            pieces.append(piece)
    return pieces, str(raised.value), time.perf_counter() - started


def chat(question: str) -> tuple[list[dict], str]:
    """The chat messages and Sources HTML the user sees once `question` is answered."""
    *_, (box, messages, sources) = app.respond(question, [])
    assert box == ""
    return messages, sources


# ---- pure parts ---------------------------------------------------------------------------

def test_messages_show_the_url_without_credentials() -> None:
    assert shown_url("http://me:secret@gpu-1:8000/v1/") == "http://gpu-1:8000/v1"
    assert shown_url("https://[::1]:8443/v1") == "https://[::1]:8443/v1"
    assert shown_url("http://127.0.0.1:8000/v1") == "http://127.0.0.1:8000/v1"


def test_server_detail_reads_openai_and_fastapi_error_bodies() -> None:
    assert server_detail({"error": {"message": "model 'x' not found"}}) == "model 'x' not found"
    assert server_detail({"detail": "Server is pinned to 'a'"}) == "Server is pinned to 'a'"
    assert server_detail("<html>\n  Bad   gateway</html>") == "<html> Bad gateway</html>"
    assert server_detail("x" * 1000) == "x" * 299 + "…"


@pytest.mark.parametrize(("args", "message"), [
    (("localhost:8000", "m"), "model server URL 'localhost:8000' is not an http:// or https:// "
     "URL; give one like http://127.0.0.1:8000/v1"),
    (("http://h:1/v1", " "), "no model named for the server at http://h:1/v1; give the name it "
     "lists under /v1/models"),
    (("http://h:1/v1", "m", "", 0), "timeout must be positive (seconds), got 0"),
])
def test_a_bad_url_model_or_timeout_is_refused_when_made(args: tuple, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        OpenAIGenerator(*args)
    assert str(raised.value) == message


# ---- against a fake server ----------------------------------------------------------------

def test_streams_the_servers_pieces_and_asks_as_the_protocol_says() -> None:
    with FakeModelServer([Reply(LAUNCH)]) as server:
        generator = OpenAIGenerator(server.url + "/", "smol", "sk-test", 5, max_new_tokens=7)
        assert list(generator.stream(MESSAGES)) == LAUNCH
    assert server.requests == [{"model": "smol", "messages": MESSAGES, "stream": True,
                                "max_tokens": 7, "temperature": 0}]
    assert server.headers[0]["authorization"] == "Bearer sk-test"
    assert generator.model_id == f"smol at {server.url}"


def test_a_server_that_never_answers_times_out_with_a_clear_message() -> None:
    with FakeModelServer([Reply(stall=0)]) as server:
        pieces, message, took = failure(OpenAIGenerator(server.url, "smol", timeout=0.5))
    assert pieces == []
    assert message == (f"The model server at {server.url} did not answer within 0.5 s; check "
                       "that it is running and not overloaded, or raise generator_timeout")
    assert 0.5 <= took < 3


def test_a_server_that_goes_silent_mid_answer_times_out_after_its_pieces() -> None:
    with FakeModelServer([Reply(LAUNCH, stall=2)]) as server:
        pieces, message, took = failure(OpenAIGenerator(server.url, "smol", timeout=0.5))
    assert pieces == ["It", " was"]
    assert message.startswith(f"The model server at {server.url} stopped writing the answer "
                              "for 0.5 s;")
    assert took < 3


def test_a_server_that_hangs_up_mid_answer_is_reported_after_its_pieces() -> None:
    with FakeModelServer([Reply(LAUNCH, hang_up=3)]) as server:
        pieces, message, _ = failure(OpenAIGenerator(server.url, "smol", timeout=5))
    assert pieces == ["It", " was", " launched"]
    assert message.startswith(f"The model server at {server.url} broke off the answer (")
    assert message.endswith("); check that it is still running, then ask again")


def test_a_server_that_is_not_running_is_reported_at_once() -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    pieces, message, took = failure(OpenAIGenerator(url, "smol", timeout=5))
    assert pieces == []
    assert message == (f"The model server at {url} cannot be reached (Connection refused); "
                       "check that it is running there, or change generator_url")
    assert took < 2


@pytest.mark.parametrize(("reply", "said"), [
    (Reply(status=500, body={"error": {"message": "CUDA out of memory"}}),
     "failed (HTTP 500: CUDA out of memory); see the server's log, then ask again"),
    (Reply(status=401, body={"error": {"message": "Incorrect API key"}}),
     "refused the request (HTTP 401: Incorrect API key); check generator_key"),
    (Reply(status=400, body={"detail": "Server is pinned to 'smollm2'; requested 'smol'."}),
     "refused the request (HTTP 400: Server is pinned to 'smollm2'; requested 'smol'.); check "
     "generator_model (the name the server lists under /v1/models) and that generator_url ends "
     "where /chat/completions begins (often /v1)"),
])
def test_an_http_error_names_its_status_and_what_to_check(reply: Reply, said: str) -> None:
    with FakeModelServer([reply]) as server:
        _, message, _ = failure(OpenAIGenerator(server.url, "smol", timeout=5))
    assert message == f"The model server at {server.url} {said}"


# ---- the pipeline, the chat, the worker and the settings on the server ----------------------

def server_pipeline(index: Index, embedder: FakeEmbedder, url: str, timeout: float = 5
                    ) -> Pipeline:
    return Pipeline(index, embedder, OpenAIGenerator(url, "smol", timeout=timeout),
                    Settings(calibration=None))


def test_the_pipeline_streams_a_cited_answer_from_the_server(
        index: Index, embedder: FakeEmbedder) -> None:
    with FakeModelServer([Reply(LAUNCH)]) as server:
        events = list(server_pipeline(index, embedder, server.url).stream(LAUNCH_Q))
    *shown, answer = events
    assert shown == ["It was launched in April 2022 [1]."]
    assert isinstance(answer, Answer) and not answer.quoted
    assert [c.chunk.doc_id for c in answer.citations] == ["security.txt"]
    prompt = server.requests[0]["messages"][-1]["content"]
    assert "The Global Security Initiative was launched in April 2022." in prompt


def test_the_chat_answers_through_the_server_then_says_when_it_is_gone(
        monkeypatch: pytest.MonkeyPatch, index: Index, embedder: FakeEmbedder) -> None:
    server = FakeModelServer([Reply(LAUNCH)])
    with server:
        pipeline = server_pipeline(index, embedder, server.url)
        monkeypatch.setattr(app, "pipelines", app.LivePipeline(lambda: pipeline))
        messages, sources = chat(LAUNCH_Q)
    assert messages[-1]["content"] == ('It was launched in April 2022 <a href="#source-1" '
                                       'class="cite">[1]</a>.')
    assert 'id="source-1"' in sources
    started = time.perf_counter()
    messages, sources = chat(LAUNCH_Q)  # the server has stopped
    assert time.perf_counter() - started < 3
    assert messages[-1] == {"role": "assistant", "content": (
        f"The model server at {server.url} cannot be reached (Connection refused); check that "
        "it is running there, or change generator_url")}
    assert sources == app.UNAVAILABLE_STATUS


def test_the_chat_says_when_the_server_is_too_slow(
        monkeypatch: pytest.MonkeyPatch, index: Index, embedder: FakeEmbedder) -> None:
    with FakeModelServer([Reply(stall=0)]) as server:
        pipeline = server_pipeline(index, embedder, server.url, timeout=0.5)
        monkeypatch.setattr(app, "pipelines", app.LivePipeline(lambda: pipeline))
        messages, _ = chat(LAUNCH_Q)
    assert messages[-1]["content"].startswith(
        f"The model server at {server.url} did not answer within 0.5 s;")


class RepliesOf:
    """Stands for qa.remote.Worker: replays what a worker wrote, as parsed messages."""

    def __init__(self, lines: str) -> None:
        self.messages = [json.loads(line) for line in lines.splitlines()]
        self.loading = False

    def request(self, question: str, history: Sequence[tuple[str, str]]) -> Iterator[dict]:
        yield from self.messages


def test_the_worker_passes_the_message_on_and_the_app_raises_it_again(
        index: Index, embedder: FakeEmbedder) -> None:
    url = f"http://127.0.0.1:{free_port()}/v1"
    pipeline = server_pipeline(index, embedder, url)
    replies = io.StringIO()
    serve(lambda: pipeline, io.StringIO(json.dumps({"id": 1, "question": LAUNCH_Q}) + "\n"),
          replies)
    message = (f"The model server at {url} cannot be reached (Connection refused); check that "
               "it is running there, or change generator_url")
    assert json.loads(replies.getvalue()) == {"id": 1, "error": message, "unavailable": True}
    remote = RemotePipeline(RepliesOf(replies.getvalue()), lambda: embedder)  # type: ignore[arg-type]
    with pytest.raises(GeneratorUnavailable) as raised:
        list(remote.stream(LAUNCH_Q))
    assert str(raised.value) == message


def test_the_cli_prints_the_message_in_one_line_and_exits_1(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], index: Index,
        embedder: FakeEmbedder, tmp_path: Path) -> None:
    import qa.__main__
    import qa.service

    url = f"http://127.0.0.1:{free_port()}/v1"
    monkeypatch.setattr(qa.service, "load_pipeline",
                        lambda *args, **kwargs: server_pipeline(index, embedder, url))
    (tmp_path / "empty.toml").write_text("")
    monkeypatch.setenv("RAG_SETTINGS", str(tmp_path / "empty.toml"))
    with pytest.raises(SystemExit) as exited:
        qa.__main__.main([LAUNCH_Q])
    assert exited.value.code == 1
    assert capsys.readouterr().err == (
        f"python -m qa: error: The model server at {url} cannot be reached (Connection "
        "refused); check that it is running there, or change generator_url\n")


def test_the_settings_choose_the_server_and_keep_its_key_out_of_sight(tmp_path: Path) -> None:
    settings = settings_from(None, {"RAG_GENERATOR_URL": "http://gpu-1:8000/v1",
                                    "RAG_GENERATOR_MODEL": "smol", "RAG_GENERATOR_KEY": "sk-1",
                                    "RAG_GENERATOR_TIMEOUT": "12.5", "RAG_MAX_NEW_TOKENS": "40"})
    generator = load_generator(settings, tmp_path / "models")
    assert isinstance(generator, OpenAIGenerator)
    assert (generator.base_url, generator.model, generator.timeout, generator.max_new_tokens
            ) == ("http://gpu-1:8000/v1", "smol", 12.5, 40)
    assert "sk-1" not in repr(settings)
    assert not (tmp_path / "models").exists()  # nothing converted, nothing called


# ---- the real thing: `transformers serve` on the converted SmolLM2 --------------------------

# eval/qa.jsonl q01, answered "Katherine Tai" from china-watch-xi-foreign-policy.txt.
Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"
# Starting the server takes ~8 s on 2 busy cores (imports, then the model); a minute is a hang.
SERVER_START_S = 60


@dataclass
class ModelServer:
    url: str
    model: str  # `transformers serve MODEL` answers only to that name: the directory's path
    process: subprocess.Popen[bytes]

    def signal(self, sig: signal.Signals) -> None:
        """Send `sig` to the server and anything it started (its own process group)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, sig)


@pytest.fixture
def model_server(tmp_path: Path) -> Iterator[ModelServer]:
    """`transformers serve` on the converted SmolLM2 at a free 127.0.0.1 port, ready; killed
    at the end whatever the test did to it."""
    model = str(converted_model_dir(default_model_cache()))
    port = free_port()
    log = tmp_path / "model-server.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "transformers.cli.transformers", "serve", model,
             "--host", "127.0.0.1", "--port", str(port), "--device", "cpu"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    server = ModelServer(f"http://127.0.0.1:{port}/v1", model, process)
    try:
        deadline = time.monotonic() + SERVER_START_S
        while not healthy(port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"transformers serve did not start within {SERVER_START_S} s "
                            f"(exit code {process.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.25)
        yield server
    finally:
        server.signal(signal.SIGKILL)  # works on a frozen (SIGSTOPped) server too
        process.wait(timeout=30)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as reply:
            return reply.status == 200
    except OSError:
        return False


class Recording:
    """A generator that passes on another's pieces and keeps them."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.pieces: list[str] = []

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        for piece in self.inner.stream(messages):
            self.pieces.append(piece)
            yield piece


def use(monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline) -> None:
    monkeypatch.setattr(app, "pipelines", app.LivePipeline(lambda: pipeline))


@pytest.mark.real
def test_the_chat_answers_through_transformers_serve_and_reports_it_stopped(
        model_server: ModelServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, model = model_server.url, model_server.model
    settings = Settings(generator_url=url, generator_model=model, generator_timeout=20)
    # Builds the index of the default corpus (no index there yet) and loads MiniLM and the
    # reader here; the answers' model stays in the server.
    loaded = load_pipeline(tmp_path / "index", DEFAULT_CORPUS, tmp_path / "unused-cache",
                           settings, progress=False)
    assert not (tmp_path / "unused-cache").exists()  # no SmolLM2 in this process
    recording = Recording(loaded.generator)
    use(monkeypatch, Pipeline(loaded.index, loaded.embedder, recording, settings, loaded.reader))

    events = list(app.respond(Q1, []))
    _, messages, sources = events[-1]
    assert len(recording.pieces) > 3  # streamed piece by piece from the server
    assert any(status == "<p>Writing the answer…</p>" for *_, status in events)
    assert "Katherine Tai" in messages[-1]["content"]
    assert '<a href="#source-1" class="cite">[1]</a>' in messages[-1]["content"]
    assert "18 November" in sources

    # Frozen: the kernel still accepts the connection and nothing answers; the timeout speaks.
    use(monkeypatch, Pipeline(loaded.index, loaded.embedder, OpenAIGenerator(url, model,
                                                                             timeout=3),
                              settings, loaded.reader))
    model_server.signal(signal.SIGSTOP)
    started = time.perf_counter()
    _, messages, sources = list(app.respond(Q1, []))[-1]
    assert time.perf_counter() - started < 3 + 5  # the timeout, retrieval and the reader
    assert messages[-1]["content"].startswith(
        f"The model server at {url} did not answer within 3 s;")
    assert sources == app.UNAVAILABLE_STATUS

    # Gone: refused at once.
    model_server.signal(signal.SIGKILL)
    model_server.process.wait(timeout=30)
    started = time.perf_counter()
    _, messages, _ = list(app.respond(Q1, []))[-1]
    assert time.perf_counter() - started < 5
    assert messages[-1]["content"] == (
        f"The model server at {url} cannot be reached (Connection refused); check that it is "
        "running there, or change generator_url")

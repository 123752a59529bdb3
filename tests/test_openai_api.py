"""The OpenAI-compatible API (openai_api): the pure functions first, then the real `app.demo`
served in-process by web_guard.serve with the API's routes, as `python app.py` serves it, on a
citing fake pipeline, asked through the official `openai` client; last, `python app.py
--host/--port` on the real models.

The fake answers "Katherine Tai met Wang Wentao in San Francisco on 18 November [1]." and so on,
citing the first passage it retrieved from the live index; a question about the World Cup is
refused, one saying "crash" fails after its first sentence (see CitingPipelines for the rest).
It records each question with the conversation it got.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import app
import openai_api
import web_guard
from common.paths import DEFAULT_CORPUS, PROJECT_ROOT
from common.records import Chunk
from index.manifest import IndexLoadError
from qa.answer import Answer, Citation, Timings
from qa.config import REFUSAL
from qa.remote import WorkerError
from qa.retrieve import Retrieved, retrieve
from tests.browser.fake_app import EchoPipelines, Served
from tests.browser.server import free_port, stop
from web_guard import WebSettings

Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"
LOGIN = ("ann", "s3:cret")
KEY = f"{LOGIN[0]}:{LOGIN[1]}"


# ---- requests in -------------------------------------------------------------------------

def test_the_question_is_the_last_user_message_and_earlier_pairs_the_history() -> None:
    chat = openai_api.parse_request({"model": "anything", "stream": True, "messages": [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Who met Wang?"},
        {"role": "assistant", "content": "Tai met Wang [1]."},
        {"role": "user", "content": [{"type": "text", "text": "  When "},
                                     {"type": "text", "text": "was that? "}]}]})
    assert chat == openai_api.ChatRequest("When was that?", (("Who met Wang?",
                                                               "Tai met Wang [1]."),), True)


def test_a_question_left_unanswered_is_not_history() -> None:
    chat = openai_api.parse_request({"messages": [
        {"role": "user", "content": "first"}, {"role": "user", "content": "second"},
        {"role": "assistant", "content": "answer"}, {"role": "tool", "content": "x"},
        {"role": "user", "content": "third"}]})
    assert chat == openai_api.ChatRequest("third", (("second", "answer"),), False)


@pytest.mark.parametrize(("body", "message"), [
    ([], "the request body must be a JSON object like {"),
    ({"messages": []}, "'messages' must be a non-empty list"),
    ({"messages": [{"role": "system", "content": "hi"}]}, "'messages' holds no user message"),
    ({"messages": [{"role": "user", "content": "  "}]},
     "messages[0] (the question) is empty; write the question in its content"),
    ({"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]},
     "messages[1] is an assistant message after the last question"),
    ({"messages": [{"role": "robot", "content": "q"}]}, "messages[0].role 'robot' is not one"),
    ({"messages": ["q"]}, "messages[0] must be an object with 'role' and 'content'"),
    ({"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
     "messages[0].content holds a 'image_url' part; this API reads text only"),
    ({"messages": [{"role": "user", "content": "q"}], "stream": "yes"},
     "'stream' must be true or false, not 'yes'"),
])
def test_a_bad_request_is_named_with_what_to_send(body: Any, message: str) -> None:
    with pytest.raises(openai_api.RequestError) as caught:
        openai_api.parse_request(body)
    assert str(caught.value).startswith(message)


# ---- answers out ------------------------------------------------------------------------

TRADE_TEXT = "Katherine Tai met Wang Wentao in San Francisco on 18 November."


def cited_answer(question: str, text: str, chunk: Chunk, sentence: str) -> Answer:
    """An answer citing `sentence` of `chunk` as [1]."""
    start = chunk.start + chunk.text.index(sentence)
    return Answer(question, text, (Citation(1, chunk, start, start + len(sentence)),),
                  (Retrieved(chunk, 1.0, 1.0, 1, 1),), False, Timings(0.0, 0.0, 0.0),
                  short="Katherine Tai")


@pytest.fixture
def trade_chunk() -> Chunk:
    """A chunk at offset 10 of its document (the document is 10 spaces, then the chunk)."""
    text = TRADE_TEXT + " The talks covered tariffs."
    return Chunk("trade.txt", "trade.txt#0", text, 10, 10 + len(text), "Trade")


def test_text_delta_sends_what_was_added() -> None:
    assert openai_api.text_delta("", "A [1].") == "A [1]."
    assert openai_api.text_delta("A [1].", "A [1]. B [2].") == " B [2]."
    assert openai_api.text_delta("A [1].", "A [1].") == ""
    assert openai_api.text_delta("A [1].", "Quoted [1].") == "\n\nQuoted [1]."


def test_a_completion_carries_the_text_and_its_citations(trade_chunk: Chunk) -> None:
    document = " " * 10 + trade_chunk.text
    answer = cited_answer("Who met Wang?", "Tai met Wang [1].", trade_chunk, TRADE_TEXT)
    reply = openai_api.completion(answer, lambda doc: document, "chatcmpl-1", 7)
    assert reply["object"] == "chat.completion" and reply["model"] == openai_api.MODEL_ID
    assert reply["choices"] == [{"index": 0, "finish_reason": "stop", "logprobs": None,
                                 "message": {"role": "assistant",
                                             "content": "Tai met Wang [1]."}}]
    assert reply["abstained"] is False and reply["short_answer"] == "Katherine Tai"
    assert reply["citations"] == [{"marker": 1, "doc": "trade.txt", "chunk_id": "trade.txt#0",
                                   "start": 10, "end": 10 + len(TRADE_TEXT),
                                   "supporting_text": TRADE_TEXT,
                                   "passage": trade_chunk.text}]


def test_sse_lines_stream_deltas_then_citations_then_done(trade_chunk: Chunk) -> None:
    answer = cited_answer("q", "A [1]. B [1].", trade_chunk, TRADE_TEXT)
    lines = list(openai_api.sse_lines(["A [1].", "A [1]. B [1].", answer],
                                      lambda doc: " " * 10 + trade_chunk.text, "c-1", 7))
    assert all(line.startswith("data: ") and line.endswith("\n\n") for line in lines)
    assert lines[-1] == "data: [DONE]\n\n"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""}, {"content": "A [1]."}, {"content": " B [1]."}, {}]
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, None, None, "stop"]
    assert chunks[-1]["citations"][0]["supporting_text"] == TRADE_TEXT
    assert "citations" not in chunks[0]


def test_a_stream_without_an_answer_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="stopped without an answer"):
        list(openai_api.sse_lines(["A"], str, "c", 0))


@pytest.mark.parametrize(("header", "user"), [
    ("Bearer ann:s3:cret", "ann"), ("bearer  ann:s3:cret ", "ann"), ("Bearer ann:wrong", None),
    ("Bearer bob:s3:cret", None), ("Basic ann:s3:cret", None), ("Bearer ann", None),
    ("", None), (None, None)])
def test_bearer_user_is_the_login_the_header_names(header: str | None, user: str | None) -> None:
    assert openai_api.bearer_user(header, [LOGIN, ("bob", "pw")]) == user


def test_admission_lets_concurrency_in_queues_the_rest_and_refuses_past_the_queue() -> None:
    async def scenario() -> list[Any]:
        door = openai_api.Admission(concurrency=1, waiting=1)
        first = await door.enter()
        queued = asyncio.ensure_future(door.enter())
        await asyncio.sleep(0)
        refused = await door.enter()  # one in, one waiting: full
        assert first is not None and not queued.done()
        first()
        first()  # giving the place back twice frees it once
        second = await queued
        assert second is not None and door.admitted == 1
        second()
        return [refused, door.admitted]

    assert asyncio.run(scenario()) == [None, 0]


def test_without_a_login_configured_no_credentials_are_needed() -> None:
    api = FastAPI(routes=openai_api.routes(lambda: None))  # type: ignore[arg-type, return-value]
    reply = TestClient(api).get("/v1/models")
    assert reply.status_code == 200
    assert [m["id"] for m in reply.json()["data"]] == [openai_api.MODEL_ID]


# ---- the app's server, on the citing fake -----------------------------------------------

class CitingPipeline:
    """Retrieves from the live generation, then cites the first passage sentence by sentence."""

    def __init__(self, live: Any, owner: CitingPipelines) -> None:
        self.index, self.embedder, self.owner = live.index, live.embedder, owner

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]:
        owner = self.owner
        owner.seen.append((question, tuple(history)))
        if owner.gate is not None:
            owner.gate.wait(30)
        retrieved = tuple(retrieve(self.index, self.embedder, question))
        if "World Cup" in question:
            yield Answer(question, REFUSAL, (), retrieved, True, Timings(0.0, None, 0.0))
            return
        chunk = retrieved[0].chunk
        sentences = re.findall(r"[^.]+\.", chunk.text)[:2]
        citations, shown = [], ""
        try:
            for sentence in sentences:
                sentence = sentence.strip()
                shown = (shown + " " + sentence[:-1] + " [1].").strip()
                start = chunk.start + chunk.text.index(sentence)
                citations.append(Citation(1, chunk, start, start + len(sentence)))
                yield shown
                if "crash" in question:
                    raise WorkerError(f"the answering process stopped; see {PROJECT_ROOT}/var")
                if "slow" in question:
                    owner.resume.wait(30)
                    # then more text for a while: the server notices the client has gone
                    # however loaded the machine, instead of racing the answer's end
                    for _ in range(200):
                        time.sleep(0.05)
                        shown += " More [1]."
                        yield shown
        except GeneratorExit:
            owner.stopped.append(question)
            raise
        yield Answer(question, shown, tuple(citations), retrieved, False, Timings(0, 0, 0))


class CitingPipelines:
    """app.pipelines on the fakes; `fail` makes get() raise (as a damaged index does), `gate`
    holds each question before it starts, and a question saying "slow" waits for `resume`
    after its first sentence, then streams for another 10 s. `stopped` lists the questions
    closed before their answer."""

    def __init__(self, echo: EchoPipelines) -> None:
        self.echo = echo
        self.seen: list[tuple[str, tuple]] = []
        self.stopped: list[str] = []
        self.gate: threading.Event | None = None
        self.resume = threading.Event()
        self.fail: Exception | None = None

    def get(self) -> CitingPipeline:
        if self.fail is not None:
            raise self.fail
        return CitingPipeline(self.echo.get(), self)


class Server:
    def __init__(self, url: str, pipelines: CitingPipelines) -> None:
        self.url, self.pipelines = url, pipelines

    def client(self, key: str = KEY) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url + "v1", api_key=key, max_retries=0)

    def post(self, body: Any, **headers: str) -> httpx.Response:
        content = body if isinstance(body, bytes) else None
        return httpx.post(self.url + "v1/chat/completions", content=content,
                          json=None if content is not None else body, timeout=30,
                          headers={"Authorization": f"Bearer {KEY}", **headers})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """app.demo with the API, a login, 2 answers at once and 1 waiting, on the citing fake."""
    settings = WebSettings(auth=(LOGIN,), concurrency=2, queue_size=1)
    served = Served(tmp_path_factory.mktemp("api"), settings)
    pipelines = CitingPipelines(served.pipelines)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAG_CORPUS_DIR", str(served.corpus))
        patch.setenv("RAG_INDEX_DIR", str(served.index))
        patch.setattr(app, "pipelines", pipelines)
        api = openai_api.routes(lambda: app.pipelines.get(), settings.auth, settings.concurrency,
                                settings.queue_size, app.public_error)
        web_guard.serve(app.demo, settings, routes=api, server_port=served.port,
                        prevent_thread_lock=True, quiet=True)
        try:
            yield Server(served.url, pipelines)
        finally:
            app.demo.close()


def test_models_lists_the_one_model(server: Server) -> None:
    assert [m.id for m in server.client().models.list()] == [openai_api.MODEL_ID]


def test_the_openai_client_gets_an_answer_with_markers_and_citations(server: Server) -> None:
    reply = server.client().chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "Who met Wang?"}])
    text = reply.choices[0].message.content
    assert text == ("Katherine Tai met Wang Wentao in San Francisco on 18 November [1]. "
                    "The talks covered tariffs and export controls [1].")
    assert reply.model == openai_api.MODEL_ID and reply.choices[0].finish_reason == "stop"
    extra = reply.model_extra or {}
    assert extra["abstained"] is False
    assert [(c["marker"], c["doc"], c["supporting_text"]) for c in extra["citations"]] == [
        (1, "trade.txt", TRADE_TEXT), (1, "trade.txt", "The talks covered tariffs and export "
                                                       "controls.")]


def test_the_openai_client_streams_the_answer_then_its_citations(server: Server) -> None:
    chunks = list(server.client().chat.completions.create(
        model=openai_api.MODEL_ID, stream=True,
        messages=[{"role": "user", "content": "Who met Wang?"}]))
    deltas = [c.choices[0].delta.content or "" for c in chunks]
    assert len([d for d in deltas if d]) == 2  # one delta per checked sentence
    assert "".join(deltas) == ("Katherine Tai met Wang Wentao in San Francisco on 18 November "
                               "[1]. The talks covered tariffs and export controls [1].")
    last = chunks[-1]
    assert last.choices[0].finish_reason == "stop"
    assert (last.model_extra or {})["citations"][0]["supporting_text"] == TRADE_TEXT
    assert all("citations" not in (c.model_extra or {}) for c in chunks[:-1])


def test_earlier_turns_reach_the_pipeline_as_history(server: Server) -> None:
    server.client().chat.completions.create(model="m", messages=[
        {"role": "user", "content": "Who met Wang?"},
        {"role": "assistant", "content": "Katherine Tai met Wang [1]."},
        {"role": "user", "content": "Where did they meet?"}])
    assert server.pipelines.seen[-1] == ("Where did they meet?",
                                         (("Who met Wang?", "Katherine Tai met Wang [1]."),))


def test_a_refusal_says_abstained_with_no_citations(server: Server) -> None:
    reply = server.client().chat.completions.create(
        model="m", messages=[{"role": "user", "content": "Who won the World Cup?"}])
    assert reply.choices[0].message.content == REFUSAL
    assert (reply.model_extra or {})["abstained"] is True
    assert (reply.model_extra or {})["citations"] == []


@pytest.mark.parametrize("key", ["ann:wrong", "nobody:s3:cret", "s3:cret"])
def test_a_wrong_login_is_refused(server: Server, key: str) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        server.client(key).models.list()
    assert "Authorization: Bearer user:password" in caught.value.message
    with pytest.raises(openai.AuthenticationError):
        server.client(key).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "Who met Wang?"}])


def test_a_request_without_credentials_gets_401(server: Server) -> None:
    reply = httpx.get(server.url + "v1/models", timeout=10)
    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "invalid_api_key"


@pytest.mark.parametrize(("body", "message"), [
    (b"{not json", "the request body is not JSON"),
    ({"messages": [{"role": "system", "content": "hi"}]}, "'messages' holds no user message"),
    ({"messages": [{"role": "user", "content": ""}]}, "messages[0] (the question) is empty"),
    (b"x" * (openai_api.MAX_BODY_BYTES + 1), "the request body is over"),
])
def test_a_bad_request_gets_400_with_an_openai_error(server: Server, body: Any,
                                                     message: str) -> None:
    reply = server.post(body)
    assert reply.status_code == (413 if message.endswith("over") else 400)
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"].startswith(message)


def test_a_cross_origin_browser_post_is_refused(server: Server) -> None:
    reply = server.post({"messages": [{"role": "user", "content": "Who met Wang?"}]},
                        Origin="http://evil.example")
    assert reply.status_code == 403


def test_a_broken_index_is_503_naming_no_absolute_path(server: Server) -> None:
    server.pipelines.fail = IndexLoadError(f"{PROJECT_ROOT}/var/index/CURRENT is damaged")
    try:
        with pytest.raises(openai.InternalServerError) as caught:
            server.client().chat.completions.create(
                model="m", messages=[{"role": "user", "content": "Who met Wang?"}])
    finally:
        server.pipelines.fail = None
    assert caught.value.status_code == 503
    assert caught.value.body == openai_api.error_body("var/index/CURRENT is damaged",
                                                      "server_error")["error"]


def test_a_failure_mid_stream_is_the_last_event(server: Server) -> None:
    stream = server.client().chat.completions.create(
        model="m", stream=True, messages=[{"role": "user", "content": "Who met Wang? crash"}])
    deltas = []
    with pytest.raises(openai.APIError) as caught:
        for chunk in stream:
            deltas.append(chunk.choices[0].delta.content)
    assert deltas[1].startswith("Katherine Tai met Wang Wentao")
    assert caught.value.body == openai_api.error_body(
        "the answering process stopped; see var", "server_error")["error"]


def test_a_client_gone_mid_answer_stops_the_pipeline(server: Server) -> None:
    body = {"stream": True, "messages": [{"role": "user", "content": "Who met Wang? slow"}]}
    server.pipelines.resume.clear()
    with httpx.stream("POST", server.url + "v1/chat/completions", json=body, timeout=30,
                      headers={"Authorization": f"Bearer {KEY}"}) as reply:
        lines = reply.iter_lines()
        while "Katherine Tai" not in next(lines):  # the first sentence has come: hang up
            pass
    server.pipelines.resume.set()
    deadline = time.monotonic() + 10
    while "Who met Wang? slow" not in server.pipelines.stopped:
        assert time.monotonic() < deadline, "the pipeline went on for a client that had gone"
        time.sleep(0.05)


def test_past_the_queue_a_request_is_told_the_app_is_busy(server: Server) -> None:
    server.pipelines.gate = gate = threading.Event()
    body = {"messages": [{"role": "user", "content": "Who met Wang?"}]}
    threads = [threading.Thread(target=server.post, args=(body,)) for _ in range(3)]
    try:
        for thread in threads:  # two answered at once, one waiting: the queue is full
            thread.start()
        deadline = time.monotonic() + 10
        while len(server.pipelines.seen) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the third reaches the queue
        reply = server.post(body)
        assert reply.status_code == 429
        assert reply.json()["error"]["type"] == "rate_limit_error"
    finally:
        gate.set()
        server.pipelines.gate = None
        for thread in threads:
            thread.join(30)
    assert server.post(body).status_code == 200


# ---- python app.py --host/--port, on the real models -------------------------------------

def test_app_help_shows_the_host_and_port_flags() -> None:
    result = subprocess.run([sys.executable, "app.py", "--help"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "--host HOST" in result.stdout and "--port PORT" in result.stdout


def test_a_bad_port_flag_is_one_line_and_exit_2() -> None:
    result = subprocess.run([sys.executable, "app.py", "--port", "70000"], cwd=PROJECT_ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines()[-1] == ("python app.py: error: --port 70000 is not a port "
                                              "number; use 1-65535, e.g. --port 7860")


def test_a_taken_port_is_one_line_naming_the_flags(tmp_path: Path) -> None:
    (tmp_path / "corpus").mkdir()  # the worker cannot load: nothing heavy starts
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CORPUS_DIR": str(tmp_path / "corpus")}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, "app.py", "--port", str(port)],
                                cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                                timeout=120)
    assert result.returncode == 1
    assert result.stderr.splitlines()[-1] == (
        f"app: cannot listen on 127.0.0.1 (Cannot find empty port in range: {port}-{port}); "
        "choose another --port or --host")


def listening(port: int) -> set[str]:
    """The IPv4 addresses a socket of this machine listens on at `port` (Linux /proc/net/tcp)."""
    table = Path("/proc/net/tcp")
    if not table.exists():
        pytest.skip("needs Linux's /proc/net/tcp to see which address the app listens on")
    found = set()
    for line in table.read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, _, hex_port = local.partition(":")
        if int(hex_port, 16) == port and state == "0A":  # 0A: LISTEN
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_listening_reads_the_address_of_a_listening_socket() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert listening(s.getsockname()[1]) == {"127.0.0.1"}


@pytest.mark.real
def test_app_flags_win_and_the_openai_client_streams_q1_with_a_citation(tmp_path: Path) -> None:
    # The environment asks for every interface and another port; the flags must win.
    port, other = free_port(), free_port()
    shutil.copytree(DEFAULT_CORPUS, tmp_path / "corpus")
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CORPUS_DIR": str(tmp_path / "corpus"), "RAG_AUTH": KEY,
           "GRADIO_SERVER_NAME": "0.0.0.0", "GRADIO_SERVER_PORT": str(other)}
    log = tmp_path / "app.log"
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py", "--host", "127.0.0.1", "--port",
                                    str(port)], cwd=PROJECT_ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while "answering from " not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        assert listening(port) == {"127.0.0.1"} and listening(other) == set()
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=KEY)
        chunks = list(client.chat.completions.create(
            model=openai_api.MODEL_ID, stream=True, messages=[{"role": "user", "content": Q1}]))
        text = "".join(c.choices[0].delta.content or "" for c in chunks)
        extra = chunks[-1].model_extra or {}
        assert "Katherine Tai" in text and re.search(r"\[\d+\]", text), text
        assert extra["abstained"] is False
        assert any("Katherine Tai" in c["passage"] for c in extra["citations"])
        assert all(f"[{c['marker']}]" in text for c in extra["citations"])
    finally:
        stop(process)

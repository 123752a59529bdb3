"""The answering worker (qa.worker) and app.py's side of it (qa.remote).

serve() is driven directly with in-memory streams; Worker and RemotePipelines run a real child
process (tests/qa/fake_worker.py, on the fakes) over real pipes, including one that fails to
start and one that dies, since those are what a user would otherwise meet as a hung chat.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from index.store import open_index
from ingest.build import build_index
from qa.answer import Answer, answer_from_json, answer_to_json
from qa.config import Settings
from qa.pipeline import Pipeline
from qa.remote import RemotePipelines, Worker, WorkerError
from qa.worker import serve
from tests.fakes import SECURITY, FakeEmbedder, FakeGenerator

QUESTION = "When was the Security Initiative launched?"


@pytest.fixture
def index_root(corpus_dir: Path, embedder: FakeEmbedder, tmp_path: Path) -> Path:
    root = tmp_path / "index"
    build_index([corpus_dir], root, embedder)
    return root


def fake_pipeline(root: Path, replies: list[str]) -> Pipeline:
    embedder = FakeEmbedder()
    return Pipeline(open_index(root, embedder.model_id, embedder.dimension), embedder,
                    FakeGenerator(replies), Settings(calibration=None))


def command(root: Path, *flags: str) -> list[str]:
    return [sys.executable, "-m", "tests.qa.fake_worker", str(root), *flags]


def test_serve_streams_pieces_then_the_answer_with_the_cited_documents(
        index_root: Path) -> None:
    pipeline = fake_pipeline(index_root, ["It was launched in April 2022 [1]."])
    requests = io.StringIO(json.dumps({"id": 7, "question": QUESTION, "history": []}) + "\n")
    replies = io.StringIO()
    serve(lambda: pipeline, requests, replies)
    messages = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert all(m["id"] == 7 for m in messages)
    assert "".join(m["piece"] for m in messages[:-1]) == "It was launched in April 2022 [1]."
    answer = answer_from_json(messages[-1]["answer"])
    assert answer.text == "It was launched in April 2022 [1]."
    assert [c.chunk.doc_id for c in answer.citations] == ["security.txt"]
    assert messages[-1]["documents"] == {"security.txt": SECURITY}


def test_serve_reports_a_bad_request_and_a_failed_question_and_keeps_going(
        index_root: Path) -> None:
    pipeline = fake_pipeline(index_root, [])  # FakeGenerator raises: no reply queued
    requests = io.StringIO("not json\n" + json.dumps({"id": 2, "question": QUESTION}) + "\n"
                           + json.dumps({"id": 3, "question": "xyzzy plugh"}) + "\n")
    replies = io.StringIO()
    serve(lambda: pipeline, requests, replies)
    messages = [json.loads(line) for line in replies.getvalue().splitlines()]
    assert messages[0]["id"] is None and "bad request" in messages[0]["error"]
    assert messages[1]["id"] == 2 and "AssertionError" in messages[1]["error"]
    assert messages[-1]["id"] == 3 and "answer" in messages[-1]  # refused without the model


def test_an_answer_survives_the_trip_through_json(index_root: Path) -> None:
    pipeline = fake_pipeline(index_root, ["It was launched in April 2022 [1]."])
    answer = pipeline.answer(QUESTION)
    assert answer_from_json(json.loads(json.dumps(answer_to_json(answer)))) == answer


def test_the_remote_pipeline_answers_like_the_local_one_over_a_real_pipe(
        index_root: Path, embedder: FakeEmbedder) -> None:
    remote = RemotePipelines(command(index_root), lambda: embedder)
    try:
        pipeline = remote.get()
        events = list(pipeline.stream(QUESTION, [("Who met Tai?", "Wang met Tai [1].")]))
        *pieces, answer = events
        assert "".join(pieces) == "It was launched in April 2022 [1]."
        assert isinstance(answer, Answer)
        assert pipeline.index.document_text("security.txt") == SECURITY
        assert remote.get().answer(QUESTION).text == answer.text  # a second question
        assert remote.get().embedder is embedder  # the Operators tab's, in this process
    finally:
        remote.worker.stop()


def test_a_worker_that_cannot_start_says_why(index_root: Path) -> None:
    worker = Worker(command(index_root, "--fatal"))
    with pytest.raises(WorkerError, match=r"no index at .*python -m ingest"):
        worker.wait_ready(timeout=60)


def test_a_worker_that_dies_fails_the_question_and_is_restarted_for_the_next(
        index_root: Path, embedder: FakeEmbedder) -> None:
    remote = RemotePipelines(command(index_root, "--exit-after", "1"), lambda: embedder)
    try:
        first = remote.worker
        assert remote.get().answer(QUESTION).text  # answered, then the worker exits
        first._process.wait(timeout=60)
        with pytest.raises(WorkerError, match=r"exit code 3|is gone"):
            list(first.request(QUESTION, []))
        assert remote.get().answer(QUESTION).text  # a new worker answers
        assert remote.worker is not first
    finally:
        remote.worker.stop()

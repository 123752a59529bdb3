"""The real app as a user starts it (`python app.py`), asked through gradio_client."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from gradio_client import Client

from index import PROJECT_ROOT

pytestmark = pytest.mark.real

Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    index_dir = tmp_path_factory.mktemp("app-index")
    log = tmp_path_factory.mktemp("app-log") / "app.log"
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "RAG_INDEX_DIR": str(index_dir)}
    with open(log, "w") as out:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if process.poll() is not None:
                pytest.fail(f"app.py exited with {process.returncode}:\n{log.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                time.sleep(1)
        else:
            pytest.fail(f"app.py did not serve within 300 s:\n{log.read_text()}")
        # The app built the index of data/corpus on first start.
        assert (Path(index_dir) / "CURRENT").is_file()
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_ask_endpoint_answers_with_checked_citation(app_url: str) -> None:
    result = Client(app_url, verbose=False).predict(Q1, api_name="/ask")
    assert result["abstained"] is False
    assert "Katherine Tai" in result["answer"]
    cited = [c for c in result["citations"] if "Katherine Tai" in c["passage"]]
    assert cited and cited[0]["doc"] == "china-watch-xi-foreign-policy.txt"
    assert cited[0]["supporting_text"] in cited[0]["passage"]


def test_chat_endpoint_streams_answer_and_sources(app_url: str) -> None:
    client = Client(app_url, verbose=False)
    box, history, sources = client.predict(Q1, [], api_name="/chat")
    assert box == ""
    assert history[0]["role"] == "user" and history[-1]["role"] == "assistant"
    reply = history[-1]["content"]
    reply_text = reply if isinstance(reply, str) else str(reply)
    assert "Katherine Tai" in reply_text
    assert "<mark>" in sources and "china-watch-xi-foreign-policy.txt" in sources


def test_off_topic_question_is_refused(app_url: str) -> None:
    result = Client(app_url, verbose=False).predict("Who won the 2018 World Cup?",
                                                    api_name="/ask")
    assert result["abstained"] is True
    assert result["citations"] == []

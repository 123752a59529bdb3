"""The web app's surface: upload limit, bounded queue, login, who may use Operators, no absolute
paths, cleaned upload cache, cross-origin writes, and 20 users chatting during a re-ingest.

The settings are pure functions (web_guard) tested first. Then the real `app.demo` is served
in-process on a free port, as `python app.py` serves it (web_guard.serve), but on the echoing
fakes of tests/browser/fake_app.py: each answer repeats its question, so an answer that reached
the wrong user shows. A client is made to look remote with X-Forwarded-For, which uvicorn
trusts from 127.0.0.1 only (as from a reverse proxy on this machine).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AuthenticationError

import app
import operators_ui
import web_guard
from common.paths import PROJECT_ROOT
from index.store import current_generation, lock_index
from ingest.build import build_index
from tests.browser.fake_app import Served, serving
from tests.browser.server import free_port
from tests.fakes import FakeEmbedder
from web_guard import WebSettings, WebSettingsError

REMOTE = {"X-Forwarded-For": "203.0.113.7"}  # TEST-NET-3: never a real client


# ---- settings from the environment ----------------------------------------------------------

def test_defaults_keep_the_app_local_and_bounded() -> None:
    settings = web_guard.settings_from_env({})
    assert settings == WebSettings(max_upload_mb=50, queue_size=32, concurrency=4, auth=(),
                                   operators="local", server_name="127.0.0.1")
    assert settings.max_file_size == "50mb"


def test_every_setting_comes_from_its_variable(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# operators\nbob:hunter2\n\ncarol: pass:with:colons\n", encoding="utf-8")
    settings = web_guard.settings_from_env({
        "RAG_MAX_UPLOAD_MB": "5", "RAG_QUEUE_SIZE": "8", "RAG_CONCURRENCY": "2",
        "RAG_AUTH": "ann:pw", "RAG_AUTH_FILE": str(users), "RAG_OPERATORS": "Remote",
        "GRADIO_SERVER_NAME": "0.0.0.0"})
    assert settings == WebSettings(
        max_upload_mb=5, queue_size=8, concurrency=2, operators="remote", server_name="0.0.0.0",
        auth=(("ann", "pw"), ("bob", "hunter2"), ("carol", " pass:with:colons")))


@pytest.mark.parametrize(("env", "message"), [
    ({"RAG_QUEUE_SIZE": "lots"}, "RAG_QUEUE_SIZE='lots' is not a whole number; write e.g. "
                                 "RAG_QUEUE_SIZE=32"),
    ({"RAG_MAX_UPLOAD_MB": "0"}, "RAG_MAX_UPLOAD_MB='0' must be at least 1 (default 50)"),
    ({"RAG_OPERATORS": "everyone"}, "RAG_OPERATORS='everyone' is not one of local, remote, off"),
    ({"RAG_OPERATORS": "remote"}, "RAG_OPERATORS=remote lets other machines change the index, "
                                  "so it needs a login: set RAG_AUTH"),
    ({"RAG_AUTH_FILE": "/no/such/users"}, "RAG_AUTH_FILE='/no/such/users' cannot be read"),
])
def test_a_bad_setting_is_named_with_what_to_write(env: dict[str, str], message: str) -> None:
    with pytest.raises(WebSettingsError) as caught:
        web_guard.settings_from_env(env)
    assert str(caught.value).startswith(message)


def test_a_malformed_login_names_its_line_but_never_the_password() -> None:
    with pytest.raises(WebSettingsError, match="RAG_AUTH line 2 is not user:password") as caught:
        web_guard.settings_from_env({"RAG_AUTH": "ann:pw\nsecret-password-no-colon"})
    assert "secret" not in str(caught.value)


def test_app_exits_with_one_line_on_a_bad_setting() -> None:
    env = {**os.environ, "RAG_CONCURRENCY": "-3", "GRADIO_SERVER_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, timeout=120,
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.strip() == "app: RAG_CONCURRENCY='-3' must be at least 1 (default 4)"


# ---- who may use Operators --------------------------------------------------------------------

@pytest.mark.parametrize(("host", "local"), [
    ("127.0.0.1", True), ("127.8.0.1", True), ("::1", True), ("::ffff:127.0.0.1", True),
    ("localhost", True), ("192.168.1.20", False), ("203.0.113.7", False), ("0.0.0.0", False),
    ("testclient", False), (None, False)])
def test_loopback_addresses(host: str | None, local: bool) -> None:
    assert web_guard.is_loopback(host) is local


def test_operators_refusals() -> None:
    local, remote = WebSettings(), WebSettings(operators="remote", auth=(("ann", "pw"),))
    assert web_guard.operators_refusal("127.0.0.1", None, local) == ""
    assert "came from 192.0.2.1" in web_guard.operators_refusal("192.0.2.1", None, local)
    assert "RAG_OPERATORS=remote" in web_guard.operators_refusal("192.0.2.1", None, local)
    assert web_guard.operators_refusal("192.0.2.1", "ann", remote) == ""
    assert "needs a login" in web_guard.operators_refusal("192.0.2.1", None, remote)
    off = WebSettings(operators="off")
    assert "switched off (RAG_OPERATORS=off)" in web_guard.operators_refusal("127.0.0.1", None,
                                                                              off)


# ---- cross-origin writes, paths, staged uploads ----------------------------------------------

@pytest.mark.parametrize(("method", "origin", "allowed"), [
    ("POST", "http://127.0.0.1:7860", True), ("POST", "HTTP://127.0.0.1:7860", True),
    ("POST", None, True),  # gradio_client, curl: no browser, no ambient cookies to abuse
    ("GET", "http://evil.example", True),  # reading is CORS's job
    ("POST", "http://evil.example", False), ("POST", "null", False),
    ("DELETE", "http://127.0.0.1:9999", False), ("POST", "http://docs.example", True)])
def test_same_origin(method: str, origin: str | None, allowed: bool) -> None:
    hosts = ["127.0.0.1:7860", "docs.example"]  # Host, X-Forwarded-Host of a proxy
    assert web_guard.same_origin(method, origin, hosts) is allowed


def test_shown_paths_are_relative_to_their_base_or_only_a_name() -> None:
    corpus, index = Path("/srv/rag/corpus"), Path("/srv/rag/index")
    assert web_guard.shown_paths(
        "another ingest is running on /srv/rag/index (pid 5); /srv/rag/corpus/sub/a.txt: bad. "
        "See /etc/passwd and `/srv/rag/corpus`.", [corpus, index]) == (
        "another ingest is running on index (pid 5); sub/a.txt: bad. See passwd and `corpus`.")
    untouched = "1/2 of http://x.example/a/b, and a / b | --- |"
    assert web_guard.shown_paths(untouched, [corpus]) == untouched


def test_stats_show_no_absolute_path(corpus_dir: Path, embedder: FakeEmbedder,
                                     tmp_path: Path) -> None:
    root = tmp_path / "index"
    assert str(tmp_path) not in operators_ui.stats_markdown(root, corpus_dir)
    build_index([corpus_dir], root, embedder)
    stats = operators_ui.stats_markdown(root, corpus_dir)
    assert "| index directory | `index` |" in stats and "| corpus directory | `corpus` |" in stats
    assert str(tmp_path) not in stats
    assert operators_ui.directory_label(PROJECT_ROOT / "var" / "index") == "var/index"


def test_stale_staged_uploads_are_found_by_age(tmp_path: Path) -> None:
    old, new = tmp_path / "rag-upload-old", tmp_path / "rag-upload-new"
    other = tmp_path / "someone-elses"
    for directory in (old, new, other):
        directory.mkdir()
    os.utime(old, (1000, 1000))
    os.utime(other, (1000, 1000))
    assert web_guard.stale_uploads(tmp_path, 3600, now=time.time()) == [old]


def test_ending_a_session_deletes_its_staged_uploads(tmp_path: Path) -> None:
    upload = tmp_path / "notes.txt"
    upload.write_text("Xi met the forum.\n", encoding="utf-8")
    staged = operators_ui.stage_uploads([upload])
    directory = staged.directory
    assert directory is not None and (directory / "notes.txt").is_file()
    state = next(b for b in app.demo.blocks.values() if getattr(b, "delete_callback", None)
                 is operators_ui._discard)
    state.delete_callback(staged)  # what Gradio calls when the tab closes or the hour is over
    assert not directory.exists()
    assert state.time_to_live == web_guard.UPLOAD_CACHE[1]


def test_an_upload_gone_from_the_cache_is_refused_with_what_to_do(tmp_path: Path) -> None:
    staged = operators_ui.stage_uploads([tmp_path / "expired.txt"])
    assert [(a.path, a.reason) for a in staged.refused] == [
        ("expired.txt", "the upload is no longer in the app's cache (uploads are kept an hour); "
                        "upload it again")]
    staged.discard()


# ---- the app served in-process on fakes -------------------------------------------------------

@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Served]]:
    """serve(settings) -> Served: app.demo on the fakes (tests.browser.fake_app), then closed."""
    with serving(monkeypatch, tmp_path) as start:
        yield start


def chat(client: Client, question: str) -> tuple[list[str], str]:
    """The texts of the chat's messages once `question` is answered, and the Sources HTML."""
    _, history, sources = client.predict(question, [], api_name="/chat")
    return [app.message_text(m["content"]) for m in history], sources


def test_upload_limit_and_cross_origin_uploads(serve: Any) -> None:
    served = serve(WebSettings(max_upload_mb=1))
    upload = served.url + "gradio_api/upload"
    small, big = ("a.txt", b"x" * 1000), ("b.txt", b"x" * (2 * 2**20))
    assert httpx.post(upload, files={"files": small}).status_code == 200
    too_big = httpx.post(upload, files={"files": big})
    assert too_big.status_code == 413
    assert "maximum allowed size of 1048576 bytes" in too_big.text
    own = httpx.post(upload, files={"files": small}, headers={"Origin": served.url[:-1]})
    assert own.status_code == 200
    foreign = httpx.post(upload, files={"files": small},
                         headers={"Origin": "http://evil.example"})
    assert foreign.status_code == 403
    assert "Cross-origin request refused" in foreign.text
    # Gradio deletes uploads older than an hour every 10 minutes, and all of them at exit.
    assert app.demo.delete_cache == web_guard.UPLOAD_CACHE


OPERATOR_CALLS: list[tuple[str, tuple[Any, ...]]] = [
    ("/overview", (False,)), ("/replan", (False,)), ("/on_ingest", (False,)),
    ("/on_remove", (None, True, False))]


def test_operators_endpoints_refuse_a_remote_client_but_chat_answers_it(serve: Any) -> None:
    served = serve()
    remote = served.client(headers=REMOTE)
    for api_name, args in OPERATOR_CALLS:
        with pytest.raises(Exception, match="only works from the machine the app runs on"):
            remote.predict(*args, api_name=api_name)
    note = served.corpus / "note.txt"
    note.write_text("Xi met the forum.\n", encoding="utf-8")
    with pytest.raises(Exception, match=r"this request came from 203\.0\.113\.7"):
        remote.predict([handle_file(note)], False, api_name="/on_files")
    # The page itself hides the controls and says why.
    assert remote.predict(api_name="/operators_access")["visible"] is True
    history, _ = chat(remote, "Who met Wang?")
    assert history == ["Who met Wang?", "You asked: Who met Wang?"]
    # The same calls from this machine work.
    local = served.client()
    assert local.predict(api_name="/operators_access")["visible"] is False
    assert local.predict(False, api_name="/replan")[1] == ""


def test_operators_switched_off_refuse_this_machine_too(serve: Any) -> None:
    served = serve(WebSettings(operators="off"))
    with pytest.raises(Exception, match=r"switched off \(RAG_OPERATORS=off\)"):
        served.client().predict(False, api_name="/overview")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from strings(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from strings(v)


def test_operators_outputs_name_no_absolute_path(serve: Any, tmp_path: Path) -> None:
    served = serve()
    local = served.client()
    upload = tmp_path / "notes.md"
    upload.write_text("Xi met the forum.\n", encoding="utf-8")
    outputs = [local.predict(False, api_name="/overview"),
               local.predict([handle_file(upload)], False, api_name="/on_files")]
    with lock_index(served.index):  # "another ingest is running on <index>" names the directory
        outputs.append(local.predict(False, api_name="/on_ingest"))
    outputs += [local.predict(False, api_name="/on_ingest"),
                local.predict("notes.md", True, False, api_name="/on_remove")]
    shown = "\n".join(s for output in outputs for s in strings(output))
    assert "| corpus directory | `corpus` |" in shown
    assert "another ingest is running on index (pid" in shown
    assert "Deleted its file notes.md from the corpus directory" in shown
    for secret in (str(tmp_path), "/tmp/", str(PROJECT_ROOT)):
        assert secret not in shown


def test_login_covers_the_page_chat_and_operators(serve: Any) -> None:
    served = serve(WebSettings(auth=(("ann", "s3cret"),), operators="remote"))
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        served.client().predict(False, api_name="/overview")
    page = httpx.get(served.url + "config")
    assert page.status_code == 401
    assert httpx.post(served.url + "gradio_api/upload",
                      files={"files": ("a.txt", b"x")}).status_code == 401
    with pytest.raises(ValueError, match="Could not login"):
        served.client(auth=("ann", "wrong"))
    ann = served.client(auth=("ann", "s3cret"), headers=REMOTE)
    assert chat(ann, "Who met Wang?")[0][-1] == "You asked: Who met Wang?"
    # RAG_OPERATORS=remote: a logged-in remote client may operate.
    assert ann.predict(False, api_name="/replan")[1] == ""


def test_login_with_local_operators_still_refuses_remote_operators(serve: Any) -> None:
    served = serve(WebSettings(auth=(("ann", "s3cret"),)))
    ann = served.client(auth=("ann", "s3cret"), headers=REMOTE)
    with pytest.raises(Exception, match="only works from the machine the app runs on"):
        ann.predict(False, api_name="/replan")


def test_a_full_queue_tells_the_next_user_the_app_is_busy(serve: Any) -> None:
    served = serve(WebSettings(queue_size=1, concurrency=1))
    served.pipelines.gate = threading.Event()
    try:
        running = served.client().submit("first?", [], api_name="/chat")
        assert served.pipelines.entered.wait(30)  # the one worker is busy with it
        waiting = served.client().submit("second?", [], api_name="/chat")
        deadline = time.monotonic() + 30
        while len(app.demo._queue) < 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        refused = httpx.post(served.url + "gradio_api/queue/join", json={
            "data": ["third?", []], "fn_index": chat_fn_index(), "session_hash": "third"})
        assert refused.status_code == 503  # the page shows web_guard.BUSY_MESSAGE
        assert "Queue is full. Max size is 1" in refused.json()["detail"]
        with pytest.raises(Exception, match="Queue is full! Please try again"):
            served.client().submit("fourth?", [], api_name="/chat").result(timeout=30)
    finally:
        served.pipelines.gate.set()
    for job, question in ((running, "first?"), (waiting, "second?")):
        reply = app.message_text(job.result(timeout=60)[1][-1]["content"])
        assert reply == f"You asked: {question}"


def chat_fn_index() -> int:
    return next(i for i, fn in app.demo.fns.items() if fn.api_name == "chat")


def test_20_concurrent_chats_during_reingests_get_their_own_answers(
        serve: Any, tmp_path: Path) -> None:
    served = serve()
    first = current_generation(served.index)
    chats_done, ingest_started = threading.Event(), threading.Event()
    ingests: list[str] = []

    def reingest() -> None:
        operator = served.client()
        version = 0
        while not chats_done.is_set() or not ingests:
            version += 1
            upload = tmp_path / f"v{version}" / "bulletin.txt"
            upload.parent.mkdir()
            upload.write_text(f"Bulletin {version}: Xi met the forum.\n" * 50, encoding="utf-8")
            operator.predict([handle_file(upload)], False, api_name="/on_files")
            ingest_started.set()
            ingests.append(operator.predict(False, api_name="/on_ingest")[-1])

    def ask(n: int) -> tuple[str, list[str]]:
        question = f"Question {n}: who met Wang? ({n * 7919})"
        history, _ = chat(served.client(), question)
        return question, history

    with ThreadPoolExecutor(21) as pool:
        operator = pool.submit(reingest)
        assert ingest_started.wait(60)
        try:
            results = list(pool.map(ask, range(20)))
        finally:
            chats_done.set()
        operator.result(timeout=120)

    crossed = [(q, h) for q, h in results if h != [q, f"You asked: {q}"]]
    assert len(results) == 20 and crossed == []
    assert served.pipelines.counter.most > 1  # not one at a time any more
    assert ingests and not [s for s in ingests if "Not done" in s], ingests
    assert current_generation(served.index) != first


def test_bench_summary_counts_errors_and_cross_talk_apart_from_latency() -> None:
    from bench.concurrency import summarize

    chats = [{"seconds": s, "error": "", "crossed": False} for s in (1.0, 2.0, 3.0, 4.0)]
    chats += [{"seconds": 9.0, "error": "QueueError: Queue is full!", "crossed": False},
              {"seconds": 1.5, "error": "", "crossed": True}]
    assert summarize(chats) == {"chats": 6, "errors": 1, "crossed": 1, "p50_s": 2.0,
                                "p95_s": pytest.approx(3.8), "max_s": 4.0}

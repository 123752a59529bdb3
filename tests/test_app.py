"""The web chat: fast tests of its handlers with the fakes, then the real app (`python app.py`)
asked through gradio_client.

The fast tests drive `app.respond` the way the Chatbot does (question, messages so far) and look
at what the user would see: the chat messages and the Sources panel's HTML.
"""

from __future__ import annotations

import re
import shutil
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client
from hypothesis import given
from hypothesis import strategies as st

import app
from common.records import Chunk
from index.store import open_index
from ingest.build import build_index
from qa.answer import Answer, Citation, Timings
from qa.config import Settings
from qa.pipeline import Pipeline
from qa.remote import RemotePipelines
from tests.browser.server import RunningApp, serve_app
from tests.fakes import SECURITY, FakeEmbedder, FakeGenerator, FakeReader

Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"
LAUNCH_Q = "When was the Security Initiative launched?"


def chat(question: str, history: list[dict] | None = None) -> tuple[list[dict], str]:
    """The chat messages and Sources HTML the user sees once `question` is answered."""
    *_, (box, messages, sources) = app.respond(question, history or [])
    assert box == ""
    return messages, sources


def fake_live(root: Path, embedder: FakeEmbedder, generator: FakeGenerator,
              reader: FakeReader | None = None) -> app.LivePipeline:
    """The app's pipelines on the fakes; refusal calibration off, as in tests/qa."""
    return app.LivePipeline(lambda: Pipeline(
        open_index(root, embedder.model_id, embedder.dimension), embedder, generator,
        Settings(calibration=None), reader))


@pytest.fixture
def index_root(corpus_dir: Path, embedder: FakeEmbedder, tmp_path: Path) -> Path:
    root = tmp_path / "live-index"
    build_index([corpus_dir], root, embedder)
    return root


def use(monkeypatch: pytest.MonkeyPatch, live: app.LivePipeline) -> app.LivePipeline:
    monkeypatch.setattr(app, "pipelines", live)
    return live


# ---- citation links -----------------------------------------------------------------------

def test_cited_marker_links_to_its_highlighted_passage(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder) -> None:
    use(monkeypatch, fake_live(index_root, embedder,
                               FakeGenerator(["It was launched in April 2022 [1]."])))
    messages, sources = chat(LAUNCH_Q)
    assert messages[-1] == {"role": "assistant", "content":
                            'It was launched in April 2022 <a href="#source-1" class="cite">[1]'
                            "</a>."}
    assert '<div class="source" id="source-1">' in sources
    assert "<mark>The Global Security Initiative was launched in April 2022.</mark>" in sources


def test_ask_api_returns_the_plain_answer_without_links(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder) -> None:
    use(monkeypatch, fake_live(index_root, embedder,
                               FakeGenerator(["It was launched in April 2022 [1]."])))
    result = app.ask(LAUNCH_Q)
    assert result["answer"] == "It was launched in April 2022 [1]."
    assert result["short_answer"] == ""  # no reader
    assert result["citations"][0]["supporting_text"] == SECURITY.split(" Xi")[0]


def test_ask_api_gives_the_readers_short_answer_first(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder) -> None:
    use(monkeypatch, fake_live(index_root, embedder,
                               FakeGenerator(["It was launched in April 2022 [1]."]),
                               FakeReader(["April 2022"])))
    result = app.ask(LAUNCH_Q)
    assert result["short_answer"] == "April 2022"
    assert result["answer"] == "April 2022 [1]\n\nIt was launched in April 2022 [1]."


def test_markers_without_a_cited_passage_stay_plain_text() -> None:
    assert app.link_markers("See [1] and [2] & <b>.", {2}) == (
        'See [1] and <a href="#source-2" class="cite">[2]</a> &amp; &lt;b&gt;.')


@given(st.text(), st.sets(st.integers(min_value=1, max_value=12)))
def test_plain_text_undoes_the_links_exactly(text: str, markers: set[int]) -> None:
    assert app.plain_text(app.link_markers(text, markers)) == text


@given(st.text(), st.sets(st.integers(min_value=1, max_value=12)))
def test_the_only_tags_in_a_chat_message_are_citation_links(text: str, markers: set[int]) -> None:
    message = app.link_markers(text, markers)
    assert not {"<", ">"} & set(re.sub(r'<a href="#source-\d+" class="cite">\[\d+\]</a>', "",
                                       message))


def test_the_chat_renders_no_markdown_or_latex_from_documents() -> None:
    # Markdown would make a quoted URL, [text](url) or ![img](url) live; tests/browser/
    # test_injected_documents.py shows it in the browser.
    assert app.chatbot.render_markdown is False
    assert app.chatbot.latex_delimiters == []
    assert app.chatbot.sanitize_html is True


def test_the_question_is_shown_as_text_and_goes_back_to_the_pipeline_as_typed(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder) -> None:
    use(monkeypatch, fake_live(index_root, embedder,
                               FakeGenerator(["It was launched in April 2022 [1]."])))
    question = "When was <b>it</b> launched & where?"
    messages, _ = chat(question)
    assert messages[-2]["content"] == "When was &lt;b&gt;it&lt;/b&gt; launched &amp; where?"
    assert [q for q, _ in app.conversation(messages)] == [question]


def test_sources_escape_document_markup() -> None:
    text = 'Tai <img src=x onerror="alert(1)"> met [Wang](http://evil.example/x).'
    chunk = Chunk(doc_id="<b>a.md", chunk_id="a.md#0", text=text, start=0, end=len(text),
                  title="")
    answer = Answer("Q?", f"{text} [1]", (Citation(1, chunk, 0, len(text)),), (), False,
                    Timings(0, 0, 0), query="<i>Q</i>")
    sources = app.sources_html(answer, lambda doc: text)
    assert "<img" not in sources and "<b>a.md" not in sources and "<i>" not in sources
    assert ("Tai &lt;img src=x onerror=&quot;alert(1)&quot;&gt; met [Wang](http://evil.example/x)."
            in sources)


def test_one_passage_per_marker_even_when_two_of_its_sentences_are_cited() -> None:
    chunk = Chunk(doc_id="security.txt", chunk_id="security.txt#0", text=SECURITY.strip(),
                  start=0, end=len(SECURITY.strip()), title="")
    launch_end = SECURITY.index(" Xi") + 1
    citations = (Citation(1, chunk, 0, launch_end - 1),
                 Citation(1, chunk, launch_end, len(SECURITY.strip())))
    answer = Answer(LAUNCH_Q, "It was launched in April 2022 [1]. Xi presented it [1].",
                    citations, (), False, Timings(0, 0, 0))
    sources = app.sources_html(answer, lambda doc: SECURITY)
    assert sources.count('id="source-1"') == 1  # one target for the link
    assert sources.count("<mark>") == 2
    assert "characters 0–58, 59–93" in sources


# ---- multi-turn ---------------------------------------------------------------------------

class SpyPipeline:
    """Records the history each question came with; answers with a canned rewritten query."""

    def __init__(self, index: object, reply: str, query: str) -> None:
        self.index = index
        self.reply, self.query = reply, query
        self.histories: list[list[tuple[str, str]]] = []

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]:
        self.histories.append(list(history))
        yield self.reply
        yield Answer(question, self.reply, (), (), False, Timings(0, 0, 0), query=self.query)


def test_follow_up_gets_the_conversation_as_plain_pairs_and_old_links_are_removed(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder) -> None:
    use(monkeypatch, fake_live(index_root, embedder,
                               FakeGenerator(["It was launched in April 2022 [1]."])))
    first, _ = chat(LAUNCH_Q)
    # Gradio 6 hands the Chatbot's messages back with content as a list of parts.
    from_browser = [{"role": m["role"], "content": [{"type": "text", "text": m["content"]}]}
                    for m in first]
    spy = SpyPipeline(app.pipelines.get().index, "Xi presented it [1].",
                      "Who presented the Security Initiative?")
    use(monkeypatch, app.LivePipeline(lambda: spy))
    messages, sources = chat("Who presented it?", from_browser)
    assert spy.histories == [[(LAUNCH_Q, "It was launched in April 2022 [1].")]]
    assert [m["content"] for m in messages] == [
        LAUNCH_Q, "It was launched in April 2022 [1].", "Who presented it?",
        "Xi presented it [1]."]
    assert "Searched for: <q>Who presented the Security Initiative?</q>" in sources


def test_no_searched_for_line_when_the_question_was_not_rewritten() -> None:
    for query in ("", LAUNCH_Q):
        answer = Answer(LAUNCH_Q, "I can't find this.", (), (), True, Timings(0, None, 0),
                        query=query)
        assert "Searched for" not in app.sources_html(answer, lambda doc: "")


def test_refusal_says_whether_the_model_was_asked() -> None:
    before = Answer("Q?", "I can't find this.", (), (), True, Timings(0.1, None, 0.1),
                    confidence=0.12)
    after = Answer("Q?", "I can't find this.", (), (), True, Timings(0.1, 0.5, 1.0))
    assert "(confidence 0.12, best passage similarity 0.00), so the model was not asked" in (
        app.sources_html(before, lambda doc: ""))
    assert "None of the model's sentences could be checked" in app.sources_html(
        after, lambda doc: "")


def test_a_question_asked_while_the_worker_loads_says_so_then_is_answered(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder) -> None:
    # A real worker process on the fakes that takes 3 s to load, as app.py runs it.
    remote = RemotePipelines([sys.executable, "-m", "tests.qa.fake_worker", str(index_root),
                              "--ready-after", "3"], lambda: embedder)
    monkeypatch.setattr(app, "pipelines", remote)
    try:
        statuses = [sources for _, _, sources in app.respond(LAUNCH_Q, [])]
        assert statuses[:2] == ["<p>Searching the documents…</p>", app.LOADING_STATUS]
        messages, sources = chat(LAUNCH_Q, [])
        assert messages[-1]["content"].startswith("It was launched in April 2022")
        assert "<mark>The Global Security Initiative was launched in April 2022.</mark>" in sources
        # Loaded now: the next question goes straight to searching.
        statuses = [sources for _, _, sources in app.respond(LAUNCH_Q, [])]
        assert app.LOADING_STATUS not in statuses
    finally:
        remote.worker.stop()


# ---- hot reload ---------------------------------------------------------------------------

def test_new_generation_is_used_without_restart_and_a_question_in_flight_keeps_its_own(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, corpus_dir: Path,
        embedder: FakeEmbedder) -> None:
    generator = FakeGenerator(["It was launched in April 2022 [1].",
                               "It was launched in May 2023 [1]."])
    live = use(monkeypatch, fake_live(index_root, embedder, generator))
    in_flight = app.respond(LAUNCH_Q, [])
    next(in_flight)  # "Searching the documents…"
    next(in_flight)  # the pipeline was taken and the model has replied
    old = live.get()

    (corpus_dir / "security.txt").write_text(SECURITY.replace("April 2022", "May 2023"),
                                             encoding="utf-8")
    build_index([corpus_dir], index_root, embedder)

    messages, sources = chat(LAUNCH_Q)
    assert messages[-1]["content"].startswith("It was launched in May 2023")
    assert "<mark>The Global Security Initiative was launched in May 2023.</mark>" in sources
    new = live.get()
    assert new.index.generation != old.index.generation
    assert new.embedder is old.embedder and new.generator is old.generator

    *_, (_, messages, sources) = in_flight
    assert messages[-1]["content"].startswith("It was launched in April 2022")
    assert "<mark>The Global Security Initiative was launched in April 2022.</mark>" in sources


def test_unreadable_new_generation_keeps_answering_from_the_old_one(
        monkeypatch: pytest.MonkeyPatch, index_root: Path, embedder: FakeEmbedder,
        capsys: pytest.CaptureFixture[str]) -> None:
    live = use(monkeypatch, fake_live(index_root, embedder, FakeGenerator(
        ["It was launched in April 2022 [1]."])))
    old = live.get()
    broken = index_root / "gen-broken"
    shutil.copytree(old.index.generation, broken)
    (broken / "manifest.json").unlink()
    (index_root / "CURRENT").write_text("gen-broken\n", encoding="utf-8")

    messages, _ = chat(LAUNCH_Q)
    assert messages[-1]["content"].startswith("It was launched in April 2022")
    assert live.get() is old
    assert "gen-broken/manifest.json is missing" in capsys.readouterr().err


class OneAtATime(FakeEmbedder):
    """Fails like a fast tokenizer when two threads are inside it together."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.inside += 1
        try:
            if self.inside > 1:
                raise RuntimeError("Already borrowed")
            time.sleep(0.01)
            return super().embed(texts)
        finally:
            self.inside -= 1


def test_chat_and_ingest_can_embed_at_the_same_time() -> None:
    shared = app.SerializedEmbedder(OneAtATime())
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: shared.embed(["tai met wang"]), range(20)))
    assert all(r.shape == (1, shared.dimension) for r in results)


# ---- the real app -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def running_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningApp]:
    with serve_app(tmp_path_factory.mktemp("app")) as running:
        # The app built the index of the corpus copy on first start.
        assert (running.index_dir / "CURRENT").is_file()
        yield running


@pytest.mark.real
def test_ask_endpoint_answers_with_checked_citation(running_app: RunningApp) -> None:
    result = Client(running_app.url, verbose=False).predict(Q1, api_name="/ask")
    assert result["abstained"] is False
    assert "Katherine Tai" in result["answer"]
    assert "<a " not in result["answer"]
    cited = [c for c in result["citations"] if "Katherine Tai" in c["passage"]]
    assert cited and cited[0]["doc"] == "china-watch-xi-foreign-policy.txt"
    assert cited[0]["supporting_text"] in cited[0]["passage"]


@pytest.mark.real
def test_chat_endpoint_streams_answer_and_sources(running_app: RunningApp) -> None:
    client = Client(running_app.url, verbose=False)
    box, history, sources = client.predict(Q1, [], api_name="/chat")
    assert box == ""
    assert history[0]["role"] == "user" and history[-1]["role"] == "assistant"
    reply_text = app.message_text(history[-1]["content"])
    assert "Katherine Tai" in reply_text
    link = re.search(r'<a href="#source-(\d+)" class="cite">\[\1\]</a>', reply_text)
    assert link, reply_text
    assert f'id="source-{link[1]}"' in sources
    assert "<mark>" in sources and "china-watch-xi-foreign-policy.txt" in sources


@pytest.mark.real
def test_off_topic_question_is_refused(running_app: RunningApp) -> None:
    result = Client(running_app.url, verbose=False).predict("Who won the 2018 World Cup?",
                                                            api_name="/ask")
    assert result["abstained"] is True
    assert result["citations"] == []


@pytest.mark.real
def test_a_question_asked_before_the_models_load_is_told_so_then_answered(
        tmp_path: Path) -> None:
    # A fresh index directory: the worker builds the index before it loads the models, so the
    # page is up seconds before the worker is.
    with serve_app(tmp_path, wait_for_worker=False) as running:
        assert "answering from " not in running.log.read_text(errors="replace")
        job = Client(running.url, verbose=False).submit(Q1, [], api_name="/chat")
        _, history, sources = job.result(timeout=300)
        statuses = [update[2] for update in job.outputs()]
        assert app.LOADING_STATUS in statuses
        assert "Katherine Tai" in app.message_text(history[-1]["content"])
        assert "<mark>" in sources


@pytest.mark.real
def test_app_exits_with_the_reason_when_its_worker_cannot_load(tmp_path: Path) -> None:
    # No index and an empty corpus: the answering worker cannot build anything, so app.py
    # must say why and exit 1 instead of serving a chat that can never answer.
    import os
    import subprocess
    import sys

    from common.paths import PROJECT_ROOT
    from tests.browser.server import free_port

    (tmp_path / "corpus").mkdir()
    env = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"),
           "RAG_CORPUS_DIR": str(tmp_path / "corpus"), "GRADIO_SERVER_PORT": str(free_port())}
    done = subprocess.run([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert "app: cannot answer questions: no supported files were found" in done.stderr


def test_an_unreadable_index_is_reported_without_absolute_paths(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gradio as gr

    from common.paths import PROJECT_ROOT
    from index.manifest import IndexLoadError

    def unreadable() -> Pipeline:
        raise IndexLoadError(f"{PROJECT_ROOT}/var/index/gen-1/manifest.json is damaged; "
                             "rebuild it with python -m ingest --rebuild /srv/secret/corpus")

    use(monkeypatch, app.LivePipeline(unreadable))
    with pytest.raises(gr.Error) as raised:
        app.ask("Who met Wang?")
    assert raised.value.message == ("var/index/gen-1/manifest.json is damaged; rebuild it with "
                                    "python -m ingest --rebuild corpus")
    with pytest.raises(gr.Error) as raised:
        list(app.respond("Who met Wang?", []))
    assert str(PROJECT_ROOT) not in raised.value.message

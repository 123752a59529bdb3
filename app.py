"""The web app: a Chat tab (ask the documents, click a citation to see its passage highlighted)
and an Operators tab (upload, ingest and remove documents; see operators_ui).

`demo` is built at import time without loading any model, so tests can import it; the index and
models then load in-process on the first question. `python app.py` instead starts the answering
worker (qa.worker, a child process that builds the index of the corpus, $RAG_CORPUS_DIR else
data/corpus, if none exists, and loads both models) before importing gradio, so the two load
side by side on the two cores, and serves on http://127.0.0.1:7860 (--host/--port, else
$GRADIO_SERVER_NAME/$GRADIO_SERVER_PORT, to change it) with the limits web_guard reads from the
environment (upload size, queue, login, who may use Operators), and the OpenAI-compatible API
(openai_api) under /v1 on the same server. If those settings are invalid or the worker cannot
start, app.py prints why and exits 1.

Each question is answered from the index generation CURRENT names when it arrives: a newly
published generation is picked up without a restart, reusing the loaded models.

Does not keep conversations across page reloads, and does not compute answers or rewrite
follow-up questions (qa/ does; this module passes it the conversation shown so far).
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

if __name__ == "__main__":
    import argparse
    import dataclasses
    import sys

    import web_guard

    _parser = argparse.ArgumentParser(
        prog=sys.argv[0] if sys.argv[0].startswith("groundwork ") else "python app.py",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Serve the chat, the Operators tab and the OpenAI-compatible API (/v1).",
        epilog="examples:\n  python app.py\n  python app.py --port 8000\n"
               "  RAG_AUTH=ann:s3cret python app.py --host 0.0.0.0   # other machines, login")
    _parser.add_argument("--host", help="address to listen on (default $GRADIO_SERVER_NAME, "
                         "else 127.0.0.1; 0.0.0.0 for every interface)")
    _parser.add_argument("--port", type=int, help="port to listen on (default "
                         "$GRADIO_SERVER_PORT, else 7860)")
    _args = _parser.parse_args()
    if _args.port is not None and not 1 <= _args.port <= 65535:
        _parser.error(f"--port {_args.port} is not a port number; use 1-65535, e.g. --port 7860")
    if _args.host is not None and not _args.host.strip():
        _parser.error("--host is empty; give an address such as 127.0.0.1 or 0.0.0.0")
    try:  # a mistyped setting is one line and exit 1, before anything starts
        _web = web_guard.settings_from_env()
    except web_guard.WebSettingsError as _err:
        raise SystemExit(f"app: {_err}") from None
    if _args.host:  # the flags win over GRADIO_SERVER_NAME / GRADIO_SERVER_PORT
        _web = dataclasses.replace(_web, server_name=_args.host.strip())
    _port = {"server_port": _args.port} if _args.port else {}
    from common.logs import setup_logging

    setup_logging("INFO")  # the worker logs a line per question; RAG_LOG_LEVEL changes it
    # Start the answering worker before anything heavy is imported here: it loads torch,
    # transformers and the models on one core while this process imports gradio on the other.
    from common.paths import default_corpus_dir, default_index_root
    from qa.config import default_model_cache
    from qa.remote import RemotePipelines, worker_command

    _remote = RemotePipelines(
        worker_command(default_index_root(), default_corpus_dir(), default_model_cache()),
        lambda: local_embedder())
    from common.lean_imports import (
        UNUSED_BY_THE_WEB_PROCESS,
        block_unused_imports,
        skip_gradio_stub_writing,
    )

    skip_gradio_stub_writing()
    block_unused_imports(UNUSED_BY_THE_WEB_PROCESS)

import html  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Collection, Iterator, Sequence  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

import operators_ui  # noqa: E402
import web_guard  # noqa: E402
from common.paths import PROJECT_ROOT, default_index_root  # noqa: E402
from index.embedder import Embedder, MiniLMEmbedder  # noqa: E402
from index.manifest import IndexLoadError  # noqa: E402
from qa.answer import Answer, Citation  # noqa: E402
from qa.config import default_model_cache  # noqa: E402
from qa.generator import GeneratorUnavailable  # noqa: E402
from qa.live import LivePipeline, SerializedEmbedder, load_default  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402
from qa.remote import RemotePipeline, RemotePipelines, WorkerError  # noqa: E402

EXAMPLES = [
    "Who is the US Trade Representative who met her Chinese counterpart on 18 November?",
    "When was the Central National Security Commission established?",
    "What did Xi tell German Chancellor Olaf Scholz about China's relationship with Europe?",
]

# A clicked marker's passage is the URL's :target; the outline shows which one it was.
SOURCES_CSS = """
.source { padding: 4px 8px; border-radius: 6px; scroll-margin-top: 16px; }
.source:target { outline: 3px solid #f59e0b; background: #fef3c7; }
.searched { color: #555; }
"""

_MARKER = re.compile(r"\[(\d+)\]")
_LINK = re.compile(r'<a href="#source-(\d+)" class="cite">\[\1\]</a>')


# ---- citation links: pure functions between the plain answer and the chat message ----------

def link_markers(text: str, markers: Collection[int]) -> str:
    """The chat message for a plain answer: HTML-escaped, each cited `[n]` a link to its source.

    The answer quotes documents, and documents are data: every `<`, `>` and `&` in them is
    escaped, so the only tags in the message are these links. The Chatbot renders no Markdown
    (render_markdown=False), so URLs, `[text](url)` and `![img](url)` stay text.

    Example: link_markers("Tai met Wang [1].", {1})
             -> 'Tai met Wang <a href="#source-1" class="cite">[1]</a>.'
    """
    def link(match: re.Match[str]) -> str:
        n = int(match.group(1))
        return f'<a href="#source-{n}" class="cite">[{n}]</a>' if n in markers else match[0]

    return _MARKER.sub(link, html.escape(text, quote=False))


def plain_text(message: str) -> str:
    """The plain answer back from a chat message: links undone, escapes undone.

    Example: plain_text('A &amp; B <a href="#source-2" class="cite">[2]</a>.') -> "A & B [2]."
    """
    return html.unescape(_LINK.sub(r"[\1]", message))


def unlinked(message: str) -> str:
    """A chat message with its citation links turned back into plain `[n]` (still escaped).

    Older answers lose their links because the Sources panel only shows the latest answer's
    passages; a link would point at someone else's passage.
    """
    return _LINK.sub(r"[\1]", message)


def message_text(content: Any) -> str:
    """The text of a chat message's content, as Gradio 6 hands it back (a list of parts).

    Example: message_text([{"type": "text", "text": "Hi"}]) -> "Hi"; message_text("Hi") -> "Hi"
    """
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text", ""))
    if isinstance(content, list | tuple):
        return "".join(message_text(part) for part in content)
    return ""


def conversation(history: Sequence[dict[str, Any]]) -> list[tuple[str, str]]:
    """(user question, plain shown answer) pairs of the chat so far, for Pipeline.stream."""
    pairs: list[tuple[str, str]] = []
    question: str | None = None
    for message in history:
        text = message_text(message.get("content"))
        if message.get("role") == "user":
            question = html.unescape(text)  # shown escaped, like the answers
        elif message.get("role") == "assistant" and question is not None:
            pairs.append((question, plain_text(text)))
            question = None
    return pairs


def _highlighted(text: str, start: int, end: int, spans: Sequence[tuple[int, int]]) -> str:
    """text[start:end], escaped, with each (s, e) span inside it wrapped in <mark>."""
    out, at = [], start
    for s, e in sorted(spans):
        s, e = max(s, at), min(e, end)
        if s >= e:
            continue
        out += [html.escape(text[at:s]), "<mark>", html.escape(text[s:e]), "</mark>"]
        at = e
    out.append(html.escape(text[at:end]))
    return "".join(out)


def refusal_reason(answer: Answer) -> str:
    """Why an abstained answer shows no sources, with the numbers behind the decision."""
    if answer.timings.ttft_s is not None:
        return ("<b>None of the model's sentences could be checked against the passages</b>, "
                "so no answer is shown.")
    best = max((r.dense_similarity or 0.0 for r in answer.retrieved), default=0.0)
    numbers = f"best passage similarity {best:.2f}"
    if answer.confidence is not None:
        numbers = f"confidence {answer.confidence:.2f}, {numbers}"
    return (f"<b>No passage answers this well enough</b> ({numbers}), so the model was not "
            "asked.")


def sources_html(answer: Answer, document_text: Callable[[str], str]) -> str:
    """Each cited passage (one per marker, id source-n) with its supporting sentences marked.

    Document names and text are escaped: the only tags are this function's own.
    """
    parts = []
    query = answer.query.strip()
    if query and query != answer.question.strip():
        parts.append(f'<p class="searched">Searched for: <q>{html.escape(query)}</q></p>')
    if answer.abstained:
        parts.append(f"<p>{refusal_reason(answer)}</p>")
        return "".join(parts)
    by_marker: dict[int, list[Citation]] = {}
    for c in answer.citations:
        by_marker.setdefault(c.marker, []).append(c)
    passages = []
    for marker, cites in sorted(by_marker.items()):
        chunk = cites[0].chunk
        text = document_text(chunk.doc_id)
        spans = ", ".join(f"{c.start}–{c.end}" for c in cites)
        body = _highlighted(text, chunk.start, chunk.end, [(c.start, c.end) for c in cites])
        passages.append(
            f'<div class="source" id="source-{marker}"><p><b>[{marker}]</b> '
            f"<code>{html.escape(chunk.doc_id)}</code>, characters {spans}</p>"
            f'<p style="white-space: pre-wrap">{body}</p></div>')
    others = [f"<li>[{n}] <code>{html.escape(r.chunk.doc_id)}</code>: "
              f"{html.escape(r.chunk.text[:160])}…</li>"
              for n, r in enumerate(answer.retrieved, start=1) if n not in by_marker]
    if others:
        passages.append("<details><summary>Also retrieved, not cited</summary><ul>"
                        + "".join(others) + "</ul></details>")
    parts.append("<hr>".join(passages) or "<p>No sources.</p>")
    return "".join(parts)


# ---- the live pipeline: follows CURRENT, shares the loaded models ---------------------------

def _load_default() -> Pipeline:
    return load_default(default_index_root(), operators_ui.corpus_dir(), default_model_cache())


# In-process by default (tests swap in fakes); `python app.py` replaces it with RemotePipelines,
# whose worker process holds the models.
pipelines: LivePipeline | RemotePipelines = LivePipeline(_load_default)
_local_embedder: SerializedEmbedder | None = None
_local_embedder_lock = threading.Lock()


def local_embedder() -> Embedder:
    """The Operators tab's embedder when the models live in the worker (loaded on first use)."""
    global _local_embedder
    with _local_embedder_lock:
        if _local_embedder is None:
            _local_embedder = SerializedEmbedder(MiniLMEmbedder(backend="transformers"))
        return _local_embedder


def public_error(err: Exception) -> str:
    """An error as the chat shows it: paths relative to the project or cut to their name
    (web_guard.shown_paths), so a client never learns where files live.

    Example: public_error(IndexLoadError("/srv/app/var/index/CURRENT is damaged"))
             -> "var/index/CURRENT is damaged" when the project is /srv/app
    """
    return web_guard.shown_paths(str(err), [PROJECT_ROOT, default_index_root()])


def get_pipeline() -> Pipeline | RemotePipeline:
    """The pipeline for the live index (loading models and building the index on first use)."""
    try:
        return pipelines.get()
    except (IndexLoadError, WorkerError) as err:
        raise gr.Error(public_error(err)) from err


# ---- handlers ---------------------------------------------------------------------------------

# Shown while the first question after a start waits for the worker to load its models.
LOADING_STATUS = "<p>Loading the models (the first question after a start waits a few seconds)…</p>"
# Shown when the model that writes answers (a model server) failed; the chat says why.
UNAVAILABLE_STATUS = "<p>No answer: the model server that writes the answers failed.</p>"


def answer_message(answer: Answer) -> str:
    """The chat message for a finished answer: its cited markers link to the Sources panel."""
    return link_markers(answer.text, {c.marker for c in answer.citations})


def respond(message: str, history: list[dict[str, Any]]) -> Iterator[tuple[str, list, str]]:
    """Chat handler: stream checked sentences into the last bubble, then show the sources."""
    question = (message or "").strip()
    if not question:
        yield "", history, ""
        return
    past = conversation(history)
    shown: list[dict[str, Any]] = [
        {"role": m["role"], "content": unlinked(message_text(m.get("content")))}
        for m in history]
    shown += [{"role": "user", "content": html.escape(question, quote=False)},
              {"role": "assistant", "content": "…"}]
    yield "", shown, "<p>Searching the documents…</p>"
    pipeline = get_pipeline()  # this question finishes on this generation, whatever happens
    if isinstance(pipeline, RemotePipeline) and pipeline.loading:
        yield "", shown, LOADING_STATUS
    try:
        for event in pipeline.stream(question, past):
            if isinstance(event, Answer):
                shown[-1] = {"role": "assistant", "content": answer_message(event)}
                yield "", shown, sources_html(event, pipeline.index.document_text)
            else:
                shown[-1] = {"role": "assistant",
                             "content": html.escape(event, quote=False) + " …"}
                yield "", shown, "<p>Writing the answer…</p>"
    except GeneratorUnavailable as err:  # a model server down or too slow: say so, in the chat
        shown[-1] = {"role": "assistant", "content": html.escape(public_error(err), quote=False)}
        yield "", shown, UNAVAILABLE_STATUS
    except WorkerError as err:
        raise gr.Error(public_error(err)) from err


def ask(question: str) -> dict[str, Any]:
    """API for scripts (gradio_client): the answer with its citations and timings.

    Every string is plain text, never HTML or Markdown: `answer`, `supporting_text` and
    `passage` quote the documents exactly, `<script>` and URLs included, so that the
    citations' character spans index the document. A client that shows them on a page must
    escape them, as the web chat does (link_markers, sources_html).
    """
    pipeline = get_pipeline()
    try:
        answer = pipeline.answer(question)
    except (WorkerError, GeneratorUnavailable) as err:
        raise gr.Error(public_error(err)) from err
    text_of = pipeline.index.document_text
    return {
        "answer": answer.text,
        "short_answer": answer.short,
        "abstained": answer.abstained,
        "citations": [{"marker": c.marker, "doc": c.chunk.doc_id, "chunk_id": c.chunk.chunk_id,
                       "start": c.start, "end": c.end,
                       "supporting_text": text_of(c.chunk.doc_id)[c.start:c.end],
                       "passage": c.chunk.text} for c in answer.citations],
        "timings": {"retrieval_s": answer.timings.retrieval_s, "ttft_s": answer.timings.ttft_s,
                    "total_s": answer.timings.total_s},
    }


with gr.Blocks(title="Ask the documents") as demo:
    gr.Markdown("## Ask the documents")
    with gr.Tabs():
        with gr.Tab("Chat", id="chat"):
            gr.Markdown("Answers come only from the indexed documents; every sentence cites "
                        "its passage, shown on the right (click a [n] to jump to it). When the "
                        "documents are silent, it says so.")
            with gr.Row():
                with gr.Column(scale=3):
                    # Messages are our HTML (escaped text, citation anchors), never Markdown:
                    # Markdown would turn a document's URLs, links and images into live ones.
                    chatbot = gr.Chatbot(label="Chat", height=480, elem_id="chat",
                                         render_markdown=False, latex_delimiters=[],
                                         sanitize_html=True, allow_tags=False)
                    box = gr.Textbox(placeholder="Ask a question about the documents and "
                                     "press Enter", show_label=False, elem_id="question")
                    gr.Examples(EXAMPLES, inputs=box)
                with gr.Column(scale=2):
                    gr.Markdown("### Sources")
                    sources = gr.HTML("<p>Cited passages appear here.</p>", elem_id="sources",
                                      css_template=SOURCES_CSS, js_on_load=None)
            box.submit(respond, [box, chatbot], [box, chatbot, sources], api_name="chat")
        with gr.Tab("Operators", id="operators") as operators_tab:
            operators_ui.build(operators_tab, lambda: pipelines.get().embedder)
    gr.api(ask, api_name="ask")


if __name__ == "__main__":
    import openai_api

    pipelines = _remote
    # pipelines.get, not get_pipeline: the API words errors itself, not as a gr.Error.
    _api = openai_api.routes(lambda: pipelines.get(), _web.auth, _web.concurrency,
                             _web.queue_size, public_error)
    try:
        web_guard.serve(demo, _web, routes=_api, prevent_thread_lock=True, **_port)
    except OSError as err:  # the port is taken, or the address is not this machine's
        _remote.worker.stop()
        _why = str(err).split(". ")[0]  # Gradio's advice names launch() arguments
        raise SystemExit(f"app: cannot listen on {_web.server_name} ({_why}); choose another "
                         "--port or --host") from None
    if not web_guard.is_loopback(_web.server_name) and not _web.auth:
        print(f"app: listening on {_web.server_name} without a login: anyone who reaches this "
              "port can ask questions (set RAG_AUTH=user:password to require one)",
              file=sys.stderr)
    try:
        print(f"answering from {_remote.worker.wait_ready()}", file=sys.stderr)
    except WorkerError as err:
        print(f"app: cannot answer questions: {err}", file=sys.stderr)
        demo.close()
        sys.exit(1)
    demo.block_thread()

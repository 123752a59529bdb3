"""The web chat: ask the documents, read the answer, see the cited passages highlighted.

`demo` is built at import time without loading any model, so tests can import it; the index and
models load on the first question, or up front when run as `python app.py`, which also builds
the index of data/corpus if none exists and serves on http://127.0.0.1:7860
($GRADIO_SERVER_PORT to change the port).

Does not have an operators' page yet (upload, re-ingest); use `python -m ingest` for that.
"""

from __future__ import annotations

from ingest.cli import prepare_environment

prepare_environment()

import html  # noqa: E402
import threading  # noqa: E402
from collections.abc import Callable, Iterator  # noqa: E402
from typing import Any  # noqa: E402

import gradio as gr  # noqa: E402

from index import DEFAULT_CORPUS, default_index_root  # noqa: E402
from qa.answer import Answer  # noqa: E402
from qa.config import default_model_cache  # noqa: E402
from qa.pipeline import Pipeline  # noqa: E402

_pipeline: Pipeline | None = None
_pipeline_lock = threading.Lock()

EXAMPLES = [
    "Who is the US Trade Representative who met her Chinese counterpart on 18 November?",
    "When was the Global Security Initiative launched?",
    "What did Xi tell German Chancellor Olaf Scholz about China's relationship with Europe?",
]


def get_pipeline() -> Pipeline:
    """The shared pipeline, loaded once (building the index first if there is none)."""
    global _pipeline
    with _pipeline_lock:
        if _pipeline is None:
            from qa.service import load_pipeline

            _pipeline = load_pipeline(default_index_root(), DEFAULT_CORPUS,
                                      default_model_cache())
        return _pipeline


def sources_html(answer: Answer, document_text: Callable[[str], str]) -> str:
    """Each cited passage with its document name and the supporting sentence highlighted."""
    if answer.abstained:
        best = max((r.dense_similarity or 0.0 for r in answer.retrieved), default=0.0)
        return ("<p><b>No passage is relevant enough to answer from</b> (best similarity "
                f"{best:.2f}), so the model was not asked.</p>")
    parts = []
    for c in answer.citations:
        text = document_text(c.chunk.doc_id)
        before = html.escape(text[c.chunk.start:c.start])
        marked = html.escape(text[c.start:c.end])
        after = html.escape(text[c.end:c.chunk.end])
        parts.append(
            f'<div class="source" id="source-{c.marker}"><p><b>[{c.marker}]</b> '
            f"<code>{html.escape(c.chunk.doc_id)}</code>, characters {c.start}–{c.end}</p>"
            f'<p style="white-space: pre-wrap">{before}<mark>{marked}</mark>{after}</p></div>')
    cited = {c.marker for c in answer.citations}
    others = [f"<li>[{n}] <code>{html.escape(r.chunk.doc_id)}</code>: "
              f"{html.escape(r.chunk.text[:160])}…</li>"
              for n, r in enumerate(answer.retrieved, start=1) if n not in cited]
    if others:
        parts.append("<details><summary>Also retrieved, not cited</summary><ul>"
                     + "".join(others) + "</ul></details>")
    return "<hr>".join(parts) or "<p>No sources.</p>"


def respond(message: str, history: list[dict[str, Any]]) -> Iterator[tuple[str, list, str]]:
    """Chat handler: stream checked sentences into the last bubble, then show the sources."""
    question = (message or "").strip()
    if not question:
        yield "", history, ""
        return
    history = [*history, {"role": "user", "content": question},
               {"role": "assistant", "content": "…"}]
    yield "", history, "<p>Searching the documents…</p>"
    pipeline = get_pipeline()
    for event in pipeline.stream(question):
        if isinstance(event, Answer):
            history[-1] = {"role": "assistant", "content": event.text}
            yield "", history, sources_html(event, pipeline.index.document_text)
        else:
            history[-1] = {"role": "assistant", "content": event + " …"}
            yield "", history, "<p>Writing the answer…</p>"


def ask(question: str) -> dict[str, Any]:
    """API for scripts (gradio_client): the answer with its citations and timings."""
    pipeline = get_pipeline()
    answer = pipeline.answer(question)
    text_of = pipeline.index.document_text
    return {
        "answer": answer.text,
        "abstained": answer.abstained,
        "citations": [{"marker": c.marker, "doc": c.chunk.doc_id, "chunk_id": c.chunk.chunk_id,
                       "start": c.start, "end": c.end,
                       "supporting_text": text_of(c.chunk.doc_id)[c.start:c.end],
                       "passage": c.chunk.text} for c in answer.citations],
        "timings": {"retrieval_s": answer.timings.retrieval_s, "ttft_s": answer.timings.ttft_s,
                    "total_s": answer.timings.total_s},
    }


with gr.Blocks(title="Ask the documents") as demo:
    gr.Markdown("## Ask the documents\nAnswers come only from the indexed documents; every "
                "sentence cites its passage, shown on the right. When the documents are "
                "silent, it says so.")
    with gr.Row():
        with gr.Column(scale=3):
            chatbot = gr.Chatbot(label="Chat", height=480)
            box = gr.Textbox(placeholder="Ask a question about the documents and press Enter",
                             show_label=False, elem_id="question")
            gr.Examples(EXAMPLES, inputs=box)
        with gr.Column(scale=2):
            gr.Markdown("### Sources")
            sources = gr.HTML("<p>Cited passages appear here.</p>", elem_id="sources")
    box.submit(respond, [box, chatbot], [box, chatbot, sources], api_name="chat")
    gr.api(ask, api_name="ask")


if __name__ == "__main__":
    get_pipeline()
    demo.queue().launch(server_name="127.0.0.1")

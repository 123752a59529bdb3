"""Fakes for the bench smoke tests: a raw encoder and a tiny app serving /ask like app.py.

`FakeSentenceTransformer.encode` returns tests.fakes.FakeEmbedder vectors, so its output can be
checked by hand; `python -m tests.bench.fakes` serves a gradio app whose /ask answers at once.
Neither loads a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tests.fakes import FakeEmbedder


class FakeSentenceTransformer:
    """SentenceTransformer.encode's signature over FakeEmbedder's bag of words."""

    def encode(self, texts: Sequence[str], batch_size: int = 32, **_: Any) -> np.ndarray:
        return FakeEmbedder().embed(list(texts))


def ask(question: str) -> dict[str, Any]:
    """Like app.ask, without a pipeline: echoes the question (refuses it when the environment
    has FAKE_ASK_REFUSES=1)."""
    import os

    refuses = os.environ.get("FAKE_ASK_REFUSES") == "1"
    return {"answer": "I can't find this in the documents." if refuses else f"echo: {question}",
            "abstained": refuses, "citations": [],
            "timings": {"retrieval_s": 0.0, "ttft_s": 0.0, "total_s": 0.0}}


if __name__ == "__main__":
    import os

    import gradio as gr

    with gr.Blocks() as demo:
        gr.api(ask, api_name="ask")
    demo.queue().launch(server_name="127.0.0.1",
                        server_port=int(os.environ["GRADIO_SERVER_PORT"]))

"""The answering worker: a child process of app.py that loads the models and answers.

app.py starts it first thing, so torch, transformers and both models load in this process
while the web process imports gradio and builds the UI on the other core: on this 2-core
machine the two halves of a cold start overlap instead of adding up (docs/PERFORMANCE.md).

Protocol, one JSON object per line:
  stdout, once:   {"ready": "<generation>"} when loaded, or {"fatal": "<message>"} and exit 1
  stdin:          {"id": n, "question": "...", "history": [["user", "assistant"], ...]}
  stdout, per id: {"id": n, "piece": "..."} for each checked sentence as it is written, then
                  {"id": n, "answer": {...}, "documents": {doc_id: text}} (qa.answer's JSON and
                  the full text of each cited document, for highlighting), or
                  {"id": n, "error": "<message>"}, with "unavailable": true when the model
                  server failed (qa.generator.GeneratorUnavailable: the message is for the user)
Requests are answered one at a time, in order, each on the generation live when it arrives.
The worker exits when its stdin closes (app.py has gone). Anything else printed (progress bars,
library warnings) goes to stderr, never into the protocol.

It answers with the settings file and RAG_<FIELD> variables it inherits from app.py
(qa.config.load_settings); a bad setting is its fatal message.

Usage: python -m qa.worker --index var/index --corpus data/corpus --models var/models
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from qa.answer import Answer, answer_to_json
from qa.generator import GeneratorUnavailable


def serve(get_pipeline: Callable[[], Any], requests: IO[str], replies: IO[str]) -> None:
    """Answer each request line from `requests` on get_pipeline() until `requests` ends."""
    def send(message: dict[str, Any]) -> None:
        replies.write(json.dumps(message) + "\n")
        replies.flush()

    for line in requests:
        if not line.strip():
            continue
        request_id = None
        try:
            request = json.loads(line)
            request_id = request["id"]
            question = str(request["question"])
            history = [(str(u), str(a)) for u, a in request.get("history") or []]
        except (ValueError, KeyError, TypeError) as err:
            send({"id": request_id, "error": f"bad request to the answering worker ({err}): "
                  f"{line.strip()[:200]}"})
            continue
        try:
            pipeline = get_pipeline()
            for event in pipeline.stream(question, history):
                if isinstance(event, Answer):
                    cited = {c.chunk.doc_id for c in event.citations}
                    send({"id": request_id, "answer": answer_to_json(event),
                          "documents": {d: pipeline.index.document_text(d) for d in cited}})
                else:
                    send({"id": request_id, "piece": str(event)})
        except GeneratorUnavailable as err:  # worded for the chat; the operator sees it too
            print(f"qa.worker: {err}", file=sys.stderr, flush=True)
            send({"id": request_id, "error": str(err), "unavailable": True})
        except Exception as err:  # one failed question must not take the worker down
            send({"id": request_id, "error": f"{type(err).__name__}: {err}"})


def _exit_with_parent() -> None:
    """Ask Linux to send SIGTERM when app.py dies, even mid-load (an idle worker also exits on
    the end of its stdin). Best effort: elsewhere only the stdin rule applies."""
    import contextlib
    import ctypes
    import signal

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.worker", description=(
        "Answering worker for app.py: loads the index and both models, then answers JSON-line "
        "requests on stdin (started by app.py; see the module docstring for the protocol)."))
    parser.add_argument("--index", type=Path, required=True, help="index root, e.g. var/index")
    parser.add_argument("--corpus", type=Path, required=True,
                        help="documents to build the index from if it is missing")
    parser.add_argument("--models", type=Path, required=True,
                        help="cache of the converted generator, e.g. var/models")
    args = parser.parse_args(argv)

    _exit_with_parent()
    # The protocol keeps the real stdout; print() and libraries writing to fd 1 go to stderr.
    replies = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr

    from common.cli import prepare_environment
    from common.lean_imports import block_unused_imports
    from common.logs import setup_logging

    prepare_environment()
    setup_logging("INFO")  # a line per question (qa.pipeline) on the app's stderr
    block_unused_imports()
    from qa.live import LivePipeline, load_default

    live = LivePipeline(lambda: load_default(args.index, args.corpus, args.models))
    try:
        pipeline = live.get()
    except KeyboardInterrupt:
        return 130
    except Exception as err:  # reported to app.py, which prints it and exits
        replies.write(json.dumps({"fatal": str(err) or type(err).__name__}) + "\n")
        replies.flush()
        return 1
    replies.write(json.dumps({"ready": pipeline.index.generation.name}) + "\n")
    replies.flush()
    try:
        serve(live.get, sys.stdin, replies)
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A tiny OpenAI-compatible chat-completions server (stdlib http.server in a thread) for the
fast tests of qa.openai_generator: it replays queued replies and records the requests it got.

Each Reply is streamed as server-sent events in a chunked body (as uvicorn sends them), one
event per piece, then `data: [DONE]`; or it is an error status with a JSON body; or the server
goes silent (`stall`) after some pieces, as a hung server does, until the test closes it; or it
hangs up mid-answer (`hang_up`), as a server that crashed does.

Example: with FakeModelServer([Reply(["Tai", " met"])]) as server, a streamed request to
server.url + "/chat/completions" gets the chunks "Tai" and " met"; server.requests holds its
JSON body and server.headers its headers.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    pieces: Sequence[str] = ()
    status: int = 200
    body: dict[str, Any] = field(default_factory=dict)  # the JSON body of an error status
    # Go silent after this many pieces (0: before even the status line) until close().
    stall: int | None = None
    # Close the connection after this many pieces, the chunked body unfinished.
    hang_up: int | None = None


class FakeModelServer:
    """Serves `replies` in order, one per POST /v1/chat/completions, on 127.0.0.1."""

    def __init__(self, replies: Sequence[Reply]) -> None:
        self.replies = list(replies)
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        # A short poll: close() waits up to one poll interval for the loop to notice.
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)

    def __enter__(self) -> FakeModelServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._released.set()  # stalled replies end
        self._server.shutdown()
        self._server.server_close()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                fake.requests.append(body)
                fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                if self.path != "/v1/chat/completions" or not fake.replies:
                    return self.send_json(404, {"error": {"message": f"no route {self.path}"}})
                reply = fake.replies.pop(0)
                if reply.stall == 0:
                    fake._released.wait()
                    return
                if reply.status != 200:
                    return self.send_json(reply.status, reply.body)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                self.close_connection = True
                for i, piece in enumerate(reply.pieces):
                    if i == reply.stall:
                        fake._released.wait()
                        return
                    if i == reply.hang_up:
                        return  # the handler closes the connection, the body unfinished
                    self.event({"delta": {"content": piece}, "finish_reason": None})
                self.event({"delta": {}, "finish_reason": "stop"})
                self.send_chunk(b"data: [DONE]\n\n")
                self.send_chunk(b"")  # the end of the chunked body

            def event(self, choice: dict[str, Any]) -> None:
                chunk = {"id": "chatcmpl-fake", "object": "chat.completion.chunk",
                         "created": 0, "model": "fake", "choices": [{"index": 0, **choice}]}
                self.send_chunk(f"data: {json.dumps(chunk)}\n\n".encode())

            def send_chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def send_json(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

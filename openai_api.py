"""An OpenAI-compatible API over the chat's pipeline: POST /v1/chat/completions (streamed as
server-sent events or not) and GET /v1/models, served beside Gradio on the same server.

The question is the last user message; the user/assistant pairs before it are the conversation
the pipeline reads a follow-up with (as the web chat passes it). Any `model` is accepted, since
a tool asks for the one it was set up with, and every reply names MODEL_ID. The answer's text
cites passages as [n]; the response (the last chunk when streaming) adds `citations` (marker,
doc, chunk_id, start, end, supporting_text, passage: as app.ask returns them), `abstained`
and `short_answer`. With RAG_AUTH set, a request needs `Authorization: Bearer user:password`
(the openai client's api_key="user:password"); the API has its own queue, as long as the
chat's (RAG_CONCURRENCY at once, RAG_QUEUE_SIZE waiting, then 429).

The pure functions (parse_request, completion, sse_lines, bearer_user, error_body) are tested
without a server; `routes` wires them to FastAPI, running the blocking pipeline in threads.

Does not sample (temperature, max_tokens, n, stop, tools and response_format are ignored),
does not count tokens (no `usage`), and serves no other OpenAI endpoint.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.routing import BaseRoute

from qa.answer import Answer

MODEL_ID = "groundwork-rag"
MODEL_CREATED = 1767225600  # 2026-01-01: fixed, so /v1/models is the same on every start
MAX_BODY_BYTES = 1 << 20
EXAMPLE = '{"model": "groundwork-rag", "messages": [{"role": "user", "content": "your question"}]}'
ROLES = ("system", "developer", "user", "assistant", "tool", "function")


class Answering(Protocol):
    """What app.pipelines.get() returns: qa.pipeline.Pipeline or qa.remote.RemotePipeline."""

    index: Any  # has document_text(doc_id) -> str

    def stream(self, question: str, history: Sequence[tuple[str, str]] = ()
               ) -> Iterator[str | Answer]: ...


class RequestError(ValueError):
    """A request the API cannot answer; str() says which field and what to send."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    question: str
    history: tuple[tuple[str, str], ...] = ()
    stream: bool = False


def error_body(message: str, kind: str = "invalid_request_error", param: str | None = None,
               code: str | None = None) -> dict[str, Any]:
    """OpenAI's error shape. Example: error_body("no") -> {"error": {"message": "no", ...}}"""
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _text(content: Any, where: str) -> str:
    """A message's text: a string, or a list of {"type": "text", "text": ...} parts."""
    if content is None or isinstance(content, str):
        return content or ""
    if isinstance(content, list):
        texts = []
        for part in content:
            if not isinstance(part, dict) or part.get("type") != "text":
                kind = part.get("type") if isinstance(part, dict) else type(part).__name__
                raise RequestError(f"{where}.content holds a {kind!r} part; this API reads "
                                   "text only", "messages")
            texts.append(str(part.get("text", "")))
        return "".join(texts)
    raise RequestError(f"{where}.content must be a string or a list of text parts", "messages")


def parse_request(body: Any) -> ChatRequest:
    """The question, conversation and stream flag of a chat completion request body.

    Example: parse_request({"messages": [{"role": "user", "content": "Who met Wang?"}]})
             -> ChatRequest("Who met Wang?", (), False)
    """
    if not isinstance(body, dict):
        raise RequestError(f"the request body must be a JSON object like {EXAMPLE}")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise RequestError(f"'messages' must be a non-empty list, as in {EXAMPLE}", "messages")
    stream = body.get("stream", False)
    if not isinstance(stream, bool) and stream is not None:
        raise RequestError(f"'stream' must be true or false, not {stream!r}", "stream")
    turns: list[tuple[int, str, str]] = []
    for i, message in enumerate(messages):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise RequestError(f"{where} must be an object with 'role' and 'content'", "messages")
        role = message.get("role")
        if role not in ROLES:
            raise RequestError(f"{where}.role {role!r} is not one of {', '.join(ROLES)}",
                               "messages")
        if role in ("user", "assistant"):
            turns.append((i, role, _text(message.get("content"), where).strip()))
    if not any(role == "user" for _, role, _ in turns):
        raise RequestError("'messages' holds no user message; add {\"role\": \"user\", "
                           "\"content\": \"your question\"}", "messages")
    last, role, question = turns[-1]
    if role != "user":
        raise RequestError(f"messages[{last}] is an assistant message after the last question; "
                           "end 'messages' with the user's question", "messages")
    if not question:
        raise RequestError(f"messages[{last}] (the question) is empty; write the question in "
                           "its content", "messages")
    history: list[tuple[str, str]] = []
    asked: str | None = None
    for _, role, text in turns[:-1]:  # like app.conversation: each question with its answer
        if role == "user":
            asked = text
        elif asked is not None:
            history.append((asked, text))
            asked = None
    return ChatRequest(question, tuple(history), bool(stream))


def answer_fields(answer: Answer, document_text: Callable[[str], str]) -> dict[str, Any]:
    """The fields an OpenAI response does not have: citations, abstained, short_answer."""
    return {
        "citations": [{"marker": c.marker, "doc": c.chunk.doc_id, "chunk_id": c.chunk.chunk_id,
                       "start": c.start, "end": c.end,
                       "supporting_text": document_text(c.chunk.doc_id)[c.start:c.end],
                       "passage": c.chunk.text} for c in answer.citations],
        "abstained": answer.abstained,
        "short_answer": answer.short,
    }


def completion(answer: Answer, document_text: Callable[[str], str], reply_id: str,
               created: int) -> dict[str, Any]:
    """The non-streaming response (object "chat.completion") for a finished answer."""
    return {"id": reply_id, "object": "chat.completion", "created": created, "model": MODEL_ID,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": answer.text}}],
            **answer_fields(answer, document_text)}


def _chunk(reply_id: str, created: int, delta: dict[str, Any], finish: str | None = None,
           **extra: Any) -> dict[str, Any]:
    return {"id": reply_id, "object": "chat.completion.chunk", "created": created,
            "model": MODEL_ID, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                            "finish_reason": finish}], **extra}


def sse(data: dict[str, Any] | str) -> str:
    """One server-sent event. Example: sse("[DONE]") -> "data: [DONE]\\n\\n" """
    text = data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)
    return f"data: {text}\n\n"


def text_delta(sent: str, text: str) -> str:
    """What to send after `sent` so the client shows `text`.

    The pipeline only ever appends checked sentences, so `sent` is a prefix of `text`; if it is
    not, the whole text follows on a new paragraph, so the client still ends with the answer.
    Example: text_delta("Tai met Wang [1].", "Tai met Wang [1]. They talked [1].")
             -> " They talked [1]."
    """
    if text.startswith(sent):
        return text[len(sent):]
    return "\n\n" + text


def sse_lines(events: Iterable[str | Answer], document_text: Callable[[str], str],
              reply_id: str, created: int) -> Iterator[str]:
    """The server-sent events for a pipeline's stream (shown texts, then the Answer): a role
    chunk, one content delta per new sentence, a last chunk with finish_reason "stop" and the
    citations, then "data: [DONE]"."""
    yield sse(_chunk(reply_id, created, {"role": "assistant", "content": ""}))
    sent = ""
    for event in events:
        text = event.text if isinstance(event, Answer) else event
        if delta := text_delta(sent, text):
            yield sse(_chunk(reply_id, created, {"content": delta}))
            sent = text
        if isinstance(event, Answer):
            yield sse(_chunk(reply_id, created, {}, "stop",
                             **answer_fields(event, document_text)))
            yield sse("[DONE]")
            return
    raise RuntimeError("the pipeline stopped without an answer")


def bearer_user(header: str | None, logins: Sequence[tuple[str, str]]) -> str | None:
    """The user an `Authorization: Bearer user:password` header logs in as, else None.

    Example: bearer_user("Bearer ann:pw", [("ann", "pw")]) -> "ann"
    """
    scheme, _, token = (header or "").strip().partition(" ")
    user, colon, password = token.strip().partition(":")
    if scheme.lower() != "bearer" or not colon:
        return None
    found = None
    for known, secret in logins:  # compare every pair, in constant time each
        if (hmac.compare_digest(user.encode(), known.encode())
                & hmac.compare_digest(password.encode(), secret.encode())):
            found = known
    return found


class Admission:
    """At most `concurrency` requests answered at once and `waiting` more queued (as the chat's
    Gradio queue); enter() is None when full, else the callable that gives the place back."""

    def __init__(self, concurrency: int, waiting: int) -> None:
        self.limit = concurrency + waiting
        self.admitted = 0
        self._slots = asyncio.Semaphore(concurrency)

    async def enter(self) -> Callable[[], None] | None:
        if self.admitted >= self.limit:
            return None
        self.admitted += 1
        try:
            await self._slots.acquire()
        except BaseException:  # the client went away while waiting
            self.admitted -= 1
            raise
        done = False

        def leave() -> None:
            nonlocal done
            if not done:
                done = True
                self.admitted -= 1
                self._slots.release()

        return leave


def new_reply_id() -> tuple[str, int]:
    return f"chatcmpl-{uuid.uuid4().hex}", int(time.time())


def routes(get_pipeline: Callable[[], Answering], logins: Sequence[tuple[str, str]] = (),
           concurrency: int = 4, waiting: int = 32,
           public_error: Callable[[Exception], str] = str) -> list[BaseRoute]:
    """The /v1 routes, for web_guard.serve(routes=...). `get_pipeline` is app.pipelines.get (the
    pipeline of the live index generation, as the chat's); `public_error` words a failure for
    the client (app.public_error: no absolute paths)."""
    router = APIRouter(prefix="/v1")
    admission = Admission(concurrency, waiting)

    def refusal(request: Request) -> Response | None:
        if not logins or bearer_user(request.headers.get("authorization"), logins):
            return None
        return JSONResponse(error_body(
            "This API needs a login: send 'Authorization: Bearer user:password' (the openai "
            "client's api_key='user:password') with a login from RAG_AUTH or RAG_AUTH_FILE",
            code="invalid_api_key"), 401, headers={"WWW-Authenticate": "Bearer"})

    def failed(status: int, message: str, kind: str = "invalid_request_error",
               param: str | None = None) -> Response:
        return JSONResponse(error_body(message, kind, param), status)

    @router.get("/models")
    async def models(request: Request) -> Response:
        return refusal(request) or JSONResponse({"object": "list", "data": [
            {"id": MODEL_ID, "object": "model", "created": MODEL_CREATED, "owned_by": "local"}]})

    @router.post("/chat/completions")
    async def chat_completions(request: Request) -> Response:
        if (refused := refusal(request)) is not None:
            return refused
        body = b""
        async for part in request.stream():
            body += part
            if len(body) > MAX_BODY_BYTES:
                return failed(413, f"the request body is over {MAX_BODY_BYTES} bytes; send "
                                   "a shorter conversation")
        try:
            chat = parse_request(json.loads(body))
        except (ValueError, RecursionError) as err:  # bad JSON, bad UTF-8, RequestError
            if isinstance(err, RequestError):
                return failed(400, str(err), param=err.param)
            return failed(400, f"the request body is not JSON ({err}); send {EXAMPLE}")
        leave = await admission.enter()
        if leave is None:
            return failed(429, "This application is currently busy. Please try again.",
                          "rate_limit_error")
        try:
            pipeline = await run_in_threadpool(get_pipeline)
            events = pipeline.stream(chat.question, chat.history)
            reply_id, created = new_reply_id()
            if not chat.stream:
                answer = (await run_in_threadpool(list, events) or [None])[-1]
                if not isinstance(answer, Answer):
                    raise RuntimeError("the pipeline stopped without an answer")
                leave()
                return JSONResponse(completion(answer, pipeline.index.document_text,
                                               reply_id, created))
        except Exception as err:
            leave()
            return failed(503, public_error(err), "server_error")
        lines = sse_lines(events, pipeline.index.document_text, reply_id, created)

        async def streamed() -> AsyncIterator[str]:
            try:
                async for line in iterate_in_threadpool(lines):
                    yield line
            except Exception as err:  # the headers are sent: the error is the last event
                yield sse(error_body(public_error(err), "server_error"))
            finally:
                leave()
                await run_in_threadpool(close)

        def close() -> None:  # a client gone mid-answer stops the pipeline (and its worker)
            lines.close()
            if (close_events := getattr(events, "close", None)) is not None:
                close_events()

        # leave() again once the response ends: a client gone before the first event never
        # starts streamed(), so its finally would not run.
        return StreamingResponse(streamed(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache"},
                                 background=BackgroundTask(leave))

    return list(router.routes)

"""A generator on any OpenAI-compatible chat-completions server: vLLM, llama.cpp's server,
`transformers serve`, or OpenAI itself.

`OpenAIGenerator.stream` sends POST {base_url}/chat/completions with stream=True through the
official `openai` client and yields the text of each streamed chunk. It is chosen by the
generator_url setting (qa.config, qa.service); SmolLM2 in this process stays the default.

A server that cannot be reached, refuses the connection, sends nothing for `timeout` seconds
or answers with an error raises qa.generator.GeneratorUnavailable, whose one-line message says
which server and what to check; the chat shows it instead of an answer. The timeout bounds each
wait (connecting, the first byte, the gap between two pieces), not the whole answer: a server
that keeps writing is never cut off, and max_tokens bounds how long it writes.

Does not retry (a question waits for one try), does not sample (temperature 0, greedy like
SmolLM2Generator) and does not start, stop or pick the server's model.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from qa.generator import GeneratorUnavailable

URL_PATTERN = re.compile(r"https?://[^/\s?#]+(?:/\S*)?")
# The part of a server's error body quoted in the chat; a server may send a whole HTML page.
DETAIL_CHARS = 300


def shown_url(url: str) -> str:
    """`url` without a user name or password, as messages show it.

    Example: shown_url("http://me:secret@gpu-1:8000/v1/") -> "http://gpu-1:8000/v1"
    """
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    host = f"[{host}]" if ":" in host else host
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)
                      ).rstrip("/")


def server_detail(body: object) -> str:
    """The readable part of an error body from an OpenAI-compatible server, cut short.

    Example: server_detail({"error": {"message": "model 'x' not found"}}) -> "model 'x' not found"
    and server_detail({"detail": "Server is pinned to 'a'"}) -> "Server is pinned to 'a'"
    """
    if isinstance(body, dict):
        for key in ("error", "message", "detail"):
            if body.get(key):
                return server_detail(body[key])
        body = ", ".join(f"{k}: {v}" for k, v in body.items())
    text = " ".join(str(body or "").split())
    return text if len(text) <= DETAIL_CHARS else text[: DETAIL_CHARS - 1] + "…"


def unavailable(err: Exception, url: str, timeout: float, midway: bool = False
                ) -> GeneratorUnavailable:
    """The chat's message for a failed call to the server at `url` (`err`: the openai client's
    exception; `midway`: after part of the answer came), with what to check.

    Example: a refused connection to http://127.0.0.1:8000/v1 ->
      "The model server at http://127.0.0.1:8000/v1 cannot be reached (Connection refused);
       check that it is running there, or change generator_url"
    """
    import openai

    where = f"The model server at {shown_url(url)}"
    if isinstance(err, openai.APITimeoutError):
        silent = "stopped writing the answer for" if midway else "did not answer within"
        return GeneratorUnavailable(
            f"{where} {silent} {timeout:g} s; check that it is running and not overloaded, or "
            "raise generator_timeout")
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        reason = str(getattr(cause, "strerror", None) or cause or err)
        reason = server_detail(re.sub(r"^\[Errno -?\d+\]\s*", "", reason))
        if midway:
            return GeneratorUnavailable(f"{where} broke off the answer ({reason}); check that "
                                        "it is still running, then ask again")
        return GeneratorUnavailable(f"{where} cannot be reached ({reason}); check that it is "
                                    "running there, or change generator_url")
    if isinstance(err, openai.APIStatusError):
        code = err.status_code
        detail = server_detail(err.body if err.body is not None else err.response.text)
        said = f"HTTP {code}" + (f": {detail}" if detail else "")
        if code >= 500:
            return GeneratorUnavailable(f"{where} failed ({said}); see the server's log, then "
                                        "ask again")
        if code in (401, 403):
            advice = "check generator_key"
        elif code == 429:
            advice = "it is busy; ask again in a moment"
        else:
            advice = ("check generator_model (the name the server lists under /v1/models) and "
                      "that generator_url ends where /chat/completions begins (often /v1)")
        return GeneratorUnavailable(f"{where} refused the request ({said}); {advice}")
    return GeneratorUnavailable(
        f"{where} sent a reply this app cannot read ({server_detail(str(err))}); check that it "
        "speaks the OpenAI chat-completions protocol")


class OpenAIGenerator:
    """Streams chat completions from the server at `base_url` (e.g. http://127.0.0.1:8000/v1).

    `model` is the name the server serves (its GET /v1/models lists it); `api_key` "" for a
    server that needs none (the client must send one, so it sends "unused"). `timeout`
    (seconds) bounds each wait for the server, `max_new_tokens` the answer's length.
    """

    def __init__(self, base_url: str, model: str, api_key: str = "", timeout: float = 30.0,
                 max_new_tokens: int = 80) -> None:
        if not URL_PATTERN.fullmatch(base_url.strip()):
            raise ValueError(f"model server URL {base_url!r} is not an http:// or https:// URL; "
                             "give one like http://127.0.0.1:8000/v1")
        if not model.strip():
            raise ValueError(f"no model named for the server at {shown_url(base_url)}; give the "
                             "name it lists under /v1/models")
        if not timeout > 0:
            raise ValueError(f"timeout must be positive (seconds), got {timeout}")
        self.base_url = base_url.strip().rstrip("/")
        self.model = model.strip()
        self.timeout = timeout
        self.max_new_tokens = max_new_tokens
        self.model_id = f"{self.model} at {shown_url(self.base_url)}"
        self._api_key = api_key
        self._client: Any = None

    def warm_up(self) -> None:
        """Make the client (imports openai, ~0.5 s). Does not call the server: one that is down
        at start-up is reported on the first question, and may be up by then."""
        if self._client is not None:
            return
        import openai

        self._client = openai.OpenAI(base_url=self.base_url, api_key=self._api_key or "unused",
                                     timeout=self.timeout, max_retries=0)

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        self.warm_up()
        import openai

        written = False
        try:
            reply = self._client.chat.completions.create(
                model=self.model, messages=list(messages), stream=True,
                max_tokens=self.max_new_tokens, temperature=0)
            # Leaving early (the chat's user went away) closes the response, which tells the
            # server to stop writing.
            with reply:
                for chunk in reply:
                    for choice in chunk.choices or ():
                        if choice.delta is not None and choice.delta.content:
                            written = True
                            yield choice.delta.content
        except openai.OpenAIError as err:
            raise unavailable(err, self.base_url, self.timeout, written) from err

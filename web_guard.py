"""What the web app lets its clients do, set from the environment when `python app.py` starts.

    RAG_MAX_UPLOAD_MB   largest upload accepted, in MB (default 50); bigger ones get HTTP 413
    RAG_QUEUE_SIZE      requests that may wait (default 32); one more is told the app is busy
    RAG_CONCURRENCY     requests of one kind handled at once (default 4)
    RAG_AUTH            user:password: every page and API call needs this login
    RAG_AUTH_FILE       a file of user:password lines (blank lines and # comments skipped)
    RAG_OPERATORS       who may use the Operators tab and its API: local (default, only clients
                        on this machine), remote (anyone logged in; needs RAG_AUTH), off
    GRADIO_SERVER_NAME  the address to listen on (Gradio's own variable; default 127.0.0.1;
                        `python app.py --host` wins)

The checks are pure functions (settings_from_env, operators_refusal, same_origin,
shown_paths, stale_uploads) so they are tested without a server; `serve` applies them to the
Gradio app. A client's address is the TCP peer, or the X-Forwarded-For of a proxy on this
machine (uvicorn trusts that header from 127.0.0.1 only), so a reverse proxy on localhost that
sets the header does not make every remote client look local.

Does not log anyone in itself (Gradio's login checks the pairs) and does not build the UI.
"""

from __future__ import annotations

import ipaddress
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

OPERATOR_MODES = ("local", "remote", "off")
# Every 10 minutes, Gradio deletes the uploads in its cache that are older than an hour (and
# all of them when the server stops): a staged upload is copied out of the cache at once.
UPLOAD_CACHE = (600, 3600)
STAGED_PREFIX = "rag-upload-"
BUSY_MESSAGE = "This application is currently busy. Please try again."  # Gradio's wording


class WebSettingsError(ValueError):
    """A web setting in the environment is invalid; str() names it and says what to write."""


@dataclass(frozen=True)
class WebSettings:
    """The web app's limits. Example: WebSettings().max_file_size == "50mb"."""

    max_upload_mb: int = 50
    queue_size: int = 32
    concurrency: int = 4
    auth: tuple[tuple[str, str], ...] = ()
    operators: str = "local"
    server_name: str = "127.0.0.1"

    def __post_init__(self) -> None:
        if self.operators not in OPERATOR_MODES:
            raise WebSettingsError(f"RAG_OPERATORS={self.operators!r} is not one of "
                                   f"{', '.join(OPERATOR_MODES)}")
        if self.operators == "remote" and not self.auth:
            raise WebSettingsError("RAG_OPERATORS=remote lets other machines change the index, "
                                   "so it needs a login: set RAG_AUTH=user:password or "
                                   "RAG_AUTH_FILE too")

    @property
    def max_file_size(self) -> str:
        return f"{self.max_upload_mb}mb"


def _whole_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value)
    except ValueError:
        raise WebSettingsError(f"{name}={value!r} is not a whole number; write e.g. "
                               f"{name}={default}") from None
    if number < 1:
        raise WebSettingsError(f"{name}={value!r} must be at least 1 (default {default})")
    return number


def parse_auth_pairs(text: str, source: str) -> list[tuple[str, str]]:
    """user:password pairs, one a line (the password may hold ':'); `source` names the input.

    Example: parse_auth_pairs("ann:s3:cret\\n# ops\\n", "RAG_AUTH") -> [("ann", "s3:cret")]
    """
    pairs = []
    for number, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user, colon, password = line.partition(":")
        if not colon or not user.strip() or not password:
            # Never echo the line: it may hold a password.
            raise WebSettingsError(f"{source} line {number} is not user:password (both "
                                   "non-empty, separated by the first ':')")
        pairs.append((user.strip(), password))
    return pairs


def settings_from_env(env: Mapping[str, str] | None = None) -> WebSettings:
    """The WebSettings the variables in `env` (default os.environ) ask for.

    Example: settings_from_env({"RAG_AUTH": "ann:pw", "RAG_QUEUE_SIZE": "8"})
             -> WebSettings(queue_size=8, auth=(("ann", "pw"),), ...)
    """
    env = os.environ if env is None else env
    auth = parse_auth_pairs(env.get("RAG_AUTH", ""), "RAG_AUTH")
    if file := env.get("RAG_AUTH_FILE", "").strip():
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise WebSettingsError(f"RAG_AUTH_FILE={file!r} cannot be read ({err}); point it at "
                                   "a UTF-8 file of user:password lines") from None
        auth += parse_auth_pairs(text, f"RAG_AUTH_FILE {file!r}")
        if not auth:
            raise WebSettingsError(f"RAG_AUTH_FILE={file!r} holds no user:password line")
    return WebSettings(
        max_upload_mb=_whole_number(env, "RAG_MAX_UPLOAD_MB", WebSettings.max_upload_mb),
        queue_size=_whole_number(env, "RAG_QUEUE_SIZE", WebSettings.queue_size),
        concurrency=_whole_number(env, "RAG_CONCURRENCY", WebSettings.concurrency),
        auth=tuple(auth),
        operators=env.get("RAG_OPERATORS", "").strip().lower() or "local",
        server_name=env.get("GRADIO_SERVER_NAME", "").strip() or "127.0.0.1")


def is_loopback(host: str | None) -> bool:
    """Whether a client address is this machine. Example: is_loopback("::1") -> True"""
    if host is None:
        return False
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)  # ::ffff:127.0.0.1
    return address.is_loopback or bool(mapped and mapped.is_loopback)


def operators_refusal(host: str | None, username: str | None, settings: WebSettings) -> str:
    """Why this client may not use the Operators tab, or "" when it may.

    Example: operators_refusal("192.0.2.7", None, WebSettings()) -> "The Operators tab only ..."
    """
    if settings.operators == "off":
        return ("The Operators tab is switched off (RAG_OPERATORS=off); restart the app "
                "without it to upload, ingest or remove documents.")
    if settings.auth and not username:
        return "The Operators tab needs a login; reload the page and sign in."
    if settings.operators == "local" and not is_loopback(host):
        return (f"The Operators tab only works from the machine the app runs on (this request "
                f"came from {host or 'an unknown address'}). To allow other machines, restart "
                "the app with RAG_OPERATORS=remote and RAG_AUTH=user:password.")
    return ""


def same_origin(method: str, origin: str | None, hosts: Iterable[str]) -> bool:
    """Whether a request may go on: safe methods, requests without Origin (scripts, not
    browsers) and browser requests whose Origin is one of the `hosts` the request was sent to.

    Example: same_origin("POST", "http://evil.example", ["127.0.0.1:7860"]) -> False
    """
    if method.upper() in ("GET", "HEAD", "OPTIONS") or origin is None:
        return True
    netloc = urlsplit(origin).netloc.lower()
    return bool(netloc) and netloc in {h.strip().lower() for h in hosts if h}


class SameOriginMiddleware:
    """Refuses (403) a browser's POST, PUT, PATCH or DELETE sent from another site's page.

    Gradio's CORS middleware only hides the reply from a cross-origin page; the upload itself
    was still stored. A form POST needs no preflight, so the check has to refuse the request.
    """

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Callable[..., Any],
                       send: Callable[..., Any]) -> None:
        if scope["type"] == "http":
            headers = {k.decode("latin-1").lower(): v.decode("latin-1")
                       for k, v in scope.get("headers", [])}
            hosts = [headers.get("host", ""), headers.get("x-forwarded-host", "")]
            if not same_origin(scope.get("method", "GET"), headers.get("origin"), hosts):
                from starlette.responses import PlainTextResponse

                reply = PlainTextResponse(
                    "Cross-origin request refused: this app takes uploads and actions only "
                    "from its own pages.", status_code=403)
                await reply(scope, receive, send)
                return
        await self.app(scope, receive, send)


_ABSOLUTE = re.compile(r"(?<![\w.:/~-])/(?:[^\s/`'\"()<>|,;]+/)*[^\s/`'\"()<>|,;]*")


def shown_paths(text: str, bases: Sequence[Path] = ()) -> str:
    """`text` with every absolute path made relative to the first of `bases` holding it, and
    any other absolute path cut to its last part, so no message shows where files live.

    Example: shown_paths("Deleted /srv/corpus/a.txt in /srv/corpus", [Path("/srv/corpus")])
             -> "Deleted a.txt in corpus"
    """
    def shown(match: re.Match[str]) -> str:
        path = match[0].rstrip(".")
        tail = match[0][len(path):]
        for base in bases:
            for form in {str(base), str(base.resolve())}:
                if path == form:
                    return base.name + tail
                if path.startswith(form.rstrip("/") + "/"):
                    return path[len(form.rstrip("/")) + 1:] + tail
        return (Path(path).name or path) + tail

    return _ABSOLUTE.sub(shown, text)


def stale_uploads(directory: Path, older_than_s: float, now: float | None = None) -> list[Path]:
    """Staging directories (rag-upload-*) in `directory` last changed over `older_than_s` ago:
    uploads of sessions that ended without Ingest, or of an app that was killed."""
    now = time.time() if now is None else now
    try:
        found = [p for p in directory.iterdir()
                 if p.name.startswith(STAGED_PREFIX) and p.is_dir() and not p.is_symlink()]
    except OSError:
        return []
    return [p for p in found if now - p.stat().st_mtime > older_than_s]


def serve(demo: Any, settings: WebSettings, routes: Sequence[Any] = (), **launch: Any) -> Any:
    """Launch the Gradio `demo` with these settings: bounded queue, upload limit, cache cleaning,
    login if configured, cross-origin writes refused. `routes` (Starlette routes, such as
    openai_api.routes) are served by the same server behind the same cross-origin check; they
    check logins themselves, since Gradio's login only guards Gradio's own routes. `launch`
    adds Gradio launch() arguments (server_port, prevent_thread_lock...). Returns what
    demo.launch returns."""
    import shutil
    import tempfile

    from starlette.middleware import Middleware

    for stale in stale_uploads(Path(tempfile.gettempdir()), UPLOAD_CACHE[1]):
        shutil.rmtree(stale, ignore_errors=True)
    demo.delete_cache = UPLOAD_CACHE
    demo.queue(max_size=settings.queue_size, default_concurrency_limit=settings.concurrency)
    options: dict[str, Any] = {
        "server_name": settings.server_name, "max_file_size": settings.max_file_size,
        "app_kwargs": {"middleware": [Middleware(SameOriginMiddleware)]},
    }
    if routes:  # FastAPI(routes=...): matched before Gradio's own routes
        options["app_kwargs"]["routes"] = list(routes)
    if settings.auth:
        options["auth"] = list(settings.auth)
        options["auth_message"] = "Sign in with the user and password the operator gave you."
    return demo.launch(**{**options, **launch})

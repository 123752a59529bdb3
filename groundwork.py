"""`groundwork`: the console script `pip install .` puts on PATH, one name for every entry point.

    groundwork serve [--host H] [--port P]   the web chat and the /v1 API (python app.py)
    groundwork ingest DIR [...]              index documents (python -m ingest)
    groundwork ask "QUESTION" [...]          answer one question in the terminal (python -m qa)
    groundwork eval --qa FILE --corpus DIR   the benchmark (python -m eval)

Each command runs the same module as its `python ...` form, with the rest of the command line
as its arguments, so `groundwork ingest --help` is `python -m ingest --help`. Does nothing
itself: no settings, no models.
"""

from __future__ import annotations

import runpy
import sys
from collections.abc import Sequence

# command -> (module run as __main__, what `--help` says it does)
COMMANDS = {
    "serve": ("app", "serve the web chat, the Operators tab and the OpenAI-compatible /v1 API"),
    "ingest": ("ingest", "chunk, embed and index documents"),
    "ask": ("qa", "answer one question from the documents in the terminal"),
    "eval": ("eval", "score retrieval, citations, answers and abstention on a question file"),
}

USAGE = "usage: groundwork {serve,ingest,ask,eval} [ARGS...]   (groundwork COMMAND --help)"


def help_text() -> str:
    lines = [USAGE, "", "Ask the documents: offline question answering with checked citations.",
             "", "commands:"]
    lines += [f"  {name:<8}{about}" for name, (_, about) in COMMANDS.items()]
    lines += ["", "examples:", "  groundwork serve --port 8000",
              "  groundwork ingest ~/papers", '  groundwork ask "When was the GSI launched?"',
              "  groundwork eval --qa eval/qa.jsonl --corpus data/corpus --out var/eval/run"]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command's module as `python -m MODULE ARGS` would; its exit code is ours."""
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(help_text())
        return 0 if args else 2
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"groundwork: error: unknown command {command!r}; choose one of "
              f"{', '.join(COMMANDS)} (see groundwork --help)", file=sys.stderr)
        return 2
    module = COMMANDS[command][0]
    sys.argv = [f"groundwork {command}", *rest]
    try:
        runpy.run_module(module, run_name="__main__")  # sys.argv[0] stays ours
    except SystemExit as done:
        code = done.code
        if code is None or isinstance(code, int):
            return code or 0
        print(code, file=sys.stderr)  # SystemExit("message") prints it and exits 1
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""bench.concurrency: latency of N users chatting at once, while the Operators tab re-ingests.

Starts `python app.py` (its answering worker, the real models) on a free port with a fresh copy
of data/corpus, waits until it answers, then per repeat runs two rounds: the baseline, N
gradio_client users each asking one question of eval/qa.jsonl on /chat at the same moment;
then the same N questions while an operator client uploads a changed document and presses
Ingest through the Operators endpoints, as the page does. Each chat's latency runs from its
submit to its final answer; a chat whose returned conversation is not its own question counts
as cross-talk. Reports p50/p95/max per round kind over all repeats, errors, cross-talk, and
the ingest's seconds.

Does not judge the answers (eval/ does) and does not change the app's settings except
RAG_CONCURRENCY and RAG_QUEUE_SIZE when asked to.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.coldstart import free_port, listening  # noqa: E402
from bench.common import bench_parser, percentile, positive_int, write_result  # noqa: E402
from common.paths import PROJECT_ROOT  # noqa: E402

EXAMPLES = """\
  python -m bench.concurrency
  python -m bench.concurrency --users 20 --repeats 3 --concurrency 8
"""
START_TIMEOUT_S = 600


def questions(count: int) -> list[str]:
    """The first `count` questions of eval/qa.jsonl (the file has 82)."""
    lines = (PROJECT_ROOT / "eval" / "qa.jsonl").read_text(encoding="utf-8").splitlines()
    found = [json.loads(line)["question"] for line in lines if line.strip()][:count]
    if len(found) < count:
        raise ValueError(f"eval/qa.jsonl has only {len(found)} questions; ask for at most that")
    return found


def summarize(chats: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95/max latency of the chats that answered, and counts of errors and cross-talk.

    Example: summarize([{"seconds": 1.0, "error": "", "crossed": False},
                        {"seconds": 3.0, "error": "", "crossed": False}])
             -> {"chats": 2, "errors": 0, "crossed": 0, "p50_s": 2.0, "p95_s": 2.9, "max_s": 3.0}
    """
    answered = [c["seconds"] for c in chats if not c["error"]]
    result: dict[str, Any] = {"chats": len(chats), "errors": sum(bool(c["error"]) for c in chats),
                              "crossed": sum(bool(c["crossed"]) for c in chats)}
    if answered:
        result |= {"p50_s": percentile(answered, 50), "p95_s": percentile(answered, 95),
                   "max_s": max(answered)}
    return result


@contextmanager
def running_app(workdir: Path, env: dict[str, str]) -> Iterator[str]:
    """`python app.py` on a copy of data/corpus under `workdir`; yields its URL once it answers.

    Terminates only the process it started.
    """
    corpus = workdir / "corpus"
    shutil.copytree(PROJECT_ROOT / "data" / "corpus", corpus)
    port = free_port()
    log = workdir / "app.log"
    full_env = {**os.environ, **env, "GRADIO_SERVER_PORT": str(port),
                "RAG_INDEX_DIR": str(workdir / "index"), "RAG_CORPUS_DIR": str(corpus)}
    with open(log, "w") as out:
        app = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=full_env,
                               stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not ("answering from " in log.read_text(errors="replace") and listening(port)):
            if app.poll() is not None:
                raise RuntimeError(f"app.py exited with {app.returncode}; its log ends:\n"
                                   + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))
            if time.monotonic() > deadline:
                raise TimeoutError(f"app.py did not answer within {START_TIMEOUT_S} s")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/"
    finally:
        app.terminate()
        try:
            app.wait(30)
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()


def chat_once(url: str, question: str) -> dict[str, Any]:
    """One user: a new gradio_client asks `question` on /chat; latency, error, cross-talk."""
    from gradio_client import Client

    begun = time.perf_counter()
    try:
        _, history, _ = Client(url, verbose=False).predict(question, [], api_name="/chat")
    except Exception as err:  # counted, not raised: the bench reports how many failed
        return {"seconds": time.perf_counter() - begun, "error": f"{type(err).__name__}: {err}",
                "crossed": False}
    seconds = time.perf_counter() - begun
    first = history[0]["content"] if history else ""
    text = first if isinstance(first, str) else "".join(
        part.get("text", "") for part in first if isinstance(part, dict))
    return {"seconds": seconds, "error": "", "crossed": text != question}


def ingest_once(url: str, workdir: Path, version: int) -> dict[str, Any]:
    """An operator uploads a changed bulletin.txt and presses Ingest; its seconds and status."""
    from gradio_client import Client, handle_file

    upload = workdir / f"upload-{version}" / "bulletin.txt"
    upload.parent.mkdir()
    upload.write_text(f"Bulletin {version}. The Zorblax Accord was signed in Tromsø on "
                      f"{version} March 2031.\n" * 40, encoding="utf-8")
    operator = Client(url, verbose=False)
    operator.predict([handle_file(upload)], False, api_name="/on_files")
    begun = time.perf_counter()
    status = operator.predict(False, api_name="/on_ingest")[-1]
    return {"started": begun, "seconds": time.perf_counter() - begun, "status": status}


def one_round(url: str, asked: Sequence[str], workdir: Path | None, version: int
              ) -> dict[str, Any]:
    """All of `asked` at once (one thread each); with `workdir`, a re-ingest alongside."""
    with ThreadPoolExecutor(len(asked) + 1) as pool:
        ingest = pool.submit(ingest_once, url, workdir, version) if workdir else None
        time.sleep(0.2 if ingest else 0)  # the upload is staged; Ingest is pressed now
        begun = time.perf_counter()
        chats = list(pool.map(lambda q: chat_once(url, q), asked))
        ended = time.perf_counter()
        result: dict[str, Any] = {"chats": chats, "wall_s": ended - begun}
        if ingest is not None:
            done = ingest.result()
            result["ingest"] = {"seconds": done["seconds"], "status": done["status"],
                                "overlapped": done["started"] < ended}
    return result


def measure(users: int, repeats: int, env: dict[str, str]) -> dict[str, Any]:
    asked = questions(users)
    rounds: dict[str, list[dict[str, Any]]] = {"baseline": [], "during_ingest": []}
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp, \
            running_app(Path(tmp), env) as url:
        for repeat in range(repeats):
            print(f"repeat {repeat + 1}/{repeats}: {users} chats", file=sys.stderr)
            rounds["baseline"].append(one_round(url, asked, None, repeat))
            print(f"repeat {repeat + 1}/{repeats}: {users} chats during a re-ingest",
                  file=sys.stderr)
            rounds["during_ingest"].append(one_round(url, asked, Path(tmp), repeat))
    summary = {kind: summarize([c for r in runs for c in r["chats"]])
               for kind, runs in rounds.items()}
    ingests = [r["ingest"] for r in rounds["during_ingest"]]
    return {"users": users, "repeats": repeats, "settings": env, "summary": summary,
            "ingests": ingests, "rounds": rounds,
            "threading": "one gradio_client per user, all submitted at once"}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("concurrency", "p50/p95 latency of N users chatting at once with the "
                          "real app, without and during a re-ingest from the Operators tab.",
                          EXAMPLES, repeats=2)
    parser.add_argument("--users", type=positive_int, default=20, metavar="N",
                        help="users asking at once (default 20)")
    parser.add_argument("--concurrency", type=positive_int, metavar="N",
                        help="RAG_CONCURRENCY for the app (default: the app's, 4)")
    parser.add_argument("--queue-size", type=positive_int, metavar="N",
                        help="RAG_QUEUE_SIZE for the app (default: the app's, 32)")
    args = parser.parse_args(argv)
    env = {name: str(value) for name, value in (("RAG_CONCURRENCY", args.concurrency),
                                                ("RAG_QUEUE_SIZE", args.queue_size)) if value}
    result = measure(args.users, args.repeats, env)
    write_result(args.out, {"bench": "concurrency", **result})
    for kind, s in result["summary"].items():
        latency = (f"p50 {s['p50_s']:.1f} s, p95 {s['p95_s']:.1f} s, max {s['max_s']:.1f} s"
                   if "p50_s" in s else "no chat answered")
        print(f"{kind:<14} {s['chats']} chats: {latency}; {s['errors']} errors, "
              f"{s['crossed']} cross-talk")
    for ingest in result["ingests"]:
        print(f"re-ingest {ingest['seconds']:.1f} s (overlapped the chats: "
              f"{ingest['overlapped']}): {ingest['status'][:80]}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

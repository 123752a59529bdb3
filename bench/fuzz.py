"""bench.fuzz: ingest a seeded corpus of hostile files mixed with good ones, and check each file.

bench.fuzzfiles writes the corpus (every kind of odd file of issue 15, a third of the names odd).
`run_batch` runs `python -m ingest CORPUS` on it in-process (main(), so what is checked is what
a user reads) with the tests' bag-of-words embedder by default: this measures reading,
parsing and chunking, not a model. It checks, and lists as `problems`:
- no traceback: main() returns an exit code, nothing printed or logged holds "Traceback";
- every file is named by exactly one line, "added ..." or "rejected: PATH: REASON", and the
  outcome is the one its kind must give (a good file is indexed, a bad one rejected with its
  reason); the index holds exactly the files that must be indexed;
- every chunk is its document's text at its offsets and within the token limit;
- every printed and logged line is printable (names escaped: no newline, escape, bidi
  override), and each other warning logged (pypdf's, renamed by ingest.pdf_warnings) names a
  PDF of the batch (ingest.operations' per-file log lines are the printed lines again);
- every file stays within its budget: BUDGET_S seconds plus BUDGET_S_PER_MB per MB, and
  BUDGET_MIB plus BUDGET_MIB_PER_MB MiB per MB, of its size on disk (a PDF's counts
  PDF_EXPANSION times: its text is compressed). The text a file expands to does not raise its
  budget, so a small file that becomes megabytes of text is caught. A file's seconds and peak
  memory are those of its read, parse and chunk calls, measured by wrapping them where
  ingest.plan and ingest.build call them; the peak is Linux's VmHWM, reset before each call
  (/proc/self/clear_refs), less the resident size before the call.

The budgets are generous (the machine is shared) but catch what issue 15 found: quadratic
sentence splitting (60 KB in 14 s), a 20 MB line taking 1.8 GB, a PDF bomb taking 131 s.

Does not embed with a real model unless --embedder minilm, and does not time the index write
per file (the batch's seconds include it).
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import contextlib  # noqa: E402
import io  # noqa: E402
import logging  # noqa: E402
import re  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections import Counter, defaultdict  # noqa: E402
from collections.abc import Callable, Iterator, Sequence  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    bench_parser,
    median,
    percentile,
    positive_int,
    run_child,
    write_result,
)
from bench.fuzzfiles import (  # noqa: E402
    DEFAULT_LIMIT_MB,
    INDEXED,
    KINDS,
    MB,
    FuzzFile,
    make_corpus,
    reason_family,
)
from ingest.names import shown  # noqa: E402

EXAMPLES = """\
  python -m bench.fuzz                                   # 1,000 files up to 1 MB, seed 0
  python -m bench.fuzz --files 300 --max-kb 256          # what tests/ingest/test_fuzz.py runs
  python -m bench.fuzz --seed 7 --repeats 3              # another corpus, median of 3 runs
  python -m bench.fuzz --files 200 --embedder minilm     # with the real embedder
"""
BUDGET_S, BUDGET_S_PER_MB = 2.0, 60.0
BUDGET_MIB, BUDGET_MIB_PER_MB = 200.0, 30.0
PDF_EXPANSION = 10
EMBEDDERS = ("fake", "minilm")


def budget(size: int, suffix: str = ".txt") -> tuple[float, float]:
    """(seconds, MiB) one file of `size` bytes may take.

    Example: budget(2**20) -> (62.0, 230.0); budget(2**20, ".pdf") -> (602.0, 500.0)
    """
    size *= PDF_EXPANSION if suffix.lower() == ".pdf" else 1
    return BUDGET_S + BUDGET_S_PER_MB * size / MB, BUDGET_MIB + BUDGET_MIB_PER_MB * size / MB


# --- per-file time and memory --------------------------------------------------------------


def _status_kib(field_name: str) -> int:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field_name):
                return int(line.split()[1])
    return 0


def _reset_peak() -> None:
    with open("/proc/self/clear_refs", "w", encoding="ascii") as handle:
        handle.write("5")  # Linux >= 4.0: VmHWM := VmRSS


@dataclass
class Meter:
    """Seconds, peak MiB above the start, and text characters of each file, by path."""

    seconds: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    peak_mib: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    chars: dict[str, int] = field(default_factory=dict)
    faults: list[str] = field(default_factory=list)  # see chunk_faults
    # The process's own peak: resetting VmHWM resets what getrusage reports as ru_maxrss too.
    process_peak_mib: float = 0.0

    def wrap(self, function: Callable[..., Any], key: Callable[..., str]) -> Callable[..., Any]:
        def measured(*args: Any, **kwargs: Any) -> Any:
            name = key(*args)
            before = _status_kib("VmRSS:")
            self.process_peak_mib = max(self.process_peak_mib, _status_kib("VmHWM:") / 1024)
            _reset_peak()
            started = time.perf_counter()
            try:
                result = function(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - started
                peak = _status_kib("VmHWM:")
                self.peak_mib[name] = max(self.peak_mib[name], max(peak - before, 0) / 1024)
                self.process_peak_mib = max(self.process_peak_mib, peak / 1024)
            if hasattr(result, "text"):
                self.chars[name] = len(result.text)
            return result

        return measured


def chunk_faults(doc: Any, chunks: Sequence[Any], count_tokens: Callable[[str], int],
                 max_tokens: int) -> list[str]:
    """What is wrong with a document's chunks: a chunk that is not the document's text at its
    offsets, or is over max_tokens; text with something to read but no chunk.

    Example: for a document a.txt whose text is "Hi.",
        chunk_faults(doc, [], len, 5) -> ["a.txt: no chunk, though its text is not blank"]
    """
    name = shown(doc.source_path)
    faults = [f"{name}: chunk {c.start}-{c.end} is not the document's text there"
              for c in chunks if doc.text[c.start:c.end] != c.text]
    faults += [f"{name}: chunk {c.start}-{c.end} has more than {max_tokens} tokens"
               for c in chunks if count_tokens(c.text) > max_tokens]
    if not chunks and doc.text.strip():
        faults.append(f"{name}: no chunk, though its text is not blank")
    return faults


@contextlib.contextmanager
def metered() -> Iterator[Meter]:
    """Within the block, every read_file, parse_document and chunk_document of an ingest is
    measured, per file, and every document's chunks are checked (Meter.faults; not timed)."""
    import ingest.chunker
    import ingest.plan

    meter = Meter()
    originals = [(ingest.plan, "read_file", lambda path, *_: str(path)),
                 (ingest.plan, "parse_document", lambda data, path, *_: str(path)),
                 (ingest.chunker, "chunk_document", lambda doc, *_: doc.source_path)]
    saved = [(module, name, getattr(module, name)) for module, name, _ in originals]
    timed_chunking = meter.wrap(ingest.chunker.chunk_document, originals[2][2])

    def chunk_checked(doc: Any, count_tokens: Callable[[str], int], max_tokens: int = 200,
                      overlap_tokens: int = 40) -> Any:
        chunks = timed_chunking(doc, count_tokens, max_tokens, overlap_tokens)
        meter.faults += chunk_faults(doc, chunks, count_tokens, max_tokens)
        return chunks

    try:
        for module, name, key in originals[:2]:
            setattr(module, name, meter.wrap(getattr(module, name), key))
        ingest.chunker.chunk_document = chunk_checked  # type: ignore[assignment]
        yield meter
    finally:
        for module, name, function in saved:
            setattr(module, name, function)


# --- one batch -----------------------------------------------------------------------------


@dataclass
class FileResult:
    """What became of one generated file."""

    name: str  # its doc_id, escaped
    kind: str
    expect: list[str]
    outcome: str  # "indexed", "rejected", or "missing" when no line named it
    reason: str
    lines: int  # output lines naming it (exactly 1 expected)
    size: int
    chars: int
    seconds: float
    peak_mib: float
    budget_share: float  # the larger of seconds and peak over their budgets (1.0: at budget)
    problems: list[str]


@dataclass
class Batch:
    """One ingest of a generated corpus: per-file results and everything that went wrong."""

    exit_code: int | None
    seconds: float
    peak_rss_mib: float  # the whole process's, at the end of the run
    files: list[FileResult]
    problems: list[str]
    pdf_warnings: int
    stdout: str
    stderr: str


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []
        self.foreign: list[str] = []  # all but the per-file outcome lines (ingest.operations)

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())
        if record.name != "ingest.operations":
            self.foreign.append(record.getMessage())


def _run_main(argv: list[str], embedder: Any
              ) -> tuple[int | None, str, str, _Records, str]:
    """main(argv) with its stdout, stderr and warning log captured; never raises."""
    from ingest.__main__ import main

    out, err, records = io.StringIO(), io.StringIO(), _Records()
    root = logging.getLogger()
    root.addHandler(records)
    crash = ""
    code: int | None = None
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv, embedder)
    except SystemExit as exit_:  # fail(): one line on stderr, not a crash
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException as error:  # what the ingest must never do
        import traceback

        crash = "".join(traceback.format_exception(error))
    finally:
        root.removeHandler(records)
    return code, out.getvalue(), err.getvalue(), records, crash


def _outcome(item: FuzzFile, stdout: list[str], stderr: list[str]) -> tuple[str, str, int]:
    """(outcome, reason, lines naming the file) from the printed lines."""
    added = f"added      {shown(item.doc_id)} ("
    rejected = f"rejected: {shown(str(item.path))}: "
    reasons = [line[len(rejected):] for line in stderr if line.startswith(rejected)]
    adds = sum(line.startswith(added) for line in stdout)
    if reasons:
        return "rejected", reasons[0], len(reasons) + adds
    return (INDEXED if adds else "missing"), "", adds


def _judge(item: FuzzFile, outcome: str, reason: str, lines: int, meter: Meter,
           indexed: set[str]) -> FileResult:
    key = str(item.path)
    chars = meter.chars.get(key, 0)
    seconds, peak = meter.seconds.get(key, 0.0), meter.peak_mib.get(key, 0.0)
    problems = []
    if lines != 1:
        problems.append(f"named by {lines} lines of output, not 1")
    if outcome == INDEXED and INDEXED not in item.expect:
        problems.append(f"indexed, but must be rejected ({' or '.join(item.expect)})")
    if outcome == "rejected" and not any(re.match(e, reason) for e in item.expect
                                         if e != INDEXED):
        problems.append(f"rejected with {reason!r}, expected {' or '.join(item.expect)}")
    if (item.doc_id in indexed) != (outcome == INDEXED):
        problems.append("the index disagrees with the output about this file")
    max_s, max_mib = budget(item.size, item.path.suffix)
    if seconds > max_s:
        problems.append(f"took {seconds:.1f} s, over its budget of {max_s:.1f} s")
    if peak > max_mib:
        problems.append(f"took {peak:.0f} MiB, over its budget of {max_mib:.0f} MiB")
    share = max(seconds / max(max_s, 1e-9), peak / max(max_mib, 1e-9))
    return FileResult(shown(item.doc_id), item.kind, list(item.expect), outcome, reason, lines,
                      item.size, chars, seconds, peak, share, problems)


def run_batch(corpus: Path, index: Path, files: Sequence[FuzzFile], embedder: Any,
              limit_mb: float = DEFAULT_LIMIT_MB) -> Batch:
    """`python -m ingest CORPUS --index INDEX --max-file-mb LIMIT`, in-process, checked."""
    from ingest.operations import index_stats

    argv = [str(corpus), "--index", str(index), "--quiet", "--max-file-mb", str(limit_mb)]
    started = time.perf_counter()
    with metered() as meter:
        code, stdout, stderr, logged, crash = _run_main(argv, embedder)
    seconds = time.perf_counter() - started
    peak_rss = max(meter.process_peak_mib, _status_kib("VmHWM:") / 1024)
    problems = [f"traceback: {crash}"] if crash else []
    problems += meter.faults
    out_lines, err_lines = stdout.splitlines(), stderr.splitlines()
    for line in out_lines + err_lines + logged.messages:
        if "Traceback" in line:
            problems.append(f"traceback in the output: {line!r}")
        if not line.isprintable():
            problems.append(f"unprintable line: {line!r}")
    pdfs = tuple(f"{shown(str(f.path))}: pypdf: " for f in files if f.path.suffix == ".pdf")
    problems += [f"log line naming no PDF of the batch: {m!r}" for m in logged.foreign
                 if not m.startswith(pdfs)]
    must = any(INDEXED not in f.expect for f in files)  # some file must be rejected
    may = any(f.expect != (INDEXED,) for f in files)
    allowed = (3,) if must else (0, 3) if may else (0,)
    if code not in allowed:
        problems.append(f"exit code {code}, expected {' or '.join(map(str, allowed))}")
    try:
        indexed = {d["doc_id"] for d in index_stats(index)["per_document"]}
    except Exception as error:  # a broken index is a problem to report, not a crash here
        problems.append(f"index unreadable: {error}")
        indexed = set()
    results = [_judge(item, *_outcome(item, out_lines, err_lines), meter, indexed)
               for item in files]
    problems += [f"{r.name} ({r.kind}): {p}" for r in results for p in r.problems]
    return Batch(code, seconds, peak_rss, results, problems, len(logged.foreign), stdout,
                 stderr)


def make_embedder(name: str) -> Any:
    """"fake": the tests' bag-of-words embedder (tests.fakes), with MiniLM's 254-token window;
    "minilm": the real one."""
    if name == "fake":
        from tests.fakes import FakeEmbedder

        return FakeEmbedder(max_tokens=254)
    from index.embedder import MiniLMEmbedder

    return MiniLMEmbedder()


# --- the benchmark -------------------------------------------------------------------------


def fuzz_run(files: int, seed: int, max_kb: int, limit_mb: float, embedder: str
             ) -> dict[str, Any]:
    """Write a corpus, ingest it once, and summarize (run in a child process by measure)."""
    with tempfile.TemporaryDirectory(prefix="bench-fuzz-") as tmp:
        work = Path(tmp)
        made = make_corpus(work / "corpus", work / "outside", files, seed, max_kb)
        batch = run_batch(work / "corpus", work / "index", made, make_embedder(embedder),
                          limit_mb)
    results = batch.files
    slowest = max(results, key=lambda r: r.seconds)
    largest = max(results, key=lambda r: r.peak_mib)
    seconds = [r.seconds for r in results]
    return {
        "files": len(results), "seconds": batch.seconds, "peak_rss_mib": batch.peak_rss_mib,
        "files_per_s": len(results) / batch.seconds,
        "mb": sum(r.size for r in results if r.kind != "oversized") / MB,  # those are not read
        "outcomes": dict(Counter(r.outcome for r in results)),
        "reasons": dict(Counter(reason_family(r.reason) for r in results
                                if r.outcome == "rejected")),
        "kinds": dict(Counter(r.kind for r in results)),
        "per_file_seconds": {"p50": percentile(seconds, 50), "p95": percentile(seconds, 95),
                             "max": slowest.seconds, "max_file": slowest.name,
                             "max_kind": slowest.kind, "max_size": slowest.size},
        "per_file_peak_mib": {"max": largest.peak_mib, "max_file": largest.name,
                              "max_kind": largest.kind, "max_size": largest.size},
        "worst_budget_share": max(r.budget_share for r in results),
        "pdf_warnings": batch.pdf_warnings, "exit_code": batch.exit_code,
        "problems": batch.problems[:50], "problem_count": len(batch.problems),
        "per_file": [asdict(r) for r in results],
    }


def measure(files: int, seed: int, max_kb: int, limit_mb: float, embedder: str, repeats: int
            ) -> dict[str, Any]:
    """`repeats` runs of the same corpus, each in a fresh child process; medians of the times."""
    runs = [run_child("bench.fuzz:fuzz_run", {"files": files, "seed": seed, "max_kb": max_kb,
                                              "limit_mb": limit_mb, "embedder": embedder})
            for _ in range(repeats)]
    first = runs[0]
    return {
        "files": files, "seed": seed, "max_kb": max_kb, "limit_mb": limit_mb,
        "embedder": embedder, "repeats": repeats, "mb": first["mb"],
        "seconds": median([r["seconds"] for r in runs]),
        "files_per_s": median([r["files_per_s"] for r in runs]),
        "seconds_all": [r["seconds"] for r in runs],
        "per_file_max_seconds": median([r["per_file_seconds"]["max"] for r in runs]),
        "per_file_p95_seconds": median([r["per_file_seconds"]["p95"] for r in runs]),
        "per_file_max_peak_mib": median([r["per_file_peak_mib"]["max"] for r in runs]),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),  # not the child's ru_maxrss
        "problem_count": max(r["problem_count"] for r in runs),
        "runs": runs,
    }


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("fuzz", "Ingest a seeded corpus of hostile files mixed with good "
                          "ones; check every file's outcome, printed line and time and memory "
                          "budget; report files/s, the slowest file and the largest peak.",
                          EXAMPLES, repeats=1)
    parser.add_argument("--files", type=positive_int, default=1000, metavar="N",
                        help="files in the corpus (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="corpus seed (default 0)")
    parser.add_argument("--max-kb", type=positive_int, default=1024, metavar="KB",
                        help="largest of the large kinds, drawn log-uniformly from 1 KB "
                             "(default 1024)")
    parser.add_argument("--embedder", choices=EMBEDDERS, default="fake",
                        help="the tests' bag-of-words embedder (default) or MiniLM")
    args = parser.parse_args(argv)
    limit_mb = max(DEFAULT_LIMIT_MB, 2 * args.max_kb / 1024)  # large kinds stay under it
    result = measure(args.files, args.seed, args.max_kb, limit_mb, args.embedder, args.repeats)
    write_result(args.out, {"bench": "fuzz", "kinds_known": len(KINDS), **result})
    first = result["runs"][0]
    print(f"{args.files} files ({result['mb']:.1f} MB, {len(first['kinds'])} kinds), seed "
          f"{args.seed}, median of {args.repeats} run(s): {result['seconds']:.1f} s, "
          f"{result['files_per_s']:.1f} files/s, peak RSS {result['peak_rss_mib']:.0f} MiB")
    print(f"  outcomes: {first['outcomes']}")
    slow, big = first["per_file_seconds"], first["per_file_peak_mib"]
    print(f"  per file: p50 {slow['p50'] * 1000:.0f} ms, p95 {slow['p95'] * 1000:.0f} ms, max "
          f"{slow['max']:.2f} s ({slow['max_kind']}, {slow['max_size'] / 1024:.0f} KB); peak "
          f"{big['max']:.0f} MiB ({big['max_kind']}, {big['max_size'] / 1024:.0f} KB); "
          f"worst share of a budget {first['worst_budget_share']:.2f}")
    print(f"  problems: {result['problem_count']}")
    for problem in first["problems"][:10]:
        print(f"    {shown(problem)}")
    print(f"wrote {args.out}")
    return 1 if result["problem_count"] else 0


if __name__ == "__main__":
    sys.exit(main())

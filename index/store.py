"""One index generation on disk: FAISS vectors, SQLite chunks, an FTS5 file, a manifest.

Layout of an index root:

    ROOT/CURRENT           name of the live generation (replaced atomically)
    ROOT/gen-<time>/       manifest.json, vectors.faiss, chunks.sqlite, lexical.sqlite
    ROOT/.building-<...>/  a generation being written; never read
    ROOT/.lock             flock'ed by the one process allowed to write; holds its pid

chunks.sqlite also keeps, per term (common.words.terms), how many chunks hold it: the
statistics the pipeline's IDF needs, so loading never reads every chunk (generations written
before the table existed compute them from the chunks once, on first use).

Row i of the FAISS index is row i of the `chunks` table and rowid i of the full-text table, so
dense and lexical hits meet on the same integer. The full-text table is contentless (it keeps
the index, not the text) and lives in its own file, lexical.sqlite, attached to the chunks
database when loaded: then the three files are written by three threads at once. Nothing here
unpickles: FAISS, SQLite and JSON only.

The manifest records each file's size and sha256, and loading checks them before opening
anything (index.integrity): a damaged live generation is refused, and the one it replaced is
loaded instead when it is still on disk and intact.

Writers hold `lock_index(root)` from start to finish; readers never lock, because a generation
is never changed after it is published and the previous one is kept (see `prune`).

Does not chunk or embed (see ingest.build) and does not rank (see qa.retrieve).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import sqlite3
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from common.records import Chunk, Document
from common.words import STOPWORDS, words
from index.integrity import FILES, SEAL, IndexDamaged, describe_file, seal, verify_generation
from index.manifest import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    IndexLoadError,
    check_format,
    check_manifest,
    read_manifest,
    rebuild_hint,
)
from index.vector_store import count_terms

if TYPE_CHECKING:
    import numpy as np

# faiss and numpy are imported inside the functions that use them: together they take ~0.4 s
# to load, and re-ingesting an unchanged corpus needs neither.

CURRENT = "CURRENT"
VECTORS = "vectors.faiss"
DATABASE = "chunks.sqlite"
LEXICAL = "lexical.sqlite"
LOCK = ".lock"
BUILDING_PREFIX = ".building-"
GENERATION_NAME = re.compile(r"gen-[\w.-]+")
# Test hook: with RAG_TEST_KILL_AT=N the process SIGKILLs itself at its Nth checkpoint, so a
# test can crash a real ingest at every step of the write/publish sequence.
_KILL_AT = int(os.environ.get("RAG_TEST_KILL_AT") or 0)
_checkpoints_passed = 0

FTS_HASH_BYTES = 64 << 20  # FTS5's in-memory postings before it writes a segment (default 1 MiB)

_SCHEMA = """
CREATE TABLE documents (
    doc_id TEXT PRIMARY KEY, title TEXT NOT NULL, source_path TEXT NOT NULL,
    content_hash TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE chunks (
    row INTEGER PRIMARY KEY, chunk_id TEXT NOT NULL,
    doc_id TEXT NOT NULL REFERENCES documents(doc_id),
    start INTEGER NOT NULL, "end" INTEGER NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL);
CREATE TABLE terms (term TEXT PRIMARY KEY, chunks INTEGER NOT NULL) WITHOUT ROWID;
"""
_LEXICAL_SCHEMA = """
CREATE VIRTUAL TABLE chunks_fts USING fts5(text, content='', tokenize='porter unicode61');
"""


def checkpoint(step: str) -> None:
    """Mark a step of the write sequence; a no-op unless RAG_TEST_KILL_AT is set."""
    global _checkpoints_passed
    if not _KILL_AT:
        return
    _checkpoints_passed += 1
    if _checkpoints_passed == _KILL_AT:
        os.write(2, f"killed at checkpoint {_KILL_AT}: {step}\n".encode())
        os.kill(os.getpid(), signal.SIGKILL)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexBusy(Exception):
    """Another process holds the index lock; str() is one line saying what to do."""

    def __init__(self, root: Path, pid: int | None) -> None:
        self.root = root
        self.pid = pid
        who = f"pid {pid}" if pid else "pid unknown"
        stop = f"stop it (kill {pid})" if pid else "stop it"
        super().__init__(f"another ingest is running on {root} ({who}); wait for it to finish, "
                         f"or {stop} and run this again")


def _read_pid(fd: int) -> int | None:
    text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    return int(text) if text.isdigit() else None


@contextlib.contextmanager
def lock_index(root: Path) -> Iterator[None]:
    """Hold the exclusive write lock on `root` (created if missing), or raise IndexBusy at once.

    The kernel releases a flock when its holder dies, even by SIGKILL, so a crash never leaves
    the index locked. The pid written into ROOT/.lock only names the holder in messages.
    """
    root.mkdir(parents=True, exist_ok=True)
    fd = os.open(root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise IndexBusy(root, _read_pid(fd)) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        checkpoint("lock taken")
        try:
            yield
        finally:
            os.ftruncate(fd, 0)  # an orderly exit leaves no pid for ingest_running to find
    finally:
        os.close(fd)  # releases the lock


def ingest_running(root: Path) -> int | None:
    """The pid of the process writing to `root`, or None. For display only: it does not lock.

    Probing with flock itself would make a concurrent ingest's own attempt fail, so this reads
    the pid the holder wrote and asks whether that process is alive; a clean exit clears it.
    """
    try:
        pid = _read_pid_file(root / LOCK)
    except OSError:
        return None
    if pid is None:
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass  # alive, owned by another user
    return pid


def _read_pid_file(path: Path) -> int | None:
    text = path.read_text(encoding="ascii", errors="replace").strip()
    return int(text) if text.isdigit() else None


def write_generation(
    directory: Path,
    documents: Sequence[Document],
    chunks: Sequence[Chunk],
    vectors: np.ndarray,
    manifest: dict[str, Any],
) -> dict[str, Any]:
    """Write a complete generation into `directory` (which must not exist yet) and fsync it.

    The FAISS index kind is chosen by size (index.vectors.build_vector_index: exact up to 20,000
    chunks, IVF above, float16 storage) and its description, with the recall@10 measured against
    float32 exact search, goes into the manifest as "faiss_index". Returns that description.
    The manifest also records each file's size and sha256 and is sealed (index.integrity).
    """
    import faiss
    import numpy as np

    from index import vectors as vector_index

    if len(chunks) != len(vectors):
        raise ValueError(f"{len(chunks)} chunks but {len(vectors)} vectors")
    directory.mkdir(parents=True)
    checkpoint("generation directory created")
    matrix = np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1, manifest["dimension"])
    built: dict[str, Any] = {}
    files: dict[str, dict[str, Any]] = {}  # name -> size and sha256, for the manifest

    def build_vectors() -> None:
        index, built["search"] = vector_index.build_vector_index(
            matrix, exact_max=vector_index.EXACT_MAX_VECTORS)
        faiss.write_index(index, str(directory / VECTORS))
        files[VECTORS] = describe_file(directory / VECTORS)

    def build_lexical() -> None:
        _write_lexical(directory / LEXICAL, chunks)
        files[LEXICAL] = describe_file(directory / LEXICAL)

    # FAISS (train, add, recall check), the FTS5 index and the chunk rows all release the GIL
    # while they work, so they run side by side on both cores (bench.peers, 200k chunks: one
    # after the other 17.4 s; FAISS beside SQLite 9.5 s; FTS5 in its own file too: see
    # docs/PERFORMANCE.md). So does sha256: each thread hashes the file it wrote.
    wait_vectors = _start_thread(build_vectors, "build-vectors")
    wait_lexical = _start_thread(build_lexical, "build-lexical")
    try:
        _write_database(directory / DATABASE, documents, chunks)
        files[DATABASE] = describe_file(directory / DATABASE)
    finally:
        errors = [wait() for wait in (wait_lexical, wait_vectors)]
    for error in errors:
        if error is not None:
            raise error
    # Marked here, not in the threads: checkpoints then come in one fixed order (the kill test
    # relies on the Nth checkpoint being the same step in every run).
    checkpoint("full-text index built")
    checkpoint("vectors written")
    search: dict[str, Any] = built["search"]
    manifest = seal({**manifest, "faiss_index": search, FILES: dict(sorted(files.items()))})
    (directory / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    checkpoint("manifest written")
    for name in (VECTORS, DATABASE, LEXICAL, MANIFEST_NAME):
        with open(directory / name, "rb") as handle:
            os.fsync(handle.fileno())
        checkpoint(f"{name} fsynced")
    _fsync_dir(directory)
    checkpoint("generation directory fsynced")
    return search


def _start_thread(work: Callable[[], None], name: str) -> Callable[[], BaseException | None]:
    """Run `work` in a new thread; the returned function waits for it and gives back what it
    raised (None if it finished)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as err:  # handed to the waiting thread, which re-raises it
            failure.append(err)

    thread = threading.Thread(target=run, name=name)
    thread.start()

    def wait() -> BaseException | None:
        thread.join()
        return failure[0] if failure else None

    return wait


def _new_database(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path)
    # A new file in a directory that becomes live only after the fsyncs and the rename: a
    # crash leaves a .building-* directory that is pruned, so SQLite's own rollback journal
    # and syncs would protect nothing (and cost ~0.4 s at 200k chunks).
    db.execute("PRAGMA journal_mode=OFF")
    db.execute("PRAGMA synchronous=OFF")
    return db


def _write_lexical(path: Path, chunks: Sequence[Chunk]) -> None:
    """lexical.sqlite: the contentless FTS5 index of the chunk texts, rowid = chunk row."""
    db = _new_database(path)
    try:
        db.executescript(_LEXICAL_SCHEMA)
        # FTS5 collects postings in a 1 MiB hash table by default and writes a segment each
        # time it fills, then merges those segments again and again; with room for 64 MiB it
        # writes far fewer (200k chunks: 3.3-4.2 s -> 2.2-2.4 s; docs/PERFORMANCE.md).
        db.execute("INSERT INTO chunks_fts(chunks_fts, rank) VALUES ('hashsize', ?)",
                   (FTS_HASH_BYTES,))
        db.executemany("INSERT INTO chunks_fts(rowid, text) VALUES (?, ?)",
                       ((i, c.text) for i, c in enumerate(chunks)))
        db.commit()
    finally:
        db.close()


def _write_database(path: Path, documents: Sequence[Document], chunks: Sequence[Chunk]) -> None:
    """chunks.sqlite: documents and chunks in row order."""
    db = _new_database(path)
    try:
        db.executescript(_SCHEMA)
        checkpoint("schema created")
        db.executemany(
            "INSERT INTO documents VALUES (?, ?, ?, ?, ?)",
            [(d.doc_id, d.title, d.source_path, d.content_hash, d.text) for d in documents],
        )
        checkpoint("documents inserted")
        db.executemany(
            "INSERT INTO chunks VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(i, c.chunk_id, c.doc_id, c.start, c.end, c.title, c.text) for i, c in
             enumerate(chunks)],
        )
        checkpoint("chunks inserted")
        db.executemany("INSERT INTO terms VALUES (?, ?)",
                       sorted(count_terms(c.text for c in chunks).items()))
        # Built after the inserts: one sort instead of a B-tree insert per row (0.3-0.4 s at
        # 200k chunks); a duplicate chunk id still fails the whole write.
        db.execute("CREATE UNIQUE INDEX chunks_chunk_id ON chunks(chunk_id)")
        db.commit()
        checkpoint("database committed")
    finally:
        db.close()


def new_generation_name(root: Path) -> str:
    """A generation name for now, used by nothing under `root` yet ("gen-<UTC time>")."""
    now = datetime.now(UTC)
    name = f"gen-{now:%Y%m%dT%H%M%S%f}"
    # Two builds within a microsecond, or a clock set back: never reuse a name.
    suffix = 0
    while (root / name).exists() or (root / f"{BUILDING_PREFIX}{name}").exists():
        suffix += 1
        name = f"gen-{now:%Y%m%dT%H%M%S%f}-{suffix}"
    return name


def install_generation(root: Path, building: Path, name: str) -> Path:
    """Rename a fully written `building` directory to ROOT/name and make it CURRENT."""
    if not GENERATION_NAME.fullmatch(name):
        raise ValueError(f"not a generation name: {name!r}")
    target = root / name
    building.rename(target)
    checkpoint("generation renamed into place")
    _fsync_dir(root)
    checkpoint("index directory fsynced after rename")
    publish(root, name)
    return target


def publish(root: Path, generation: str) -> None:
    """Point ROOT/CURRENT at `generation`: write, fsync, os.replace, fsync the directory."""
    tmp = root / f".{CURRENT}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(generation + "\n")
        handle.flush()
        checkpoint("new CURRENT written")
        os.fsync(handle.fileno())
    checkpoint("new CURRENT fsynced")
    os.replace(tmp, root / CURRENT)
    checkpoint("CURRENT replaced")
    _fsync_dir(root)
    checkpoint("index directory fsynced after publish")


def current_generation(root: Path) -> Path | None:
    """The live generation directory, or None when nothing was ever published."""
    try:
        name = (root / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    if not GENERATION_NAME.fullmatch(name):
        raise IndexLoadError(f"{root / CURRENT} names no generation ({name!r}); "
                             f"{rebuild_hint(root)}")
    return root / name


def prune(root: Path) -> list[str]:
    """Delete what no reader can be using: unfinished builds, stray CURRENT temporaries, and
    generations other than the live one and the one it replaced (kept for readers that still
    have it open). Call only while holding `lock_index(root)`. Returns the names removed.

    When CURRENT or its manifest cannot be read, or the manifest does not name its
    predecessor, no generation is removed: what to keep is then unknown.
    """
    keep: set[str] | None = None
    try:
        live = current_generation(root)
        manifest = read_manifest(live, root) if live is not None else {}
    except IndexLoadError:
        live, manifest = None, {}
    if live is not None and "previous_generation" in manifest:
        previous = manifest["previous_generation"]
        keep = {live.name} | ({previous} if isinstance(previous, str) else set())
    removed = []
    for child in sorted(root.iterdir()):
        name = child.name
        if name.startswith(BUILDING_PREFIX) and child.is_dir():
            shutil.rmtree(child, ignore_errors=True)
            checkpoint("unfinished build removed")
        elif name.startswith(f".{CURRENT}.") and name.endswith(".tmp"):
            child.unlink(missing_ok=True)
            checkpoint("stray CURRENT temporary removed")
        elif (keep is not None and GENERATION_NAME.fullmatch(name) and name not in keep
              and child.is_dir()):
            shutil.rmtree(child, ignore_errors=True)
            checkpoint("old generation removed")
        else:
            continue
        removed.append(name)
    return removed


@dataclass(frozen=True)
class StoredDocument:
    """One document as a generation holds it: its row, its chunks in order, their vectors."""

    document: Document
    chunks: list[Chunk]
    vectors: np.ndarray


def read_stored(generation: Path, doc_ids: Collection[str]) -> dict[str, StoredDocument]:
    """The stored rows and vectors of `doc_ids` (those present), read back without embedding.

    Vectors come back from the FAISS file itself (flat or IVF, float16 or float32, both keep
    every vector), so reusing them gives bit-for-bit the vectors the live index holds.
    """
    import faiss

    from index.vectors import read_vectors

    wanted = set(doc_ids)
    if not wanted:
        return {}
    db = sqlite3.connect(f"file:{generation / DATABASE}?mode=ro", uri=True)
    try:
        documents = {
            r[0]: Document(doc_id=r[0], title=r[1], source_path=r[2], content_hash=r[3],
                           text=r[4])
            for r in db.execute("SELECT doc_id, title, source_path, content_hash, text "
                                "FROM documents") if r[0] in wanted}
        rows: dict[str, list[int]] = {doc_id: [] for doc_id in documents}
        chunks: dict[str, list[Chunk]] = {doc_id: [] for doc_id in documents}
        for r in db.execute('SELECT row, doc_id, chunk_id, text, start, "end", title '
                            "FROM chunks ORDER BY row"):
            if r[1] in documents:
                rows[r[1]].append(r[0])
                chunks[r[1]].append(Chunk(doc_id=r[1], chunk_id=r[2], text=r[3], start=r[4],
                                          end=r[5], title=r[6]))
    finally:
        db.close()
    every = read_vectors(faiss.read_index(str(generation / VECTORS)))
    return {doc_id: StoredDocument(doc, chunks[doc_id], every[rows[doc_id]])
            for doc_id, doc in documents.items()}


def lexical_query(text: str) -> str:
    """An FTS5 MATCH expression that ORs the question's words, each quoted (no FTS syntax leaks).

    Example: lexical_query("Who met Tai?") -> '"met" OR "tai"'
    """
    found = words(text)
    kept = [w for w in found if w not in STOPWORDS] or found
    return " OR ".join(f'"{w}"' for w in dict.fromkeys(kept))


class Index:
    """A loaded, read-only generation. Safe to share between threads.

    stands_in_for is the damaged live generation this one is loaded in place of (see
    open_index), None when this one is live.
    """

    def __init__(self, root: Path, generation: Path, manifest: dict[str, Any],
                 vectors: Any, db: sqlite3.Connection) -> None:
        self.root = root
        self.generation = generation
        self.stands_in_for: Path | None = None
        self.manifest = manifest
        self._vectors = vectors
        self._db = db
        self._lock = threading.Lock()
        self._counted: dict[str, int] | None = None

    def __len__(self) -> int:
        return int(self._vectors.ntotal)

    def count(self) -> int:
        return len(self)

    def chunk_frequencies(self, words: Collection[str]) -> dict[str, int]:
        """How many chunks hold each of `words` (common.words.terms); absent ones left out."""
        wanted = sorted(set(words))
        if not wanted:
            return {}
        if self._counted is not None:  # a generation written before the terms table
            return {w: self._counted[w] for w in wanted if w in self._counted}
        found: dict[str, int] = {}
        try:
            for start in range(0, len(wanted), 500):  # SQLite's bound-variable limit
                part = wanted[start:start + 500]
                with self._lock:
                    found.update(self._db.execute(
                        f"SELECT term, chunks FROM terms WHERE term IN "
                        f"({','.join('?' * len(part))})", part).fetchall())
        except sqlite3.OperationalError:  # no such table: count once, keep the counts
            self._counted = count_terms(c.text for c in self.all_chunks())
            return self.chunk_frequencies(wanted)
        return found

    def search_dense(self, query: np.ndarray, k: int) -> list[tuple[int, float]]:
        """(row, cosine similarity) of the k nearest chunks, best first."""
        import numpy as np

        k = min(k, len(self))
        if k == 0:
            return []
        scores, rows = self._vectors.search(query.reshape(1, -1).astype(np.float32), k)
        return [(int(r), float(s)) for r, s in zip(rows[0], scores[0], strict=True) if r >= 0]

    def search_lexical(self, text: str, k: int) -> list[tuple[int, float]]:
        """(row, BM25 score, higher is better) of up to k chunks sharing words with `text`."""
        query = lexical_query(text)
        if not query:
            return []
        with self._lock:
            rows = self._db.execute(
                "SELECT rowid, bm25(chunks_fts) FROM chunks_fts WHERE chunks_fts MATCH ? "
                "ORDER BY bm25(chunks_fts) LIMIT ?", (query, k)).fetchall()
        return [(int(r), -float(s)) for r, s in rows]

    def chunks(self, rows: Iterable[int]) -> list[Chunk]:
        """The chunks at these rows, in the order asked."""
        wanted = list(rows)
        if not wanted:
            return []
        marks = ",".join("?" * len(wanted))
        with self._lock:
            found = self._db.execute(
                f'SELECT row, doc_id, chunk_id, text, start, "end", title FROM chunks '
                f"WHERE row IN ({marks})", wanted).fetchall()
        by_row = {r[0]: Chunk(doc_id=r[1], chunk_id=r[2], text=r[3], start=r[4], end=r[5],
                              title=r[6]) for r in found}
        return [by_row[r] for r in wanted]

    def document_text(self, doc_id: str) -> str:
        with self._lock:
            row = self._db.execute("SELECT text FROM documents WHERE doc_id = ?",
                                   (doc_id,)).fetchone()
        if row is None:
            raise KeyError(doc_id)
        return str(row[0])

    def all_chunks(self) -> list[Chunk]:
        return self.chunks(range(len(self)))

    def close(self) -> None:
        with self._lock:
            self._db.close()


def open_index(root: Path, model_id: str, dimension: int) -> Index:
    """Load the live generation under `root`, checked against the configured embedder and
    against the size and sha256 its manifest records for each of its files.

    A damaged live generation (IndexDamaged) is refused. When the generation it replaced (its
    manifest's previous_generation) is still on disk and passes every check, that one is loaded
    instead, with one line on stderr saying so, and its Index.stands_in_for names the damaged
    one; otherwise the IndexDamaged is raised, naming the file and the rebuild command.

    Sets faiss to one OpenMP thread for the process: single queries are what the app runs, and
    bench.retrieval measured 2 threads slower for them (exact at 1e4: 0.91 vs 0.41 ms idle, 32
    vs 0.66 ms with the other core busy, as it is while the generator runs). Never torch's
    threads: when torch loaded first, the two share torch's OpenMP runtime, and torch keeps the
    count it had (the reader and the embedder run 1.8x slower on one thread; keep_torch_threads).
    """
    import faiss

    generation = current_generation(root)
    if generation is None:
        raise IndexLoadError(f"no index at {root}; build one with: "
                             f"python -m ingest data/corpus --index {root}")
    try:
        index = _open_generation(root, generation, model_id, dimension)
    except IndexDamaged as damaged:
        stand_in = _open_previous(root, generation, model_id, dimension)
        if stand_in is None:
            raise
        index = stand_in
        print(f"{damaged}; answering from the previous generation {index.generation.name} "
              "meanwhile", file=sys.stderr)
    with keep_torch_threads():
        faiss.omp_set_num_threads(1)
    return index


@contextlib.contextmanager
def keep_torch_threads() -> Iterator[None]:
    """Undo what the block does to torch's thread count. faiss and torch each bring an OpenMP
    runtime, and whichever the process loads first serves both: with torch first,
    faiss.omp_set_num_threads(1) would set torch's threads too (index.faiss_store loads faiss
    before torch where it can, so each keeps its own)."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        yield
    finally:
        if torch is not None and torch.get_num_threads() != before:
            torch.set_num_threads(before)


def _open_previous(root: Path, damaged: Path, model_id: str, dimension: int) -> Index | None:
    """The generation `damaged` replaced, if it is on disk and passes every check, else None.

    Its name comes from a manifest that failed its checks, so it is trusted only as far as
    GENERATION_NAME (no path) and that generation's own checks go.
    """
    try:
        previous = read_manifest(damaged, root).get("previous_generation")
    except IndexLoadError:
        return None
    if (not isinstance(previous, str) or not GENERATION_NAME.fullmatch(previous)
            or previous == damaged.name or not (root / previous).is_dir()):
        return None
    try:
        index = _open_generation(root, root / previous, model_id, dimension)
    except IndexLoadError:
        return None
    index.stands_in_for = damaged
    return index


def _open_generation(root: Path, generation: Path, model_id: str, dimension: int) -> Index:
    """Check one generation's manifest and files, then open them."""
    import faiss

    from index.vectors import configure_search

    manifest = read_manifest(generation, root)
    # An older format has no seal and no sha256s: say which format it is, not "damaged". A
    # sealed one is checked first, so that a flipped digit in format_version reads as damage.
    if SEAL in manifest or manifest.get("format_version") == FORMAT_VERSION:
        verify_generation(generation, manifest, (VECTORS, DATABASE, LEXICAL), root)
    check_format(manifest, where=generation, index_root=root)
    # immutable=1: a generation never changes once published, so SQLite takes no locks and
    # never looks for a journal beside the file: it reads the bytes just hashed, nothing else.
    db: sqlite3.Connection | None = None
    try:
        try:
            vectors = faiss.read_index(str(generation / VECTORS))
            db = sqlite3.connect(f"file:{generation / DATABASE}?mode=ro&immutable=1", uri=True,
                                 check_same_thread=False)
            chunk_rows = db.execute("SELECT count(*) FROM chunks").fetchone()[0]
            db.execute("ATTACH DATABASE ? AS lexical",
                       (f"file:{generation / LEXICAL}?mode=ro&immutable=1",))
            lexical_rows = db.execute(
                "SELECT count(*) FROM lexical.chunks_fts_docsize").fetchone()[0]
        except (RuntimeError, sqlite3.Error) as err:
            raise IndexLoadError(f"index at {generation} cannot be read ({err}); "
                                 f"{rebuild_hint(root, fresh=True)}") from err
        check_manifest(manifest, model_id=model_id, dimension=dimension,
                       vector_count=int(vectors.ntotal), chunk_rows=chunk_rows,
                       where=generation, index_root=root)
        if lexical_rows != chunk_rows:
            raise IndexLoadError(f"index at {generation}: {LEXICAL} indexes {lexical_rows} "
                                 f"chunks, {DATABASE} holds {chunk_rows}; {rebuild_hint(root)}")
        if vectors.d != dimension:
            raise IndexLoadError(f"index at {generation} holds {vectors.d}-dim vectors, "
                                 f"expected {dimension}; {rebuild_hint(root)}")
        try:
            configure_search(vectors, manifest["faiss_index"])
        except (KeyError, TypeError, ValueError) as err:
            raise IndexLoadError(f"index at {generation}: the manifest's faiss_index does not "
                                 f"describe vectors.faiss ({err}); {rebuild_hint(root)}") from err
    except BaseException:
        if db is not None:
            db.close()
        raise
    return Index(root, generation, manifest, vectors, db)

"""index.store: one hand-written generation, searched, loaded, and refused when damaged.

The generation holds one document cut into three one-sentence chunks, embedded with the
bag-of-words fake, so every similarity below is worked out in a comment.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from common.records import Chunk, Document, make_chunk_id
from index.integrity import FILES, SEAL, describe_file, seal
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, IndexLoadError, make_manifest
from index.store import (
    CURRENT,
    DATABASE,
    LEXICAL,
    VECTORS,
    Index,
    current_generation,
    install_generation,
    lexical_query,
    open_index,
    prune,
    publish,
    read_stored,
    write_generation,
)
from tests.fakes import FakeEmbedder

TEXT = ("Tai met Wang in San Francisco. The talks covered tariffs. "
        "The Security Initiative was launched at the Boao Forum.")
SENTENCES = ["Tai met Wang in San Francisco.", "The talks covered tariffs.",
             "The Security Initiative was launched at the Boao Forum."]
GENERATION = "gen-20240101T000000000000"


def chunk_of(sentence: str) -> Chunk:
    start = TEXT.index(sentence)
    end = start + len(sentence)
    return Chunk("notes.txt", make_chunk_id("notes.txt", start, end, sentence), sentence,
                 start, end, "notes")


def manifest_of(doc: Document, chunk_count: int, model_id: str, dimension: int
                ) -> dict[str, object]:
    """The manifest of a one-document generation built on 2024-01-01."""
    return make_manifest(
        embedding_model=model_id, dimension=dimension, chunk_count=chunk_count,
        documents={doc.doc_id: {"sha256": doc.content_hash, "title": doc.title,
                                "chunks": chunk_count}},
        chunking={"max_tokens": 16, "overlap_tokens": 0}, built_at="2024-01-01T00:00:00+00:00")


def write_index(root: Path, embedder: FakeEmbedder) -> None:
    """ROOT/gen-.../ with rows 0, 1, 2 = SENTENCES, published as CURRENT."""
    doc = Document("notes.txt", "notes", TEXT, "corpus/notes.txt",
                   hashlib.sha256(TEXT.encode()).hexdigest())
    chunks = [chunk_of(s) for s in SENTENCES]
    manifest = manifest_of(doc, 3, embedder.model_id, embedder.dimension)
    write_generation(root / GENERATION, [doc], chunks, embedder.embed(SENTENCES), manifest)
    publish(root, GENERATION)


@pytest.fixture
def root(tmp_path: Path, embedder: FakeEmbedder) -> Path:
    """A fresh generation for the tests that damage it."""
    write_index(tmp_path, embedder)
    return tmp_path


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    """One read-only generation shared by the search tests (writing one costs fsyncs)."""
    directory = tmp_path_factory.mktemp("index")
    write_index(directory, FakeEmbedder())
    index = open_index(directory, FakeEmbedder.model_id, FakeEmbedder().dimension)
    yield index
    index.close()


def test_written_generation_opens_with_its_manifest(loaded: Index) -> None:
    assert (loaded.root / CURRENT).read_text().strip() == GENERATION
    assert current_generation(loaded.root) == loaded.root / GENERATION
    assert len(loaded) == 3
    m = loaded.manifest
    assert m["format_version"] == FORMAT_VERSION == 4
    assert m["faiss_index"]["kind"] == "IndexScalarQuantizer"  # exact scan, float16 vectors
    assert m["faiss_index"]["storage"] == "float16"
    assert m["faiss_index"]["recall_at_10"] == 1.0  # measured against float32 exact search
    assert m["embedding_model"] == "fake/bag-of-words"
    assert m["dimension"] == 10  # 9 vocabulary words + "unknown"
    assert m["chunk_count"] == 3
    assert m["documents"]["notes.txt"]["sha256"] == hashlib.sha256(TEXT.encode()).hexdigest()
    assert {"python", "numpy", "faiss-cpu"} <= set(m["library_versions"])
    assert loaded.document_text("notes.txt") == TEXT


def test_dense_search_ranks_the_matching_chunk_first(loaded: Index,
                                                     embedder: FakeEmbedder) -> None:
    # query "security initiative" = 0.707 on both words; row 2 has 4 vocabulary words, 0.5 each:
    # cosine = 2 * 0.707 * 0.5 = 0.707. Rows 0 and 1 share no word: 0.
    hits = loaded.search_dense(embedder.embed(["security initiative"])[0], k=3)
    assert hits[0][0] == 2
    assert hits[0][1] == pytest.approx(0.7071, abs=1e-3)  # float16 vectors
    assert sorted(score for _, score in hits[1:]) == pytest.approx([0.0, 0.0])
    # "Who met Tai?": 0.707 on tai and met; row 0 is 0.577 on tai, met, wang: 2 * 0.408 = 0.816
    (row, score), = loaded.search_dense(embedder.embed(["Who met Tai?"])[0], k=1)
    assert (row, score) == (0, pytest.approx(0.8165, abs=1e-3))


def test_dense_search_asks_for_more_than_there_is(loaded: Index,
                                                  embedder: FakeEmbedder) -> None:
    assert len(loaded.search_dense(embedder.embed(["tai"])[0], k=50)) == 3


def test_lexical_search_finds_a_rare_word_the_vocabulary_lacks(loaded: Index) -> None:
    assert [row for row, _ in loaded.search_lexical("Where is Boao?", 5)] == [2]
    assert [row for row, _ in loaded.search_lexical("Francisco", 5)] == [0]
    # porter stemming on both sides: "tariff" finds "tariffs"
    assert [row for row, _ in loaded.search_lexical("tariff", 5)] == [1]


@pytest.mark.parametrize("hostile", [
    '"', '"tai', "AND", "tai AND", "OR OR", "NOT wang", "*", "tai*", "text:tai", "tai:",
    "(", ")", "(tai", "NEAR(tai wang)", "^tai", "-tai", "+", "", "   ", "?!", "the of and",
    "Wang's", "chunks_fts MATCH 'x'", "'; DROP TABLE chunks; --",
])
def test_lexical_search_survives_fts5_syntax_in_questions(loaded: Index, hostile: str) -> None:
    hits = loaded.search_lexical(hostile, 5)
    assert all(0 <= row < 3 for row, _ in hits)
    assert len(loaded) == 3  # nothing was dropped either


def test_lexical_search_edge_cases(loaded: Index) -> None:
    assert loaded.search_lexical("", 5) == []
    assert loaded.search_lexical("*", 5) == []
    # only stopwords: they are searched rather than nothing; "the" is in rows 1 and 2
    assert sorted(row for row, _ in loaded.search_lexical("the", 5)) == [1, 2]
    # BM25 is reported higher-is-better
    hits = loaded.search_lexical("tai wang tariffs", 5)
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
    assert len(loaded.search_lexical("the", 1)) == 1


@pytest.mark.parametrize(("question", "expected"), [
    ("Who met Tai?", '"met" OR "tai"'),  # the docstring's example
    ('Tai AND "Wang"*', '"tai" OR "wang"'),  # operators and quotes become plain words
    ("Xi's visit: (2023)", '"xi" OR "visit" OR "2023"'),
    ("Tai tai TAI", '"tai"'),  # one term per word
    ("the of the", '"the" OR "of"'),  # only stopwords: keep them
    ("", ""),
    ("*:()", ""),
])
def test_lexical_query(question: str, expected: str) -> None:
    assert lexical_query(question) == expected


def test_chunks_come_back_in_the_order_asked(loaded: Index) -> None:
    assert [c.text for c in loaded.chunks([2, 0, 1])] == [SENTENCES[2], SENTENCES[0],
                                                          SENTENCES[1]]
    assert loaded.chunks([]) == []
    assert [c.text for c in loaded.chunks(iter([1]))] == [SENTENCES[1]]
    for chunk in loaded.all_chunks():
        assert loaded.document_text(chunk.doc_id)[chunk.start:chunk.end] == chunk.text


def test_unknown_document_is_a_key_error(loaded: Index) -> None:
    with pytest.raises(KeyError):
        loaded.document_text("missing.txt")


def test_write_generation_refuses_mismatched_vectors(tmp_path: Path,
                                                     embedder: FakeEmbedder) -> None:
    with pytest.raises(ValueError, match="1 chunks but 2 vectors"):
        write_generation(tmp_path / "gen-x", [], [chunk_of(SENTENCES[0])],
                         embedder.embed(["a", "b"]), {"dimension": embedder.dimension})


def test_a_duplicate_chunk_id_fails_the_write(tmp_path: Path, embedder: FakeEmbedder) -> None:
    """The unique index on chunk_id is built after the inserts (faster); it must still refuse."""
    doc = Document("notes.txt", "notes", TEXT, "corpus/notes.txt",
                   hashlib.sha256(TEXT.encode()).hexdigest())
    twice = [chunk_of(SENTENCES[0]), chunk_of(SENTENCES[0])]
    manifest = manifest_of(doc, 2, embedder.model_id, embedder.dimension)
    with pytest.raises(sqlite3.IntegrityError, match="chunk_id"):
        write_generation(tmp_path / GENERATION, [doc], twice,
                         embedder.embed([SENTENCES[0]] * 2), manifest)
    assert current_generation(tmp_path) is None


def one_chunk_per_sentence(name: str, sentences: list[str]) -> tuple[Document, list[Chunk]]:
    """NAME.txt: the sentences joined by spaces, each sentence one chunk."""
    doc_id, body = f"{name}.txt", " ".join(sentences)
    chunks, start = [], 0
    for text in sentences:
        chunks.append(Chunk(doc_id, make_chunk_id(doc_id, start, start + len(text), text),
                            text, start, start + len(text), name))
        start += len(text) + 1
    return Document(doc_id, name, body, doc_id, hashlib.sha256(body.encode()).hexdigest()), chunks


def test_the_fts_hash_size_changes_the_build_not_what_search_finds(
        tmp_path: Path, embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    import index.store as store

    words = [f"w{i}" for i in range(40)]
    doc, chunks = one_chunk_per_sentence("many", [
        " ".join(words[(i * k) % 40] for k in range(1, 9)) + "." for i in range(3000)])
    manifest = manifest_of(doc, len(chunks), embedder.model_id, embedder.dimension)
    vectors = embedder.embed([c.text for c in chunks])
    found, configured = {}, {}
    chosen = store.FTS_HASH_BYTES
    for hash_bytes in (chosen, 4096):
        monkeypatch.setattr(store, "FTS_HASH_BYTES", hash_bytes)
        root = tmp_path / str(hash_bytes)
        write_generation(root / GENERATION, [doc], chunks, vectors, manifest)
        publish(root, GENERATION)
        with sqlite3.connect(root / GENERATION / LEXICAL) as db:
            configured[hash_bytes] = db.execute(
                "SELECT v FROM chunks_fts_config WHERE k = 'hashsize'").fetchone()
        index = open_index(root, embedder.model_id, embedder.dimension)
        found[hash_bytes] = [index.search_lexical(q, 10) for q in ("w3 w7", "w11", "w2 w39")]
        index.close()
    assert found[chosen] == found[4096]
    assert all(hits for hits in found[4096])
    # The build's speed is bench.peers' to show; here, that the setting reached SQLite.
    assert configured == {chosen: (chosen,), 4096: (4096,)}


def test_chunk_ids_are_looked_up_through_an_index(loaded: Index) -> None:
    with sqlite3.connect(loaded.generation / DATABASE) as db:
        plan = " ".join(str(r) for r in db.execute(
            "EXPLAIN QUERY PLAN SELECT row FROM chunks WHERE chunk_id = ?", ("x",)))
    assert "USING COVERING INDEX chunks_chunk_id" in plan or "USING INDEX" in plan


def load_error(root: Path, model_id: str = "fake/bag-of-words", dimension: int = 10) -> str:
    with pytest.raises(IndexLoadError) as caught:
        open_index(root, model_id, dimension)
    message = str(caught.value)
    assert "python -m ingest" in message  # every refusal says how to rebuild
    return message


def test_other_embedding_model_is_refused(root: Path) -> None:
    message = load_error(root, model_id="sentence-transformers/all-MiniLM-L6-v2")
    assert "embedding_model" in message and "fake/bag-of-words" in message


def test_other_dimension_is_refused(root: Path) -> None:
    assert "dimension" in load_error(root, dimension=384)


def reseal(generation: Path, change: Callable[[dict], object] = lambda m: None) -> None:
    """Apply `change` to the manifest, then record the files and seal it as write_generation
    does: what the checks behind the sha256 ones see when the writer itself got it wrong."""
    path = generation / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    change(manifest)
    manifest[FILES] = {name: describe_file(generation / name) for name in manifest[FILES]}
    path.write_text(json.dumps(seal(manifest)))


def test_tampered_chunk_count_is_refused(root: Path) -> None:
    reseal(root / GENERATION, lambda m: m.update(chunk_count=99))
    message = load_error(root)
    assert "chunk_count is 99" in message and "holds 3" in message


def test_other_format_version_is_refused(root: Path) -> None:
    path = root / GENERATION / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 1  # as a release before the sha256s wrote it: no seal
    del manifest[FILES], manifest[SEAL]
    path.write_text(json.dumps(manifest))
    message = load_error(root)
    assert "manifest format_version is 1 but this program expects 4" in message
    assert "damaged" not in message


def test_a_faiss_index_description_of_another_kind_is_refused(root: Path) -> None:
    reseal(root / GENERATION, lambda m: m["faiss_index"].update(kind="IndexIVFFlat"))
    message = load_error(root)
    assert "faiss_index" in message and "IndexIVFFlat" in message and "rebuild" in message


def test_missing_chunk_row_is_refused(root: Path) -> None:
    db = sqlite3.connect(root / GENERATION / DATABASE)
    db.execute("DELETE FROM chunks WHERE row = 2")
    db.commit()
    db.close()
    reseal(root / GENERATION)
    assert "3 vectors but 2 chunk rows" in load_error(root)


def test_full_text_index_of_other_chunks_is_refused(root: Path) -> None:
    db = sqlite3.connect(root / GENERATION / LEXICAL)
    db.execute("INSERT INTO chunks_fts(rowid, text) VALUES (3, 'one chunk too many')")
    db.commit()
    db.close()
    reseal(root / GENERATION)
    assert f"{LEXICAL} indexes 4 chunks, {DATABASE} holds 3" in load_error(root)


@pytest.mark.parametrize("damage", [
    lambda g: (g / MANIFEST_NAME).write_text("{not json"),
    lambda g: (g / MANIFEST_NAME).write_text("[1, 2]"),
    lambda g: (g / MANIFEST_NAME).unlink(),
    lambda g: (g / VECTORS).write_bytes(b"not a faiss file"),
    lambda g: (g / DATABASE).unlink(),
    lambda g: (g / DATABASE).write_bytes(b"not a database" * 100),
    lambda g: (g / LEXICAL).unlink(),
    lambda g: (g / LEXICAL).write_bytes(b"not a database" * 100),
], ids=["bad-json", "json-list", "no-manifest", "bad-vectors", "no-database", "bad-database",
        "no-lexical", "bad-lexical"])
def test_damaged_generation_is_refused(root: Path, damage: Callable[[Path], object]) -> None:
    damage(root / GENERATION)
    assert GENERATION in load_error(root)


def test_no_current_says_how_to_build(tmp_path: Path) -> None:
    assert current_generation(tmp_path) is None
    message = load_error(tmp_path)
    assert f"no index at {tmp_path}" in message
    assert f"python -m ingest data/corpus --index {tmp_path}" in message


@pytest.mark.parametrize("name", ["../../etc", "", "gen-a/../../x", "CURRENT"])
def test_current_naming_no_generation_is_refused(root: Path, name: str) -> None:
    (root / CURRENT).write_text(name + "\n")
    assert "names no generation" in load_error(root)


def test_current_naming_a_missing_generation_is_refused(root: Path) -> None:
    (root / CURRENT).write_text("gen-19990101\n")
    assert "gen-19990101" in load_error(root)


def test_publish_switches_current_without_leftovers(root: Path) -> None:
    publish(root, "gen-next")
    assert (root / CURRENT).read_text() == "gen-next\n"
    assert not [p for p in root.iterdir() if p.name.endswith(".tmp")]


def test_read_stored_gives_back_rows_and_the_stored_vectors(loaded: Index,
                                                            embedder: FakeEmbedder) -> None:
    stored = read_stored(loaded.generation, ["notes.txt", "absent.txt"])
    assert list(stored) == ["notes.txt"]
    notes = stored["notes.txt"]
    assert notes.document.text == TEXT and notes.document.source_path == "corpus/notes.txt"
    assert [c.text for c in notes.chunks] == SENTENCES
    np.testing.assert_array_equal(notes.vectors, loaded._vectors.reconstruct_n(0, 3))
    np.testing.assert_allclose(notes.vectors, embedder.embed(SENTENCES), atol=1e-3)
    assert read_stored(loaded.generation, []) == {}


def test_prune_keeps_the_live_generation_and_its_predecessor(root: Path) -> None:
    manifest_path = root / GENERATION / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    manifest["previous_generation"] = "gen-20231231T000000000000"
    manifest_path.write_text(json.dumps(manifest))
    for name in ("gen-20231231T000000000000", "gen-20231230T000000000000",
                 "gen-20240102T000000000000", ".building-gen-20240103T000000000000"):
        (root / name).mkdir()
    (root / ".CURRENT.42.tmp").write_text("gen-20240102T000000000000\n")
    removed = prune(root)
    # the older generation, an unpublished one (a crash before the switch) and the leftovers
    assert removed == [".CURRENT.42.tmp", ".building-gen-20240103T000000000000",
                       "gen-20231230T000000000000", "gen-20240102T000000000000"]
    assert sorted(p.name for p in root.iterdir()) == sorted([
        CURRENT, GENERATION, "gen-20231231T000000000000"])


def test_prune_keeps_every_generation_when_it_cannot_tell(root: Path) -> None:
    # a manifest written before previous_generation existed: which one readers use is unknown
    manifest_path = root / GENERATION / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text())
    del manifest["previous_generation"]
    manifest_path.write_text(json.dumps(manifest))
    (root / "gen-20231230T000000000000").mkdir()
    (root / ".building-gen-x").mkdir()
    assert prune(root) == [".building-gen-x"]
    (root / CURRENT).write_text("garbage\n")
    assert prune(root) == []
    assert (root / "gen-20231230T000000000000").exists()


def test_install_generation_refuses_odd_names(tmp_path: Path) -> None:
    (tmp_path / ".building-x").mkdir()
    with pytest.raises(ValueError, match="not a generation name"):
        install_generation(tmp_path, tmp_path / ".building-x", "../escape")
    assert not (tmp_path / CURRENT).exists()


def test_a_large_index_is_approximate_recorded_and_configured_on_open(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Above the exact threshold (lowered here from 20,000 so the test stays fast) the
    # generation holds an IVF index; the manifest records its nprobe and measured recall, and
    # open_index applies them (the FAISS file alone would search 1 list) with one thread.
    import faiss

    from index import vectors as vector_index

    monkeypatch.setattr(vector_index, "EXACT_MAX_VECTORS", 500)
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(30, 10))
    vectors = centres[rng.integers(0, 30, 3000)] + 0.3 * rng.normal(size=(3000, 10))
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    doc, chunks = one_chunk_per_sentence("big", [f"passage {i}." for i in range(3000)])
    manifest = manifest_of(doc, 3000, "fake/bag-of-words", 10)
    faiss.omp_set_num_threads(2)
    search = write_generation(tmp_path / GENERATION, [doc], chunks, vectors, manifest)
    publish(tmp_path, GENERATION)
    assert search["kind"] == "IndexIVFScalarQuantizer" and search["recall_at_10"] >= 0.95

    index = open_index(tmp_path, "fake/bag-of-words", 10)
    assert index.manifest["faiss_index"] == search
    assert faiss.extract_index_ivf(index._vectors).nprobe == search["params"]["nprobe"] > 1
    assert faiss.omp_get_max_threads() == 1
    (row, score), = index.search_dense(vectors[1234], 1)
    assert row == 1234 and score == pytest.approx(1.0, abs=1e-3)
    # unchanged documents are read back from the IVF lists for the next generation
    stored = read_stored(tmp_path / GENERATION, ["big.txt"])["big.txt"]
    np.testing.assert_allclose(stored.vectors, vectors, atol=1e-3)
    index.close()


def test_write_generation_marks_its_checkpoints_in_one_order_from_one_thread(
        tmp_path: Path, embedder: FakeEmbedder, monkeypatch: pytest.MonkeyPatch) -> None:
    # The vectors are built in a second thread; the kill test counts checkpoints to kill at
    # the Nth, so they must come from the calling thread in a fixed order (regression: the
    # thread's own checkpoint made the Nth step differ between runs).
    import threading

    from index import store

    seen: list[tuple[str, str]] = []
    monkeypatch.setattr(store, "checkpoint",
                        lambda step: seen.append((step, threading.current_thread().name)))
    write_index(tmp_path, embedder)  # write_generation, then publish
    assert {thread for _, thread in seen} == {threading.current_thread().name}
    assert [step for step, _ in seen][:13] == [
        "generation directory created", "schema created", "documents inserted",
        "chunks inserted", "database committed", "full-text index built", "vectors written",
        "manifest written", "vectors.faiss fsynced", "chunks.sqlite fsynced",
        "lexical.sqlite fsynced", "manifest.json fsynced", "generation directory fsynced"]

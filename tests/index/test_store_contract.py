"""One contract, every vector store: FAISS + SQLite and Milvus (milvus-lite) pass the same tests.

Three one-sentence documents embedded with the bag-of-words fake (tests.fakes), so each score
below can be checked by hand; rows are whatever the store calls them, so the tests compare the
chunks behind them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from common.records import Chunk, Document, make_chunk_id
from index.manifest import IndexLoadError
from index.store import current_generation
from index.vector_store import (
    Changes,
    SearchableStore,
    VectorStore,
    normalized_uri,
    open_store,
    store_kind,
)
from tests.fakes import FakeEmbedder

TEXTS = {"trade.txt": "Tai met Wang in San Francisco.",
         "tariffs.txt": "The talks covered tariffs.",
         "security.txt": "The Security Initiative was launched at the Boao Forum."}
STORES = ["faiss", "milvus-lite"]


def document(doc_id: str, text: str) -> Document:
    return Document(doc_id, doc_id.removesuffix(".txt"), text, f"corpus/{doc_id}",
                    hashlib.sha256(text.encode()).hexdigest())


def chunk(doc_id: str, text: str) -> Chunk:
    return Chunk(doc_id, make_chunk_id(doc_id, 0, len(text), text), text, 0, len(text),
                 doc_id.removesuffix(".txt"))


def add(store: VectorStore, texts: dict[str, str]) -> None:
    chunks = [chunk(d, t) for d, t in texts.items()]
    store.add([document(d, t) for d, t in texts.items()], chunks,
              FakeEmbedder().embed([c.text for c in chunks]))


def uri_for(kind: str, tmp_path: Path) -> str:
    return "" if kind == "faiss" else normalized_uri(str(tmp_path / "milvus" / "store.db"))


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """An empty store of each kind over a fresh index directory."""
    opened = open_store(tmp_path / "index", FakeEmbedder.model_id, FakeEmbedder().dimension,
                        uri=uri_for(request.param, tmp_path))
    yield opened
    opened.close()


@pytest.fixture
def filled(store: VectorStore) -> VectorStore:
    add(store, TEXTS)
    return store


def doc_ids(store: VectorStore, hits: list[tuple[int, float]]) -> list[str]:
    return [c.doc_id for c in store.chunks(row for row, _ in hits)]


def test_an_empty_store_counts_nothing_and_finds_nothing(store: VectorStore) -> None:
    assert isinstance(store, VectorStore) and isinstance(store, SearchableStore)
    assert store.count() == 0
    assert store.search_dense(FakeEmbedder().embed(["tai"])[0], 5) == []
    assert store.search_lexical("tai", 5) == []
    assert store.generation is None and store.manifest == {}


def test_added_documents_are_counted_and_recorded(filled: VectorStore) -> None:
    assert filled.count() == 3
    assert filled.generation == current_generation(filled.root)
    assert set(filled.manifest["documents"]) == set(TEXTS)
    assert filled.manifest["chunk_count"] == 3
    assert filled.document_text("security.txt") == TEXTS["security.txt"]
    with pytest.raises(KeyError):
        filled.document_text("missing.txt")


def test_dense_search_ranks_by_cosine(filled: VectorStore) -> None:
    # "Who met Tai?" = 0.707 on tai and met; trade.txt is 0.577 on tai, met, wang: 0.816.
    hits = filled.search_dense(FakeEmbedder().embed(["Who met Tai?"])[0], 3)
    assert doc_ids(filled, hits)[0] == "trade.txt"
    assert hits[0][1] == pytest.approx(0.8165, abs=1e-3)
    assert len(filled.search_dense(FakeEmbedder().embed(["tai"])[0], 50)) == 3


def test_lexical_search_stems_and_ranks_higher_first(filled: VectorStore) -> None:
    assert doc_ids(filled, filled.search_lexical("Where is Boao?", 5)) == ["security.txt"]
    assert doc_ids(filled, filled.search_lexical("tariff", 5)) == ["tariffs.txt"]  # porter
    hits = filled.search_lexical("tai wang tariffs", 5)
    assert set(doc_ids(filled, hits)) == {"trade.txt", "tariffs.txt"}
    assert [s for _, s in hits] == sorted((s for _, s in hits), reverse=True)
    assert all(s > 0 for _, s in hits)
    # only stopwords: they are searched rather than nothing ("the": two documents)
    assert sorted(doc_ids(filled, filled.search_lexical("the", 5))) == [
        "security.txt", "tariffs.txt"]


@pytest.mark.parametrize("hostile", ['"', "tai AND", "NOT wang", "*", "(tai", "", "   ",
                                     "'; DROP TABLE chunks; --", 'doc_id in ["x"]'])
def test_lexical_search_survives_query_syntax(filled: VectorStore, hostile: str) -> None:
    assert {c.doc_id for c in filled.chunks(r for r, _ in filled.search_lexical(hostile, 5))
            } <= set(TEXTS)
    assert filled.count() == 3


def test_chunks_come_back_in_the_order_asked(filled: VectorStore) -> None:
    rows = [r for r, _ in filled.search_dense(FakeEmbedder().embed(["security"])[0], 3)]
    got = filled.chunks(list(reversed(rows)))
    assert [c.doc_id for c in got] == list(reversed(doc_ids(filled, [(r, 0) for r in rows])))
    assert {c.text for c in got} == set(TEXTS.values())


def test_chunk_frequencies_are_kept_at_write_time(filled: VectorStore) -> None:
    # common.words.terms: stemmed content words, counted once per chunk
    assert filled.chunk_frequencies(["tai", "talk", "tariff", "launch", "nowhere"]) == {
        "tai": 1, "talk": 1, "tariff": 1, "launch": 1}
    add(filled, {"more.txt": "More talks on tariffs."})
    assert filled.chunk_frequencies(["talk", "tariff", "tai"]) == {
        "talk": 2, "tariff": 2, "tai": 1}
    filled.delete(["tariffs.txt", "trade.txt"])
    assert filled.chunk_frequencies(["talk", "tariff", "tai"]) == {"talk": 1, "tariff": 1}


def test_delete_by_document_removes_its_chunks_everywhere(filled: VectorStore) -> None:
    filled.delete(["trade.txt"])
    assert filled.count() == 2
    assert "trade.txt" not in filled.manifest["documents"]
    assert "trade.txt" not in doc_ids(filled, filled.search_dense(
        FakeEmbedder().embed(["tai met wang"])[0], 5))
    assert filled.search_lexical("Francisco", 5) == []
    with pytest.raises(KeyError):
        filled.document_text("trade.txt")
    filled.delete(["not-indexed.txt"])  # nothing to drop is no error
    assert filled.count() == 2


def test_adding_a_document_again_replaces_it(filled: VectorStore) -> None:
    add(filled, {"trade.txt": "Tai met Xi at the forum."})
    assert filled.count() == 3
    assert filled.document_text("trade.txt") == "Tai met Xi at the forum."
    assert filled.search_lexical("Francisco", 5) == []
    assert doc_ids(filled, filled.search_lexical("Xi", 5)) == ["trade.txt"]


def test_a_batch_removes_and_adds_in_one_generation(filled: VectorStore) -> None:
    before = filled.generation
    from index.store import lock_index

    chunks = [chunk("new.txt", "Xi spoke.")]
    with lock_index(filled.root):
        written = filled.write(Changes(removed=frozenset({"trade.txt", "tariffs.txt"}),
                                       documents=[document("new.txt", "Xi spoke.")],
                                       chunks=chunks, vectors=FakeEmbedder().embed(["Xi"]),
                                       moved={"security.txt": "elsewhere/security.txt"}))
    assert (written.documents, written.chunks) == (2, 2)
    assert filled.generation is not None and filled.generation != before
    assert filled.manifest["previous_generation"] == before.name  # type: ignore[union-attr]
    assert filled.manifest["documents"]["security.txt"]["source_path"] == (
        "elsewhere/security.txt")
    assert sorted(filled.stored_documents(["new.txt", "trade.txt"])) == ["new.txt"]


def test_fresh_drops_everything_indexed_before(filled: VectorStore) -> None:
    from index.store import lock_index

    with lock_index(filled.root):
        filled.write(Changes(documents=[document("new.txt", "Xi spoke.")],
                             chunks=[chunk("new.txt", "Xi spoke.")],
                             vectors=FakeEmbedder().embed(["Xi"]), fresh=True))
    assert filled.count() == 1 and list(filled.manifest["documents"]) == ["new.txt"]


def test_reload_sees_what_another_writer_published(filled: VectorStore, tmp_path: Path
                                                   ) -> None:
    assert filled.count() == 3  # a store reads its own writes from the next read on
    assert filled.reload() is False  # nothing new since
    kind = store_kind(filled.manifest.get("vector_store", {}).get("uri", ""))
    filled.close()  # milvus-lite serves one client per file
    writer = open_store(filled.root, FakeEmbedder.model_id, FakeEmbedder().dimension)
    assert store_kind(writer.manifest.get("vector_store", {}).get("uri", "")) == kind
    writer.delete(["security.txt"])
    writer.close()
    reader = open_store(filled.root, FakeEmbedder.model_id, FakeEmbedder().dimension)
    assert reader.count() == 2 and "security.txt" not in reader.manifest["documents"]
    reader.close()


def test_reload_follows_a_new_generation(filled: VectorStore) -> None:
    before = filled.generation
    filled.delete(["security.txt"])
    generation = filled.generation
    assert generation != before
    assert filled.reload() is False  # the writer is already on it


def test_vectors_must_match_the_chunks(store: VectorStore) -> None:
    with pytest.raises(ValueError, match="vector matrix"):
        store.add([document("a.txt", "Tai.")], [chunk("a.txt", "Tai.")],
                  FakeEmbedder().embed(["a", "b"]))


def test_store_kinds() -> None:
    assert store_kind("") == store_kind("faiss") == "faiss"
    assert store_kind("var/x.db") == "milvus-lite"
    assert store_kind("http://10.0.0.5:19530") == store_kind("https://milvus.example") == "milvus"
    with pytest.raises(ValueError, match="neither"):
        store_kind("var/index")
    assert normalized_uri("x.db", Path("/srv")) == "/srv/x.db"
    assert normalized_uri("http://h:19530/") == "http://h:19530"


def test_an_unreachable_milvus_is_one_clear_line(tmp_path: Path) -> None:
    with pytest.raises(IndexLoadError) as caught:
        open_store(tmp_path, FakeEmbedder.model_id, 10, uri="http://127.0.0.1:9")
    message = str(caught.value)
    assert "http://127.0.0.1:9" in message and "\n" not in message
    assert "cannot open Milvus" in message


def test_the_setting_comes_from_the_environment_else_the_settings_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from common.settings_file import SettingsError
    from index.vector_store import configured_store

    settings = tmp_path / "settings.toml"
    settings.write_text('[paths]\nvector_store = "stores/m.db"\n', encoding="utf-8")
    monkeypatch.delenv("RAG_VECTOR_STORE", raising=False)
    assert configured_store(settings) == str(tmp_path / "stores" / "m.db")  # beside the file
    monkeypatch.setenv("RAG_VECTOR_STORE", "http://milvus:19530/")
    assert configured_store(settings) == "http://milvus:19530"
    monkeypatch.delenv("RAG_VECTOR_STORE")
    settings.write_text('[paths]\nvector_store = "var/index"\n', encoding="utf-8")
    with pytest.raises(IndexLoadError, match=r"^\[paths\] vector_store: vector_store 'var/index'"):
        configured_store(settings)
    settings.write_text("[paths]\nvector_store = 3\n", encoding="utf-8")
    with pytest.raises(SettingsError, match="vector_store: expected a URI or path in quotes"):
        configured_store(settings)

"""Index integrity: each generation's files are checked against the sha256 its manifest records.

A flipped byte used to give a wrong answer silently (chunks.sqlite) or a traceback at query
time (lexical.sqlite: "vtable constructor failed"). Now loading refuses the generation in one
line naming the file and the command that rebuilds it, and answers from the previous generation
while that one is still on disk and intact.

Indexes are the two-document corpus built with the fake embedder (tests.fakes); `two` builds
it twice, trade.txt changed in between, so the live generation has an intact predecessor.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

import pytest

from index.integrity import FILES, SEAL, IndexDamaged, seal, verify_generation
from index.manifest import FORMAT_VERSION, MANIFEST_NAME, IndexLoadError, read_manifest
from index.store import DATABASE, LEXICAL, VECTORS, current_generation, open_index
from ingest.build import build_index
from ingest.operations import run_ingest
from tests.fakes import FakeEmbedder

DATA_FILES = (VECTORS, DATABASE, LEXICAL)
CHANGED_TRADE = "Katherine Tai met Wang Wentao again, in Beijing.\n"


@pytest.fixture
def one(tmp_path: Path, corpus_dir: Path, embedder: FakeEmbedder) -> Path:
    """An index root with one generation, so nothing to fall back to."""
    root = tmp_path / "index"
    build_index([corpus_dir], root, embedder)
    return root


@pytest.fixture
def two(tmp_path: Path, corpus_dir: Path, embedder: FakeEmbedder) -> tuple[Path, Path, Path]:
    """(root, previous generation, live generation): trade.txt changed between the builds."""
    root = tmp_path / "index"
    build_index([corpus_dir], root, embedder)
    previous = current_generation(root)
    (corpus_dir / "trade.txt").write_text(CHANGED_TRADE)
    build_index([corpus_dir], root, embedder)
    live = current_generation(root)
    assert previous is not None and live is not None and previous != live
    assert read_manifest(live, root)["previous_generation"] == previous.name
    return root, previous, live


def flip(path: Path, at: int, mask: int = 0xFF) -> bytes:
    """XOR one byte of the file with `mask`; returns the original bytes."""
    original = path.read_bytes()
    data = bytearray(original)
    data[at] ^= mask
    path.write_bytes(bytes(data))
    return original


def refusal(root: Path, embedder: FakeEmbedder) -> str:
    """open_index's one-line refusal, checked to carry the command that repairs the index."""
    with pytest.raises(IndexLoadError) as caught:
        open_index(root, embedder.model_id, embedder.dimension)
    message = str(caught.value)
    assert "\n" not in message
    assert f"python -m ingest data/corpus --index {root} --rebuild" in message
    return message


def test_a_clean_index_loads_and_its_manifest_records_every_file(
        one: Path, embedder: FakeEmbedder, capsys: pytest.CaptureFixture[str]) -> None:
    index = open_index(one, embedder.model_id, embedder.dimension)
    assert index.generation == current_generation(one) and index.stands_in_for is None
    assert sorted(index.manifest[FILES]) == sorted(DATA_FILES)
    assert index.manifest == seal(index.manifest)  # the seal holds
    assert index.manifest["format_version"] == FORMAT_VERSION == 4
    assert len(index.all_chunks()) == len(index) == 2
    index.close()
    assert capsys.readouterr().err == ""


def spread(size: int, count: int = 150) -> list[int]:
    """About `count` offsets across a file of `size` bytes, both ends included."""
    return sorted({0, size - 1} | set(range(0, size, max(1, size // count)))
                  | set(random.Random(size).sample(range(size), min(size, 20))))


@pytest.mark.parametrize("name", DATA_FILES)
def test_a_flipped_byte_anywhere_in_a_data_file_is_refused(
        one: Path, embedder: FakeEmbedder, name: str) -> None:
    path = current_generation(one) / name
    size = path.stat().st_size
    for at in spread(size):
        original = flip(path, at)
        message = refusal(one, embedder)
        assert f"is damaged: {name} does not match the sha256 its manifest records" in message, at
        path.write_bytes(original)
    open_index(one, embedder.model_id, embedder.dimension).close()  # restored: it loads


@pytest.mark.parametrize("mask", [0x01, 0x80])
def test_a_flipped_byte_anywhere_in_the_manifest_is_refused(
        one: Path, embedder: FakeEmbedder, mask: int) -> None:
    # Every byte: where a flip lands decides whether the JSON still parses (then the seal
    # fails) or not (then it is "not valid JSON"); 0x80 makes the text invalid UTF-8 anywhere.
    path = current_generation(one) / MANIFEST_NAME
    size = path.stat().st_size
    for at in range(size) if mask == 0x01 else spread(size):
        original = flip(path, at, mask)
        message = refusal(one, embedder)
        assert MANIFEST_NAME in message, at
        path.write_bytes(original)


def test_truncated_missing_and_extra_data_are_refused(one: Path, embedder: FakeEmbedder) -> None:
    generation = current_generation(one)
    database = generation / DATABASE
    original = database.read_bytes()
    database.write_bytes(original[:-1])
    assert f"{DATABASE} is {len(original) - 1} bytes, the manifest records {len(original)}" in (
        refusal(one, embedder))
    database.write_bytes(original + b"\0")
    assert f"{DATABASE} is {len(original) + 1} bytes" in refusal(one, embedder)
    database.unlink()
    assert f"{DATABASE} is missing" in refusal(one, embedder)


def test_a_manifest_without_a_file_s_sha256_is_refused(one: Path, embedder: FakeEmbedder) -> None:
    path = current_generation(one) / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    del manifest[FILES][LEXICAL]
    path.write_text(json.dumps(seal(manifest)))  # sealed as if written so
    assert f"manifest.json records no sha256 for {LEXICAL}" in refusal(one, embedder)


@pytest.mark.parametrize("name", [*DATA_FILES, MANIFEST_NAME])
def test_the_previous_generation_answers_while_the_live_one_is_damaged(
        two: tuple[Path, Path, Path], embedder: FakeEmbedder, name: str,
        capsys: pytest.CaptureFixture[str]) -> None:
    root, previous, live = two
    path = live / name
    # in the manifest, a digit of built_at: still valid JSON, so only the seal tells
    at = path.read_bytes().index(b'"built_at": "') + 13 if name == MANIFEST_NAME else 100
    flip(path, at, 0x01)
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert (index.generation, index.stands_in_for) == (previous, live)
    assert current_generation(root) == live  # nothing on disk was changed
    assert "Katherine Tai met Wang Wentao in San Francisco" in " ".join(
        c.text for c in index.all_chunks())  # the old trade.txt
    index.close()
    line, = capsys.readouterr().err.splitlines()
    assert line.startswith(f"index at {live} is damaged: {name} ")
    assert f"python -m ingest data/corpus --index {root} --rebuild" in line
    assert line.endswith(f"answering from the previous generation {previous.name} meanwhile")


def test_no_fallback_when_the_previous_generation_is_damaged_or_gone(
        two: tuple[Path, Path, Path], embedder: FakeEmbedder,
        capsys: pytest.CaptureFixture[str]) -> None:
    root, previous, live = two
    flip(live / LEXICAL, 200)
    flip(previous / DATABASE, 200)
    message = refusal(root, embedder)
    assert message.startswith(f"index at {live} is damaged: {LEXICAL} ")  # the live one's fault
    shutil.rmtree(previous)
    assert refusal(root, embedder) == message
    assert capsys.readouterr().err == ""


def test_a_previous_generation_of_an_older_format_is_no_fallback(
        two: tuple[Path, Path, Path], embedder: FakeEmbedder) -> None:
    # The first build after an upgrade replaces a format-3 generation: that one cannot stand in.
    root, previous, live = two
    write_as_format_3(previous)
    flip(live / DATABASE, 100)
    assert f"{live} is damaged: {DATABASE}" in refusal(root, embedder)


def test_the_previous_generation_named_in_a_damaged_manifest_stays_inside_the_root(
        two: tuple[Path, Path, Path], embedder: FakeEmbedder, tmp_path: Path) -> None:
    root, previous, live = two
    outside = tmp_path / "gen-outside"
    shutil.copytree(previous, outside)  # intact, but not under root
    path = live / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["previous_generation"] = "../gen-outside"  # breaks the seal, as damage would
    path.write_text(json.dumps(manifest))
    assert f"{live} is damaged: manifest.json does not match its {SEAL}" in refusal(
        root, embedder)


def test_the_rebuild_command_repairs_what_a_plain_ingest_cannot(
        two: tuple[Path, Path, Path], corpus_dir: Path, embedder: FakeEmbedder) -> None:
    root, _, live = two
    flip(live / DATABASE, 300)
    # unchanged corpus: nothing to do, so the damaged generation would stay live
    plain = run_ingest([corpus_dir], root, embedder)
    assert not plain.published and current_generation(root) == live
    # a changed file: reusing the damaged rows would copy the damage into a sealed generation
    (corpus_dir / "security.txt").write_text("The Boao Forum met in March.\n")
    with pytest.raises(IndexLoadError, match="run the ingest again with --rebuild") as caught:
        run_ingest([corpus_dir], root, embedder)
    assert f"{live} is damaged ({DATABASE} does not match the sha256" in str(caught.value)
    assert current_generation(root) == live
    repaired = run_ingest([corpus_dir], root, embedder, rebuild=True)
    assert repaired.published and repaired.reused == 0
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert index.generation.name == repaired.generation and index.stands_in_for is None
    index.close()


def write_as_format_3(generation: Path) -> None:
    """Rewrite the manifest as format 3 wrote it: no "files", no seal."""
    path = generation / MANIFEST_NAME
    manifest = json.loads(path.read_text())
    manifest["format_version"] = 3
    del manifest[FILES], manifest[SEAL]
    path.write_text(json.dumps(manifest, indent=2))


def test_an_older_format_is_named_as_such_and_rebuilt_by_ensure_index(
        one: Path, corpus_dir: Path, embedder: FakeEmbedder,
        capsys: pytest.CaptureFixture[str]) -> None:
    from qa.service import ensure_index

    old = current_generation(one)
    write_as_format_3(old)
    with pytest.raises(IndexLoadError) as caught:
        open_index(one, embedder.model_id, embedder.dimension)
    assert not isinstance(caught.value, IndexDamaged)
    assert "manifest format_version is 3 but this program expects 4" in str(caught.value)
    # what the app does on start: rebuild from the corpus, then open
    assert ensure_index(one, corpus_dir, embedder, progress=False) is not None
    assert "has format 3, this version reads 4: rebuilding it" in capsys.readouterr().err
    index = open_index(one, embedder.model_id, embedder.dimension)
    assert index.generation != old and index.manifest["previous_generation"] == old.name
    index.close()


def test_verify_generation_names_what_is_wrong(one: Path) -> None:
    generation = current_generation(one)
    manifest = read_manifest(generation, one)
    verify_generation(generation, manifest, DATA_FILES, one)  # intact: no error
    for files, what in [
        ({**manifest[FILES], "../escape": manifest[FILES][VECTORS]}, "'../escape' is not"),
        ({**manifest[FILES], VECTORS: "abc"}, "'vectors.faiss' is not a size and a sha256"),
        ("gen-1", "'files' is not a mapping of file names"),
    ]:
        broken = seal({**manifest, FILES: files})
        with pytest.raises(IndexDamaged) as caught:
            verify_generation(generation, broken, DATA_FILES, one)
        assert what in caught.value.what and caught.value.generation == generation


def test_the_chat_keeps_its_stand_in_pipeline_while_the_live_generation_is_damaged(
        two: tuple[Path, Path, Path], embedder: FakeEmbedder) -> None:
    # Without this, every question re-checked the damaged generation, reopened the previous
    # one and built a new Pipeline (losing its caches and printing the fallback line again).
    from qa.config import Settings
    from qa.live import refreshed
    from qa.pipeline import Pipeline
    from tests.fakes import FakeGenerator

    root, previous, live = two
    flip(live / DATABASE, 100)
    index = open_index(root, embedder.model_id, embedder.dimension)
    assert index.generation == previous and index.stands_in_for == live
    pipeline = Pipeline(index, embedder, FakeGenerator([]), Settings(calibration=None))
    assert refreshed(pipeline) is pipeline

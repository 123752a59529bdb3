"""Hostile inputs: odd file names, links out of the corpus, invisible text, deep HTML,
damaged PDFs, pipes and sockets. Each is rejected (or read whole) with one line naming the
file, never a traceback, and the good files beside it are still indexed.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from pathlib import Path

import pytest

from index.store import open_index
from ingest.loaders import IngestError, discover, load_document
from ingest.operations import plan_ingest
from ingest.pdf_warnings import MAX_PER_FILE, naming
from tests.fakes import CORPUS, FakeEmbedder
from tests.ingest.test_loaders import make_pdf, write


@pytest.fixture
def corpus(corpus_dir: Path) -> Path:
    """tmp/corpus holding the two good documents of tests.fakes (tests/conftest.py)."""
    return corpus_dir


def ingest(corpus: Path, capsys: pytest.CaptureFixture[str], *extra: str
           ) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `python -m ingest CORPUS`, run in-process."""
    from ingest.__main__ import main

    args = [str(corpus), "--index", str(corpus.parent / "index"), "--quiet", *extra]
    code = main(args, FakeEmbedder(max_tokens=254))
    out, err = capsys.readouterr()
    return code, out, err


def indexed(corpus: Path) -> list[str]:
    loaded = open_index(corpus.parent / "index", FakeEmbedder.model_id, FakeEmbedder().dimension)
    try:
        return sorted({c.doc_id for c in loaded.all_chunks()})
    finally:
        loaded.close()


# --- 1. a file name that is not UTF-8 ----------------------------------------------------------


def undecodable(corpus: Path) -> Path:
    """corpus/bad<0xff>name.txt, a name Python can only hold with a lone surrogate."""
    raw = os.path.join(os.fsencode(corpus), b"bad\xffname.txt")
    with open(raw, "wb") as handle:
        handle.write(b"Tai met Wang.\n")
    return Path(os.fsdecode(raw))


def test_undecodable_name_is_rejected_and_the_rest_indexed(
        corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    undecodable(corpus)
    code, out, err = ingest(corpus, capsys)
    assert code == 3
    assert err == (f"rejected: {corpus}/bad\\xffname.txt: file name is not valid UTF-8; "
                   "rename the file to index it\n")
    assert "indexed 2 documents" in out
    assert indexed(corpus) == ["security.txt", "trade.txt"]


def test_undecodable_name_is_rejected_by_a_dry_run(
        corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    undecodable(corpus)
    code, out, _ = ingest(corpus, capsys, "--dry-run")
    assert code == 3
    assert out.splitlines()[0] == (f"rejected   {corpus}/bad\\xffname.txt: file name is not "
                                   "valid UTF-8; rename the file to index it")
    assert out.splitlines()[-1] == ("dry run: 2 added, 0 changed, 0 removed, 0 unchanged, "
                                    "1 rejected; nothing was written")


def test_undecodable_directory_name_is_rejected(corpus: Path) -> None:
    folder = os.path.join(os.fsencode(corpus), b"caf\xe9")
    os.mkdir(folder)
    with open(os.path.join(folder, b"menu.txt"), "wb") as handle:
        handle.write(b"Coffee.\n")
    found, errors = discover([corpus])
    assert [doc_id for _, doc_id in found] == ["security.txt", "trade.txt"]
    assert [str(e) for e in errors] == [f"{corpus}/caf\\xe9/menu.txt: file name is not valid "
                                        "UTF-8; rename the file to index it"]


def test_undecodable_path_argument_is_rejected(tmp_path: Path) -> None:
    folder = os.path.join(os.fsencode(tmp_path), b"docs\xff")
    os.mkdir(folder)
    found, errors = discover([Path(os.fsdecode(folder))])
    assert found == []
    assert [str(e) for e in errors] == [f"{tmp_path}/docs\\xff: path is not valid UTF-8; "
                                        "rename it to index it"]


# --- 2. symlinks -------------------------------------------------------------------------------


def test_symlink_out_of_the_corpus_is_refused(tmp_path: Path, corpus: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    secret = write(tmp_path / "outside" / "secret.txt", b"Tai met Wang in secret.\n")
    (corpus / "passwd.txt").symlink_to("/etc/passwd")
    (corpus / "secret.txt").symlink_to(secret)
    (corpus / "sub").mkdir()
    (corpus / "sub" / "up.txt").symlink_to(Path("..", "..", "outside", "secret.txt"))
    code, _, err = ingest(corpus, capsys)
    assert code == 3
    assert sorted(err.splitlines()) == [
        f"rejected: {corpus / 'passwd.txt'}: symlink leaves the corpus (it points to "
        "/etc/passwd); copy the file into the corpus to index it",
        f"rejected: {corpus / 'secret.txt'}: symlink leaves the corpus (it points to "
        f"{secret}); copy the file into the corpus to index it",
        f"rejected: {corpus / 'sub' / 'up.txt'}: symlink leaves the corpus (it points to "
        f"{secret}); copy the file into the corpus to index it",
    ]
    assert indexed(corpus) == ["security.txt", "trade.txt"]


def test_symlink_inside_the_corpus_is_followed(tmp_path: Path, corpus: Path) -> None:
    (corpus / "sub").mkdir()
    (corpus / "sub" / "alias.txt").symlink_to(Path("..", "trade.txt"))
    # Reached through a linked corpus root, the target is still inside the corpus.
    (tmp_path / "link-to-corpus").symlink_to(corpus)
    found, errors = discover([tmp_path / "link-to-corpus"])
    assert errors == []
    assert [doc_id for _, doc_id in found] == ["security.txt", "sub/alias.txt", "trade.txt"]
    assert load_document(found[1][0], "sub/alias.txt").text == CORPUS["trade.txt"]


def test_symlink_loop_and_dangling_symlink_are_rejected(corpus: Path) -> None:
    (corpus / "a.txt").symlink_to("b.txt")
    (corpus / "b.txt").symlink_to("a.txt")
    (corpus / "gone.txt").symlink_to("/nonexistent/gone.txt")
    _, errors = discover([corpus])
    assert sorted(e.path for e in errors) == [str(corpus / n) for n in ("a.txt", "b.txt",
                                                                       "gone.txt")]
    assert all(e.reason.startswith("symlink cannot be followed (") for e in errors)
    dangling, = (e for e in errors if e.path == str(corpus / "gone.txt"))
    assert dangling.reason == "symlink cannot be followed (No such file or directory)"


def test_file_named_on_the_command_line_is_read_wherever_it_points(tmp_path: Path) -> None:
    target = write(tmp_path / "elsewhere" / "notes.txt", b"Notes.\n")
    (tmp_path / "given.txt").symlink_to(target)
    assert discover([tmp_path / "given.txt"]) == ([(tmp_path / "given.txt", "given.txt")], [])


# --- 3. files without visible text -------------------------------------------------------------


@pytest.mark.parametrize(("name", "data", "reason"), [
    ("controls.txt", b"\x01\x02\x03\x1b\x7f\x08\n", "no text: the file holds only control"),
    ("zero-width.md", "\u200b\u200c\u200d\u2060\ufeff \n\u200b".encode(),
     "no text: the file holds only control"),
    ("bom-zwsp.txt", b"\xef\xbb\xbf" + "\u200b\n".encode(), "no text: the file holds only"),
    ("private-use.txt", "\ue000\U000f0000\n".encode(), "no text: the file holds only"),
    ("zero-width.html", "<p>\u200b&#8203;</p><p>\u2060</p>".encode(),
     "no text could be extracted (the page has no visible text)"),
])
def test_file_without_visible_text_is_rejected(tmp_path: Path, name: str, data: bytes,
                                                reason: str) -> None:
    with pytest.raises(IngestError) as info:
        load_document(write(tmp_path / name, data), name)
    assert info.value.reason.startswith(reason)


@pytest.mark.parametrize("text", ["\u200bHello\u200b", "\x1b[1m!\x1b[0m", "\u00e9", "\u4e2d",
                                  "\u2014", "42"])
def test_a_single_visible_character_is_text(tmp_path: Path, text: str) -> None:
    assert load_document(write(tmp_path / "a.txt", text.encode()), "a.txt").text == text


def test_invisible_file_is_rejected_and_the_rest_indexed(
        corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (corpus / "blank.txt").write_text("\u200b" * 100)
    code, _, err = ingest(corpus, capsys)
    assert code == 3
    assert err.startswith(f"rejected: {corpus / 'blank.txt'}: no text")
    assert indexed(corpus) == ["security.txt", "trade.txt"]


# --- 4. names that would rewrite the terminal --------------------------------------------------


HOSTILE_NAMES = {
    "new\nline.txt": "new\\nline.txt",
    "\x1b[31mred\x1b[0m.txt": "\\x1b[31mred\\x1b[0m.txt",
    "evil\u202etxt.exe.md": "evil\\u202etxt.exe.md",
    "tab\there\r.txt": "tab\\there\\r.txt",
}


def assert_harmless(output: str) -> None:
    """Every line is printable: no control character, escape or bidi override slipped out."""
    for line in output.splitlines():
        assert line.isprintable(), repr(line)


def test_hostile_names_are_printed_escaped(corpus: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    for name in HOSTILE_NAMES:
        (corpus / name).write_text("Tai met Wang.\n")
    (corpus / "empty\x1b[2J.txt").write_bytes(b"")
    code, out, err = ingest(corpus, capsys, "--dry-run")
    assert code == 3
    assert_harmless(out)
    lines = out.splitlines()
    for escaped in HOSTILE_NAMES.values():
        assert f"added      {escaped}" in lines
    assert f"rejected   {corpus}/empty\\x1b[2J.txt: file is empty" in lines

    code, out, err = ingest(corpus, capsys)
    assert code == 3
    assert_harmless(out)
    assert_harmless(err)
    for escaped in HOSTILE_NAMES.values():
        assert f"added      {escaped} (1 chunk)" in out.splitlines()
    assert err == f"rejected: {corpus}/empty\\x1b[2J.txt: file is empty\n"
    assert indexed(corpus) == sorted([*HOSTILE_NAMES, "security.txt", "trade.txt"])


def test_refusal_naming_a_hostile_path_is_one_escaped_line(
        tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ingest.__main__ import main

    missing = tmp_path / "gone\x1b[2J\n"
    with pytest.raises(SystemExit) as info:
        main([str(corpus), str(missing), "--index", str(tmp_path / "index"), "--quiet", "--sync"],
             FakeEmbedder(max_tokens=254))
    assert info.value.code == 1
    err = capsys.readouterr().err
    assert err == (f"python -m ingest: error: refusing --sync: {tmp_path}/gone\\x1b[2J\\n does "
                   "not exist, and every indexed document from it would be removed; fix the "
                   "path\n")


def test_nothing_to_index_names_hostile_files_escaped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from ingest.__main__ import main

    corpus = tmp_path / "corpus"
    write(corpus / "\u202eblank\n.txt", b" ")
    with pytest.raises(SystemExit):
        main([str(corpus), "--index", str(tmp_path / "index"), "--quiet"],
             FakeEmbedder(max_tokens=254))
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")  # one line
    assert_harmless(err)
    assert "\\u202eblank\\n.txt: file contains only whitespace" in err


def test_progress_messages_escape_names(corpus: Path) -> None:
    (corpus / "new\nline.txt").write_text("Tai met Wang.\n")
    messages: list[str] = []
    from ingest.operations import run_ingest

    run_ingest([corpus], corpus.parent / "index", FakeEmbedder(),
               progress=lambda _, message: messages.append(message))
    assert "reading new\\nline.txt" in messages
    assert "chunking new\\nline.txt" in messages
    assert all(m.isprintable() for m in messages)


# --- 5. HTML nested deeper than the parser's limit ---------------------------------------------


def nested(depth: int) -> bytes:
    return (b"<p>shallow text</p>" + b"<div>" * depth + b"deep text" + b"</div>" * depth
            + b"<p>closing text</p>")


@pytest.mark.parametrize("depth", [254, 300, 500])
def test_deep_html_is_read_whole(tmp_path: Path, depth: int) -> None:
    doc = load_document(write(tmp_path / "deep.html", nested(depth)), "deep.html")
    assert [w for w in ("shallow text", "deep text", "closing text") if w in doc.text] == [
        "shallow text", "deep text", "closing text"]


@pytest.mark.parametrize("depth", [520, 1500, 3000, 20000])
def test_html_nested_too_deep_is_rejected(tmp_path: Path, depth: int) -> None:
    with pytest.raises(IngestError) as info:
        load_document(write(tmp_path / "deep.html", nested(depth)), "deep.html")
    assert info.value.reason == ("HTML is nested more than 512 elements deep, so its text "
                                 "cannot be read whole; flatten the page or save it as text")


def test_html_with_a_text_node_over_10_mb_is_read_whole(tmp_path: Path) -> None:
    # libxml2 drops a text node over 10 MB unless told otherwise: the page came out empty.
    page = b"<p>" + b"word " * 2_200_000 + b"last</p>"
    doc = load_document(write(tmp_path / "long.html", page), "long.html")
    assert doc.text.endswith("word last")


# --- 6. pypdf's warnings name the file ---------------------------------------------------------


def damaged_pdf(text: str) -> bytes:
    """A PDF whose startxref points at the wrong byte: pypdf repairs it, with warnings."""
    data = make_pdf(text)
    head, _, tail = data.rpartition(b"startxref\n")
    offset, _, rest = tail.partition(b"\n")
    return head + b"startxref\n" + str(int(offset) + 7).encode() + b"\n" + rest


def test_pypdf_warnings_name_the_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path / "odd\nname.pdf", damaged_pdf("Repaired text"))
    with caplog.at_level(logging.WARNING):
        doc = load_document(path, "odd\nname.pdf")
    assert "Repaired text" in doc.text
    messages = [r.getMessage() for r in caplog.records]
    assert messages  # pypdf did complain ...
    shown = str(path).replace("\n", "\\n")
    for message in messages:  # ... and every complaint says about which file
        assert message.startswith(f"{shown}: pypdf: "), message
        assert message.isprintable()
    assert f"{shown}: pypdf: incorrect startxref pointer(3)" in messages


def test_pypdf_warnings_outside_a_load_are_untouched(tmp_path: Path,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    load_document(write(tmp_path / "a.pdf", make_pdf("Text")), "a.pdf")  # routing is set up
    with caplog.at_level(logging.WARNING):
        logging.getLogger("pypdf._reader").warning("plain %s", "message")
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("pypdf._reader", "plain message")]


def test_each_pdf_warning_is_shown_once_per_file(tmp_path: Path,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    first = write(tmp_path / "one.pdf", damaged_pdf("One"))
    second = write(tmp_path / "two.pdf", damaged_pdf("Two"))
    with caplog.at_level(logging.WARNING):
        load_document(first, "one.pdf")
        load_document(second, "two.pdf")
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == len(set(messages))
    assert {m.split(": ")[0] for m in messages} == {str(first), str(second)}


def test_damaged_pdf_is_indexed_and_plan_names_no_one_else(
        corpus: Path, caplog: pytest.LogCaptureFixture) -> None:
    write(corpus / "repaired.pdf", damaged_pdf("Tai met Wang."))
    with caplog.at_level(logging.WARNING):
        plan = plan_ingest([corpus], corpus.parent / "index")
    assert [f.action for f in plan.files] == ["added", "added", "added"]
    assert caplog.records
    assert all(r.getMessage().startswith(f"{corpus / 'repaired.pdf'}: pypdf: ")
               for r in caplog.records)


def test_pdf_warnings_are_capped_per_file(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING), naming("many.pdf"):
        for i in range(MAX_PER_FILE + 10):
            logging.getLogger("pypdf._page").warning("odd object %d", i)
            logging.getLogger("pypdf._page").warning("odd object %d", i)  # repeats: once
    messages = [r.getMessage() for r in caplog.records]
    assert messages[0] == "many.pdf: pypdf: odd object 0"
    assert messages[MAX_PER_FILE - 1] == f"many.pdf: pypdf: odd object {MAX_PER_FILE - 1}"
    assert messages[MAX_PER_FILE:] == [
        f"many.pdf: pypdf: more than {MAX_PER_FILE} warnings; the rest are not shown"]


def test_pdf_warnings_of_another_thread_are_not_renamed(caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    other = threading.Thread(target=logging.getLogger("pypdf._reader").warning,
                             args=("from elsewhere",))
    with caplog.at_level(logging.WARNING), naming("mine.pdf"):
        other.start()
        other.join()
    assert [(r.name, r.getMessage()) for r in caplog.records] == [
        ("pypdf._reader", "from elsewhere")]


# --- 7. named pipes, sockets and devices (found by the file fuzzer, test_fuzz.py) --------------

NOT_REGULAR = ("not a regular file (a named pipe, socket or device); only regular files can be "
               "indexed")


def test_pipe_and_socket_in_the_corpus_are_rejected_by_name(
        corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # They were skipped without a word.
    os.mkfifo(corpus / "pipe.txt")
    server = socket.socket(socket.AF_UNIX)
    try:
        server.bind(str(corpus / "sock.md"))
        code, _, err = ingest(corpus, capsys)
    finally:
        server.close()
    assert code == 3
    assert sorted(err.splitlines()) == [f"rejected: {corpus / name}: {NOT_REGULAR}"
                                        for name in ("pipe.txt", "sock.md")]
    assert indexed(corpus) == ["security.txt", "trade.txt"]


def test_pipe_named_on_the_command_line_is_rejected_without_waiting(
        tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Opening it waited for a writer forever: the whole ingest hung.
    from ingest.__main__ import main

    os.mkfifo(tmp_path / "pipe.txt")
    codes: list[int] = []
    args = [str(tmp_path / "pipe.txt"), str(corpus), "--index", str(tmp_path / "index"), "--quiet"]
    worker = threading.Thread(target=lambda: codes.append(main(args, FakeEmbedder(max_tokens=254))),
                              daemon=True)
    worker.start()
    worker.join(timeout=30)
    assert not worker.is_alive(), "ingest is waiting on the pipe"
    assert codes == [3]
    assert capsys.readouterr().err == f"rejected: {tmp_path / 'pipe.txt'}: {NOT_REGULAR}\n"


def test_a_device_named_on_the_command_line_is_not_read(tmp_path: Path) -> None:
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    with pytest.raises(IngestError) as info:
        load_document(tmp_path / "zero.txt", "zero.txt")
    assert info.value.reason == NOT_REGULAR

"""The Operators tab: upload documents into the corpus, see what an ingest would do, run it,
see per-file outcomes and index statistics, remove a document.

The tab manages one corpus directory ($RAG_CORPUS_DIR, else data/corpus) and indexes it as a
whole into the live index ($RAG_INDEX_DIR, else var/index). Uploads are first staged in a
temporary directory under their sanitized names; the plan shows what "Ingest" would do to the
corpus with them in it, and only "Ingest" copies them into the corpus and indexes it. The chat
picks up the new index generation on its next question (see qa.live.LivePipeline).

The plain functions (stage_uploads, plan_rows, ingest_uploads, remove, stats_markdown) hold the
logic and are tested with fakes; `build` only wires them to Gradio components. Every handler
first asks web_guard whether this client may operate (by default only clients on this machine;
RAG_OPERATORS, RAG_AUTH) and refuses with the reason otherwise, whether the call came from the
page or from gradio_client; what it shows names files relative to the corpus, never an absolute
path. A session's staged uploads are deleted when it ends.

Does not chunk, embed or write the index itself (ingest.operations does), and does not load a
model: the caller passes a function that returns the shared embedder.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gradio as gr

import web_guard
from common.paths import PROJECT_ROOT, default_corpus_dir, default_index_root
from index.embedder import Embedder
from index.manifest import IndexLoadError
from index.store import IndexBusy
from ingest.loaders import IngestError
from ingest.operations import (
    NotIndexed,
    index_stats,
    plan_ingest,
    remove_document,
    run_ingest,
    save_upload,
)
from ingest.plan import KEPT, REJECTED, FileAction, IngestRefused, Progress
from ingest.uploads import sanitize_upload_name

HEADERS = ["document", "action", "chunks", "reason"]
# What an operator can fix by acting on the message; anything else is a bug and should raise.
OPERATOR_ERRORS = (IngestError, IngestRefused, IndexBusy, IndexLoadError, NotIndexed)


def corpus_dir() -> Path:
    """Where documents live and uploads go: $RAG_CORPUS_DIR, else data/corpus."""
    return default_corpus_dir()


@dataclass
class Staged:
    """Uploads waiting for "Ingest": files in `directory` under sanitized names, and refusals."""

    directory: Path | None = None
    refused: list[FileAction] = field(default_factory=list)

    @property
    def files(self) -> list[Path]:
        if self.directory is None or not self.directory.is_dir():
            return []
        return sorted(p for p in self.directory.iterdir() if p.is_file())

    def discard(self) -> None:
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
        self.directory, self.refused = None, []


def stage_uploads(uploads: Sequence[str | Path]) -> Staged:
    """Copy uploaded files into a new temporary directory under their sanitized names.

    A name that sanitize_upload_name refuses, or a second file with the same name, becomes a
    refused row instead. Example: ["/tmp/gradio/ab/ Notes.md "] -> Staged(<tmp>/Notes.md)
    """
    staged = Staged(Path(tempfile.mkdtemp(prefix=web_guard.STAGED_PREFIX)))
    assert staged.directory is not None
    for upload in uploads:
        name = Path(upload).name
        try:
            safe = sanitize_upload_name(name)
        except IngestError as err:
            staged.refused.append(FileAction(REJECTED, None, name, err.reason))
            continue
        target = staged.directory / safe
        if target.exists():
            staged.refused.append(FileAction(REJECTED, None, name, "another uploaded file has "
                                             "the same name; upload one of them at a time"))
            continue
        try:
            shutil.copyfile(upload, target)
        except FileNotFoundError:
            staged.refused.append(FileAction(REJECTED, None, name, "the upload is no longer in "
                                             "the app's cache (uploads are kept an hour); "
                                             "upload it again"))
    return staged


def rows(actions: Sequence[FileAction]) -> list[list[Any]]:
    """Table rows (document, action, chunks, reason), one per file.

    Example: rows([FileAction("added", "a.txt", "c/a.txt", "", 3)]) -> [["a.txt", "added", 3, ""]]
    """
    return [[a.doc_id or Path(a.path).name, a.action, "" if a.chunks is None else a.chunks,
             a.reason] for a in actions]


def plan_actions(corpus: Path, staged: Staged, root: Path, embedder: Embedder,
                 sync: bool) -> list[FileAction]:
    """What "Ingest" would do: the uploads' actions, then the rest of the corpus's.

    An upload named like a corpus file replaces it, so its row (compared with the index) is
    the one shown for that document.
    """
    uploads: list[FileAction] = list(staged.refused)
    if staged.files:
        planned = plan_ingest(staged.files, root, embedder=embedder).files
        uploads += [a for a in planned if a.action != KEPT]
    uploaded = {a.doc_id for a in uploads if a.doc_id}
    rest: list[FileAction] = []
    if corpus.is_dir():
        rest = [a for a in plan_ingest([corpus], root, sync=sync, embedder=embedder).files
                if a.doc_id not in uploaded]
    return uploads + rest


def ingest_uploads(corpus: Path, staged: Staged, root: Path, embedder: Embedder, sync: bool,
                   progress: Progress | None = None) -> tuple[str, list[FileAction]]:
    """Save the staged uploads into `corpus` and index it; (summary line, per-file outcomes).

    An upload replaces a corpus file of the same name (the plan showed it as "changed").
    """
    outcomes = list(staged.refused)
    for path in staged.files:
        try:
            save_upload(corpus, path.name, path.read_bytes(), replace=True)
        except IngestError as err:
            outcomes.append(FileAction(REJECTED, None, path.name, err.reason))
    report = run_ingest([corpus], root, embedder, sync=sync, progress=progress)
    staged.discard()
    return report.summary(), outcomes + report.files


def remove(corpus: Path, root: Path, doc_id: str, embedder: Embedder, delete_file: bool
           ) -> tuple[str, list[FileAction]]:
    """Publish the index without `doc_id` and, if asked, delete its file from the corpus."""
    report = remove_document(root, doc_id, embedder)
    message = (f"Removed {doc_id} from the index: {report.documents} documents, "
               f"{report.chunks} chunks in {report.generation}.")
    path = corpus / doc_id
    if not delete_file:
        message += " Its file was kept, so the next ingest of the corpus adds it back."
    elif path.resolve().is_relative_to(corpus.resolve()) and path.is_file():
        path.unlink()
        message += f" Deleted its file {doc_id} from the corpus directory."
    else:
        message += " It has no file in the corpus directory; nothing was deleted."
    removed = [a for a in report.files if a.doc_id == doc_id]
    return message, removed


def directory_label(path: Path) -> str:
    """A directory as the tab shows it: relative to the project, else only its name.

    Example: directory_label(PROJECT_ROOT / "var" / "index") -> "var/index";
             directory_label(Path("/srv/rag/corpus")) -> "corpus"
    """
    resolved = path.resolve()
    if resolved.is_relative_to(PROJECT_ROOT):
        return str(resolved.relative_to(PROJECT_ROOT))
    return resolved.name


def stats_markdown(root: Path, corpus: Path) -> str:
    """The live index's statistics as a Markdown table (or what to do when there is none)."""
    try:
        stats = index_stats(root)
    except IndexLoadError as err:
        return f"**The index cannot be read:** {web_guard.shown_paths(str(err), [corpus, root])}"
    lines = ["| live index | |", "| --- | --- |"]
    if stats["generation"] is None:
        lines.append(f"| generation | none yet: upload documents and press Ingest (index "
                     f"directory `{directory_label(root)}`) |")
    else:
        lines += [f"| documents | {stats['documents']} |", f"| chunks | {stats['chunks']} |",
                  f"| generation | `{stats['generation']}` |", f"| model | `{stats['model']}` |",
                  f"| built at | {stats['built_at']} |"]
    lines += [f"| index directory | `{directory_label(root)}` |",
              f"| corpus directory | `{directory_label(corpus)}` |"]
    if stats["ingest_running"]:
        lines.append(f"| ingest running | pid {stats['ingest_running']} |")
    return "\n".join(lines)


def indexed_documents(root: Path) -> list[str]:
    try:
        return [d["doc_id"] for d in index_stats(root)["per_document"]]
    except IndexLoadError:
        return []


def _problem(err: Exception) -> str:
    return f"**Not done:** {err}"


def shown(value: Any, bases: Sequence[Path]) -> Any:
    """`value` (a handler's output: strings, table rows, tuples of them) with every absolute
    path in its strings shown relative to `bases` (web_guard.shown_paths); other values as is.

    Example: shown(("Deleted /srv/c/a.txt", [["a.txt", 1]]), [Path("/srv/c")])
             -> ("Deleted a.txt", [["a.txt", 1]])
    """
    if isinstance(value, str):
        return web_guard.shown_paths(value, bases)
    if isinstance(value, tuple | list):
        return type(value)(shown(v, bases) for v in value)
    return value


def operator_refusal(request: gr.Request | None) -> str:
    """Why the client behind `request` may not use this tab (web_guard), or "" if it may."""
    try:
        settings = web_guard.settings_from_env()
    except web_guard.WebSettingsError as err:
        return f"The web settings are invalid: {err}"
    client = getattr(request, "client", None)
    return web_guard.operators_refusal(getattr(client, "host", None),
                                       getattr(request, "username", None), settings)


def require_operator(request: gr.Request | None) -> None:
    """Raise gr.Error with the reason unless this client may operate (see operator_refusal)."""
    if reason := operator_refusal(request):
        raise gr.Error(reason, title="Operators")


def _discard(staged: Staged | None) -> None:
    if staged is not None:
        staged.discard()


def build(tab: gr.Tab, get_embedder: Callable[[], Embedder]) -> None:
    """The tab's components and events (call inside `with tab:`)."""
    # Shown instead of the controls to a client that may not operate (every handler also
    # refuses it: hiding the controls alone would leave the API open).
    refused = gr.Markdown(visible=False, elem_id="operators-refused")
    with gr.Column() as controls:
        gr.Markdown("Upload documents (.txt .md .html .pdf), check the plan, then press "
                    "**Ingest** to copy them into the corpus directory and index it. Only new "
                    "and changed files are embedded. The chat answers from the new index on "
                    "its next question.")
        stats = gr.Markdown(elem_id="index-stats")
        with gr.Row():
            files = gr.File(label="Upload documents", file_count="multiple", elem_id="upload")
            with gr.Column():
                sync = gr.Checkbox(label="Sync: also remove indexed documents whose file is no "
                                         "longer in the corpus directory", value=False)
                ingest_button = gr.Button("Ingest", variant="primary", elem_id="ingest")
        plan = gr.Dataframe(headers=HEADERS, label="Plan: what Ingest would do",
                            interactive=False, elem_id="plan", wrap=True)
        status = gr.Markdown(elem_id="operators-status")
        outcome = gr.Dataframe(headers=HEADERS, label="Outcome of the last run",
                               interactive=False, elem_id="outcome", wrap=True)
        with gr.Row():
            document = gr.Dropdown(label="Indexed document", choices=[],
                                   elem_id="remove-document")
            delete_file = gr.Checkbox(label="Also delete its file from the corpus (otherwise "
                                            "the next ingest adds it back)", value=True)
            remove_button = gr.Button("Remove from the index", variant="stop",
                                      elem_id="remove")
    # A session's staged uploads go when it ends (tab closed) or after an idle hour.
    staged_state = gr.State(None, time_to_live=web_guard.UPLOAD_CACHE[1],
                            delete_callback=_discard)

    def bases() -> list[Path]:
        return [corpus_dir(), default_index_root()]

    def _replan(staged: Staged | None, do_sync: bool) -> tuple[list[list[Any]], str]:
        """(plan rows, problem or "")."""
        try:
            actions = plan_actions(corpus_dir(), staged or Staged(), default_index_root(),
                                   get_embedder(), do_sync)
        except OPERATOR_ERRORS as err:
            return [], _problem(err)
        return rows(actions), ""

    def _overview(staged: Staged | None, do_sync: bool, message: str = "") -> tuple[Any, ...]:
        """Fresh stats, document choices and plan, and `message` (or the plan's problem)."""
        root = default_index_root()
        plan_rows, problem = _replan(staged, do_sync)
        return (stats_markdown(root, corpus_dir()),
                gr.Dropdown(choices=indexed_documents(root), value=None), plan_rows,
                "\n\n".join(m for m in (message, problem) if m))

    def access(request: gr.Request) -> tuple[Any, ...]:
        """Show the controls, or only the reason this client may not use them."""
        reason = operator_refusal(request)
        return (gr.Markdown(f"**{reason}**" if reason else "", visible=bool(reason)),
                gr.Column(visible=not reason))

    def overview(staged: Staged | None, do_sync: bool, request: gr.Request) -> tuple[Any, ...]:
        require_operator(request)
        return shown(_overview(staged, do_sync), bases())

    def replan(staged: Staged | None, do_sync: bool, request: gr.Request) -> tuple[Any, ...]:
        require_operator(request)
        return shown(_replan(staged, do_sync), bases())

    def on_files(uploads: list[str] | None, staged: Staged | None, do_sync: bool,
                 request: gr.Request) -> tuple[Any, ...]:
        require_operator(request)
        _discard(staged)
        staged = stage_uploads(uploads) if uploads else None
        return (staged, *shown(_replan(staged, do_sync), bases()))

    def on_ingest(staged: Staged | None, do_sync: bool, request: gr.Request,
                  progress: gr.Progress = gr.Progress()) -> tuple[Any, ...]:  # noqa: B008
        require_operator(request)

        def report(fraction: float, message: str) -> None:
            progress(fraction, desc=shown(message, bases()))

        staged = staged or Staged()
        try:
            summary, outcomes = ingest_uploads(corpus_dir(), staged, default_index_root(),
                                               get_embedder(), do_sync, report)
        except OPERATOR_ERRORS as err:
            return (gr.skip(), gr.skip(), staged,
                    *shown(_overview(staged, do_sync, _problem(err)), bases()))
        return (*shown((rows(outcomes), None), bases()), None,
                *shown(_overview(None, do_sync, summary), bases()))

    def on_remove(doc_id: str | None, delete: bool, staged: Staged | None, do_sync: bool,
                  request: gr.Request) -> tuple[Any, ...]:
        require_operator(request)
        if not doc_id:
            return (gr.skip(), *shown(_overview(staged, do_sync, "**Not done:** choose an "
                                                "indexed document to remove first."), bases()))
        try:
            message, removed = remove(corpus_dir(), default_index_root(), doc_id,
                                      get_embedder(), delete)
        except OPERATOR_ERRORS as err:
            return (gr.skip(), *shown(_overview(staged, do_sync, _problem(err)), bases()))
        return shown((rows(removed), *_overview(staged, do_sync, message)), bases())

    views = [stats, document, plan, status]
    gr.on(None, access, None, [refused, controls], api_name="operators_access")
    tab.select(overview, [staged_state, sync], views)
    # Not .change: Ingest clears `files`, and its summary must stay in `status`.
    for event in (files.upload, files.clear, files.delete):
        event(on_files, [files, staged_state, sync], [staged_state, plan, status],
              show_progress_on=plan)
    sync.change(replan, [staged_state, sync], [plan, status], show_progress_on=plan)
    # One progress bar, where the result will appear, rather than one over every output. Ingest
    # and remove each publish a generation: one at a time, whatever the queue's concurrency.
    ingest_button.click(on_ingest, [staged_state, sync], [outcome, files, staged_state, *views],
                        show_progress_on=outcome, concurrency_limit=1,
                        concurrency_id="index-writes")
    remove_button.click(on_remove, [document, delete_file, staged_state, sync],
                        [outcome, *views], show_progress_on=outcome, concurrency_limit=1,
                        concurrency_id="index-writes")

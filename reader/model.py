"""The reader at run time: which span of each passage answers the question, and how surely.

A BERT question-answering head (start and end logits per token) on all-MiniLM-L6-v2, trained
SQuAD 2.0 style by `python -m reader.train`: the [CLS] position stands for "no answer here", so
each passage gets a best span score (start + end logit) and a null score ([CLS] start + end).
Their difference, the margin, says whether the passage answers; it is the reader's signal to the
refusal calibration (qa.abstain).

The weights are the one model artifact the repository carries (reader/model/: fp16 safetensors,
config, tokenizer, manifest.json). Loading checks the manifest like an index's: the format
version, the base model, and every file's sha256. A mismatch is refused with the command that
retrains it.

Does not choose sentences or refuse (qa/ does) and never downloads anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.paths import PROJECT_ROOT

READER_DIR = PROJECT_ROOT / "reader" / "model"
MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
BASE_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
RETRAIN = "python -m reader.train --out reader/model"
# Question + passage in one window: the index's chunks hold at most 254 embedder tokens (the
# same tokenizer), so most passages fit one 320-token window with a question; longer ones are
# read in overlapping windows.
MAX_LENGTH = 320
STRIDE = 128
MAX_ANSWER_TOKENS = 40


class ReaderLoadError(Exception):
    """The reader's directory is missing, damaged, or not the model this code expects."""


@dataclass(frozen=True)
class Span:
    """The best answer span of one passage. `start`/`end` are character offsets in it."""

    passage: int  # index into the passages read
    start: int
    end: int
    text: str
    score: float  # start logit + end logit
    null_score: float  # the [CLS] ("no answer") score of the passage

    @property
    def margin(self) -> float:
        """Span score minus no-answer score: above 0 the reader thinks the passage answers."""
        return self.score - self.null_score


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of a reader directory, once every check passed; ReaderLoadError otherwise."""
    path = directory / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReaderLoadError(f"{path} is missing; {RETRAIN}") from None
    except (OSError, ValueError) as err:
        raise ReaderLoadError(f"{path}: unreadable manifest ({err}); {RETRAIN}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        found = manifest.get("format_version") if isinstance(manifest, dict) else None
        raise ReaderLoadError(f"{path}: reader format {found!r}, this code reads "
                              f"{FORMAT_VERSION}; {RETRAIN}")
    if manifest.get("base_model") != BASE_MODEL:
        raise ReaderLoadError(f"{path}: base model {manifest.get('base_model')!r}, expected "
                              f"{BASE_MODEL!r}; {RETRAIN}")
    files = manifest.get("files")
    if not isinstance(files, dict) or "model.safetensors" not in files:
        raise ReaderLoadError(f"{path}: lists no model files; {RETRAIN}")
    for name, expected in files.items():
        file = directory / name
        if not file.is_file():
            raise ReaderLoadError(f"{file} is missing; {RETRAIN}")
        if file_sha256(file) != expected:
            raise ReaderLoadError(f"{file} does not match its sha256 in {path} (changed or "
                                  f"damaged); {RETRAIN}")
    return manifest


def best_span(start_logits: Sequence[float], end_logits: Sequence[float],
              allowed: Sequence[bool], max_tokens: int) -> tuple[int, int, float]:
    """(start token, end token, score) of the best span with start <= end < start + max_tokens
    over the allowed (passage) tokens; (0, 0, -inf) when none is allowed.

    Example: best_span([0, 5, 1], [0, 1, 4], [False, True, True], 5) -> (1, 2, 9.0)
    """
    best = (0, 0, float("-inf"))
    # The top starts and ends suffice: a span's score is the sum of its two ends.
    starts = sorted((i for i, ok in enumerate(allowed) if ok), key=lambda i: -start_logits[i])
    ends = sorted((i for i, ok in enumerate(allowed) if ok), key=lambda i: -end_logits[i])
    for i in starts[:20]:
        for j in ends[:20]:
            if i <= j < i + max_tokens and start_logits[i] + end_logits[j] > best[2]:
                best = (i, j, float(start_logits[i] + end_logits[j]))
    return best


class Reader:
    """Reads passages for a question. Weights load in warm_up(), never in the constructor."""

    # One window at a time: unpadded, 5 passages read in 0.27 s instead of 0.33 s batched
    # (2 cores, the same margins); training batches instead (reader.train).
    def __init__(self, directory: Path = READER_DIR, batch_size: int = 1) -> None:
        self.directory = Path(directory)
        self.batch_size = batch_size
        self.manifest: dict[str, Any] | None = None
        self._model: Any = None
        self._tokenizer: Any = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        self.manifest = check_manifest(self.directory)
        import torch
        from transformers import AutoTokenizer, BertForQuestionAnswering

        self._tokenizer = AutoTokenizer.from_pretrained(str(self.directory))
        model = BertForQuestionAnswering.from_pretrained(str(self.directory),
                                                         dtype=torch.float32)
        self._model = model.eval()

    def encode(self, question: str, passages: Sequence[str]) -> Any:
        """Windows of (question, passage) with character offsets; see reader.train for labels."""
        if self._tokenizer is None:
            self.warm_up()
        return encode(self._tokenizer, [question] * len(passages), list(passages))

    def read(self, question: str, passages: Sequence[str]) -> list[Span]:
        """The best span of each passage, best margin first (empty passages are skipped)."""
        import torch

        kept = [i for i, p in enumerate(passages) if p.strip()]
        if not kept or not question.strip():
            return []
        self.warm_up()
        batch = self.encode(question, [passages[i] for i in kept])
        n = len(batch["input_ids"])
        start_logits, end_logits = [], []
        with torch.inference_mode():
            for lo in range(0, n, self.batch_size):
                inputs = pad(batch, range(lo, min(n, lo + self.batch_size)), multiple_of=1)
                out = self._model(**inputs)
                start_logits += out.start_logits.tolist()
                end_logits += out.end_logits.tolist()
        spans = decode(batch, start_logits, end_logits, [passages[i] for i in kept])
        return sorted((Span(kept[s.passage], s.start, s.end, s.text, s.score, s.null_score)
                       for s in spans), key=lambda s: -s.margin)


def encode(tokenizer: Any, questions: list[str], contexts: list[str],
           max_length: int = MAX_LENGTH, stride: int = STRIDE) -> Any:
    """Tokenize (question, context) pairs into overlapping windows of the context.

    Each window keeps its `overflow_to_sample_mapping` (which pair it came from) and the
    character offsets of its tokens; `sequence_ids` tells question tokens from context tokens.
    """
    return tokenizer(questions, contexts, truncation="only_second", max_length=max_length,
                     stride=stride, return_overflowing_tokens=True, return_offsets_mapping=True,
                     padding=False)


def pad(batch: Any, rows: Sequence[int], multiple_of: int = 32) -> dict[str, Any]:
    """Rows of an encoding as padded tensors for the model."""
    import torch

    rows = list(rows)
    width = max(len(batch["input_ids"][r]) for r in rows)
    # A few distinct shapes only: oneDNN prepares its kernels per shape, and fresh shapes on
    # every batch made training twice as slow.
    width = -(-width // multiple_of) * multiple_of
    tensors = {}
    for key in ("input_ids", "token_type_ids", "attention_mask"):
        tensors[key] = torch.tensor([batch[key][r] + [0] * (width - len(batch[key][r]))
                                     for r in rows])
    return tensors


def context_mask(batch: Any, row: int) -> list[bool]:
    """Which tokens of window `row` belong to the passage (the only places an answer can be)."""
    return [s == 1 for s in batch.sequence_ids(row)]


def decode(batch: Any, start_logits: Sequence[Sequence[float]],
           end_logits: Sequence[Sequence[float]], contexts: Sequence[str]) -> list[Span]:
    """The best span of each context over its windows; the null score is its lowest window's
    [CLS] score (the window that looks most like an answer sets it, as in SQuAD 2.0 practice)."""
    best: dict[int, Span] = {}
    null: dict[int, float] = {}
    for row, sample in enumerate(batch["overflow_to_sample_mapping"]):
        starts, ends = start_logits[row], end_logits[row]
        null_here = float(starts[0] + ends[0])
        null[sample] = min(null.get(sample, null_here), null_here)
        i, j, score = best_span(starts, ends, context_mask(batch, row), MAX_ANSWER_TOKENS)
        if score == float("-inf"):
            continue
        offsets = batch["offset_mapping"][row]
        start, end = offsets[i][0], offsets[j][1]
        if sample not in best or score > best[sample].score:
            best[sample] = Span(sample, start, end, contexts[sample][start:end], score, 0.0)
    return [Span(s.passage, s.start, s.end, s.text, s.score, null[k]) for k, s in best.items()]

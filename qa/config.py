"""Answering settings in one place, with the reasons for their defaults.

Does not read files: callers pass overrides; later issues calibrate the thresholds on the
benchmark (eval/) and record the command that derived them here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index import PROJECT_ROOT
from qa.abstain import DEFAULT_CALIBRATION
from reader.model import READER_DIR

REFUSAL = "I can't find this in the documents."


def default_model_cache() -> Path:
    """Where the converted generator lives: $RAG_MODEL_CACHE, else var/models in the project."""
    return Path(os.environ.get("RAG_MODEL_CACHE") or PROJECT_ROOT / "var" / "models")


@dataclass(frozen=True)
class Settings:
    # Candidates each retriever contributes before fusion, and passages kept after it.
    candidates: int = 20
    top_k: int = 5
    # Reciprocal rank fusion constant (Cormack et al. 2009 use 60) and the dense ranking's
    # weight against the lexical one's 1.0. Swept with chunk size and overlap on eval/qa.jsonl
    # and all SQuAD answerable questions (docs/BENCHMARK.md, "Retrieval tuning").
    rrf_k: int = 60
    dense_weight: float = 0.75
    # Passages whose sentences compete to be the evidence. A 135M model copies faithfully from
    # one sentence, mixes facts from two, and invents from whole passages, so it sees only the
    # best sentence (and a second one from another document when the question needs it).
    context_passages: int = 5
    # Weight of IDF-weighted question-term coverage next to cosine when ranking sentences, and
    # the share of the question a second document's sentence must add to join the evidence.
    coverage_weight: float = 0.7
    second_sentence_gain: float = 0.25
    # Refuse without calling the model when the best passage's cosine similarity is below this.
    # Measured on the default corpus: on-topic questions 0.45-0.75, off-topic ones below 0.2.
    min_relevance: float = 0.30
    # Weights and threshold of the calibrated refusal (qa.abstain); None: never refuse above
    # min_relevance.
    calibration: Path | None = DEFAULT_CALIBRATION
    # The trained reader (reader/model, made by python -m reader.train) that finds the answer
    # span in the top passages; None: the best-scoring sentence is the evidence (qa.evidence).
    reader: Path | None = READER_DIR
    # An answer sentence must share at least this share of its content words with the passage it
    # cites (and every number and name), and be at least this similar (cosine) to the evidence.
    min_support: float = 0.5
    min_answer_similarity: float = 0.5
    # ... and carry at least this share of the evidence's terms that the question lacks, else
    # the evidence is quoted instead. Chosen on recorded model answers (docs/BENCHMARK.md,
    # "Support check"): answer hit on SQuAD tune questions 0.610 -> 0.673 and on eval/qa.jsonl
    # 0.771 -> 0.786 at 0.5, where both stop improving (0 reproduces the old rule: any share).
    min_new_share: float = 0.5
    max_new_tokens: int = 80
    # Sentence vectors kept between questions (qa.vector_cache), ~1.5 KB each: 20,000 is ~30 MB,
    # a few hundred documents' worth of retrieved passages. 0 embeds every sentence every time.
    sentence_cache: int = 20_000
    # Decode steps multiply fp16 copies of SmolLM2's weights (2.6x faster on this CPU, the same
    # eval scores: docs/PERFORMANCE.md); False keeps every step in fp32.
    fp16_decode: bool = True

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.candidates < self.top_k:
            raise ValueError("need 1 <= top_k <= candidates")
        if not 1 <= self.context_passages <= self.top_k:
            raise ValueError("context_passages must be between 1 and top_k")
        if self.sentence_cache < 0:
            raise ValueError("sentence_cache must be 0 (off) or more")
        if self.dense_weight <= 0:
            raise ValueError("dense_weight must be positive")

"""Answering settings in one place, with the reasons for their defaults.

Does not read files: callers pass overrides; later issues calibrate the thresholds on the
benchmark (eval/) and record the command that derived them here.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from index import PROJECT_ROOT

REFUSAL = "I can't find this in the documents."


def default_model_cache() -> Path:
    """Where the converted generator lives: $RAG_MODEL_CACHE, else var/models in the project."""
    return Path(os.environ.get("RAG_MODEL_CACHE") or PROJECT_ROOT / "var" / "models")


@dataclass(frozen=True)
class Settings:
    # Candidates each retriever contributes before fusion, and passages kept after it.
    candidates: int = 20
    top_k: int = 5
    # Reciprocal rank fusion constant (Cormack et al. 2009 use 60).
    rrf_k: int = 60
    # Passages whose sentences may be shown to the model, and how many sentences it sees.
    # A 135M model copies faithfully from one sentence, mixes facts from two, and invents from
    # whole passages (tried on eval/qa.jsonl: one sentence gave answer_hit 44/70).
    context_passages: int = 3
    context_sentences: int = 1
    # Refuse without calling the model when the best passage's cosine similarity is below this.
    # Measured on the default corpus: on-topic questions 0.45-0.75, off-topic ones below 0.2.
    min_relevance: float = 0.30
    # An answer sentence without a citation is attached to the passage covering at least this
    # share of its content words; below it the sentence is dropped.
    min_support: float = 0.5
    max_new_tokens: int = 80

    def __post_init__(self) -> None:
        if self.top_k < 1 or self.candidates < self.top_k:
            raise ValueError("need 1 <= top_k <= candidates")
        if not 1 <= self.context_passages <= self.top_k:
            raise ValueError("context_passages must be between 1 and top_k")

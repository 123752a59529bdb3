"""Answering settings in one place, with the reasons for their defaults.

`Settings()` is the code defaults: tests, the eval and the benchmarks build it as written.
`load_settings()` is what the app and `python -m qa` answer with: the defaults, overridden by
the [answering] table of the settings file (common.settings_file), overridden in turn by
RAG_<FIELD> environment variables (RAG_TOP_K=3, RAG_READER=off). Every value is converted by its
field's type and checked here; a mistake is a SettingsError naming its file and key, or its
variable. Does not find or parse the file itself.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import get_type_hints

from common.paths import settings_root, state_dir
from common.settings_file import (
    SettingsError,
    SettingsFile,
    find_settings_file,
    path_setting,
    unknown_key,
)
from qa.abstain import DEFAULT_CALIBRATION, NO_READER_CALIBRATION
from qa.openai_generator import URL_PATTERN
from reader.model import READER_DIR

REFUSAL = "I can't find this in the documents."
# What turns an optional path (calibration, reader) off, in the file or a variable.
OFF = ("off", "none")
_TRUE, _FALSE = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def default_model_cache(settings: Path | None = None) -> Path:
    """Where the converted generator lives: $RAG_MODEL_CACHE, else [paths] model_cache of the
    settings file (`settings`, else the one common.settings_file finds), else models/ in
    common.paths.state_dir() (var/models in a checkout)."""
    return path_setting("model_cache", state_dir() / "models", settings_root(),
                        named=settings)


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
    # An OpenAI-compatible model server writes the answers instead (qa.openai_generator): its
    # base URL, such as http://127.0.0.1:8000/v1 for vLLM, llama.cpp or `transformers serve`;
    # "" keeps SmolLM2 in this process. generator_model: the name the server serves;
    # generator_key: its API key, "" for none (kept out of repr, so logs never show it).
    generator_url: str = ""
    generator_model: str = ""
    generator_key: str = field(default="", repr=False)
    # Seconds to wait for the server to connect, to start the answer and between its pieces;
    # then the chat says the server did not answer. A busy server on a CPU may take seconds to
    # start writing; 30 s leaves it room and still ends the wait on a hung one (a server that
    # is not running is refused at once, whatever this says).
    generator_timeout: float = 30.0

    def __post_init__(self) -> None:
        def check(ok: bool, message: str, *keys: str) -> None:
            if not ok:
                raise SettingsError(message, keys)

        check(self.top_k >= 1, f"top_k must be at least 1, got {self.top_k}", "top_k")
        check(self.candidates >= self.top_k, f"candidates ({self.candidates}) must be at least "
              f"top_k ({self.top_k})", "candidates", "top_k")
        check(1 <= self.context_passages <= self.top_k, "context_passages must be between 1 and "
              f"top_k ({self.top_k}), got {self.context_passages}", "context_passages", "top_k")
        check(self.sentence_cache >= 0,
              f"sentence_cache must be 0 (off) or more, got {self.sentence_cache}",
              "sentence_cache")
        check(self.dense_weight > 0, f"dense_weight must be positive, got {self.dense_weight}",
              "dense_weight")
        check(self.rrf_k >= 0, f"rrf_k must be 0 or more, got {self.rrf_k}", "rrf_k")
        check(self.coverage_weight >= 0,
              f"coverage_weight must be 0 or more, got {self.coverage_weight}", "coverage_weight")
        check(self.max_new_tokens >= 1,
              f"max_new_tokens must be at least 1, got {self.max_new_tokens}", "max_new_tokens")
        for key in ("second_sentence_gain", "min_support", "min_new_share"):
            value = getattr(self, key)
            check(0 <= value <= 1, f"{key} is a share: between 0 and 1, got {value}", key)
        for key in ("min_relevance", "min_answer_similarity"):
            value = getattr(self, key)
            check(-1 <= value <= 1, f"{key} is a cosine: between -1 and 1, got {value}", key)
        check(not self.generator_url or URL_PATTERN.fullmatch(self.generator_url) is not None,
              "generator_url must be an http:// or https:// URL such as http://127.0.0.1:8000/v1,"
              f' or "" for the built-in model; got {self.generator_url!r}', "generator_url")
        check(not self.generator_url or bool(self.generator_model),
              "generator_model is empty; name the model the server at generator_url serves "
              "(its /v1/models lists it)", "generator_model", "generator_url")
        check(self.generator_timeout > 0,
              f"generator_timeout must be positive (seconds), got {self.generator_timeout}",
              "generator_timeout")


def load_settings(env: Mapping[str, str] | None = None, named: Path | None = None) -> Settings:
    """The Settings to answer with: code defaults < settings file [answering] < RAG_<FIELD>.

    `named` is a settings file given on a command line; without it the file is $RAG_SETTINGS,
    else settings.toml in the project if there is one. `env` defaults to os.environ.
    """
    env = os.environ if env is None else env
    return settings_from(find_settings_file(settings_root(), env, named), env)


def settings_from(file: SettingsFile | None, env: Mapping[str, str]) -> Settings:
    """Settings from a read settings file and environment variables, each value converted by its
    field's type; an error names the file and key, or the variable, of every value involved.

    Example: settings_from(None, {"RAG_MIN_RELEVANCE": "0.4"}) == Settings(min_relevance=0.4)
    """
    types = get_type_hints(Settings)
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    if file is not None:
        for key, raw in file.answering.items():
            where = file.where("answering", key)
            if key not in types:
                raise unknown_key(where, key, list(types))
            values[key] = _converted(raw, types[key], where, file.path.parent)
            sources[key] = where
    for key, kind in types.items():
        name = env_var(key)
        if text := env.get(name, "").strip():
            where = f"environment variable {name}"
            values[key] = _converted(text, kind, where, None)
            sources[key] = where
    if "context_passages" not in values and isinstance(top_k := values.get("top_k"), int):
        # Lowering top_k alone must not trip over the default's 5 passages.
        values["context_passages"] = min(Settings.context_passages, top_k)
    if "calibration" not in values and "reader" in values and values["reader"] is None:
        values["calibration"] = NO_READER_CALIBRATION  # fitted without the reader
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except SettingsError as err:
        named = [sources[k] for k in err.keys if k in sources]
        raise SettingsError(f"{'; '.join(named)}: {err}" if named else str(err), err.keys
                            ) from None


def env_var(key: str) -> str:
    """The environment variable of a Settings field. Example: env_var("top_k") -> "RAG_TOP_K"."""
    return f"RAG_{key.upper()}"


def _converted(raw: object, kind: object, where: str, base: Path | None) -> object:
    """`raw` as a value of type `kind`: a TOML value (`base`: the file's directory, for relative
    paths), or an environment variable's text (`base` None; relative paths: from the current
    directory). Example: _converted("0.4", float, "RAG_MIN_RELEVANCE", None) -> 0.4"""
    text = raw.strip() if base is None and isinstance(raw, str) else None
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        if text is not None and text.lower() in _TRUE + _FALSE:
            return text.lower() in _TRUE
        expected = "true or false"
    elif kind is int:
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if text is not None and re.fullmatch(r"[+-]?\d+", text):
            return int(text)
        expected = "a whole number"
    elif kind is float:
        number = raw if isinstance(raw, int | float) and not isinstance(raw, bool) else None
        if text is not None and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", text):
            number = float(text)
        if number is not None and math.isfinite(number):
            return float(number)
        expected = "a number"
    elif kind == Path | None:
        if isinstance(raw, str) and raw.strip().lower() in OFF:
            return None
        if isinstance(raw, str) and raw.strip():
            path = Path(raw.strip()).expanduser()
            path = base / path if base is not None else path
            if not path.exists():
                raise SettingsError(f'{where}: {path} does not exist; name an existing path, '
                                    'or "off"')
            return path
        expected = 'a path in quotes, or "off"' if base is not None else 'a path, or "off"'
    elif kind is str:
        if isinstance(raw, str):
            return raw.strip()
        expected = "text in quotes"
    else:
        raise TypeError(f"Settings field type {kind!r} has no conversion")  # a new field's type
    raise SettingsError(f"{where}: expected {expected}, got {raw!r}")

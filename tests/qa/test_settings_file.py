"""The settings file and RAG_<FIELD> variables (common.settings_file, qa.config.load_settings).

Precedence: code defaults < settings file < environment (< command-line flags for paths). The
behaviour tests run a real Pipeline on the fakes (tests/fakes.py): the index holds two passages,
so the default top_k of 5 retrieves both and top_k = 1 retrieves one. Every test names its
settings file or passes `env`, so a developer's own settings.toml cannot leak in.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.paths import PROJECT_ROOT
from common.settings_file import (
    PATH_KEYS,
    SettingsError,
    SettingsFile,
    find_settings_file,
    parse_settings,
    path_setting,
    read_settings_file,
)
from index.store import Index
from qa.abstain import DEFAULT_CALIBRATION, NO_READER_CALIBRATION
from qa.config import REFUSAL, Settings, env_var, load_settings, settings_from
from qa.pipeline import Pipeline
from tests.fakes import FakeEmbedder, FakeGenerator

QUESTION = "When was the Security Initiative launched?"
ANSWER = "It was launched in April 2022 [1]."


def write(directory: Path, text: str, name: str = "settings.toml") -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


def passages(index: Index, embedder: FakeEmbedder, settings: Settings) -> int:
    pipeline = Pipeline(index, embedder, FakeGenerator([ANSWER]), settings)
    return len(pipeline.evidence(QUESTION).retrieved)


def test_a_file_value_changes_how_many_passages_are_retrieved(
        index: Index, embedder: FakeEmbedder, tmp_path: Path) -> None:
    file = write(tmp_path, '[answering]\ntop_k = 1\ncalibration = "off"\n')
    settings = load_settings(env={}, named=file)
    assert settings == Settings(top_k=1, context_passages=1, calibration=None)
    assert passages(index, embedder, settings) == 1
    assert passages(index, embedder, Settings(calibration=None)) == 2


def test_the_environment_overrides_the_file(index: Index, embedder: FakeEmbedder,
                                            tmp_path: Path) -> None:
    file = write(tmp_path, '[answering]\ntop_k = 1\nmin_relevance = 0.1\ncalibration = "off"\n')
    settings = load_settings(env={"RAG_TOP_K": "2", "RAG_MIN_RELEVANCE": "0.9"}, named=file)
    assert (settings.top_k, settings.min_relevance, settings.calibration) == (2, 0.9, None)
    assert passages(index, embedder, settings) == 2
    # The question's best passage has cosine 0.775: below 0.9 it is refused, model uncalled.
    generator = FakeGenerator([ANSWER])
    answer = Pipeline(index, embedder, generator, settings).answer(QUESTION)
    assert answer.abstained and answer.text == REFUSAL and generator.prompts == []


def test_without_a_file_or_variables_the_code_defaults_hold(tmp_path: Path) -> None:
    assert find_settings_file(tmp_path, {}) is None
    assert settings_from(None, {}) == Settings()


def test_the_file_is_named_else_rag_settings_else_the_projects_settings_toml(
        tmp_path: Path) -> None:
    local = write(tmp_path, "[answering]\ntop_k = 2\n")
    other = write(tmp_path, "[answering]\ntop_k = 3\n", "other.toml")

    def found(env: dict[str, str], named: Path | None = None) -> Path | None:
        file = find_settings_file(tmp_path, env, named)
        return file.path if file else None

    assert found({}) == local
    assert found({"RAG_SETTINGS": str(other)}) == other
    assert found({"RAG_SETTINGS": str(other)}, named=local) == local


def test_a_named_settings_file_that_is_missing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(SettingsError) as raised:
        find_settings_file(tmp_path, {"RAG_SETTINGS": str(missing)})
    assert str(raised.value) == (f"RAG_SETTINGS={missing}: no such settings file; create it "
                                 "(see settings.example.toml) or unset RAG_SETTINGS")
    with pytest.raises(SettingsError, match=f"settings file {missing}: no such file"):
        load_settings(env={}, named=missing)


@pytest.mark.parametrize(("text", "env", "message"), [
    ('[answering]\ntop_k = "five"\n', {},
     "{file}, [answering] top_k: expected a whole number, got 'five'"),
    ("[answering]\ntop_k = 2.0\n", {},
     "{file}, [answering] top_k: expected a whole number, got 2.0"),
    ("", {"RAG_TOP_K": "five"},
     "environment variable RAG_TOP_K: expected a whole number, got 'five'"),
    ("", {"RAG_TOP_K": "0"}, "environment variable RAG_TOP_K: top_k must be at least 1, got 0"),
    ("[answering]\ntop_k = 30\n", {},
     "{file}, [answering] top_k: candidates (20) must be at least top_k (30)"),
    ("[answering]\ncandidates = 3\n", {"RAG_TOP_K": "4"},
     "{file}, [answering] candidates; environment variable RAG_TOP_K: candidates (3) must be at "
     "least top_k (4)"),
    ("", {"RAG_MIN_RELEVANCE": "high"},
     "environment variable RAG_MIN_RELEVANCE: expected a number, got 'high'"),
    ("", {"RAG_MIN_RELEVANCE": "nan"},
     "environment variable RAG_MIN_RELEVANCE: expected a number, got 'nan'"),
    ("[answering]\nmin_support = 1.5\n", {},
     "{file}, [answering] min_support: min_support is a share: between 0 and 1, got 1.5"),
    ("[answering]\nfp16_decode = \"yes\"\n", {},
     "{file}, [answering] fp16_decode: expected true or false, got 'yes'"),
    ("", {"RAG_FP16_DECODE": "maybe"},
     "environment variable RAG_FP16_DECODE: expected true or false, got 'maybe'"),
    ('[answering]\ngenerator_url = "localhost:8000"\ngenerator_model = "smol"\n', {},
     "{file}, [answering] generator_url: generator_url must be an http:// or https:// URL such "
     'as http://127.0.0.1:8000/v1, or "" for the built-in model; got \'localhost:8000\''),
    ('[answering]\ngenerator_url = "http://127.0.0.1:8000/v1"\n', {},
     "{file}, [answering] generator_url: generator_model is empty; name the model the server "
     "at generator_url serves (its /v1/models lists it)"),
    ("[answering]\ngenerator_model = 3\n", {},
     "{file}, [answering] generator_model: expected text in quotes, got 3"),
    ("", {"RAG_GENERATOR_TIMEOUT": "-1"}, "environment variable RAG_GENERATOR_TIMEOUT: "
     "generator_timeout must be positive (seconds), got -1.0"),
    ("[answering]\nreader = false\n", {},
     "{file}, [answering] reader: expected a path in quotes, or \"off\", got False"),
    ('[answering]\nreader = "no-such-dir"\n', {},
     "{file}, [answering] reader: {dir}/no-such-dir does not exist; name an existing path, "
     'or "off"'),
    ('[answering]\ntop_kk = 3\n', {},
     "{file}, [answering] top_kk: unknown key; did you mean top_k? known keys: candidates, top_k,"),
    ("[answer]\ntop_k = 3\n", {},
     "settings file {path}: unknown table [answer]; the tables are [answering], [paths] "
     "and [logging]"),
    ("top_k = 3\n", {}, "settings file {path}: top_k = 3 is outside a table; put it under "
     "[answering], [paths] or [logging]"),
    ("[answering\n", {}, "settings file {path}: not valid TOML ("),
    ('[paths]\nindex = "x"\n', {},
     "{paths}index: unknown key; did you mean index_dir? known keys: index_dir, corpus_dir, "
     "model_cache"),
    ("[paths]\nindex_dir = 3\n", {},
     "{paths}index_dir: expected a directory path in quotes, got 3"),
])
def test_a_bad_value_is_one_line_naming_its_source_and_key(
        tmp_path: Path, text: str, env: dict[str, str], message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(SettingsError) as raised:
        load_settings(env=env, named=path)
    got = str(raised.value)
    assert "\n" not in got
    assert got.startswith(message.format(file=f"settings file {path}", path=path, dir=tmp_path,
                                         paths=f"settings file {path}, [paths] "))


def test_lowering_top_k_alone_lowers_context_passages_with_it() -> None:
    assert settings_from(None, {"RAG_TOP_K": "3"}).context_passages == 3
    assert settings_from(None, {"RAG_TOP_K": "8"}).context_passages == 5
    with pytest.raises(SettingsError, match="RAG_CONTEXT_PASSAGES; environment variable "
                       r"RAG_TOP_K: context_passages must be between 1 and top_k \(3\), got 4"):
        settings_from(None, {"RAG_TOP_K": "3", "RAG_CONTEXT_PASSAGES": "4"})


def test_optional_paths_are_off_or_relative_to_their_source(tmp_path: Path) -> None:
    (tmp_path / "cal.json").write_text("{}")
    file = read_settings_file(write(tmp_path, '[answering]\ncalibration = "cal.json"\n'))
    assert settings_from(file, {}).calibration == tmp_path / "cal.json"
    # Turning the reader off brings the calibration fitted without it, unless one is named.
    off = settings_from(None, {"RAG_READER": "off"})
    assert (off.reader, off.calibration) == (None, NO_READER_CALIBRATION)
    assert settings_from(file, {"RAG_READER": "None"}).calibration == tmp_path / "cal.json"
    assert settings_from(None, {"RAG_CALIBRATION": "OFF"}).calibration is None
    assert settings_from(None, {"RAG_CALIBRATION": str(DEFAULT_CALIBRATION)}
                         ).calibration == DEFAULT_CALIBRATION


def test_every_field_reads_its_default_back_from_its_variable() -> None:
    defaults = Settings()
    env = {env_var(key): str(value) for key, value in vars(defaults).items()}
    assert settings_from(None, env) == defaults
    assert settings_from(None, {"RAG_FP16_DECODE": "0", "RAG_DENSE_WEIGHT": "1e-1"}
                         ) == Settings(fp16_decode=False, dense_weight=0.1)


def test_paths_come_from_the_environment_else_the_file_else_the_default(tmp_path: Path) -> None:
    default = Path("/default")
    assert path_setting("index_dir", default, tmp_path, {}) == default
    write(tmp_path, '[paths]\nindex_dir = "idx"\nmodel_cache = "/abs/models"\n')
    assert path_setting("index_dir", default, tmp_path, {}) == tmp_path / "idx"
    assert path_setting("model_cache", default, tmp_path, {}) == Path("/abs/models")
    assert path_setting("corpus_dir", default, tmp_path, {}) == default
    assert path_setting("index_dir", default, tmp_path, {"RAG_INDEX_DIR": "/env"}) == Path("/env")


def test_the_example_file_lists_every_key_at_its_default() -> None:
    example = PROJECT_ROOT / "settings.example.toml"
    # Keys are commented out as "#key = value", explanations as "# ...".
    text = re.sub(r"(?m)^#(\w+ = )", r"\1", example.read_text(encoding="utf-8"))
    file = parse_settings(text, example)
    assert set(file.answering) == set(vars(Settings()))
    assert settings_from(file, {}) == Settings()
    assert file.paths == {"index_dir": PROJECT_ROOT / "var" / "index",
                          "corpus_dir": PROJECT_ROOT / "data" / "corpus",
                          "model_cache": PROJECT_ROOT / "var" / "models"}
    assert set(file.paths) == set(PATH_KEYS)
    assert parse_settings(example.read_text(encoding="utf-8"), example) == SettingsFile(example)


def test_the_readmes_example_reads_as_it_says(tmp_path: Path) -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    configuration = readme[readme.index("## Configuration"):]
    example = re.search(r"```toml\n(.*?)```", configuration, re.DOTALL)
    assert example is not None
    file = parse_settings(example.group(1), tmp_path / "settings.toml")
    settings = settings_from(file, {})
    assert (settings.top_k, settings.context_passages, settings.min_relevance) == (3, 3, 0.4)
    assert (settings.reader, settings.calibration) == (None, NO_READER_CALIBRATION)
    assert file.paths == {"index_dir": Path("/srv/rag/index")}


def test_load_default_answers_with_the_settings_of_the_file_and_environment(
        index: Index, embedder: FakeEmbedder, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.service
    from qa.live import load_default

    def load_pipeline(index_root: Path, corpus: Path, model_cache: Path,
                      settings: Settings | None = None, progress: bool = True) -> Pipeline:
        return Pipeline(index, embedder, FakeGenerator([ANSWER]), settings)

    monkeypatch.setattr(qa.service, "load_pipeline", load_pipeline)
    monkeypatch.setenv("RAG_SETTINGS", str(write(tmp_path, '[answering]\ntop_k = 1\n'
                                                           'calibration = "off"\n')))
    monkeypatch.setenv("RAG_MAX_NEW_TOKENS", "40")
    pipeline = load_default(tmp_path / "index", tmp_path / "corpus", tmp_path / "models")
    assert (pipeline.settings.top_k, pipeline.settings.max_new_tokens) == (1, 40)
    assert len(pipeline.evidence(QUESTION).retrieved) == 1


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    variables = {**os.environ, "RAG_INDEX_DIR": str(tmp_path / "index"),
                 "RAG_MODEL_CACHE": str(tmp_path / "models"),
                 "RAG_SETTINGS": str(write(tmp_path, "", "empty.toml")), **env}
    return subprocess.run([sys.executable, "-m", *args], cwd=PROJECT_ROOT, env=variables,
                          capture_output=True, text=True, timeout=60)


def test_the_cli_refuses_a_bad_setting_in_one_line_before_loading_anything(tmp_path: Path) -> None:
    bad = write(tmp_path, "[answering]\nmin_relevance = 2\n")
    for result, message in [
            (run(tmp_path, "qa", QUESTION, "--settings", str(bad)),
             f"settings file {bad}, [answering] min_relevance: min_relevance is a cosine: "
             "between -1 and 1, got 2.0"),
            (run(tmp_path, "qa", QUESTION, RAG_TOP_K="0"),
             "environment variable RAG_TOP_K: top_k must be at least 1, got 0")]:
        assert result.returncode == 2, result.stderr
        assert result.stderr == f"python -m qa: error: {message}\n"
    assert not (tmp_path / "index").exists()


def test_the_worker_reports_a_bad_setting_as_its_fatal_message(tmp_path: Path) -> None:
    result = run(tmp_path, "qa.worker", "--index", str(tmp_path / "index"), "--corpus",
                 str(tmp_path / "corpus"), "--models", str(tmp_path / "models"),
                 RAG_READER="/no/such/reader")
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout) == {"fatal": "environment variable RAG_READER: "
                                         "/no/such/reader does not exist; name an existing path, "
                                         'or "off"'}

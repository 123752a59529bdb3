"""`pip install .`: the installed copy carries its packages, the default corpus, the reader and
the `groundwork` console script, keeps its state outside site-packages, and `groundwork serve`
answers Q1 through gradio_client and the openai client (streaming).

The venv sees this machine's site-packages (--system-site-packages) and the project is installed
into it with --no-deps --no-build-isolation: the dependencies are the ones the README command
installed, and nothing is fetched. The install is of a copy of the checkout, so the build leaves
nothing behind here, and everything runs from a directory outside the checkout, so it imports
the installed copy, not this one (checked).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import groundwork
from common import paths
from common.paths import PROJECT_ROOT
from qa.config import default_model_cache
from tests.browser.server import RunningApp, serve_app

Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"
NOT_SHIPPED = shutil.ignore_patterns("var", ".git", "build", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".ruff_cache", ".hypothesis", "tests",
                                     "bench")


class Installed:
    def __init__(self, venv: Path, outside: Path) -> None:
        self.venv, self.outside = venv, outside
        self.python = venv / "bin" / "python"
        self.script = venv / "bin" / "groundwork"

    def run(self, *args: str, env: dict[str, str] | None = None
            ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(args, cwd=self.outside, capture_output=True, text=True,
                              timeout=120, env={**os.environ, **(env or {})})

    def site_packages(self) -> Path:
        done = self.run(str(self.python), "-c", "import sysconfig; "
                        "print(sysconfig.get_paths()['purelib'])")
        return Path(done.stdout.strip())


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    root = tmp_path_factory.mktemp("install")
    source, venv, outside = root / "source", root / "venv", root / "elsewhere"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SHIPPED)
    outside.mkdir()
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip",
                    str(venv)], check=True, timeout=120)
    done = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet",
                           "--no-deps", "--no-build-isolation", str(source)],
                          cwd=outside, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return Installed(venv, outside)


def test_the_install_carries_the_corpus_the_reader_and_the_script(installed: Installed) -> None:
    site = installed.site_packages()
    assert site.is_relative_to(installed.venv)
    corpus = sorted(p.name for p in (site / "groundwork_data" / "corpus").iterdir())
    assert corpus == sorted(p.name for p in (PROJECT_ROOT / "data" / "corpus").iterdir())
    for shipped in ("reader/model/model.safetensors", "reader/model/manifest.json",
                    "qa/calibration.json", "eval/qa.jsonl", "app.py", "groundwork.py"):
        assert (site / shipped).is_file(), shipped
    assert not (site / "bench").exists() and not (site / "tests").exists()
    help_text = installed.run(str(installed.script), "--help")
    assert help_text.returncode == 0
    assert "groundwork {serve,ingest,ask,eval}" in help_text.stdout


def test_the_installed_copy_imports_itself_and_keeps_state_outside_it(
        installed: Installed, tmp_path: Path) -> None:
    code = ("import json, common.paths as p, qa.config as c; print(json.dumps({'file': "
            "p.__file__, 'installed': p.INSTALLED, 'state': str(p.state_dir()), "
            "'corpus': str(p.default_corpus_dir()), 'models': str(c.default_model_cache())}))")
    home = tmp_path / "home"
    done = installed.run(str(installed.python), "-c", code, env={"RAG_HOME": str(home)})
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert Path(seen["file"]).is_relative_to(installed.venv) and seen["installed"] is True
    assert seen["state"] == str(home) and seen["models"] == str(home / "models")
    # The corpus answered from (and uploaded to) is a writable copy of the packaged one.
    assert seen["corpus"] == str(home / "corpus")
    assert sorted(p.name for p in (home / "corpus").iterdir()) == sorted(
        p.name for p in (PROJECT_ROOT / "data" / "corpus").iterdir())


def test_an_unknown_command_is_one_line_and_exit_2(installed: Installed) -> None:
    done = installed.run(str(installed.script), "serv")
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.strip().splitlines() == [
        "groundwork: error: unknown command 'serv'; choose one of serve, ingest, ask, eval "
        "(see groundwork --help)"]


def test_a_command_gets_its_arguments_and_its_exit_code(installed: Installed) -> None:
    done = installed.run(str(installed.script), "ingest", "docs", "--no-such-flag")
    assert done.returncode == 2
    assert done.stderr.startswith("groundwork ingest: error: unrecognized arguments: "
                                  "--no-such-flag")
    assert "Traceback" not in done.stderr


# ---- state outside a checkout (common.paths), in this process -----------------------------

def test_state_goes_to_rag_home_else_var_in_a_checkout(monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path) -> None:
    monkeypatch.delenv("RAG_HOME", raising=False)
    assert paths.state_dir() == PROJECT_ROOT / "var"
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    assert paths.state_dir() == tmp_path


def test_an_installed_copy_keeps_state_in_the_users_data_directory(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(paths, "INSTALLED", True)
    monkeypatch.delenv("RAG_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert paths.state_dir() == tmp_path / "xdg" / "groundwork"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "me"))
    assert paths.state_dir() == tmp_path / "me" / ".local" / "share" / "groundwork"


def test_an_installed_copy_seeds_its_corpus_once_and_keeps_what_users_added(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in ("RAG_CORPUS_DIR", "RAG_SETTINGS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(paths, "INSTALLED", True)
    monkeypatch.setenv("RAG_HOME", str(tmp_path))
    corpus = paths.default_corpus_dir()
    assert corpus == tmp_path / "corpus"
    (corpus / "mine.txt").write_text("An uploaded document.\n", encoding="utf-8")
    (corpus / "china-watch-xi-foreign-policy.txt").unlink()  # removed by an operator
    assert paths.default_corpus_dir() == corpus
    assert (corpus / "mine.txt").is_file()
    assert not (corpus / "china-watch-xi-foreign-policy.txt").exists()
    monkeypatch.setenv("RAG_CORPUS_DIR", str(tmp_path / "elsewhere"))
    assert paths.default_corpus_dir() == tmp_path / "elsewhere"
    assert not (tmp_path / "elsewhere").exists()  # a chosen directory is never seeded


def test_groundwork_runs_the_module_with_the_rest_of_the_line(
        capsys: pytest.CaptureFixture[str]) -> None:
    # In a child: the module's __main__ block sets up logging, which must not leak into tests.
    done = subprocess.run([sys.executable, "-m", "groundwork", "ask", "--help"],
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.startswith("usage: groundwork ask")
    assert groundwork.main([]) == 2
    assert "usage: groundwork" in capsys.readouterr().out


# ---- the installed app, on the real models ------------------------------------------------

@pytest.fixture(scope="module")
def served(installed: Installed, tmp_path_factory: pytest.TempPathFactory
           ) -> Iterator[RunningApp]:
    with pytest.MonkeyPatch.context() as patch:
        # The checkout's converted SmolLM2 (made on its first start), so this start skips the
        # 20 s conversion; state otherwise under a temporary RAG_HOME.
        patch.setenv("RAG_MODEL_CACHE", str(default_model_cache()))
        patch.setenv("RAG_HOME", str(tmp_path_factory.mktemp("home")))
        with serve_app(tmp_path_factory.mktemp("served"),
                       command=(str(installed.script), "serve"), cwd=installed.outside
                       ) as running:
            yield running


@pytest.mark.real
def test_the_installed_server_answers_through_gradio_client(served: RunningApp) -> None:
    from gradio_client import Client

    result = Client(served.url, verbose=False).predict(Q1, api_name="/ask")
    assert result["abstained"] is False and "Katherine Tai" in result["answer"]
    assert result["citations"][0]["doc"] == "china-watch-xi-foreign-policy.txt"
    # The answering worker logged the question, with its timings, on the app's stderr.
    logged = [line for line in served.log.read_text().splitlines()
              if " INFO qa.pipeline: question 'Who is the US Trade Representative" in line]
    assert logged and "answered, " in logged[0] and " s, total " in logged[0], logged


@pytest.mark.real
def test_the_installed_server_streams_through_the_openai_client(served: RunningApp) -> None:
    import openai

    client = openai.OpenAI(base_url=served.url + "v1", api_key="unused", max_retries=0)
    chunks = list(client.chat.completions.create(
        model="groundwork-rag", stream=True, messages=[{"role": "user", "content": Q1}]))
    text = "".join(c.choices[0].delta.content or "" for c in chunks)
    assert "Katherine Tai" in text and "[1]" in text
    assert len([c for c in chunks if c.choices[0].delta.content]) >= 1
    assert (chunks[-1].model_extra or {})["citations"], chunks[-1]

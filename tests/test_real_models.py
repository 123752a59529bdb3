"""End-to-end on the real packaged models: MiniLM embeddings, SmolLM2 generation, FAISS, FTS5.

Slower than the unit tests (the first run converts the GGUF into var/models, ~30 s) but these
are the behaviours a user sees, so they run in CI too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.paths import DEFAULT_CORPUS, PROJECT_ROOT
from index.embedder import MiniLMEmbedder
from index.store import open_index
from ingest.build import build_index
from qa.config import REFUSAL, default_model_cache
from qa.pipeline import Pipeline
from qa.service import load_pipeline

pytestmark = pytest.mark.real

Q1 = "Who is the US Trade Representative who met her Chinese counterpart on 18 November?"


@pytest.fixture(scope="module")
def index_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("index")
    build_index([DEFAULT_CORPUS], root, MiniLMEmbedder())
    return root


@pytest.fixture(scope="module")
def pipeline(index_root: Path) -> Pipeline:
    return load_pipeline(index_root, DEFAULT_CORPUS, default_model_cache(), progress=False)


def test_names_katherine_tai_with_a_citation_that_holds_the_fact(pipeline: Pipeline) -> None:
    answer = pipeline.answer(Q1)
    assert not answer.abstained
    assert "Katherine Tai" in answer.text
    assert any("Katherine Tai" in c.chunk.text and "18 November" in c.chunk.text
               for c in answer.citations)
    naming = [s for s in re.split(r"(?<=[.!?])\s+", answer.text) if "Katherine Tai" in s]
    assert naming and all(re.search(r"\[\d+\]", s) for s in naming)
    assert answer.timings.ttft_s is not None and answer.timings.total_s > 0


def test_off_topic_question_is_refused_without_the_model(pipeline: Pipeline) -> None:
    answer = pipeline.answer("Who won the 2018 World Cup?")
    assert answer.abstained is True
    assert answer.text == REFUSAL
    assert answer.citations == ()
    assert answer.timings.ttft_s is None


def test_every_shown_sentence_cites_a_retrieved_passage(pipeline: Pipeline) -> None:
    answer = pipeline.answer("When was the Central National Security Commission established?")
    assert answer.text
    for sentence in re.split(r"(?<=[.!?])\s+", answer.text):
        markers = [int(m) for m in re.findall(r"\[(\d+)\]", sentence)]
        assert markers, sentence
        assert all(1 <= m <= len(answer.retrieved) for m in markers)


def test_a_list_answer_shows_the_list_not_its_lead_in(pipeline: Pipeline) -> None:
    # The corpus says the charm offensive "has three primary goals: 1) stabilize US-China
    # relations ... 2) use China's economic leverage ... 3) promote an alternative, anti-Western
    # alliance"; the answer used to quote only the sentence ending in "goals:".
    answer = pipeline.answer("What are the three primary goals of Xi's charm offensive?")
    assert not answer.abstained
    for item in ("stabilize US-China relations", "economic leverage", "anti-Western alliance"):
        assert item in answer.text
    assert any("three primary goals" in c.chunk.text for c in answer.citations)


def test_the_short_answer_is_the_readers_span(pipeline: Pipeline) -> None:
    answer = pipeline.answer(Q1)
    assert answer.short == "Katherine Tai"
    assert answer.text.startswith("Katherine Tai [")


def test_rebuilding_the_same_corpus_gives_the_same_chunk_ids(index_root: Path,
                                                             tmp_path: Path) -> None:
    embedder = MiniLMEmbedder()
    build_index([DEFAULT_CORPUS], tmp_path, embedder)
    first = open_index(index_root, embedder.model_id, embedder.dimension)
    second = open_index(tmp_path, embedder.model_id, embedder.dimension)
    assert [c.chunk_id for c in first.all_chunks()] == [c.chunk_id for c in second.all_chunks()]
    assert len(first) > 10


def test_chunks_fit_the_embedder_window(index_root: Path) -> None:
    embedder = MiniLMEmbedder()
    index = open_index(index_root, embedder.model_id, embedder.dimension)
    for chunk in index.all_chunks():
        assert embedder.count_tokens(chunk.text) <= embedder.max_tokens
        assert index.document_text(chunk.doc_id)[chunk.start:chunk.end] == chunk.text


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ingest_and_qa_commands(tmp_path: Path) -> None:
    ingest = _run("-m", "ingest", str(DEFAULT_CORPUS), "--index", str(tmp_path), "--quiet")
    assert ingest.returncode == 0, ingest.stderr
    assert re.search(r"indexed 2 documents \(\d+ chunks\)", ingest.stdout)

    qa = _run("-m", "qa", Q1, "--index", str(tmp_path))
    assert qa.returncode == 0, qa.stderr
    assert "Katherine Tai" in qa.stdout
    assert re.search(r"\[\d+\] china-watch-xi-foreign-policy\.txt, characters \d+-\d+", qa.stdout)


def test_fp16_decode_weights_keep_smollm2_on_its_fp32_course() -> None:
    """The app decodes with fp16 weight copies (3x faster); its next-token choices and the
    greedy reply to the chat's first example must match the fp32 model's."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qa.generator import converted_model_dir, half_weight_decode

    directory = converted_model_dir(default_model_cache())
    tokenizer = AutoTokenizer.from_pretrained(directory)
    fp32 = AutoModelForCausalLM.from_pretrained(directory).eval()
    fast = AutoModelForCausalLM.from_pretrained(directory).eval()
    assert half_weight_decode(fast) == 211  # 30 layers x 7 projections, and lm_head
    inputs = tokenizer.apply_chat_template([{"role": "user", "content": Q1}],
                                           add_generation_prompt=True, return_tensors="pt",
                                           return_dict=True)
    with torch.inference_mode():
        replies = [model.generate(**inputs, max_new_tokens=24, do_sample=False,
                                  output_logits=True, return_dict_in_generate=True,
                                  pad_token_id=tokenizer.eos_token_id) for model in (fp32, fast)]
    assert torch.equal(replies[0].sequences, replies[1].sequences)
    for slow_logits, fast_logits in zip(replies[0].logits[1:], replies[1].logits[1:], strict=True):
        assert (slow_logits - fast_logits).abs().max() < 0.25  # 0.06 here; bf16 gives 0.55

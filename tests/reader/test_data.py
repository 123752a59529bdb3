"""reader.data and the pure parts of reader.train: the split, negatives, labels, batches, AUC."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from reader.data import (
    DataError,
    adversarial_rewrites,
    article_names,
    articles_for,
    count,
    load_split,
    rewrite_unanswerable,
    same_article_negatives,
    squad_examples,
)
from reader.scores import auc
from reader.train import batches

ARTICLE = {"title": "T", "paragraphs": [
    {"context": "Tai met Wang in May.", "qas": [
        {"id": "a", "question": "Who met Wang?", "answers": [{"answer_start": 0, "text": "Tai"}],
         "is_impossible": False},
        {"id": "b", "question": "Who met Li?", "answers": [], "is_impossible": True,
         "plausible_answers": [{"answer_start": 0, "text": "Tai"}]}]},
    {"context": "Wang visited Paris.", "qas": []},
    {"context": "Tai and Wang met again.", "qas": []},
]}


def test_squad_examples_keep_gold_spans_and_mark_the_unanswerable() -> None:
    a, b = squad_examples([ARTICLE])
    assert a.answers == ((0, "Tai"),) and a.context[0:3] == "Tai"
    assert b.answers == () and not b.negative


def test_negatives_never_hold_a_gold_or_plausible_answer() -> None:
    negatives = same_article_negatives([ARTICLE], 1.0, random.Random(0))
    assert [n.qid for n in negatives] == ["a~1", "b~1"]  # paragraph 2 holds "Tai"
    assert all(n.negative and n.answers == () for n in negatives)
    assert same_article_negatives([ARTICLE], 0.0, random.Random(0)) == []


def test_the_committed_split_is_by_article_and_disjoint() -> None:
    split = load_split()
    roles = [{(f, t) for f, titles in split[r].items() for t in titles}
             for r in ("reader_train", "calibration", "heldout")]
    assert not (roles[0] & roles[1]) and not (roles[0] & roles[2]) and not (roles[1] & roles[2])
    held = articles_for("heldout", split)
    assert len(held) == 8
    trained = {a["title"] for a in articles_for("reader_train", split)}
    held_contexts = {p["context"] for a in held for p in a["paragraphs"]}
    assert not held_contexts & {p["context"] for a in articles_for("reader_train", split)
                                for p in a["paragraphs"]}
    assert "Warsaw" not in trained


def test_a_split_naming_an_unknown_article_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.json").write_text(json.dumps({"data": [ARTICLE]}))
    split = {"reader_train": {"s.json": ["Nope"]}, "calibration": {}, "heldout": {}}
    with pytest.raises(DataError, match="no article titled 'Nope'"):
        articles_for("reader_train", split, tmp_path)


def test_batches_group_lengths_and_cover_every_item() -> None:
    out = batches([9, 1, 8, 2], 2, random.Random(0))
    assert sorted(map(sorted, out)) == [[0, 2], [1, 3]]


def test_auc() -> None:
    assert auc([2, 0], [1]) == 0.5
    assert auc([3, 2], [1, 0]) == 1.0
    assert auc([1], [1]) == 0.5


def test_rewrites_make_the_paragraph_silent_in_each_kind() -> None:
    context = "In 1990 Tai met Wang at the largest hall of Beijing. The talks were long."
    question = "Who met Wang in 1990 at the largest hall?"
    seen = {}
    for seed in range(40):
        rewrite = rewrite_unanswerable(question, context, ["Li", "Tai", "Paris Hilton"],
                                       ["1985", "1990", "20"], random.Random(seed))
        assert rewrite is not None
        seen[rewrite[0]] = rewrite[1]
    # the name swapped is one the paragraph lacks, of as many words; the same for the number
    assert seen == {"name": "Who met Li in 1990 at the largest hall?",
                    "number": "Who met Wang in 1985 at the largest hall?",
                    "opposite": "Who met Wang in 1990 at the smallest hall?"}
    assert rewrite_unanswerable("What is the capital?", "The capital is Paris.", [], [],
                                random.Random(0)) == ("negation", "What is not the capital?")
    # nothing to change: no name, number, opposite or leading copula
    assert rewrite_unanswerable("How did they travel?", "They went by train.", ["Li"], ["7"],
                                random.Random(0)) is None


def test_an_opposite_the_paragraph_holds_is_not_a_rewrite() -> None:
    context = "The largest and the smallest hall stand side by side."
    assert rewrite_unanswerable("How old is the largest hall?", context, [], [],
                                random.Random(0)) is None


def test_article_names_skip_sentence_starts() -> None:
    assert article_names("Then Tai met Wang. Wang left. He saw Beyoncé Knowles.") == [
        "Beyoncé Knowles", "Tai", "Wang"]


def test_adversarial_rewrites_pair_answerable_questions_with_their_own_paragraph() -> None:
    articles = articles_for("reader_train")
    rewrites = adversarial_rewrites(articles, 0.4, random.Random(0))
    originals = {qa["id"]: (qa["question"].strip(), p["context"]) for a in articles
                 for p in a["paragraphs"] for qa in p["qas"] if not qa.get("is_impossible")}
    assert 0.25 * len(originals) < len(rewrites) < 0.4 * len(originals)
    for example in rewrites:
        question, context = originals[example.qid.rsplit("~", 1)[0]]
        assert example.negative and not example.answers and example.context == context
        assert example.question != question
    counts = count(rewrites)
    assert counts["rewrites_made"] == len(rewrites) and counts["negatives_made"] == 0

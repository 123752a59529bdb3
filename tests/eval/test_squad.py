import json
from collections import Counter
from pathlib import Path

import pytest

from eval.squad import (
    article_text,
    convert,
    main,
    quote_for_span,
    sample,
    slugify,
    unique_file_names,
)

PROJECT = Path(__file__).resolve().parents[2]
QA_FILE = PROJECT / "eval" / "qa.jsonl"
CORPUS = PROJECT / "data" / "corpus"

# Two paragraphs; the answer "1911" sits in the second sentence of the second paragraph.
P1 = "The Duchy was founded in 911. Rollo was its first ruler."
P2 = "The castle burned down once. It was rebuilt in 1911 by the town. Tourists visit it."
ANSWER_START = P2.index("1911")
TINY_SQUAD = {
    "version": "v2.0",
    "data": [{
        "title": "Castle_of_Foo (town)",
        "paragraphs": [
            {"context": P1, "qas": []},
            {"context": P2, "qas": [
                {"id": "a1", "question": "When was the castle rebuilt?", "is_impossible": False,
                 "answers": [{"text": "1911", "answer_start": ANSWER_START},
                             {"text": "in 1911", "answer_start": ANSWER_START - 3},
                             {"text": "1911", "answer_start": ANSWER_START}]},
                {"id": "u1", "question": "Who burned the castle?", "is_impossible": True,
                 "answers": [],
                 "plausible_answers": [{"text": "the town", "answer_start": P2.index("the town")}]},
            ]},
        ],
    }],
}


def write_squad(tmp_path: Path) -> Path:
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(TINY_SQUAD), encoding="utf-8")
    return path


def test_slugs_are_file_safe_and_unique():
    assert slugify("Castle_of_Foo (town)") == "castle-of-foo-town"
    assert slugify("Ségolène Royal") == "segolene-royal"
    assert slugify("???") == "article"
    assert unique_file_names(["A b", "a_b", "C"]) == ["a-b.txt", "a-b-2.txt", "c.txt"]


def test_quote_is_the_sentence_holding_the_span_and_widens_across_a_boundary():
    text = "It rained. We left."
    assert quote_for_span(text, text.index("left"), text.index("left") + 4) == "We left."
    assert quote_for_span(text, text.index("rained"), text.index("We") + 2) == text
    with pytest.raises(ValueError):
        quote_for_span(text, 5, 99)


def test_convert_writes_one_document_and_the_gold_sentence():
    documents, questions = convert(TINY_SQUAD)
    assert documents == {"castle-of-foo-town.txt": P1 + "\n\n" + P2}
    assert article_text([P1, P2]) == P1 + "\n\n" + P2
    answerable, unanswerable = questions
    assert answerable == {
        "id": "a1",
        "question": "When was the castle rebuilt?",
        "answers": ["1911", "in 1911"],
        "evidence": [
            {"doc": "castle-of-foo-town.txt", "quote": "It was rebuilt in 1911 by the town."}
        ],
        "answerable": True,
    }
    # plausible_answers are SQuAD's decoys for unanswerable questions; they must not leak.
    assert unanswerable == {"id": "u1", "question": "Who burned the castle?", "answers": [],
                            "evidence": [], "answerable": False}


def test_sample_is_reproducible_per_seed_and_keeps_file_order():
    items = list(range(100))
    first = sample(items, 10, seed=1)
    assert first == sample(items, 10, seed=1)
    assert first != sample(items, 10, seed=2)
    assert first == sorted(first) and len(set(first)) == 10
    assert sample(items, None, seed=1) == items
    assert sample(items, 1000, seed=1) == items


def test_cli_writes_corpus_and_question_file(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["--squad", str(write_squad(tmp_path)), "--out", str(out)]) == 0
    assert (out / "corpus" / "castle-of-foo-town.txt").read_text(encoding="utf-8") == (
        P1 + "\n\n" + P2)
    rows = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a1", "u1"]
    assert capsys.readouterr().out.strip() == (
        f"1 articles, 2 questions written (1 answerable, 1 unanswerable) -> {out}")


def test_cli_answerable_only_with_limit(tmp_path):
    out = tmp_path / "out"
    args = ["--squad", str(write_squad(tmp_path)), "--out", str(out), "--limit", "5",
            "--seed", "3", "--answerable-only"]
    assert main(args) == 0
    rows = (out / "qa.jsonl").read_text().splitlines()
    assert [json.loads(r)["id"] for r in rows] == ["a1"]


def test_cli_missing_input_is_one_line_and_exit_code_2(tmp_path, capsys):
    missing = tmp_path / "no-such-squad"
    assert main(["--squad", str(missing), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(missing) in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_cli_bad_limit_is_one_line_and_exit_code_2(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path), "--limit", "0"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--limit" in err


# --- the project's own question file -------------------------------------------------------


def collapse(text: str) -> str:
    # str.split() splits on every Unicode space, so the corpus's no-break spaces collapse too.
    return " ".join(text.split())


def test_project_question_file_is_valid_and_big_enough():
    documents = {p.name: collapse(p.read_text(encoding="utf-8")) for p in CORPUS.glob("*.txt")}
    rows = [json.loads(line) for line in QA_FILE.read_text(encoding="utf-8").splitlines()]
    ids = [row["id"] for row in rows]
    assert len(ids) == len(set(ids)), "duplicate ids"
    kinds: Counter[str] = Counter()
    for row in rows:
        if not row.get("answerable", True):
            assert row["answers"] == [] and row["evidence"] == [], row["id"]
            kinds["unanswerable"] += 1
            continue
        kinds["answerable"] += 1
        kinds["two-document"] += len({e["doc"] for e in row["evidence"]}) >= 2
        assert row["answers"] and row["evidence"], row["id"]
        for evidence in row["evidence"]:
            assert evidence["doc"] in documents, (row["id"], evidence["doc"])
            assert collapse(evidence["quote"]) in documents[evidence["doc"]], (
                row["id"], evidence["quote"])
        quotes = [e["quote"].lower() for e in row["evidence"]]
        for answer in row["answers"]:
            assert any(answer.lower() in quote for quote in quotes), (row["id"], answer)
    assert len(rows) >= 40
    assert kinds["answerable"] >= 30
    assert kinds["two-document"] >= 5
    assert kinds["unanswerable"] >= 8


def test_cli_role_keeps_only_that_roles_articles(tmp_path):
    # data/squad2/split.json holds 8 dev articles out; no question or document of the others
    out = tmp_path / "heldout"
    assert main(["--out", str(out), "--role", "heldout", "--limit", "50", "--seed", "1"]) == 0
    names = sorted(p.name for p in (out / "corpus").iterdir())
    assert len(names) == 8 and "warsaw.txt" in names and "normans.txt" not in names
    questions = [json.loads(line) for line in (out / "qa.jsonl").read_text().splitlines()]
    assert len(questions) == 50
    assert {e["doc"] for q in questions for e in q["evidence"]} <= set(names)

import json

import pytest

from eval.compare import compare, main
from eval.metrics import METRIC_KEYS, QuestionResult, Span, aggregate, recall_curve
from eval.questions import EvidenceSpan, Question
from eval.report import (
    problems,
    question_row,
    refusal_tradeoff,
    render_markdown,
    worst_questions,
    write_report,
)


def q(qid: str, answerable: bool = True) -> Question:
    evidence = (EvidenceSpan("a.txt", 0, 100, "quote"),) if answerable else ()
    answers = ("Katherine Tai",) if answerable else ()
    return Question(qid, f"Question {qid}?", answers, evidence, answerable, 1)


HIT = Span("a.txt", 0, 100)
MISS = Span("b.txt", 0, 100)


def fake_run() -> list[QuestionResult]:
    return [
        QuestionResult(q("perfect"), (HIT,), (HIT,), "Katherine Tai.", False, 1.0, 0.1),
        QuestionResult(q("wrong_answer"), (HIT,), (HIT,), "Someone else.", False, 1.2, 0.1),
        QuestionResult(q("bad_cite"), (HIT,), (MISS,), "Katherine Tai", False, 1.1, 0.1),
        QuestionResult(q("not_found"), (MISS,), (), "No idea, maybe Tai", False, 0.9, 0.1),
        QuestionResult(q("refused"), (HIT,), (), "Not in the documents.", True, 0.5, None),
        QuestionResult(q("u_answered", False), (MISS,), (MISS,), "It is 5%.", False, 1.0, 0.1),
        QuestionResult(q("u_refused", False), (MISS,), (), "Not in the documents.", True, 0.4,
                       None),
        QuestionResult(q("half_f1"), (HIT,), (HIT,), "Tai", False, 1.0, 0.1),
    ]


def rows(results: list[QuestionResult]) -> list[dict]:
    return [question_row(r, [{"marker": 1, "doc": c.doc, "start": c.start, "end": c.end,
                              "text": "cited | text"} for c in r.cited], ["chunk-1"])
            for r in results]


def test_problems_are_named_in_plain_words():
    by_id = {row["id"]: problems(row) for row in rows(fake_run())}
    assert by_id["perfect"] == [] and by_id["u_refused"] == []
    assert by_id["u_answered"] == ["answered an unanswerable question"]
    assert "refused although the documents answer it" in by_id["refused"]
    assert "evidence not retrieved in top 10" in by_id["not_found"]
    assert "answer does not contain any acceptable answer" in by_id["wrong_answer"]
    assert any("cited a passage that does not contain the evidence" in p
               for p in by_id["bad_cite"])


def test_worst_ordering_puts_refusal_mistakes_first_then_low_f1():
    worst = [row["id"] for row in worst_questions(rows(fake_run()))]
    # Wrong refusal behaviour first: refused (F1 0) before u_answered (no F1, sorts as 1).
    # Then by F1: wrong_answer 0; not_found 1/3 ("no idea maybe tai" vs "katherine tai":
    # P 1/4, R 1/2); half_f1 2/3; bad_cite 1 (right answer, wrong citation) is sixth.
    assert worst == ["refused", "u_answered", "wrong_answer", "not_found", "half_f1"]


def test_write_report_creates_all_files(tmp_path):
    results = fake_run()
    metrics, per_question = aggregate(results), rows(results)
    run_info = {"questions": "bench/questions.jsonl", "corpus": "data/corpus", "k": 10,
                "date": "2024-05-01T12:00:00", "retrieval_only": False, "model": "fake"}
    write_report(tmp_path / "out", metrics, per_question, run_info,
                 recall_curve=recall_curve(results))
    out = tmp_path / "out"
    saved = json.loads((out / "metrics.json").read_text())
    assert list(saved) == list(METRIC_KEYS)
    assert json.loads((out / "run.json").read_text()) == run_info
    lines = (out / "per_question.jsonl").read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [r.question.id for r in results]
    assert (out / "plot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "report.md").read_text()
    assert "| Metric | Value | What it means |" in md
    assert "| false_refusal_rate | 0.167 |" in md  # 1 of 6 answerable refused
    assert "bench/questions.jsonl" in md and "2024-05-01" in md and "- model: fake" in md
    assert "## Five worst questions" in md and md.count("- What went wrong: ") == 5
    assert "### 1. refused: Question refused?" in md
    assert '- Expected answer: "Katherine Tai"' in md
    assert "cited \\| text" in md  # pipes escaped so tables elsewhere stay intact


def test_write_report_retrieval_only_and_key_check(tmp_path):
    results = [QuestionResult(q("x"), (MISS, HIT), (), None, None, 0.1, None)]
    write_report(tmp_path, aggregate(results), rows(results), {"retrieval_only": True})
    md = (tmp_path / "report.md").read_text()
    assert "retrieval only" in md and "| answer_f1 | n/a |" in md
    assert "Abstained: n/a (retrieval only)" in md
    assert "first evidence at rank 2" in md  # MISS ranked above HIT
    with pytest.raises(ValueError, match="exactly the keys"):
        write_report(tmp_path, {"mrr": 1.0}, [], {})


def confident(answerable: list[float], unanswerable: list[float]) -> list[dict]:
    return ([{"answerable": True, "confidence": c} for c in answerable]
            + [{"answerable": False, "confidence": c} for c in unanswerable])


def test_refusal_tradeoff_reads_back_what_each_threshold_would_cost():
    # Unanswerable 0.1 0.2 0.3 0.6; answerable 0.25 0.5 0.7 0.8 0.9.
    tradeoff = refusal_tradeoff(confident([0.9, 0.8, 0.7, 0.5, 0.25], [0.6, 0.3, 0.2, 0.1]))
    # Pairs where the answerable one is higher: 0.9/0.8/0.7 beat all four (12), 0.5 beats three,
    # 0.25 beats two: 17 of 20.
    assert tradeoff["auc"] == pytest.approx(17 / 20)
    points = {p["abstention"]: p for p in tradeoff["points"]}
    # Half the unanswerable: refuse at or below 0.2, which no answerable question is.
    assert points[0.5]["refuse_at_or_below"] == 0.2 and points[0.5]["false_refusal_rate"] == 0
    # Three of four (0.75): at or below 0.3 also refuses the answerable 0.25.
    assert points[0.75]["false_refusal_rate"] == pytest.approx(1 / 5)
    # 0.9 needs all four, as does 1.0: at or below 0.6 refuses 0.25 and 0.5.
    assert [p["abstention"] for p in tradeoff["points"]] == [0.5, 0.75, 1.0, 1.0]
    assert points[1.0]["refuse_at_or_below"] == 0.6
    assert points[1.0]["false_refusal_rate"] == pytest.approx(2 / 5)
    # Ties count half; 0.55 of 100 unanswerable questions asks for 55, not 56.
    assert refusal_tradeoff(confident([0.5], [0.5]))["auc"] == 0.5
    hundred = refusal_tradeoff(confident([1.0], [i / 100 for i in range(100)]), levels=(0.55,))
    assert hundred["points"][0]["refuse_at_or_below"] == 0.54


def test_refusal_tradeoff_needs_both_kinds_and_a_confidence():
    assert refusal_tradeoff(confident([0.9], [])) is None
    assert refusal_tradeoff(confident([], [0.1])) is None
    assert refusal_tradeoff([{"answerable": True, "confidence": None},
                             {"answerable": False, "confidence": None}]) is None


def test_report_shows_the_tradeoff_only_when_confidences_were_recorded():
    results = fake_run()
    per_question = rows(results)
    assert "## Refusal trade-off" not in render_markdown(aggregate(results), per_question, {})
    for row, c in zip(per_question, [0.9, 0.8, 0.7, 0.6, 0.2, 0.65, 0.1, 0.85], strict=True):
        row["confidence"] = c
    md = render_markdown(aggregate(results), per_question, {})
    assert "## Refusal trade-off" in md and "AUC 0.833" in md  # 4 + 6 of the 12 pairs
    # Refusing both unanswerable questions (at or below 0.65) also refuses 0.6 and 0.2.
    assert "| 1.000 | 0.650 | 0.333 |" in md


def test_compare_table_keeps_metric_order_and_shows_deltas():
    a = {"retrieval_recall@1": 0.5, "mrr": 0.5, "answer_f1": None, "n_questions": 10}
    b = {"retrieval_recall@1": 0.75, "mrr": 0.25, "answer_f1": 0.4, "n_questions": 12}
    lines = compare(a, b).splitlines()
    assert lines[0].split() == ["metric", "A", "B", "delta"]
    assert [line.split()[0] for line in lines[2:]] == [
        "retrieval_recall@1", "mrr", "answer_f1", "n_questions"]
    assert lines[2].split() == ["retrieval_recall@1", "0.500", "0.750", "+0.250"]
    assert lines[3].split()[-1] == "-0.250"
    assert lines[4].split() == ["answer_f1", "n/a", "0.400", "n/a"]
    assert lines[5].split() == ["n_questions", "10", "12", "+2"]


def test_compare_cli_prints_table_and_fails_cleanly(tmp_path, capsys):
    good = tmp_path / "a.json"
    good.write_text(json.dumps({"mrr": 0.5}))
    assert main([str(good), str(good)]) == 0
    assert "+0.000" in capsys.readouterr().out
    bad = tmp_path / "bad.json"
    bad.write_text("{nope")
    for args in ([str(good), str(tmp_path / "missing.json")], [str(bad), str(good)]):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.startswith("error: ") and err.count("\n") == 1

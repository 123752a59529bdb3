import pytest

from common.answer_text import contains_answer, normalize_answer, token_f1
from eval.metrics import (
    METRIC_KEYS,
    QuestionResult,
    Span,
    aggregate,
    covers,
    percentile,
    recall_curve,
    score_question,
)
from eval.questions import EvidenceSpan, Question


def ev(start: int, end: int, doc: str = "a.txt") -> EvidenceSpan:
    return EvidenceSpan(doc, start, end, "quote")


def question(*evidence: EvidenceSpan, answers=("Katherine Tai",), qid="q") -> Question:
    return Question(qid, "Who?", tuple(answers) if evidence else (), evidence, bool(evidence), 1)


def result(q, retrieved=(), cited=(), answer=None, abstained=None, latency=None, ttft=None):
    return QuestionResult(q, tuple(retrieved), tuple(cited), answer, abstained, latency, ttft)


# --- coverage -------------------------------------------------------------------------------

def test_overlap_of_half_the_span_covers():
    # span 100-200 (length 100), chunk 150-400: overlap 150-200 = 50 = half of 100 -> covers
    assert covers(Span("a.txt", 150, 400), ev(100, 200))


def test_small_partial_overlap_does_not_cover():
    # span 100-300 (200), chunk 0-120 (120): overlap 20 < 100 (half span) and < 60 (half chunk)
    assert not covers(Span("a.txt", 0, 120), ev(100, 300))


def test_tiny_chunk_inside_a_long_span_covers_by_the_chunk_half_rule():
    # span 0-1000, chunk 400-440: overlap 40 = the whole chunk >= 20 -> covers
    assert covers(Span("a.txt", 400, 440), ev(0, 1000))


def test_other_document_or_touching_ranges_never_cover():
    assert not covers(Span("b.txt", 100, 200), ev(100, 200))  # same offsets, other document
    assert not covers(Span("a.txt", 200, 300), ev(100, 200))  # touching: overlap 0


# --- retrieval --------------------------------------------------------------------------------

def test_two_spans_one_retrieved_gives_recall_zero_but_mrr_counts_it():
    q = question(ev(0, 100), ev(500, 600))
    retrieved = [Span("a.txt", 1000, 1100), Span("a.txt", 0, 100)]  # only the first span, rank 2
    s = score_question(result(q, retrieved))
    assert (s["recall@1"], s["recall@5"], s["recall@10"]) == (0, 0, 0)
    assert s["reciprocal_rank"] == 0.5


def test_recall_at_k_depends_on_the_rank_of_the_last_span_found():
    q = question(ev(0, 100), ev(500, 600))
    filler = [Span("b.txt", i, i + 10) for i in range(0, 60, 10)]  # 6 misses
    # ranks: span 1 at 1, misses at 2..7, span 2 at 8 -> all covered only from k=8
    retrieved = [Span("a.txt", 0, 100), *filler, Span("a.txt", 500, 600)]
    s = score_question(result(q, retrieved))
    assert (s["recall@1"], s["recall@5"], s["recall@10"], s["reciprocal_rank"]) == (0, 0, 1, 1.0)
    curve = recall_curve([result(q, retrieved)])
    assert curve == [0.0] * 7 + [1.0] * 3


def test_mrr_and_recall_average_over_answerable_questions_only():
    hit = result(question(ev(0, 100), qid="hit"), [Span("a.txt", 0, 100)])
    third = result(question(ev(0, 100), qid="third"),
                   [Span("b.txt", 0, 9), Span("b.txt", 9, 19), Span("a.txt", 50, 150)])
    miss = result(question(ev(0, 100), qid="miss"), [Span("b.txt", 0, 100)])
    unanswerable = result(question(qid="u"), [Span("a.txt", 0, 100)])
    m = aggregate([hit, third, miss, unanswerable])
    assert m["retrieval_recall@1"] == pytest.approx(1 / 3)
    assert m["retrieval_recall@5"] == pytest.approx(2 / 3)
    assert m["mrr"] == pytest.approx((1 + 1 / 3 + 0) / 3)
    assert (m["n_questions"], m["n_answerable"], m["n_unanswerable"]) == (4, 3, 1)


# --- citations, answers, refusals --------------------------------------------------------------

def test_citation_in_another_document_counts_wrong():
    q = question(ev(100, 200))
    cited = [Span("a.txt", 100, 200), Span("b.txt", 100, 200)]
    s = score_question(result(q, cited, cited, "Katherine Tai", False))
    assert (s["citations_correct"], s["citations_total"], s["citation_recall"]) == (1, 2, 1.0)


def test_citation_recall_is_share_of_spans_covered_by_citations():
    q = question(ev(0, 100), ev(500, 600))
    s = score_question(result(q, [], [Span("a.txt", 0, 100)], "Katherine Tai", False))
    assert s["citation_recall"] == 0.5  # 1 of 2 spans cited


def test_abstention_scores_zero_and_counts_as_false_refusal():
    q = question(ev(0, 100))
    r = result(q, [Span("a.txt", 0, 100)], [Span("a.txt", 0, 100)], "I cannot say.", True)
    s = score_question(r)
    # citations on a refusal are not counted at all
    assert (s["citations_total"], s["citation_recall"], s["answer_hit"], s["answer_f1"]) == (
        0, 0.0, 0, 0.0)
    m = aggregate([r])
    assert m["false_refusal_rate"] == 1.0 and m["abstention_rate_unanswerable"] is None
    assert m["citation_precision"] is None  # no counted citations -> null, not 0/0


def test_citations_on_unanswerable_questions_count_wrong():
    good = result(question(ev(0, 100)), [], [Span("a.txt", 0, 100)], "Katherine Tai", False)
    answered = result(question(qid="u1"), [], [Span("a.txt", 0, 100)], "Tai", False)
    refused = result(question(qid="u2"), [], [], "Not in the documents.", True)
    m = aggregate([good, answered, refused])
    assert m["citation_precision"] == 0.5  # 1 correct of 2 counted citations
    assert m["abstention_rate_unanswerable"] == 0.5  # u2 refused, u1 did not
    assert m["false_refusal_rate"] == 0.0
    assert score_question(answered)["answer_f1"] is None  # no acceptable answers to match


def test_normalize_answer_drops_case_punctuation_articles_and_extra_spaces():
    assert normalize_answer("The  Katherine Tai!") == "katherine tai"
    assert normalize_answer("Xi’s “core” — an idea") == "xi s core idea"  # Unicode punctuation


def test_answer_hit_needs_whole_words():
    assert contains_answer("Trade talks: the Katherine Tai visit.", "katherine tai")
    assert not contains_answer("Taiwan", "Tai")  # no partial-word match
    assert not contains_answer("anything", "The")  # nothing left after normalization


def test_token_f1_on_partial_tokens():
    # pred "katherine tai said" vs gold "tai": common 1, P = 1/3, R = 1 -> F1 = 2*(1/3)/(4/3) = 0.5
    assert token_f1("Katherine Tai said", "Tai") == pytest.approx(0.5)
    # pred "tai" vs gold "katherine tai": P = 1, R = 1/2 -> F1 = 2/3
    assert token_f1("Tai", "Katherine Tai") == pytest.approx(2 / 3)
    assert token_f1("", "") == 1.0 and token_f1("x", "") == 0.0


def test_answer_f1_takes_the_best_acceptable_answer():
    q = question(ev(0, 10), answers=("USTR Katherine Tai", "Tai"))
    # vs "ustr katherine tai": common 1 of 1 pred, 3 gold -> 0.5; vs "tai": 1.0
    assert score_question(result(q, [], [], "Tai.", False))["answer_f1"] == 1.0


# --- latency, empty sets, retrieval-only ---------------------------------------------------------

def test_answer_f1_scores_the_short_answer_and_answer_hit_the_whole_answer():
    q = question(ev(0, 10), answers=("April 2022",))
    shown = "April 2022 [1]\n\nThe Global Security Initiative was launched in April 2022 [1]."
    with_short = QuestionResult(q, (), (), shown, False, None, None, short="April 2022")
    without = QuestionResult(q, (), (), shown, False, None, None)
    assert score_question(with_short)["answer_f1"] == 1.0
    assert score_question(without)["answer_f1"] < 0.5  # the sentence's other words count
    assert score_question(with_short)["answer_hit"] == score_question(without)["answer_hit"] == 1


def test_percentiles_use_linear_interpolation():
    # p50 of 1..4 = 2.5; p95: position 0.95 * 3 = 2.85 -> 3 + 0.85 * (4 - 3) = 3.85
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, None, 1.0, 3.0, 2.0], 95) == pytest.approx(3.85)
    assert percentile([None], 50) is None


def test_ttft_only_over_questions_with_a_model_call():
    q = question(ev(0, 10))
    rows = [result(q, answer="x", abstained=False, latency=1.0, ttft=0.2),
            result(q, answer="x", abstained=True, latency=3.0, ttft=None)]  # refused early
    m = aggregate(rows)
    assert (m["latency_p50_s"], m["ttft_p50_s"]) == (2.0, 0.2)


def test_retrieval_only_run_has_null_generation_metrics():
    m = aggregate([result(question(ev(0, 100)), [Span("a.txt", 0, 100)], latency=0.1)])
    assert tuple(m) == METRIC_KEYS
    assert m["retrieval_recall@1"] == 1.0 and m["latency_p50_s"] == pytest.approx(0.1)
    generation = ["citation_precision", "citation_recall", "answer_hit", "answer_f1",
                  "abstention_rate_unanswerable", "false_refusal_rate", "ttft_p50_s"]
    assert all(m[k] is None for k in generation)


def test_empty_run_gives_nulls_and_zero_counts():
    m = aggregate([])
    assert tuple(m) == METRIC_KEYS
    assert all(m[k] is None for k in METRIC_KEYS if not k.startswith("n_"))
    assert (m["n_questions"], m["n_answerable"], m["n_unanswerable"]) == (0, 0, 0)

"""Write a benchmark run to a directory that a reader who never saw the code can understand.

write_report(out_dir, metrics, per_question, run_info, recall_curve=...) writes:
  metrics.json        the aggregate metrics only (keys and order of eval.metrics.METRIC_KEYS)
  run.json            run_info as given (question file, corpus, k, date, retrieval_only, ...)
  per_question.jsonl  one row per question, in the order given (see question_row)
  report.md           run info, a metric table with plain-English meanings, the refusal
                      trade-off (when answers were generated), five worst questions
  plot.png            recall@k for k = 1..10 (left) and every rate metric as a bar (right)

The recall curve is a keyword parameter, not part of run_info, so run.json stays a plain
description of the run; without it the plot shows only recall@1/5/10 from the metrics.

The refusal trade-off (refusal_tradeoff) reads each question's recorded confidence: what
abstention rate another refusal threshold would reach, and the false refusals it would cost.
It cannot say what answers the newly answered questions would get.

"Worst" is the order of worst_key: first questions whose refusal behaviour is wrong (answered
an unanswerable question, or refused an answerable one), then lower answer F1, then lower
citation recall, then lower reciprocal rank of the first retrieved evidence, then lower
citation precision; ties keep file order. Only questions with at least one problem are shown.

Does not compute metrics (see eval.metrics) or run the pipeline.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from eval.metrics import KS, METRIC_DOCS, METRIC_KEYS, QuestionResult, score_question

_RUN_KEYS = ("questions", "corpus", "k", "date", "retrieval_only")
_RATE_KEYS = tuple(k for k in METRIC_KEYS if not (k.startswith("n_") or k.endswith("_s")))


def question_row(r: QuestionResult, citations: list[dict], retrieved_ids: list[str]) -> dict:
    """The per_question.jsonl row the report reads: the question, what the system did, its scores.

    citations are the runner's {marker, doc, start, end, text} dicts, retrieved_ids the ranked
    chunk ids; the report also works on rows the runner builds itself with the same keys.
    """
    q = r.question
    return {
        "id": q.id, "question": q.question, "answerable": q.answerable, "answers": list(q.answers),
        "answer": r.answer, "short": r.short, "abstained": r.abstained, "citations": citations,
        "retrieved": retrieved_ids, **score_question(r), "latency_s": r.latency_s,
        "ttft_s": r.ttft_s,
    }


def _wrong_refusal(row: dict) -> bool:
    return (row.get("abstained") is False and not row.get("answerable", True)) or (
        row.get("abstained") is True and row.get("answerable", True))


def _or_one(value: float | None) -> float:
    return 1.0 if value is None else float(value)


def worst_key(row: dict) -> tuple[int, float, float, float, float]:
    """Sort key, smallest first = worst. Example: an answered unanswerable question -> (0, ...)"""
    total = row.get("citations_total") or 0
    precision = row.get("citations_correct", 0) / total if total else None
    return (0 if _wrong_refusal(row) else 1, _or_one(row.get("answer_f1")),
            _or_one(row.get("citation_recall")), _or_one(row.get("reciprocal_rank")),
            _or_one(precision))


def problems(row: dict) -> list[str]:
    """What went wrong for one question, in plain words ([] if nothing did)."""
    found: list[str] = []
    if not row.get("answerable", True):
        if row.get("abstained") is False:
            found.append("answered an unanswerable question")
        return found
    if row.get("abstained") is True:
        found.append("refused although the documents answer it")
    top = KS[-1]
    if row.get(f"recall@{top}") == 0:
        partly = (row.get("reciprocal_rank") or 0) >= 1 / top
        found.append(f"only part of the evidence retrieved in top {top}" if partly
                     else f"evidence not retrieved in top {top}")
    elif row.get("abstained") is None and row.get("recall@1") == 0:
        # Retrieval-only runs have no answer to judge, so a late rank is the problem to show.
        rank = round(1 / row["reciprocal_rank"]) if row.get("reciprocal_rank") else "?"
        found.append(f"evidence not all in the top chunk (first evidence at rank {rank})")
    if row.get("abstained") is False:
        if row.get("answer_hit") == 0:
            found.append("answer does not contain any acceptable answer")
        total, correct = row.get("citations_total") or 0, row.get("citations_correct") or 0
        if total == 0:
            found.append("gave no citation")
        elif correct < total:
            found.append(f"cited a passage that does not contain the evidence "
                         f"({total - correct} of {total} citations)")
        if total and (row.get("citation_recall") or 0) < 1:
            found.append("citations do not cover all of the evidence")
    return found


def worst_questions(rows: Sequence[dict], n: int = 5) -> list[dict]:
    """Up to n rows that have a problem, worst first (see worst_key)."""
    return sorted((r for r in rows if problems(r)), key=worst_key)[:n]


ABSTENTION_LEVELS = (0.5, 0.75, 0.9, 1.0)


def refusal_tradeoff(rows: Sequence[dict], levels: Sequence[float] = ABSTENTION_LEVELS
                     ) -> dict[str, Any] | None:
    """How well the recorded confidence separates answerable from unanswerable questions.

    Returns {"auc": P(an answerable question's confidence > an unanswerable one's, ties
    half), "points": [{"abstention", "refuse_at_or_below", "false_refusal_rate"}, ...]}: for
    each abstention level, the lowest threshold that reaches it (refusing every question whose
    confidence is at most that) and the share of answerable questions it refuses. None when
    the rows lack either kind of question or a confidence (a retrieval-only run).
    Example: answerable confidences [0.9, 0.4], unanswerable [0.3, 0.5] -> auc 0.75; abstention
    1.0 means refusing at or below 0.5, false refusal rate 0.5
    """
    yes = [r["confidence"] for r in rows if r.get("answerable") and r.get("confidence") is not None]
    no = sorted(r["confidence"] for r in rows
                if r.get("answerable") is False and r.get("confidence") is not None)
    if not yes or not no:
        return None
    auc = sum((a > u) + 0.5 * (a == u) for a in yes for u in no) / (len(yes) * len(no))
    points = []
    for level in levels:
        # The level-th share of the unanswerable, at least one; the 1e-9 keeps a product like
        # 0.55 * 100 = 55.00000000000001 from asking for a 56th.
        cut = no[max(math.ceil(level * len(no) - 1e-9), 1) - 1]
        points.append({"abstention": sum(u <= cut for u in no) / len(no),
                       "refuse_at_or_below": cut,
                       "false_refusal_rate": sum(a <= cut for a in yes) / len(yes)})
    return {"auc": auc, "points": points}


def _tradeoff_section(rows: Sequence[dict]) -> list[str]:
    tradeoff = refusal_tradeoff(rows)
    if tradeoff is None:
        return []
    return [
        "## Refusal trade-off", "",
        "Each question's refusal confidence, read back: the share of answerable questions that "
        "would be refused to reach a given abstention rate on unanswerable ones. AUC "
        f"{tradeoff['auc']:.3f} (1.0: every answerable question above every unanswerable one; "
        "0.5: no separation). Answers that a lower threshold would add were not generated, so "
        "their quality is unknown.", "",
        "| Abstention on unanswerable | Refuse at confidence ≤ | False refusal rate |",
        "| --- | --- | --- |",
        *(f"| {p['abstention']:.3f} | {p['refuse_at_or_below']:.3f} | "
          f"{p['false_refusal_rate']:.3f} |" for p in tradeoff["points"]),
        "",
    ]


def _fmt(key: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.2f} s" if key.endswith("_s") else f"{value:.3f}"
    return str(value)


def _flat(text: Any, limit: int = 300) -> str:
    flat = " ".join(str(text).split()).replace("|", "\\|")
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _question_section(i: int, row: dict) -> list[str]:
    expected = (" or ".join(f'"{_flat(a)}"' for a in row.get("answers", []))
                if row.get("answerable", True) else "none: the documents do not answer it")
    answer = row.get("answer")
    cites = [f'  - [{c.get("marker")}] {c.get("doc")} {c.get("start")}–{c.get("end")}: '
             f'"{_flat(c.get("text", ""), 160)}"' for c in row.get("citations") or []]
    abstained = {True: "yes", False: "no", None: "n/a (retrieval only)"}[row.get("abstained")]
    return [
        f"### {i}. {row.get('id')}: {_flat(row.get('question', ''))}", "",
        f"- Expected answer: {expected}",
        f"- System answer: {'(none)' if answer is None else _flat(answer)}",
        f"- Abstained: {abstained}",
        f"- Citations: {'none' if not cites else ''}", *cites,
        f"- What went wrong: {'; '.join(problems(row))}.", "",
    ]


def render_markdown(metrics: dict, per_question: Sequence[dict], run_info: dict) -> str:
    """report.md as a string (pure, so tests need no files)."""
    mode = "retrieval only (no answers generated)" if run_info.get("retrieval_only") else (
        "retrieval and answer generation")
    lines = [
        "# Benchmark report", "", "## Run", "",
        f"- Question file: {run_info.get('questions', 'n/a')}",
        f"- Corpus: {run_info.get('corpus', 'n/a')}",
        f"- Chunks retrieved per question (k): {run_info.get('k', 'n/a')}",
        f"- Date: {run_info.get('date', 'n/a')}",
        f"- Mode: {mode}",
        *(f"- {key}: {_flat(value)}" for key, value in run_info.items() if key not in _RUN_KEYS),
        "", "## Metrics", "",
        "A retrieved or cited chunk *covers* a piece of evidence when both are in the same "
        "document and they overlap by at least half the evidence or half the chunk. "
        "\"n/a\" means the metric does not apply to this run.", "",
        "| Metric | Value | What it means |", "| --- | --- | --- |",
        *(f"| {k} | {_fmt(k, metrics.get(k))} | {METRIC_DOCS.get(k, '')} |" for k in metrics),
        "", *_tradeoff_section(per_question), "## Five worst questions", "",
        "Ordered by: wrong refusal behaviour first (answered an unanswerable question or refused "
        "an answerable one), then lower answer F1, lower citation recall, and a later first "
        "retrieved evidence chunk.", "",
    ]
    worst = worst_questions(per_question)
    for i, row in enumerate(worst, start=1):
        lines += _question_section(i, row)
    if not worst:
        lines += ["No question had a problem.", ""]
    return "\n".join(lines)


def _plot(path: Path, metrics: dict, recall_curve: Sequence[float] | None) -> None:
    # A bare Figure renders with Agg and never touches pyplot's global state or a display.
    fig = Figure(figsize=(11, 4.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    if recall_curve:
        ks, ys = list(range(1, len(recall_curve) + 1)), list(recall_curve)
    else:
        ks = [k for k in KS if metrics.get(f"retrieval_recall@{k}") is not None]
        ys = [metrics[f"retrieval_recall@{k}"] for k in ks]
    left.plot(ks, ys, marker="o")
    left.set(title="Retrieval recall@k", xlabel="k (chunks retrieved)", ylabel="recall@k",
             ylim=(0, 1.05), xticks=list(range(1, 11)))
    rates = [(k, metrics[k]) for k in _RATE_KEYS if metrics.get(k) is not None]
    bars = right.barh([k for k, _ in rates][::-1], [v for _, v in rates][::-1])
    right.bar_label(bars, fmt="%.2f", padding=3)
    right.set(title="Rate metrics", xlim=(0, 1))
    fig.savefig(path, format="png", dpi=100)


def _write_json(path: Path, data: dict) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def write_report(
    out_dir: Path, metrics: dict, per_question: list[dict], run_info: dict,
    *, recall_curve: Sequence[float] | None = None,
) -> None:
    """Write metrics.json, run.json, per_question.jsonl, report.md and plot.png into out_dir."""
    if set(metrics) != set(METRIC_KEYS):
        raise ValueError(f"metrics must have exactly the keys {list(METRIC_KEYS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    _write_json(out_dir / "metrics.json", metrics)
    _write_json(out_dir / "run.json", run_info)
    rows = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in per_question)
    (out_dir / "per_question.jsonl").write_text(rows, encoding="utf-8")
    (out_dir / "report.md").write_text(render_markdown(metrics, per_question, run_info),
                                       encoding="utf-8")
    _plot(out_dir / "plot.png", metrics, recall_curve)

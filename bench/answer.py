"""bench.answer: time to first token, answer time and tokens/s over eval/qa.jsonl; CPU paths.

The pipeline run answers every question with the same Pipeline the app builds (index of
data/corpus under var/bench/answer-index), recording what the generator was asked and said.
Two baselines run in the same child process: the pipeline without the reader (sentence scoring
and its own calibration, qa/calibration-no-reader.json: the answer path before the reader),
question by question alternating with the reader's run; and the bare model: one prefill and a
fixed 64-token greedy decode. A second child compares SmolLM2's CPU paths (int8 dynamic
quantization, and the app's fp16 decode weights) with plain fp32 on the recorded prompts
(bench.quantize).

Does not change qa/: the generator is wrapped, never edited.
"""

from __future__ import annotations

from common.cli import prepare_environment

prepare_environment()

import json  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator, Sequence  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from bench.common import (  # noqa: E402
    BENCH_DIR,
    bench_parser,
    median,
    percentile,
    ratio,
    run_child,
    write_result,
)
from common.paths import PROJECT_ROOT  # noqa: E402

EXAMPLES = """\
  python -m bench.answer
  python -m bench.answer --limit 20 --repeats 5
  python -m bench.answer --skip-variants --out var/bench/answer-only.json
"""
TARGET_TTFT_S = 1.0
TARGET_TOTAL_S = 4.0


class RecordingGenerator:
    """Wraps a generator: passes every piece through and records prompt, reply and timings."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.calls: list[dict[str, Any]] = []

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        begun = time.perf_counter()
        first = None
        pieces = []
        for piece in self.inner.stream(messages):
            if first is None:
                first = time.perf_counter() - begun
            pieces.append(piece)
            yield piece
        self.calls.append({"messages": [dict(m) for m in messages], "reply": "".join(pieces),
                           "first_piece_s": first, "seconds": time.perf_counter() - begun})


def summarize(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """p50/p95 of TTFT and total time over answered (model-called) questions, and tokens/s.

    Example: summarize([{"ttft_s": 0.5, "total_s": 2.0, "tokens": 30, "decode_s": 1.5,
                         "model_called": True}]) -> {"ttft_p50_s": 0.5, ...}
    """
    called = [r for r in rows if r["model_called"]]
    if not called:
        return {"answered_by_model": 0, "questions": len(rows)}
    ttft = [r["ttft_s"] for r in called]
    total = [r["total_s"] for r in called]
    rates = [r["tokens"] / r["decode_s"] for r in called if r["decode_s"] > 0 and r["tokens"]]
    return {"questions": len(rows), "answered_by_model": len(called),
            "ttft_p50_s": percentile(ttft, 50), "ttft_p95_s": percentile(ttft, 95),
            "total_p50_s": percentile(total, 50), "total_p95_s": percentile(total, 95),
            "all_questions_total_p50_s": percentile([r["total_s"] for r in rows], 50),
            "tokens_per_s_p50": median(rates) if rates else None,
            "generated_tokens_p50": median([r["tokens"] for r in called])}


def answer_all(pipeline: Any, questions: Sequence[str], count_tokens: Any,
               progress: bool = True) -> tuple[list[dict[str, Any]], list[list[dict[str, str]]]]:
    """(one timing row per question, the prompts the generator got) for `questions`.

    Wraps pipeline.generator in a RecordingGenerator for the duration, then puts it back.
    """
    from tqdm import tqdm

    recorder = RecordingGenerator(pipeline.generator)
    pipeline.generator = recorder
    rows = []
    try:
        for question in tqdm(questions, desc="answering", unit="q", disable=not progress):
            calls_before = len(recorder.calls)
            answer = pipeline.answer(question)
            call = recorder.calls[-1] if len(recorder.calls) > calls_before else None
            first = call["first_piece_s"] if call else None
            rows.append({"question": question, "model_called": call is not None,
                         "abstained": answer.abstained, "ttft_s": answer.timings.ttft_s,
                         "total_s": answer.timings.total_s,
                         "retrieval_s": answer.timings.retrieval_s,
                         "tokens": count_tokens(call["reply"]) if call else 0,
                         "decode_s": call["seconds"] - first if first is not None else 0.0})
    finally:
        pipeline.generator = recorder.inner
    return rows, [c["messages"] for c in recorder.calls]


def measure_answers(questions: list[str], index_root: str, corpus: str, cache: str,
                    repeats: int, prompts_file: str) -> dict[str, Any]:
    """Answer each question once through the Pipeline, then time the bare model (baseline)."""
    from bench.quantize import encode, speed
    from qa.service import load_pipeline

    begun = time.perf_counter()
    pipeline = load_pipeline(Path(index_root), Path(corpus), Path(cache), progress=True)
    load_s = time.perf_counter() - begun
    tokenizer = pipeline.generator._tokenizer  # the bench reads the loaded model; qa/ doesn't
    pipeline.answer(questions[0])  # first-call setup is not steady state

    def count_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    from qa.abstain import NO_READER_CALIBRATION
    from qa.config import Settings
    from qa.pipeline import Pipeline

    no_reader = Pipeline(pipeline.index, pipeline.embedder, pipeline.generator,
                         Settings(reader=None, calibration=NO_READER_CALIBRATION))
    no_reader.answer(questions[0])
    rows, prompts, baseline_rows = [], [], []
    from tqdm import tqdm

    for question in tqdm(questions, desc="answering (reader, then without)", unit="q"):
        row, prompt = answer_all(pipeline, [question], count_tokens, progress=False)
        rows += row
        prompts += prompt
        baseline_rows += answer_all(no_reader, [question], count_tokens, progress=False)[0]
    Path(prompts_file).write_text(json.dumps(prompts), encoding="utf-8")
    model = pipeline.generator._model
    inputs = encode(tokenizer, prompts[0] if prompts else
                    [{"role": "user", "content": "Say something about the documents."}])
    baseline = [speed(model, inputs, 64, tokenizer.eos_token_id) for _ in range(repeats)]
    base = summarize(baseline_rows)
    mine = summarize(rows)
    return {"load_s": load_s, "rows": rows, **mine,
            "without_reader": {**base, "rows": baseline_rows},
            "vs_without_reader": {key: ratio(mine.get(key) or 0, base.get(key) or 0) for key in
                                  ("total_p50_s", "all_questions_total_p50_s", "ttft_p50_s")},
            "raw_model": {key: median([b[key] for b in baseline]) for key in
                          ("prompt_tokens", "prefill_s", "prefill_tokens_per_s",
                           "decode_tokens_per_s")}}


def main(argv: list[str] | None = None) -> int:
    parser = bench_parser("answer", "Time to first token, total answer time and tokens/s "
                          "over the eval questions, vs the bare model; SmolLM2's int8 and "
                          "fp16-decode paths vs fp32. "
                          "Each question is answered once (medians are over questions); "
                          "--repeats times the bare-model and variant speed runs.", EXAMPLES,
                          repeats=3)
    parser.add_argument("--qa", type=Path, default=PROJECT_ROOT / "eval" / "qa.jsonl",
                        metavar="FILE", help="question file (default eval/qa.jsonl)")
    parser.add_argument("--limit", type=int, default=None, metavar="N",
                        help="only the first N questions")
    parser.add_argument("--variant-prompts", type=int, default=12, metavar="N",
                        help="recorded prompts whose greedy replies are compared between fp32 "
                             "and each variant (default 12; each costs three generations)")
    parser.add_argument("--skip-variants", action="store_true",
                        help="skip the int8 / fp16-decode vs fp32 comparison")
    args = parser.parse_args(argv)
    if not args.qa.is_file():
        parser.error(f"--qa {args.qa}: no such question file")
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be positive")
    from qa.config import default_model_cache

    lines = [json.loads(x) for x in args.qa.read_text(encoding="utf-8").splitlines() if x]
    questions = [q["question"] for q in lines][: args.limit]
    prompts_file = BENCH_DIR / "answer-prompts.json"
    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    result = run_child("bench.answer:measure_answers", {
        "questions": questions, "index_root": str(BENCH_DIR / "answer-index"),
        "corpus": str(PROJECT_ROOT / "data" / "corpus"), "cache": str(default_model_cache()),
        "repeats": args.repeats, "prompts_file": str(prompts_file)})
    raw = result["raw_model"]
    result["tokens_per_s_vs_raw_decode"] = ratio(result.get("tokens_per_s_p50") or 0,
                                                 raw["decode_tokens_per_s"])
    result["targets"] = {"ttft_p50_s": TARGET_TTFT_S, "total_p50_s": TARGET_TOTAL_S,
                         "ttft_met": result.get("ttft_p50_s", 99) <= TARGET_TTFT_S,
                         "total_met": result.get("total_p50_s", 99) <= TARGET_TOTAL_S}
    if not args.skip_variants:
        result["variants"] = run_child("bench.quantize:compare_variants", {
            "cache": str(default_model_cache()), "prompts_file": str(prompts_file),
            "repeats": args.repeats, "limit": args.variant_prompts})
    write_result(args.out, {"bench": "answer", **result})
    print_summary(result)
    print(f"wrote {args.out}")
    return 0


def print_summary(r: dict[str, Any]) -> None:
    print(f"{r['questions']} questions, {r['answered_by_model']} answered by the model "
          f"(the rest refused without it); peak {r['peak_rss_mb']:.0f} MiB")
    if r["answered_by_model"]:
        t = r["targets"]
        print(f"  TTFT   p50 {r['ttft_p50_s']:.2f} s  p95 {r['ttft_p95_s']:.2f} s  "
              f"(target <= {t['ttft_p50_s']} s: {'met' if t['ttft_met'] else 'NOT met'})")
        print(f"  total  p50 {r['total_p50_s']:.2f} s  p95 {r['total_p95_s']:.2f} s  "
              f"(target <= {t['total_p50_s']} s: {'met' if t['total_met'] else 'NOT met'})")
        print(f"  pipeline decode {r['tokens_per_s_p50']:.1f} tokens/s vs bare model "
              f"{r['raw_model']['decode_tokens_per_s']:.1f} (ratio "
              f"{r['tokens_per_s_vs_raw_decode']:.2f}); bare prefill "
              f"{r['raw_model']['prefill_tokens_per_s']:.0f} tokens/s")
    base = r.get("without_reader") or {}
    v = r.get("vs_without_reader") or {}
    if base.get("answered_by_model") and v.get("total_p50_s") and v.get(
            "all_questions_total_p50_s"):
        print(f"  without the reader (same run): total p50 {base['total_p50_s']:.2f} s, all "
              f"questions p50 {base['all_questions_total_p50_s']:.2f} s; with it x"
              f"{v['total_p50_s']:.2f} and x{v['all_questions_total_p50_s']:.2f}")
    variants = r.get("variants") or {}
    for name in ("int8", "fp16_decode"):
        if name in variants:
            q = variants[name]
            print(f"  {name} vs fp32: prefill x{q['prefill_vs_fp32']:.2f}, decode "
                  f"x{q['decode_vs_fp32']:.2f}; greedy replies differ on "
                  f"{q['replies_differ']}/{variants['prompts_compared']} prompts")


if __name__ == "__main__":
    sys.exit(main())

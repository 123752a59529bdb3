"""SmolLM2's CPU paths, measured against plain fp32 outside the app's generator.

`speed` times one prefill (a forward pass over the prompt) and a fixed-length greedy decode;
`compare_variants` runs it for the fp32 model and for each variant in VARIANTS, and compares
their greedy replies to the same prompts:
  - "int8": torch.ao.quantization.quantize_dynamic's int8 nn.Linear (weights and activations);
  - "fp16_decode": qa.generator.half_weight_decode, what the app runs (fp16 weight copies for
    single-token steps, fp32 for the prompt).

Loads the same converted model directory the app uses (qa.generator.converted_model_dir) with
plain transformers calls.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bench.common import median, ratio


def load_model(cache: Path) -> tuple[Any, Any]:
    """(tokenizer, fp32 model in eval mode) from the app's converted model directory."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from qa.generator import converted_model_dir

    directory = converted_model_dir(cache)
    model = AutoModelForCausalLM.from_pretrained(directory)
    model.eval()
    return AutoTokenizer.from_pretrained(directory), model


def quantize_int8(model: Any) -> Any:
    """int8 dynamic quantization of every nn.Linear (weights int8, activations quantized on
    the fly); embeddings and norms stay fp32."""
    import torch
    from torch.ao.quantization import quantize_dynamic

    return quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)


def fp16_decode(model: Any) -> Any:
    """The app's path: fp16 weight copies for decode steps (qa.generator.half_weight_decode)."""
    from qa.generator import half_weight_decode

    half_weight_decode(model)
    return model


VARIANTS: dict[str, Callable[[Any], Any]] = {"int8": quantize_int8, "fp16_decode": fp16_decode}


def encode(tokenizer: Any, messages: list[dict[str, str]]) -> Any:
    return tokenizer.apply_chat_template(messages, add_generation_prompt=True,
                                         return_tensors="pt", return_dict=True)


def speed(model: Any, inputs: Any, new_tokens: int, eos: int) -> dict[str, float]:
    """Prefill tokens/s (one forward over the prompt) and decode tokens/s (greedy, exactly
    `new_tokens` generated, prefill time subtracted)."""
    import torch

    prompt = int(inputs["input_ids"].shape[1])
    with torch.inference_mode():
        begun = time.perf_counter()
        model(**inputs)
        prefill_s = time.perf_counter() - begun
        begun = time.perf_counter()
        model.generate(**inputs, max_new_tokens=new_tokens, min_new_tokens=new_tokens,
                       do_sample=False, pad_token_id=eos)
        total_s = time.perf_counter() - begun
    return {"prompt_tokens": prompt, "prefill_s": prefill_s,
            "prefill_tokens_per_s": prompt / prefill_s,
            "decode_tokens_per_s": (new_tokens - 1) / max(1e-9, total_s - prefill_s)}


def greedy(model: Any, tokenizer: Any, messages: list[dict[str, str]], max_new_tokens: int
           ) -> str:
    """The greedy reply, as qa.generator.SmolLM2Generator would produce it (without streaming)."""
    import torch

    inputs = encode(tokenizer, messages)
    with torch.inference_mode():
        out = model.generate(**inputs, max_new_tokens=max_new_tokens, do_sample=False,
                             pad_token_id=tokenizer.eos_token_id)
    return str(tokenizer.decode(out[0, inputs["input_ids"].shape[1]:],
                                skip_special_tokens=True))


def compare_variants(cache: str, prompts_file: str, repeats: int, limit: int | None = None,
                     variants: Sequence[str] = tuple(VARIANTS), new_tokens: int = 64,
                     max_new_tokens: int = 80) -> dict[str, Any]:
    """fp32 vs each of `variants`: speeds (median of `repeats`, interleaved) and how many
    greedy replies differ from fp32's among the first `limit` recorded prompts."""
    from tqdm import tqdm

    prompts = json.loads(Path(prompts_file).read_text(encoding="utf-8"))[:limit]
    tokenizer, fp32 = load_model(Path(cache))
    models = {"fp32": fp32}
    prepare_s = {}
    for name in variants:
        begun = time.perf_counter()
        models[name] = VARIANTS[name](load_model(Path(cache))[1])
        prepare_s[name] = time.perf_counter() - begun
    inputs = encode(tokenizer, prompts[0])
    for model in models.values():  # warm every model before timing
        speed(model, inputs, 4, tokenizer.eos_token_id)
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in models}
    for _ in range(repeats):  # interleaved, so machine noise hits all alike
        for name, model in models.items():
            runs[name].append(speed(model, inputs, new_tokens, tokenizer.eos_token_id))
    speeds = {name: {key: median([r[key] for r in rs])
                     for key in ("prefill_tokens_per_s", "decode_tokens_per_s")}
              for name, rs in runs.items()}
    replies: dict[str, list[dict[str, str]]] = {name: [] for name in variants}
    for messages in tqdm(prompts, desc=f"greedy replies: fp32 vs {', '.join(variants)}",
                         unit="prompt"):
        reference = greedy(fp32, tokenizer, messages, max_new_tokens)
        for name in variants:
            reply = greedy(models[name], tokenizer, messages, max_new_tokens)
            if reply != reference:
                replies[name].append({"question": messages[-1]["content"][-200:],
                                      "fp32": reference, name: reply})
    result: dict[str, Any] = {"prompt_tokens": int(inputs["input_ids"].shape[1]),
                              "new_tokens": new_tokens, "repeats": repeats,
                              "prompts_compared": len(prompts), "fp32": speeds["fp32"]}
    for name in variants:
        result[name] = {
            **speeds[name], "prepare_s": prepare_s[name],
            "prefill_vs_fp32": ratio(speeds[name]["prefill_tokens_per_s"],
                                     speeds["fp32"]["prefill_tokens_per_s"]),
            "decode_vs_fp32": ratio(speeds[name]["decode_tokens_per_s"],
                                    speeds["fp32"]["decode_tokens_per_s"]),
            "replies_differ": len(replies[name]), "differing_examples": replies[name][:5]}
    return result

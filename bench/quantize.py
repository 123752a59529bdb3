"""SmolLM2 speed and int8 dynamic quantization, measured outside the app's generator.

`speed` times one prefill (a forward pass over the prompt) and a fixed-length greedy decode;
`compare_int8` runs it for the fp32 model and for torch.ao.quantization.quantize_dynamic's
int8 nn.Linear version, and compares their greedy replies to the same prompts.

Does not change qa/generator.py: it loads the same converted model directory the app uses
(qa.generator.converted_model_dir) with plain transformers calls.
"""

from __future__ import annotations

import json
import time
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


def compare_int8(cache: str, prompts_file: str, repeats: int, limit: int | None = None,
                 new_tokens: int = 64, max_new_tokens: int = 80) -> dict[str, Any]:
    """fp32 vs int8: speeds (median of `repeats`) and how many greedy replies differ among
    the first `limit` recorded prompts."""
    from tqdm import tqdm

    prompts = json.loads(Path(prompts_file).read_text(encoding="utf-8"))[:limit]
    tokenizer, fp32 = load_model(Path(cache))
    begun = time.perf_counter()
    int8 = quantize_int8(load_model(Path(cache))[1])
    quantize_s = time.perf_counter() - begun
    inputs = encode(tokenizer, prompts[0])
    speeds: dict[str, list[dict[str, float]]] = {"fp32": [], "int8": []}
    speed(fp32, inputs, 4, tokenizer.eos_token_id)  # warm both before timing
    speed(int8, inputs, 4, tokenizer.eos_token_id)
    for _ in range(repeats):  # interleaved, so machine noise hits both alike
        speeds["fp32"].append(speed(fp32, inputs, new_tokens, tokenizer.eos_token_id))
        speeds["int8"].append(speed(int8, inputs, new_tokens, tokenizer.eos_token_id))
    summary = {name: {key: median([r[key] for r in runs])
                      for key in ("prefill_tokens_per_s", "decode_tokens_per_s")}
               for name, runs in speeds.items()}
    replies = []
    for messages in tqdm(prompts, desc="greedy replies fp32 vs int8", unit="prompt"):
        a = greedy(fp32, tokenizer, messages, max_new_tokens)
        b = greedy(int8, tokenizer, messages, max_new_tokens)
        replies.append({"question": messages[-1]["content"][-200:], "fp32": a, "int8": b})
    differ = [r for r in replies if r["fp32"] != r["int8"]]
    return {
        "prompt_tokens": int(inputs["input_ids"].shape[1]), "new_tokens": new_tokens,
        "repeats": repeats, "quantize_s": quantize_s, **summary,
        "int8_vs_fp32_prefill": ratio(summary["int8"]["prefill_tokens_per_s"],
                                      summary["fp32"]["prefill_tokens_per_s"]),
        "int8_vs_fp32_decode": ratio(summary["int8"]["decode_tokens_per_s"],
                                     summary["fp32"]["decode_tokens_per_s"]),
        "prompts_compared": len(replies), "replies_differ": len(differ),
        "differing_examples": differ[:5],
    }

"""bench.quantize on the real SmolLM2: the fp32-vs-variant comparison reports what it measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.quantize import compare_variants
from qa.config import default_model_cache

pytestmark = pytest.mark.real


def test_fp16_decode_is_compared_with_fp32_on_recorded_prompts(tmp_path: Path) -> None:
    prompts = [[{"role": "user", "content": "Who met Wang Wentao in San Francisco?"}],
               [{"role": "user", "content": "Name one initiative China launched."}]]
    prompts_file = tmp_path / "prompts.json"
    prompts_file.write_text(json.dumps(prompts))
    result = compare_variants(str(default_model_cache()), str(prompts_file), repeats=1,
                              variants=["fp16_decode"], new_tokens=4, max_new_tokens=8)
    assert result["prompts_compared"] == 2
    fast = result["fp16_decode"]
    assert fast["decode_tokens_per_s"] > 0 and result["fp32"]["decode_tokens_per_s"] > 0
    assert fast["decode_vs_fp32"] == pytest.approx(
        fast["decode_tokens_per_s"] / result["fp32"]["decode_tokens_per_s"])
    assert 0 <= fast["replies_differ"] <= 2
    assert len(fast["differing_examples"]) == fast["replies_differ"]

"""qa.generator's fp16 decode weights, on a small torch model a reader can check by hand.

The same check on the real SmolLM2 is in tests/test_real_models.py.
"""

from __future__ import annotations

import pytest

from qa.generator import half_weight_decode

torch = pytest.importorskip("torch")


def tied_model() -> torch.nn.Module:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(),
                                torch.nn.Linear(16, 8, bias=False), torch.nn.Linear(8, 16))
    model[3].weight = model[0].weight  # tied, as SmolLM2's lm_head is to its embeddings
    return model


def test_every_linear_layer_changes_and_the_weights_stay_as_they_were() -> None:
    model = tied_model()
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    assert half_weight_decode(model) == 3
    after = model.state_dict()
    assert list(after) == list(before)  # the fp16 copies are not saved with the model
    assert all(torch.equal(after[name], before[name]) for name in before)
    assert model[3].weight is model[0].weight
    assert [type(layer).__name__ for layer in model] == [
        "HalfWeightDecodeLinear", "ReLU", "HalfWeightDecodeLinear", "HalfWeightDecodeLinear"]


def test_a_prompt_runs_on_the_fp32_weights_unchanged() -> None:
    reference, model = tied_model(), tied_model()
    half_weight_decode(model)
    prompt = torch.randn(1, 5, 8)
    assert torch.equal(model(prompt), reference(prompt))


def test_a_single_token_step_uses_fp16_weights_and_stays_close() -> None:
    reference, model = tied_model(), tied_model()
    half_weight_decode(model)
    step = torch.randn(1, 1, 8)
    out = model(step)
    assert out.dtype == torch.float32
    assert not torch.equal(out, reference(step))  # the fp16 path really ran
    torch.testing.assert_close(out, reference(step), atol=5e-3, rtol=5e-3)

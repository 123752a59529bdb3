"""`python -m reader.train`: fine-tune all-MiniLM-L6-v2 into the extractive reader, on CPU.

Reads only data/squad2/ (committed): the reader_train articles of split.json, their SQuAD
questions with their own paragraphs, and fresh negatives each epoch (reader.data): same-article
paragraphs that do not answer, and adversarial rewrites of answerable questions that their own
paragraph no longer answers. Writes a reader directory: fp16 model.safetensors, config,
tokenizer and manifest.json (base model, data files and their sha256, the command, seed,
hyperparameters, wall time, peak memory, and the scores on the held-out and calibration
articles, measured by loading the written directory exactly as the app does).

Does not read eval/qa.jsonl or any held-out article during training; the held-out articles are
read once, after the weights are written, to score them.
"""

from __future__ import annotations

import json
import math
import random
import resource
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common.cli import Parser, fail, prepare_environment
from reader.data import (
    DataError,
    Example,
    adversarial_rewrites,
    articles_for,
    count,
    data_files,
    load_split,
    same_article_negatives,
    squad_examples,
)
from reader.scores import sample, score

EXAMPLES = """examples:
  python -m reader.train --out var/reader-v2
      the committed reader's first run: 3 epochs, seed 0 (about an hour on 2 cores, 8 GB)
  python -m reader.train --out /tmp/reader --limit 200 --epochs 1 --eval-limit 100
      a quick end-to-end check of the command (two minutes; the model learns little)
  python -m reader.train --init var/reader-v2 --seed 1 --epochs 1 --lr 5e-5 --out var/reader-v3
  python -m reader.train --init var/reader-v3 --seed 2 --epochs 1 --lr 5e-5 --out reader/model
      two more epochs, each from the reader before it, on fresh negatives and rewrites: the
      committed reader (about 20 minutes each)
"""


def parse_args(argv: Sequence[str] | None) -> Any:
    parser = Parser(prog="python -m reader.train", description=__doc__.split("\n\n")[0],
                    epilog=EXAMPLES)
    parser.add_argument("--out", type=Path, default=Path("var/reader"),
                        help="directory to write the reader to (default: var/reader)")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-4, help="peak learning rate")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--negatives", type=float, default=0.35,
                        help="share of questions paired with another paragraph each epoch")
    parser.add_argument("--rewrites", type=float, default=0.4,
                        help="share of answerable questions rewritten to be unanswerable by "
                             "their own paragraph each epoch")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--init", type=Path, default=None,
                        help="continue from this reader directory (its manifest is checked) "
                             "instead of the base MiniLM weights")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    parser.add_argument("--limit", type=int, default=None,
                        help="train on the first N SQuAD examples only (for quick checks)")
    parser.add_argument("--eval-limit", type=int, default=None,
                        help="score at most N questions per evaluated split")
    args = parser.parse_args(argv)
    if (args.epochs < 1 or args.batch_size < 1 or args.lr <= 0
            or not 0 <= args.negatives <= 1 or not 0 <= args.rewrites <= 1):
        parser.error("need --epochs >= 1, --batch-size >= 1, --lr > 0, "
                     "0 <= --negatives <= 1 and 0 <= --rewrites <= 1")
    return args


def labels(batch: Any, examples: Sequence[Example]) -> list[tuple[int, int]]:
    """(start token, end token) per window: the first gold answer if the window holds all of
    it, else (0, 0), the [CLS] "no answer" position."""
    from reader.model import context_mask

    out = []
    for row, pair in enumerate(batch["overflow_to_sample_mapping"]):
        example = examples[pair]
        if not example.answers:
            out.append((0, 0))
            continue
        start_char, text = example.answers[0]
        end_char = start_char + len(text)
        offsets = batch["offset_mapping"][row]
        inside = [i for i, ok in enumerate(context_mask(batch, row)) if ok]
        if offsets[inside[0]][0] > start_char or offsets[inside[-1]][1] < end_char:
            out.append((0, 0))
            continue
        start = next(i for i in inside if offsets[i][1] > start_char)
        end = next(i for i in reversed(inside) if offsets[i][0] < end_char)
        out.append((start, end))
    return out


def batches(lengths: Sequence[int], size: int, rng: random.Random) -> list[list[int]]:
    """Shuffled batches of indices, each drawn from neighbours in length, so padding is small.

    Example: 4 items of lengths [9, 1, 8, 2] in batches of 2 -> {1, 3} and {0, 2}, in some order
    """
    order = list(range(len(lengths)))
    rng.shuffle(order)
    out = []
    for lo in range(0, len(order), size * 50):
        pool = sorted(order[lo: lo + size * 50], key=lambda i: lengths[i])
        out += [pool[i: i + size] for i in range(0, len(pool), size)]
    rng.shuffle(out)
    return out


def train(args: Any) -> dict[str, Any]:
    import torch
    from tqdm import tqdm
    from transformers import AutoTokenizer, BertForQuestionAnswering
    from transformers.utils import logging as hf_logging

    from index.embedder import minilm_path
    from reader.model import encode, pad

    hf_logging.set_verbosity_error()  # the new QA head's "newly initialized" warning is expected
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    split = load_split()
    train_articles = articles_for("reader_train", split)
    base = squad_examples(train_articles)
    if args.limit:
        base = sample(base, args.limit, args.seed)
    start_from = str(args.init) if args.init else minilm_path()
    tokenizer = AutoTokenizer.from_pretrained(start_from)
    model = BertForQuestionAnswering.from_pretrained(start_from, dtype=torch.float32)
    model.train()

    epochs = []
    for epoch in range(args.epochs):
        chosen = {e.article for e in base}
        articles = [a for a in train_articles if a["title"] in chosen]
        epoch_rng = random.Random(args.seed * 1000 + epoch)
        negatives = same_article_negatives(articles, args.negatives, epoch_rng)
        rewrites = adversarial_rewrites(articles, args.rewrites, epoch_rng)
        if args.limit:
            negatives = negatives[: int(args.limit * args.negatives)]
            rewrites = rewrites[: int(args.limit * args.rewrites)]
        negatives += rewrites
        examples = base + negatives
        batch = encode(tokenizer, [e.question for e in examples], [e.context for e in examples])
        epochs.append((examples, batch, labels(batch, examples)))
    steps = sum(math.ceil(len(b["input_ids"]) / args.batch_size) for _, b, _ in epochs)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, steps // 10)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (steps - s) / (steps - warmup))))

    progress = tqdm(total=steps, desc="training", unit="batch", file=sys.stderr)
    for epoch, (_, batch, targets) in enumerate(epochs, 1):
        progress.set_description(f"epoch {epoch}/{args.epochs}")
        lengths = [len(ids) for ids in batch["input_ids"]]
        for rows in batches(lengths, args.batch_size, rng):
            inputs = pad(batch, rows)
            start = torch.tensor([targets[r][0] for r in rows])
            end = torch.tensor([targets[r][1] for r in rows])
            with torch.autocast("cpu", dtype=torch.bfloat16):
                out = model(**inputs)
            loss = (torch.nn.functional.cross_entropy(out.start_logits.float(), start)
                    + torch.nn.functional.cross_entropy(out.end_logits.float(), end)) / 2
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            schedule.step()
            optimizer.zero_grad()
            progress.update()
            progress.set_postfix(loss=f"{loss.item():.3f}")
    progress.close()

    args.out.mkdir(parents=True, exist_ok=True)
    model.half().save_pretrained(str(args.out), safe_serialization=True)
    tokenizer.save_pretrained(str(args.out))
    return {"examples_per_epoch": [count(e) for e, _, _ in epochs],
            "windows_per_epoch": [len(b["input_ids"]) for _, b, _ in epochs], "steps": steps}


def write_manifest(args: Any, argv: Sequence[str], stats: dict[str, Any], wall_s: float,
                   scores: dict[str, Any] | None) -> dict[str, Any]:
    from importlib import metadata

    from index.embedder import minilm_path
    from reader.model import BASE_MODEL, FORMAT_VERSION, MANIFEST_NAME, file_sha256

    base_weights = Path(minilm_path())
    files = sorted(p.name for p in args.out.iterdir()
                   if p.is_file() and p.name != MANIFEST_NAME)
    manifest = {
        "format_version": FORMAT_VERSION,
        "kind": "extractive question answering (start/end logits, [CLS] = no answer)",
        "base_model": BASE_MODEL,
        "base_weights_sha256": file_sha256(base_weights / "model.safetensors"),
        "data": {str(p.relative_to(p.parents[2])): file_sha256(p) for p in data_files()},
        "licence": "SQuAD 2.0 data: CC BY-SA 4.0 (Rajpurkar, Jia and Liang 2018)",
        "command": "python -m reader.train " + " ".join(argv),
        **({"init": {"from": str(args.init), "command": args.init_manifest.get("command"),
                     "files": args.init_manifest.get("files"),
                     "init": args.init_manifest.get("init")}} if args.init else {}),
        "seed": args.seed,
        "hyperparameters": {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size,
                            "negatives": args.negatives, "rewrites": args.rewrites,
                            "limit": args.limit,
                            "precision": "bf16 autocast, fp32 master weights; saved as fp16"},
        "training": {**stats, "wall_time_s": round(wall_s, 1), "threads": args.threads,
                     "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                                          / 1024)},
        "scores": scores,
        "libraries": {n: metadata.version(n) for n in ("torch", "transformers", "tokenizers")},
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": {name: file_sha256(args.out / name) for name in files},
    }
    (args.out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n",
                                          encoding="utf-8")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    prepare_environment()
    started = time.perf_counter()
    try:
        if args.init:
            from reader.model import ReaderLoadError, check_manifest

            try:
                args.init_manifest = check_manifest(args.init)
            except ReaderLoadError as err:
                fail("python -m reader.train", f"--init: {err}")
        stats = train(args)
        wall_s = time.perf_counter() - started
        write_manifest(args, argv, stats, wall_s, None)  # loadable before it is scored
        from reader.model import Reader

        reader = Reader(args.out)
        split = load_split()
        scores = {role: score(reader, sample(squad_examples(articles_for(role, split)),
                                             args.eval_limit, args.seed), role)
                  for role in ("heldout", "calibration")}
    except DataError as err:
        fail("python -m reader.train", str(err))
    except OSError as err:
        fail("python -m reader.train", f"cannot write the reader to {args.out}: {err}")
    manifest = write_manifest(args, argv, stats, wall_s, scores)
    print(json.dumps({"out": str(args.out), "wall_time_s": manifest["training"]["wall_time_s"],
                      "peak_rss_mb": manifest["training"]["peak_rss_mb"], "scores": scores},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

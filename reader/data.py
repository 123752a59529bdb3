"""SQuAD 2.0 articles -> reader examples: split by article, plus same-article negatives.

The split lives in data/squad2/split.json (roles: reader_train, calibration, heldout) and is by
article, never by question, so no held-out article's text is ever seen in training.

Negatives: SQuAD 2.0's own unanswerable questions are scarce in the training articles (348 of
3,652), and in the chat the reader mostly sees retrieved passages that are on topic but do not
answer. So each question is also paired with another paragraph of its own article, the one that
shares most of its words (the kind retrieval would bring back), never one that holds a gold
answer text.

Those teach "another paragraph", not the harder case SQuAD 2.0's unanswerable questions are
made of: the right paragraph, a question that changes one thing so the paragraph no longer
answers it. So answerable questions are also rewritten that way (adversarial_rewrites): a name
or number swapped for one of the same article that this paragraph lacks, a comparative word
turned into its opposite, or a "not" after the question's "is/was/are/were". Held-out check of
the first reader: 64% of its entity swaps still scored as answered (reader.data's tests show
each kind).

Does not tokenize (reader.model does) and does not read the eval's question files.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from common.paths import PROJECT_ROOT

SQUAD_DIR = PROJECT_ROOT / "data" / "squad2"
SPLIT_FILE = SQUAD_DIR / "split.json"
ROLES = ("reader_train", "calibration", "heldout")
_WORD = re.compile(r"[^\W_]+")
_STOP = frozenset("the a an of in on at to for and or is was were are be by with as from that "
                  "this what which who whom whose when where why how did does do it its".split())


class DataError(ValueError):
    """A SQuAD file or the split file is missing or does not match."""


@dataclass(frozen=True)
class Example:
    """One question asked of one context; `answers` empty means the context does not answer."""

    qid: str
    question: str
    context: str
    answers: tuple[tuple[int, str], ...]  # (character start, text) of each gold answer
    article: str
    negative: bool = False  # a pairing made here, not a SQuAD question-paragraph pair


def load_split(path: Path = SPLIT_FILE) -> dict[str, dict[str, list[str]]]:
    """{role: {file name: [article titles]}} from split.json."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {role: {str(f): [str(t) for t in titles] for f, titles in data[role].items()}
                for role in ROLES}
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
        raise DataError(f"{path}: cannot read the article split ({err})") from err


def articles_for(role: str, split: dict[str, dict[str, list[str]]] | None = None,
                 squad_dir: Path = SQUAD_DIR) -> list[dict[str, Any]]:
    """The SQuAD article objects that play `role`, in split.json's order."""
    split = split or load_split()
    chosen = []
    for name, titles in split[role].items():
        path = squad_dir / name
        try:
            by_title = {a["title"]: a for a in json.loads(path.read_text("utf-8"))["data"]}
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise DataError(f"{path}: cannot read SQuAD articles ({err})") from err
        missing = [t for t in titles if t not in by_title]
        if missing:
            raise DataError(f"{path}: no article titled {missing[0]!r} (named in split.json)")
        chosen += [by_title[t] for t in titles]
    return chosen


def data_files(split: dict[str, dict[str, list[str]]] | None = None,
               squad_dir: Path = SQUAD_DIR) -> list[Path]:
    """Every file a reader's training reads: the split and the SQuAD files it names."""
    split = split or load_split()
    names = sorted({name for role in split.values() for name in role})
    return [squad_dir / "split.json", *(squad_dir / n for n in names)]


def squad_examples(articles: Iterable[dict[str, Any]]) -> list[Example]:
    """Each SQuAD question with its own paragraph; unanswerable ones get no answers.

    Example: an article whose one paragraph "Tai met Wang." holds the question "Who met Wang?"
    answered "Tai" at 0 -> [Example(..., answers=((0, "Tai"),), ...)]
    """
    out = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                gold = () if qa.get("is_impossible") else tuple(
                    (int(a["answer_start"]), a["text"]) for a in qa["answers"])
                out.append(Example(str(qa["id"]), qa["question"].strip(), context, gold,
                                   article["title"]))
    return out


def _terms(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def same_article_negatives(articles: Iterable[dict[str, Any]], share: float,
                           rng: random.Random, pool: int = 3) -> list[Example]:
    """For a `share` of the questions, another paragraph of their article that does not answer.

    The paragraph is drawn from the `pool` that share most question words, skipping any that
    contains a gold answer's text (it might answer after all).
    """
    out = []
    for article in articles:
        contexts = [p["context"] for p in article["paragraphs"]]
        context_terms = [_terms(c) for c in contexts]
        for index, paragraph in enumerate(article["paragraphs"]):
            for qa in paragraph["qas"]:
                if rng.random() >= share:
                    continue
                golds = [a["text"].lower() for a in qa.get("answers", []) + qa.get(
                    "plausible_answers", []) if a["text"].strip()]
                asked = _terms(qa["question"])
                ranked = sorted(
                    (i for i, c in enumerate(contexts)
                     if i != index and not any(g in c.lower() for g in golds)),
                    key=lambda i: -len(asked & context_terms[i]))
                if not ranked:
                    continue
                other = rng.choice(ranked[:pool])
                out.append(Example(f"{qa['id']}~{other}", qa["question"].strip(),
                                   contexts[other], (), article["title"], negative=True))
    return out


# Opposites the paragraph must not contain for a rewrite to count as unanswerable.
_OPPOSITES = dict(pair.split(":") for pair in """largest:smallest biggest:smallest first:last
most:least before:after increase:decrease increased:decreased higher:lower highest:lowest
north:south east:west earliest:latest longest:shortest oldest:newest more:fewer
maximum:minimum major:minor early:late older:younger best:worst""".split())
_OPPOSITES.update({b: a for a, b in list(_OPPOSITES.items())})
# A capitalised name of one or more words ("Walter Reed", "European Union", "MHC").
_NAME = re.compile(r"\b[A-Z][^\W\d_]*(?:\s+(?:of\s+|the\s+)?[A-Z][^\W\d_]*)*")
_NUMBER = re.compile(r"\b\d{1,4}(?:[.,]\d+)?\b")
_COPULA = re.compile(r"^(?:What|Which|Who|Where|When)\s+(?:is|was|are|were)\s+(?!not\b)")
_KINDS = ("name", "number", "opposite", "negation")
_SENTENCE_START = re.compile(r"(?:^|[.!?]\s+|\n)$")


def article_names(text: str) -> list[str]:
    """Names that occur inside a sentence (not only as its first word), sorted.

    Example: article_names("Then Tai met Wang. Wang left.") -> ["Tai", "Wang"]
    """
    found = set()
    for match in _NAME.finditer(text):
        name = match.group(0)
        if _SENTENCE_START.search(text[: match.start()]):  # "Then Tai" -> "Tai"
            name = name.split(None, 1)[1] if " " in name else ""
        if name[:1].isupper():
            found.add(name)
    return sorted(found)


def rewrite_unanswerable(question: str, context: str, names: Sequence[str],
                         numbers: Sequence[str], rng: random.Random) -> tuple[str, str] | None:
    """(kind, rewritten question) that `context` no longer answers, or None if no rule applies.

    Kinds are tried in random order: "name" (a name of the question found in the context,
    swapped for an article name of as many words that the context lacks), "number" (likewise a
    number), "opposite" (largest -> smallest when the context lacks "smallest"), "negation"
    ("What is X" -> "What is not X", only right after the question word).
    Example: rewrite_unanswerable("Who met Wang in 1990?", "Tai met Wang in 1990.", ["Li"],
             [], rng) -> ("name", "Who met Li in 1990?") (or the negation-free number rule
             finding no other number: None for it)
    """
    lowered = context.lower()
    kinds = list(_KINDS)
    rng.shuffle(kinds)
    for kind in kinds:
        if kind == "name":
            asked = [m for m in _NAME.finditer(question) if m.start() > 0 and m.group(0) in context]
            if not asked:
                continue
            old = rng.choice(asked)
            width = len(old.group(0).split())
            others = [n for n in names if len(n.split()) == width and n.lower() not in lowered
                      and n.lower() not in question.lower()]
            if others:
                return kind, question[: old.start()] + rng.choice(others) + question[old.end():]
        elif kind == "number":
            asked = [m for m in _NUMBER.finditer(question) if m.group(0) in context]
            if not asked:
                continue
            old = rng.choice(asked)
            others = [n for n in numbers if len(n) == len(old.group(0)) and n not in context]
            if others:
                return kind, question[: old.start()] + rng.choice(others) + question[old.end():]
        elif kind == "opposite":
            for match in _WORD.finditer(question):
                word = match.group(0)
                opposite = _OPPOSITES.get(word.lower())
                if opposite and re.search(rf"\b{opposite}\b", lowered) is None:
                    return kind, question[: match.start()] + opposite + question[match.end():]
        else:
            match = _COPULA.search(question)
            if match and " not " not in f" {question.lower()} ":
                return kind, question[: match.end()] + "not " + question[match.end():]
    return None


def adversarial_rewrites(articles: Iterable[dict[str, Any]], share: float,
                         rng: random.Random) -> list[Example]:
    """For a `share` of the answerable questions, a rewrite their own paragraph cannot answer
    (rewrite_unanswerable), paired with that paragraph."""
    out = []
    for article in articles:
        text = "\n".join(p["context"] for p in article["paragraphs"])
        names = article_names(text)
        numbers = sorted(set(_NUMBER.findall(text)))
        for paragraph in article["paragraphs"]:
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                if qa.get("is_impossible") or rng.random() >= share:
                    continue
                rewrite = rewrite_unanswerable(qa["question"].strip(), context, names, numbers,
                                               rng)
                if rewrite is not None:
                    kind, question = rewrite
                    out.append(Example(f"{qa['id']}~{kind}", question, context, (),
                                       article["title"], negative=True))
    return out


def count(examples: Sequence[Example]) -> dict[str, int]:
    """Example: count([answerable, unanswerable]) -> {"examples": 2, "answerable": 1, ...}"""
    answerable = sum(1 for e in examples if e.answers)
    negatives = sum(1 for e in examples if e.negative)
    rewrites = sum(1 for e in examples if e.negative and e.qid.rsplit("~", 1)[-1] in _KINDS)
    return {"examples": len(examples), "answerable": answerable,
            "unanswerable": len(examples) - answerable, "negatives_made": negatives - rewrites,
            "rewrites_made": rewrites}

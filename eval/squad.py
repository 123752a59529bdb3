"""Turn a SQuAD 2.0 file into our corpus + question file, so the benchmark can run on it.

Each article becomes one document (its paragraphs joined by a blank line, saved as
<slug of the title>.txt); each question becomes one line of qa.jsonl in the same format as
eval/qa.jsonl. An answerable question's evidence is the sentence of its paragraph that holds
the first gold answer span (pysbd sentences; widened to every sentence the span touches), so
the same quote-matching rule works for SQuAD and for our hand-written questions.

Run `python -m eval.squad --help` for the command line.

Does not score anything (the metrics live elsewhere in eval/), does not download SQuAD, keeps
SQuAD's plausible_answers out of the output (they are wrong by design), and does not delete
files that earlier runs left in DIR/corpus (it only warns about them).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections.abc import Sequence
from functools import cache
from pathlib import Path
from typing import Any, NoReturn

import pysbd

from common.paths import PROJECT_ROOT

# Committed copy of ../shared/benchmarks/squad2 (data/squad2/README.md); split.json beside it
# says which articles are held out from the reader's training.
DEFAULT_SQUAD = PROJECT_ROOT / "data" / "squad2" / "dev-v2.0-16-articles.json"
PARAGRAPH_SEPARATOR = "\n\n"


class SquadError(Exception):
    """A problem with the input that the user can fix; main() prints it as one line."""


# --- pure functions -----------------------------------------------------------------------


def slugify(title: str) -> str:
    """A file-name-safe, lower-case form of an article title.

    Example: slugify("1973_oil_crisis") -> "1973-oil-crisis"
    Example: slugify("Ségolène Royal") -> "segolene-royal"
    """
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    return slug or "article"


def unique_file_names(titles: Sequence[str]) -> list[str]:
    """One .txt file name per title; titles that slug alike get -2, -3, ... suffixes.

    Example: unique_file_names(["A b", "a_b", "C"]) -> ["a-b.txt", "a-b-2.txt", "c.txt"]
    """
    seen: dict[str, int] = {}
    names = []
    for title in titles:
        slug = slugify(title)
        seen[slug] = seen.get(slug, 0) + 1
        names.append(f"{slug}.txt" if seen[slug] == 1 else f"{slug}-{seen[slug]}.txt")
    return names


def article_text(paragraphs: Sequence[str]) -> str:
    """The document text of one article; paragraphs are kept verbatim so SQuAD offsets
    stay valid inside each paragraph.

    Example: article_text(["One.", "Two."]) -> "One.\\n\\nTwo."
    """
    return PARAGRAPH_SEPARATOR.join(paragraphs)


@cache
def _segmenter() -> pysbd.Segmenter:
    # Building the segmenter compiles many regexes; do it once, and only when needed.
    return pysbd.Segmenter(language="en", clean=False, char_span=True)


@cache
def sentence_starts(text: str) -> tuple[int, ...]:
    """Start offsets of the sentences of `text` (pysbd), always beginning with 0.

    Cached because every question of a paragraph asks about the same text.
    Example: sentence_starts("It rained. We left.") -> (0, 11)
    """
    spans = _segmenter().segment(text)
    return tuple(sorted({0} | {span.start for span in spans if span.start < len(text)}))


def quote_for_span(text: str, start: int, end: int) -> str:
    """The sentence(s) of `text` that the character span [start, end) touches, trimmed.

    Sentences run from one start offset to the next, so a sentence pysbd failed to report
    merges into its neighbour instead of leaving a hole the answer could fall into.
    Example: quote_for_span("It rained. We left.", 14, 18) -> "We left."
    Example: quote_for_span("It rained. We left.", 3, 14) -> "It rained. We left."
    """
    if not 0 <= start < end <= len(text):
        raise ValueError(f"span [{start}, {end}) is outside a text of length {len(text)}")
    bounds = [*sentence_starts(text), len(text)]
    first = max(i for i in range(len(bounds) - 1) if bounds[i] <= start)
    last = max(i for i in range(len(bounds) - 1) if bounds[i] < end)
    return text[bounds[first] : bounds[last + 1]].strip()


def distinct(texts: Sequence[str]) -> list[str]:
    """The distinct strings in first-seen order.

    Example: distinct(["a", "b", "a"]) -> ["a", "b"]
    """
    return list(dict.fromkeys(texts))


def question_record(qa: dict[str, Any], context: str, doc: str) -> dict[str, Any]:
    """One qa.jsonl record for one SQuAD question asked of `context` (a paragraph of `doc`).

    Example: question_record({"id": "x", "question": "Who? ", "answers": []}, "Hi.", "a.txt")
    -> {"id": "x", "question": "Who?", "answers": [], "evidence": [], "answerable": False}
    """
    gold = [] if qa.get("is_impossible") else qa.get("answers", [])
    record: dict[str, Any] = {"id": str(qa["id"]), "question": qa["question"].strip()}
    if not gold:
        return {**record, "answers": [], "evidence": [], "answerable": False}
    start = gold[0]["answer_start"]
    end = start + len(gold[0]["text"])
    if context[start:end] != gold[0]["text"]:
        raise SquadError(f"question {qa['id']}: answer_start does not point at its answer text")
    quote = quote_for_span(context, start, end)
    return {
        **record,
        "answers": distinct([a["text"] for a in gold]),
        "evidence": [{"doc": doc, "quote": quote}],
        "answerable": True,
    }


def convert(squad: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, Any]]]:
    """A parsed SQuAD file -> ({file name: document text}, question records in file order).

    Example: convert({"data": [{"title": "T", "paragraphs": [{"context": "Hi.", "qas": []}]}]})
    -> ({"t.txt": "Hi."}, [])
    """
    articles = squad.get("data") if isinstance(squad, dict) else None
    if not isinstance(articles, list):
        raise SquadError("not a SQuAD file: expected a JSON object with a 'data' list")
    try:
        names = unique_file_names([article["title"] for article in articles])
        documents: dict[str, str] = {}
        questions: list[dict[str, Any]] = []
        for name, article in zip(names, articles, strict=True):
            paragraphs = article["paragraphs"]
            documents[name] = article_text([p["context"] for p in paragraphs])
            for paragraph in paragraphs:
                questions += [question_record(qa, paragraph["context"], name)
                              for qa in paragraph["qas"]]
    except (KeyError, TypeError) as error:
        raise SquadError(f"not a SQuAD file: missing or malformed field {error}") from None
    return documents, questions


def only_articles(squad: dict[str, Any], titles: Sequence[str]) -> dict[str, Any]:
    """The SQuAD data with only the articles titled `titles`.

    Example: only_articles({"data": [{"title": "A"}, {"title": "B"}]}, ["B"])
    -> {"data": [{"title": "B"}]}
    """
    return {**squad, "data": [a for a in squad.get("data", []) if a.get("title") in titles]}


def sample(items: Sequence[Any], limit: int | None, seed: int) -> list[Any]:
    """A reproducible random sample of `limit` items, returned in their original order.

    The items picked are exactly those of random.Random(seed).sample(items, limit) (sample
    chooses by position only); keeping file order makes outputs easy to diff. No limit, or
    a limit at least len(items), returns every item.
    Example: sample(["a", "b", "c"], None, 0) -> ["a", "b", "c"]
    """
    if limit is None or limit >= len(items):
        return list(items)
    picked = random.Random(seed).sample(range(len(items)), limit)
    return [items[i] for i in sorted(picked)]


def summary(n_articles: int, questions: Sequence[dict[str, Any]], out: Path) -> str:
    """The one line printed after a run.

    Example: summary(2, [{"answerable": True}], Path("o")) ->
    "2 articles, 1 questions written (1 answerable, 0 unanswerable) -> o"
    """
    answerable = sum(1 for q in questions if q["answerable"])
    return (f"{n_articles} articles, {len(questions)} questions written "
            f"({answerable} answerable, {len(questions) - answerable} unanswerable) -> {out}")


# --- I/O at the edges ---------------------------------------------------------------------


def find_squad_file(path: Path) -> Path:
    """The SQuAD JSON file at `path`, or the only .json file in the directory `path`."""
    if path.is_file():
        return path
    if not path.is_dir():
        raise SquadError(f"SQuAD input not found: {path}")
    candidates = sorted(path.glob("*.json"))
    if len(candidates) != 1:
        raise SquadError(f"expected exactly one .json file in {path}, found {len(candidates)}")
    return candidates[0]


def load_squad(path: Path) -> dict[str, Any]:
    """Parse the SQuAD file at `path` (a file, or a directory holding one .json file)."""
    squad_file = find_squad_file(path)
    try:
        return json.loads(squad_file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise SquadError(f"cannot read {squad_file}: {error}") from None


def write_output(out: Path, documents: dict[str, str], questions: Sequence[dict]) -> list[str]:
    """Write out/corpus/*.txt and out/qa.jsonl; return stale .txt files found in out/corpus."""
    corpus = out / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    for name, text in documents.items():
        # newline="" so paragraph breaks are written as-is and offsets match on every OS.
        (corpus / name).write_text(text, encoding="utf-8", newline="")
    lines = [json.dumps(q, ensure_ascii=False) + "\n" for q in questions]
    (out / "qa.jsonl").write_text("".join(lines), encoding="utf-8", newline="")
    return sorted(p.name for p in corpus.glob("*.txt") if p.name not in documents)


def role_titles(role: str, squad_file: Path) -> list[str]:
    """The titles split.json gives `role` in `squad_file` (matched by file name)."""
    from reader.data import DataError, load_split

    try:
        titles = load_split()[role].get(squad_file.name)
    except DataError as err:
        raise SquadError(str(err)) from None
    if not titles:
        raise SquadError(f"data/squad2/split.json names no {role} articles of {squad_file.name}")
    return titles


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        # One line instead of argparse's usage block: the mistake is what the user needs.
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, got {value!r}")
    return number


def build_parser() -> argparse.ArgumentParser:
    """The command line of `python -m eval.squad`."""
    parser = _Parser(
        prog="python -m eval.squad",
        description="Convert SQuAD 2.0 into a corpus directory and a qa.jsonl question file.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=f"""examples:
  python -m eval.squad --out /tmp/squad-out
      every question; writes /tmp/squad-out/corpus/*.txt and /tmp/squad-out/qa.jsonl
  python -m eval.squad --out /tmp/squad-200 --limit 200 --seed 7
      a reproducible random sample of 200 questions (the corpus still has every article)
  python -m eval.squad --out /tmp/squad-ans --limit 100 --answerable-only
      100 questions drawn from the answerable ones only
  python -m eval.squad --out var/squad-heldout --role heldout --limit 400 --seed 1
      400 questions from the 8 articles no reader training saw (data/squad2/split.json);
      the corpus holds those articles only
  python -m eval.squad --out /tmp/sq --squad path/to/dev-v2.0.json
      another SQuAD file (or a directory holding exactly one .json file)

default --squad: {DEFAULT_SQUAD}""",
    )
    parser.add_argument("--out", type=Path, required=True, help="output directory")
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD,
                        help="SQuAD JSON file, or a directory holding one (default: see below)")
    parser.add_argument("--limit", type=_positive_int, default=None,
                        help="write a random sample of N questions (default: all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample (default: 0)")
    parser.add_argument("--answerable-only", action="store_true",
                        help="drop unanswerable questions before sampling")
    parser.add_argument("--role", choices=("reader_train", "calibration", "heldout"),
                        help="keep only the articles data/squad2/split.json gives this role "
                        "for the --squad file (default: every article)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code (0 ok, 2 for a user mistake)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        squad = load_squad(args.squad)
        if args.role:
            squad = only_articles(squad, role_titles(args.role, find_squad_file(args.squad)))
        documents, questions = convert(squad)
        if args.answerable_only:
            questions = [q for q in questions if q["answerable"]]
        questions = sample(questions, args.limit, args.seed)
        stale = write_output(args.out, documents, questions)
    except SquadError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog}: error: cannot write to {args.out}: {error}", file=sys.stderr)
        return 2
    if stale:
        print(f"warning: {len(stale)} other .txt files in {args.out / 'corpus'} "
              f"(e.g. {stale[0]}) will be indexed too", file=sys.stderr)
    print(summary(len(documents), questions, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Which retrieved sentences answer the question, and how sure we are: the extractive core.

A 135M model cannot be trusted to find the answer in a passage, so the pipeline finds it first:
every sentence of the top passages is scored by cosine similarity to the question plus the
share of the question's words it contains, each word weighted by how rare it is in the index
(IDF), so "Raimondo" counts for more than "said". The best sentence is the evidence the model
rephrases, and the quote shown when the model's answer fails the support check. A second
sentence from another document joins it when it covers question words the first lacks (the
questions that need both documents).

Also the signals the refusal decision rests on (qa.abstain): how much of the question the best
sentence covers, and whether it holds the kind of thing asked for (a number for "how many", a
date for "when", a name for "who") that the question itself does not already contain.

Pure functions only; the caller embeds the sentences. Does not stem like a real stemmer: it
strips a handful of English suffixes, enough for "launched"/"launch" and "talks"/"talk".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from common.words import stem, terms, words
from qa.context import Sentence

_TOKEN = re.compile(r"[^\W_]+")
_MONTHS = frozenset("january february march april may june july august september october "
                    "november december".split())
_NUMBER_WORDS = frozenset("one two three four five six seven eight nine ten eleven twelve "
                          "hundred hundreds thousand thousands million millions billion "
                          "billions trillion dozen dozens half percent".split())
_ASKS_NUMBER = re.compile(r"\bhow (many|much|long|old|far|large|big)\b|\bwhat (percentage|share"
                          r"|number|amount)\b")
_ASKS_DATE = re.compile(r"\bwhen\b|\b(what|which) (year|date|day|month|century|decade)\b")
_HOW_MANY = re.compile(r"\bhow many ([^\W\d_]+)")
_ENDS_LIKE_A_SENTENCE = re.compile(r"[.!?][\"”’)\]]*\s*$")
# Score taken off a line without closing punctuation: a title or heading ("Implications of
# Xi's Power Concentration"), which matches a question's words without answering anything.
# Measured on the selection dumps: the best sentence held the answer for 82.9% -> 85.7% of
# eval/qa.jsonl questions, unchanged on SQuAD (no headings there).
HEADING_PENALTY = 0.3
# Score added to a sentence holding the kind of thing a "when"/"how many"/"who" question asks
# for: "Xi's GSI was launched in April 2022" must beat a sentence that names the Global
# Security Initiative in full but gives no date. Measured on the same dumps: best-sentence hit
# rate unchanged on eval/qa.jsonl (85.7%) and SQuAD seed 1 (77.2%), 77.1% on SQuAD seed 2.
TYPE_BONUS = 0.5
_WH_WORD = re.compile(r"\b(who|whom|whose|where|when|what|which|how)\b")
_ASKS_NAME = re.compile(r"\b(who|whom|whose|where)\b|\bname (the|of)\b|\bwhat is the name\b")


def inverse_document_frequency(texts: Iterable[str]) -> Callable[[str], float]:
    """IDF of a term over `texts` (smoothed, so unseen terms weigh most).

    Example: over ["tariffs rose", "tariffs fell"], idf("tariff") = log(3/2.5) ~ 0.18 and
    idf("unseen") = log(3/0.5) ~ 1.79
    """
    df: Counter[str] = Counter()
    n = 0
    for text in texts:
        df.update(terms(text))
        n += 1
    return lambda term: math.log((n + 1) / (df.get(term, 0) + 0.5))


class ChunkIdf:
    """inverse_document_frequency from counts a store keeps instead of from the texts: callable
    on a term like it, each chunk frequency looked up once (`prefetch` looks up many at once).

    Example: ChunkIdf(2, lambda ws: {"tariff": 2})("tariff") = log(3/2.5) ~ 0.18
    """

    def __init__(self, chunks: int,
                 frequencies: Callable[[Collection[str]], Mapping[str, int]]) -> None:
        self.chunks = chunks
        self._frequencies = frequencies
        self._known: dict[str, int] = {}

    def prefetch(self, words: Iterable[str]) -> None:
        missing = set(words) - self._known.keys()
        if missing:
            found = self._frequencies(missing)
            self._known.update({w: found.get(w, 0) for w in missing})

    def __call__(self, term: str) -> float:
        if term not in self._known:
            self.prefetch([term])
        return math.log((self.chunks + 1) / (self._known[term] + 0.5))


def question_type(question: str) -> str | None:
    """"number", "date", "name" or None (anything else, e.g. "why", "what did ... say").

    The first question word decides, so a "when" or "who" inside a clause does not:
    question_type("Which minister said they never dictate terms when they invest?") -> None.
    Example: question_type("How many envoys attended?") -> "number"
    """
    q = question.lower()
    wh = _WH_WORD.search(q)
    if wh is None:  # "Name the two secretaries": any cue counts
        test = lambda pattern: pattern.search(q)  # noqa: E731
    else:  # only the first question word decides: "... terms when they invest?" is no date
        test = lambda pattern: pattern.match(q, wh.start())  # noqa: E731
    if test(_ASKS_NUMBER):
        return "number"
    if test(_ASKS_DATE):
        return "date"
    if test(_ASKS_NAME):
        return "name"
    return None


def offers_answer_type(sentence: str, question: str) -> bool:
    """Whether `sentence` holds a new thing of the kind the question asks for.

    New means absent from the question: "When did Xi meet Biden in 2023?" is not answered by a
    sentence whose only date is 2023. Untyped questions always pass.
    Example: offers_answer_type("Tai met Wang on 18 November.", "When did Tai meet Wang?") -> True
    """
    kind = question_type(question)
    if kind is None:
        return True
    asked = set(words(question))
    fresh = set(words(sentence)) - asked
    has_digit = any(any(ch.isdigit() for ch in w) for w in fresh)
    if kind == "number":
        counted = _HOW_MANY.search(question.lower())
        if counted:  # "how many envoys": a number right before "envoys", not any number
            return _counts(sentence, stem(counted.group(1)))
        return has_digit or bool(_NUMBER_WORDS & fresh)
    if kind == "date":
        return has_digit or bool(_MONTHS & fresh) or "century" in fresh
    tokens = _TOKEN.findall(sentence.replace("’s", "").replace("'s", ""))
    names = {w.lower() for i, w in enumerate(tokens) if i > 0 and w[0].isupper()}
    return bool(names - asked)


def _counts(sentence: str, noun: str) -> bool:
    """Whether a number stands within three words before `noun` (stemmed).

    Example: _counts("Some 40 Chinese envoys came.", "envoy") -> True
    """
    tokens = words(sentence)
    for i, token in enumerate(tokens):
        if stem(token) != noun:
            continue
        before = tokens[max(0, i - 3): i]
        if any(any(ch.isdigit() for ch in w) or w in _NUMBER_WORDS for w in before):
            return True
    return False


def coverage(question: str, sentence: str, idf: Callable[[str], float]) -> float:
    """IDF-weighted share of the question's terms that `sentence` holds.

    Example: coverage("Who met Wang?", "Tai met Wang.", lambda t: 1.0) -> 1.0
    """
    asked = terms(question)
    total = sum(idf(t) for t in asked) or 1.0
    return sum(idf(t) for t in asked & terms(sentence)) / total


def rarest_missing(question: str, passage: str, idf: Callable[[str], float]) -> float:
    """IDF of the rarest question term the passage lacks (0.0 when it has them all).

    A question about an entity the passage never names ("When did Tai meet Li Qiang?" against
    a passage about Tai and Wang) is often unanswerable from it however well the rest matches.
    Example: rarest_missing("Who met Li?", "Tai met Wang.", lambda t: len(t)) -> 2.0 ("li")
    """
    return float(max((idf(t) for t in terms(question) - terms(passage)), default=0.0))


@dataclass(frozen=True)
class Scored:
    sentence: Sentence
    cosine: float  # with the question
    coverage: float  # IDF-weighted share of the question's terms the sentence contains
    score: float  # cosine + coverage_weight * coverage (or the reader's margin)


def score_sentences(question: str, question_vector: np.ndarray, sentences: Sequence[Sentence],
                    sentence_vectors: np.ndarray, idf: Callable[[str], float],
                    coverage_weight: float) -> list[Scored]:
    """Every sentence scored, best first; duplicates (overlapping chunks) kept once.

    Example: a sentence with cosine 0.5 holding every question term scores 0.5 + weight
    (HEADING_PENALTY less if it does not end like a sentence, TYPE_BONUS more if the question
    asks for a date, number or name and the sentence holds a new one).
    """
    asked = terms(question)
    total = sum(idf(t) for t in asked) or 1.0
    typed = question_type(question) is not None
    seen: set[tuple[int, int]] = set()
    scored = []
    for sentence, vector in zip(sentences, sentence_vectors, strict=True):
        if (sentence.start, sentence.end, sentence.passage) in seen:
            continue
        seen.add((sentence.start, sentence.end, sentence.passage))
        coverage = sum(idf(t) for t in asked & terms(sentence.text)) / total
        cosine = float(vector @ question_vector)
        score = cosine + coverage_weight * coverage
        if not _ENDS_LIKE_A_SENTENCE.search(sentence.text):
            score -= HEADING_PENALTY
        if typed and offers_answer_type(sentence.text, question):
            score += TYPE_BONUS
        scored.append(Scored(sentence, cosine, coverage, score))
    scored.sort(key=lambda s: -s.score)
    # The same sentence can sit in two overlapping chunks: keep its best-ranked copy only.
    unique: dict[str, Scored] = {}
    for s in scored:
        unique.setdefault(s.sentence.text.strip(), s)
    return list(unique.values())


def select_evidence(question: str, scored: Sequence[Scored], documents: Sequence[str],
                    idf: Callable[[str], float], min_gain: float) -> list[Scored]:
    """The best sentence, plus the best one from another document if it adds question terms.

    `documents[p - 1]` is the document of passage p. The second sentence must cover at least
    `min_gain` (IDF-weighted share) of the question that the first does not.
    """
    if not scored:
        return []
    best = scored[0]
    asked = terms(question)
    total = sum(idf(t) for t in asked) or 1.0
    missing = asked - terms(best.sentence.text)
    first_doc = documents[best.sentence.passage - 1]
    for other in scored[1:]:
        if documents[other.sentence.passage - 1] == first_doc:
            continue
        gain = sum(idf(t) for t in missing & terms(other.sentence.text)) / total
        if gain >= min_gain:
            return [best, other]
        break  # only the best sentence of another document is considered
    return [best]


def new_information_share(answer: str, question: str, evidence: str) -> float:
    """Share of what the evidence adds to the question (its terms the question lacks) that
    `answer` carries; 0.0 when the evidence adds nothing.

    "The US Trade Representative met her counterpart" restates the question: every word of it
    is supported, but it carries none of the answer. A sentence that drops the answer span
    ("The church was replaced by a third") carries little of it.
    Example: new_information_share("Tai met Wang.", "Who met Wang?", "Tai met Wang in May.")
        -> 0.5 (it has "tai", not "may")
    """
    added = terms(evidence) - terms(question)
    if not added:
        return 0.0
    return len(terms(answer) & added) / len(added)

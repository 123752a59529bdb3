"""Citations: every answer sentence is cited to the retrieved passage that best supports it.

Every sentence the user sees must rest on a retrieved passage. The model is asked to cite, but
a 135M model forgets or invents markers, so this module decides: the sentence is cited to the
passage that contains most of its content words and all of its numbers and names, and is
dropped when no passage does; the model's marker only breaks ties.

A sentence that says the opposite of its passage is not supported either: when the passage
sentence it matches best carries a negation the sentence lacks (or the other way round), or a
word whose antonym the sentence uses ("often" against "never", "rose" against "fell"), no
overlap share makes up for it.

Pure functions only. Does not judge whether a cited passage *entails* the sentence; it checks
word overlap and polarity, which catch invented names, numbers and flipped claims but not every
paraphrase.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from common.records import Chunk
from common.words import content_words, words
from ingest.chunker import split_sentences

MARKER = re.compile(r"\s*\[(\d+)\]")
_BRACKETED = re.compile(r"\[(\d+)\]")
_TOKEN = re.compile(r"[^\W_]+")
_NEGATION = re.compile(r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b"
                       r"|n[\'’]t\b", re.IGNORECASE)
# Each word against the words that say its opposite; both directions are checked.
_OPPOSITES = {
    "always": "never rarely", "often": "never rarely seldom", "usually": "never rarely",
    "increase": "decrease reduce cut", "increased": "decreased reduced cut",
    "rise": "fall drop decline", "rose": "fell dropped declined", "more": "fewer less",
    "higher": "lower", "larger": "smaller", "strengthen": "weaken", "strengthened": "weakened",
    "expand": "shrink contract", "expanded": "shrank contracted", "allow": "forbid ban prohibit",
    "allowed": "forbade banned prohibited", "accept": "reject refuse", "accepted":
    "rejected refused", "support": "oppose", "supported": "opposed", "agree": "disagree",
    "agreed": "disagreed", "win": "lose", "won": "lost", "success": "failure",
    "succeeded": "failed", "before": "after", "first": "last", "legal": "illegal",
    "possible": "impossible", "able": "unable", "likely": "unlikely", "achievable":
    "unachievable", "include": "exclude", "included": "excluded", "open": "closed",
    "began": "ended", "start": "end", "friend": "enemy", "ally": "rival adversary",
}
_ANTONYMS: dict[str, set[str]] = {}
for _word, _others in _OPPOSITES.items():
    for _other in _others.split():
        _ANTONYMS.setdefault(_word, set()).add(_other)
        _ANTONYMS.setdefault(_other, set()).add(_word)


@dataclass(frozen=True)
class CitedSentence:
    text: str
    markers: tuple[int, ...]


def support(sentence: str, passage: str) -> float:
    """Share of the sentence's content words that also occur in the passage (1.0 if it has none).

    Example: support("Tai met Wang", "Katherine Tai met her counterpart") -> 2/3
    """
    words = content_words(sentence)
    if not words:
        return 1.0
    return len(words & content_words(passage)) / len(words)


def unsupported_terms(sentence: str, passage: str) -> list[str]:
    """Numbers and names (capitalized words after the first) in `sentence` but not in `passage`.

    Invented names and dates are a small model's typical error, and no word-overlap share
    catches one wrong name among ten right words.
    Example: unsupported_terms("Tai met Wang Yi in 2023.", "Tai met Wang in 2022") -> ["Yi", "2023"]
    """
    present = set(words(passage))
    raw = _TOKEN.findall(sentence.replace("’s", "").replace("'s", ""))
    return [w for i, w in enumerate(raw)
            if (any(ch.isdigit() for ch in w) or (i > 0 and w[0].isupper()))
            and w.lower() not in present]


def contradicts(sentence: str, passage: str) -> bool:
    """Whether `sentence` flips the passage sentence it matches best: a negation on one side
    only, or a word on one side whose antonym is on the other (and not itself).

    Example: contradicts("The Chinese often set expectations.",
                         "The Chinese never, ever dictate expectations.") -> True
    Example: contradicts("Tai met Wang.", "Katherine Tai met Wang Wentao.") -> False
    """
    spans = split_sentences(passage) or [(0, len(passage))]
    asked = content_words(sentence)
    closest = max((passage[s:e] for s, e in spans),
                  key=lambda text: len(asked & content_words(text)))
    if bool(_NEGATION.search(sentence)) != bool(_NEGATION.search(closest)):
        return True
    mine, theirs = set(words(sentence)), set(words(closest))
    return any(_ANTONYMS.get(w, set()) & (theirs - mine) for w in mine - theirs)


def inert_markers(quoted: str) -> str:
    """Document text shown verbatim, with its own bracketed numbers (footnotes such as
    Wikipedia's "[3]", or a planted "[1]") in fullwidth brackets, so that no `[n]` in an answer
    comes from a document: every one is the pipeline's citation.

    Example: inert_markers("Rope was made [3].") -> "Rope was made ［3］."
    """
    return _BRACKETED.sub(r"［\1］", quoted)


def parse_markers(sentence: str, n_passages: int) -> tuple[str, tuple[int, ...]]:
    """Strip every `[n]` from the sentence; keep the markers within 1..n_passages, in order.

    Example: parse_markers("Tai met Wang [2][9].", 3) -> ("Tai met Wang.", (2,))
    """
    found = [int(m) for m in MARKER.findall(sentence)]
    valid = tuple(dict.fromkeys(m for m in found if 1 <= m <= n_passages))
    return MARKER.sub("", sentence).strip(), valid


def cite_sentence(
    sentence: str, passages: Sequence[str], min_support: float
) -> CitedSentence | None:
    """The sentence cited to the passage that best supports it, or None when none does.

    A passage supports a sentence when it holds at least `min_support` of the sentence's
    content words and every one of its numbers and names, and does not say the opposite
    (`contradicts`). The model's own marker wins ties; a
    marker pointing at a passage that does not support the sentence is replaced.
    Example: cite_sentence("Tai met Wang [2].", ["Tai met Wang.", "Xi spoke."], 0.5)
    -> CitedSentence("Tai met Wang.", (1,))
    """
    text, markers = parse_markers(sentence, len(passages))
    if not content_words(text):
        return None
    scores = [support(text, p) if not unsupported_terms(text, p) and not contradicts(text, p)
              else 0.0 for p in passages]
    ranked = sorted(range(len(passages)),
                    key=lambda i: (-scores[i], (i + 1) not in markers, i))
    if not ranked or scores[ranked[0]] < min_support:
        return None
    return CitedSentence(text, (ranked[0] + 1,))


def cite_answer(answer: str, passages: Sequence[str], min_support: float) -> list[CitedSentence]:
    """Split the model's answer into sentences and cite each, dropping unsupported ones.

    A marker the model put after a sentence's full stop ("... met. [1] Next") is moved back onto
    the sentence it follows.
    """
    pieces = [answer[s:e] for s, e in split_sentences(answer)]
    merged: list[str] = []
    for piece in pieces:
        lead = re.match(r"(?:\s*\[\d+\])+", piece)
        if lead and merged:
            merged[-1] += lead.group(0)
            piece = piece[lead.end():]
        if piece.strip():
            merged.append(piece)
    cited = (cite_sentence(p, passages, min_support) for p in merged)
    return [c for c in cited if c is not None]


def render(sentences: Sequence[CitedSentence]) -> str:
    """Sentences joined, each with its markers before its closing punctuation.

    Example: render([CitedSentence("Tai met Wang.", (2,))]) -> "Tai met Wang [2]."
    """
    out = []
    for s in sentences:
        marks = "".join(f"[{m}]" for m in s.markers)
        body = s.text.rstrip()
        tail = ""
        while body and body[-1] in ".!?":
            tail = body[-1] + tail
            body = body[:-1]
        out.append(f"{body} {marks}{tail}")
    return " ".join(out)


def supporting_span(sentence: str, chunk: Chunk) -> tuple[int, int]:
    """Document offsets of the chunk sentence that shares most content words with `sentence`."""
    spans = split_sentences(chunk.text) or [(0, len(chunk.text))]
    words = content_words(sentence)
    best = max(spans, key=lambda s: len(words & content_words(chunk.text[s[0]:s[1]])))
    return chunk.start + best[0], chunk.start + best[1]

"""Content words: the lowercased words of a text that carry meaning.

Shared by lexical search (index.store) and citation support (qa.cite) so both agree on what
"the same word" means; `terms` are also what the stores count for the pipeline's IDF. Does not
stem like a real stemmer: `stem` strips a handful of English suffixes, enough for
"launched"/"launch" and "talks"/"talk"; FTS5's porter tokenizer stems on its side.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[^\W_]+")
STOPWORDS = frozenset(
    "a about after also an and answer are as at be been being but by can could did do does "
    "for from had has have he her here hers him his how i if in into is it its me more most my "
    "no not of on one or other our she so some such than that the their them then there these "
    "they this those to too very was we were what when where which while who whom whose why "
    "will with would you your".split()
)
_SUFFIXES = (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", ""))


def words(text: str) -> list[str]:
    """Lowercased words in order, possessive 's removed.

    Example: words("Xi's visit to the US") -> ["xi", "visit", "to", "the", "us"]
    """
    return [w.lower() for w in _WORD.findall(text.replace("’s", "").replace("'s", ""))]


def content_words(text: str) -> set[str]:
    """Example: content_words("Xi's visit to the US") -> {"xi", "visit", "us"}"""
    return {w for w in words(text) if w not in STOPWORDS}


def stem(word: str) -> str:
    """Example: stem("launched") -> "launch"; stem("class") -> "class" """
    for suffix, replacement in _SUFFIXES:
        if (word.endswith(suffix) and len(word) - len(suffix) >= 3
                and not (suffix == "s" and word.endswith("ss"))):
            return word[: len(word) - len(suffix)] + replacement
    return word


def terms(text: str) -> set[str]:
    """Stemmed content words. Example: terms("Xi launched talks") -> {"xi", "launch", "talk"}"""
    return {stem(w) for w in content_words(text)}

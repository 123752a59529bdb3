"""Follow-up questions made standalone before retrieval, from the conversation so far.

"And who presented it?" retrieves nothing useful on its own. After "When was the Global Security
Initiative launched?" it means "Who presented the Global Security Initiative?". The rewrite is
rule-based: a question that opens with "and"/"so"/"what about", or uses a pronoun, or has almost
no words of its own is a follow-up; its pronoun is replaced by the main name of the previous
(already standalone) question, or, when there is no pronoun to replace, the previous question is
added as context. The pipeline shows the rewrite, so a wrong one is visible.

Pure functions only. Does not ask the language model to rewrite (a 135M model rewrites
"it" into invented names) and does not resolve references further back than the previous
question, except through that question's own rewrite.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from common.words import STOPWORDS, content_words

_OPENER = re.compile(r"^\s*(and|but|so|also|then|what about|how about)\b[\s,]*", re.I)
_PRONOUN = re.compile(r"\b(it|its|they|them|their|he|she|him|his|this one|that one)\b", re.I)
_POSSESSIVE = {"its", "their", "his"}
_NAME = re.compile(r"(?:[A-Z][\w’'-]*|of|the|and|for|on|de)(?:\s+(?:[A-Z][\w’'-]*|of|the|and|for"
                   r"|on|de))*")
# Words that make a question a follow-up when they are nearly all it has.
_VAGUE = frozenset("else again more".split())


def main_subject(question: str) -> str | None:
    """The longest capitalized phrase of a question, without leading question words.

    Example: main_subject("When was the Global Security Initiative launched?")
    -> "the Global Security Initiative"
    """
    best = None
    for match in _NAME.finditer(question):
        phrase = match.group(0)
        tokens = phrase.split()
        while tokens and (tokens[0].lower() in STOPWORDS - {"the"} or
                          (match.start() == 0 and tokens[0].lower() in STOPWORDS)):
            tokens = tokens[1:]
        while tokens and tokens[-1].lower() in STOPWORDS:
            tokens = tokens[:-1]
        if not any(t[0].isupper() for t in tokens):
            continue
        candidate = " ".join(tokens)
        if best is None or len(candidate) > len(best):
            best = candidate
    return best


def is_followup(question: str) -> bool:
    """Example: is_followup("And when was it launched?") -> True"""
    if _OPENER.match(question) or _PRONOUN.search(question):
        return True
    own = content_words(question) - _VAGUE
    return len(own) < 2


def standalone(question: str, history: Sequence[tuple[str, str]]) -> str:
    """`question` rewritten to stand on its own, given earlier (question, answer) pairs.

    Example: standalone("And who presented it?",
                        [("When was the Global Security Initiative launched?", "...")])
    -> "Who presented the Global Security Initiative?"
    """
    question = question.strip()
    previous = None
    for asked, _ in history:  # each earlier question made standalone in turn
        asked = asked.strip()
        if asked:
            previous = _rewrite(asked, previous) if previous else asked
    if previous is None:
        return question
    return _rewrite(question, previous)


def _rewrite(question: str, previous: str) -> str:
    if not is_followup(question):
        return question
    body = _OPENER.sub("", question, count=1).strip() or question
    subject = main_subject(previous)
    pronoun = _PRONOUN.search(body)
    if subject and pronoun:
        word = pronoun.group(0).lower()
        replacement = f"{subject}’s" if word in _POSSESSIVE else subject
        body = body[: pronoun.start()] + replacement + body[pronoun.end():]
        return body[0].upper() + body[1:]
    # Nothing to substitute ("What about Russia?"): carry the previous question along.
    return f"{question[0].upper()}{question[1:]} ({previous.rstrip('?. ')})"

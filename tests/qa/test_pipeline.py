"""qa.pipeline with the fake embedder and the queued-reply generator.

The index holds two passages (tests/fakes.py). For "When was the Security Initiative launched?"
retrieval puts security.txt first (dense cosine sqrt(3/5) = 0.775, the only lexical hit), so
its sentences are passage [1]; trade.txt is [2]. Sentence ranking, with the question's content
words {security, initiative, launched}:
    "The Global Security Initiative was launched in April 2022."  cosine 1.0 + 0.3 * 3/3 = 1.3
    the other three sentences share no vocabulary word:               0.0
so the prompt shows that sentence and, by passage order on the tie, "Xi presented it ...".
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

import pytest

from index.store import Index
from ingest.chunker import split_sentences
from qa.answer import Answer
from qa.config import REFUSAL, Settings
from qa.pipeline import Pipeline, split_complete
from tests.fakes import FakeEmbedder, FakeGenerator

QUESTION = "When was the Security Initiative launched?"
LAUNCH = "The Global Security Initiative was launched in April 2022."
FORUM = "Xi presented it at the Boao Forum."
MEETING = "Katherine Tai met Wang Wentao in San Francisco on 18 November."


def ask(index: Index, embedder: FakeEmbedder, replies: Sequence[str], question: str = QUESTION,
        settings: Settings | None = None) -> tuple[Answer, FakeGenerator]:
    generator = FakeGenerator(replies)
    answer = Pipeline(index, embedder, generator, settings).answer(question)
    return answer, generator


def test_off_topic_question_is_refused_without_calling_the_model(
        index: Index, embedder: FakeEmbedder) -> None:
    # No vocabulary word: the question is the "unknown" unit vector, cosine 0 with both chunks,
    # below min_relevance 0.30.
    generator = FakeGenerator(["Banana bread needs ripe bananas [1]."])
    events = list(Pipeline(index, embedder, generator).stream("How do I bake banana bread?"))
    (answer,) = events  # no text event before the refusal
    assert isinstance(answer, Answer)
    assert answer.abstained and answer.text == REFUSAL
    assert answer.citations == ()
    assert generator.prompts == []
    assert answer.timings.ttft_s is None


def test_min_relevance_is_the_refusal_threshold(index: Index, embedder: FakeEmbedder) -> None:
    # "Boao Forum" -> best cosine 1/sqrt(5) = 0.447 (security.txt)
    refused, _ = ask(index, embedder, [FORUM], "Boao Forum", Settings(min_relevance=0.45))
    answered, _ = ask(index, embedder, [FORUM], "Boao Forum", Settings(min_relevance=0.44))
    assert refused.abstained and not answered.abstained


def test_faithful_reply_is_shown_with_its_citation(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{LAUNCH[:-1]} [1]."])
    assert answer.text == "The Global Security Initiative was launched in April 2022 [1]."
    assert not answer.abstained and not answer.quoted
    (citation,) = answer.citations
    assert citation.marker == 1
    assert citation.chunk == answer.retrieved[0].chunk
    assert "April 2022" in citation.chunk.text
    assert index.document_text(citation.chunk.doc_id)[citation.start:citation.end] == LAUNCH


def test_every_sentence_of_the_answer_carries_a_marker(index: Index,
                                                       embedder: FakeEmbedder) -> None:
    # the model forgot every marker; both sentences are supported by passage 1
    answer, _ = ask(index, embedder, ["It was launched in April 2022. Xi presented it there."])
    assert answer.text == "It was launched in April 2022 [1]. Xi presented it there [1]."
    for start, end in split_sentences(answer.text):
        assert re.search(r"\[\d+\]", answer.text[start:end])


def test_prompt_holds_the_chosen_sentences_by_passage_and_the_question(
        index: Index, embedder: FakeEmbedder) -> None:
    # Question vector: security, initiative, launched, met, tai (1/sqrt(5) each).
    # Dense: security 3/5 = 0.6, trade 2/(sqrt(5) * 2) = 0.447 -> security is passage [1].
    # Sentences, content words {security, initiative, launched, met, tai}:
    #   LAUNCH   3/(sqrt(5) sqrt(3)) = 0.775 + 0.3 * 3/5 = 0.955
    #   MEETING  2/(sqrt(5) sqrt(3)) = 0.516 + 0.3 * 2/5 = 0.636
    #   FORUM and "The talks covered tariffs ..." share no word with it: 0.0, left out.
    # With two sentences allowed both are shown, in document order.
    question = "When was the Security Initiative launched and who met Tai?"
    _, generator = ask(index, embedder, [LAUNCH], question, Settings(context_sentences=2))
    assert generator.prompts == [[{
        "role": "user",
        "content": f"[1] {LAUNCH}\n[2] {MEETING}\n\nQuestion: {question}\n"
                   "Answer in one sentence, using only the text above.",
    }]]


def test_default_prompt_holds_only_the_best_sentence(index: Index, embedder: FakeEmbedder
                                                     ) -> None:
    # Same scores as above: LAUNCH (0.955) beats MEETING (0.636), and the default shows one.
    question = "When was the Security Initiative launched and who met Tai?"
    _, generator = ask(index, embedder, [LAUNCH], question)
    assert generator.prompts[0][0]["content"].startswith(f"[1] {LAUNCH}\n\nQuestion:")


def test_hallucinated_reply_is_replaced_by_a_quoted_passage_sentence(
        index: Index, embedder: FakeEmbedder) -> None:
    answer, generator = ask(index, embedder, ["The representative was John Smith in 1999."])
    assert len(generator.prompts) == 1
    assert "John Smith" not in answer.text and "1999" not in answer.text
    assert answer.text == f"“{LAUNCH}” [1]"
    assert answer.quoted and not answer.abstained
    (citation,) = answer.citations
    assert index.document_text(citation.chunk.doc_id)[citation.start:citation.end] == LAUNCH


def test_marker_out_of_range_is_dropped(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{LAUNCH[:-1]} [9]."])
    assert "[9]" not in answer.text
    assert answer.text == "The Global Security Initiative was launched in April 2022 [1]."
    assert [c.marker for c in answer.citations] == [1]


def test_repeated_sentence_is_shown_once(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{FORUM} {FORUM} {FORUM}"])
    assert answer.text == "Xi presented it at the Boao Forum [1]."


class LoggingGenerator(FakeGenerator):
    """FakeGenerator that writes each piece into a log shared with the test."""

    def __init__(self, replies: Sequence[str], log: list[tuple[str, object]]) -> None:
        super().__init__(replies)
        self.log = log

    def stream(self, messages: Sequence[dict[str, str]]) -> Iterator[str]:
        for piece in super().stream(messages):
            self.log.append(("piece", piece))
            yield piece


def test_stream_shows_only_checked_sentences_while_the_model_writes(
        index: Index, embedder: FakeEmbedder) -> None:
    log: list[tuple[str, object]] = []
    reply = f"{LAUNCH[:-1]} [1]. Tai met Joe Biden in 1999. {FORUM}"
    pipeline = Pipeline(index, embedder, LoggingGenerator([reply], log))
    for event in pipeline.stream(QUESTION):
        log.append(("event", event))

    events = [e for kind, e in log if kind == "event"]
    first = "The Global Security Initiative was launched in April 2022 [1]."
    both = f"{first} Xi presented it at the Boao Forum [1]."
    assert events[:-1] == [first, both]
    assert isinstance(events[-1], Answer) and events[-1].text == both
    # The first sentence appeared as soon as the next one began ("Tai"), long before the
    # reply ended, and the invented sentence in between never reached the screen.
    shown_at = log.index(("event", first))
    assert log[shown_at - 1] == ("piece", " Tai")
    assert ("piece", " Forum.") in log[shown_at:]


def test_unfinished_last_sentence_is_not_shown(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{LAUNCH[:-1]} [1]. Xi presented it at the"])
    assert answer.text == "The Global Security Initiative was launched in April 2022 [1]."


def test_timings(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [LAUNCH])
    t = answer.timings
    assert t.ttft_s is not None
    assert 0 <= t.retrieval_s <= t.ttft_s <= t.total_s


def test_each_question_gets_the_next_reply(index: Index, embedder: FakeEmbedder) -> None:
    generator = FakeGenerator([LAUNCH, FORUM])
    pipeline = Pipeline(index, embedder, generator)
    assert pipeline.answer(QUESTION).text == f"{LAUNCH[:-1]} [1]."
    assert pipeline.answer(QUESTION).text == f"{FORUM[:-1]} [1]."
    assert len(generator.prompts) == 2


@pytest.mark.parametrize(("buffer", "expected"), [
    ("Tai met Wang. [1] She", ("Tai met Wang. [1]", " She")),  # docstring
    ("Tai met Wang. [1][2] She", ("Tai met Wang. [1][2]", " She")),
    ("Tai met Wang.", ("", "Tai met Wang.")),  # finished only once the next one begins
    ("Tai met Wang. [1]", ("", "Tai met Wang. [1]")),  # a marker alone begins nothing
    ("A b. C d. E", ("A b. C d. ", "E")),
    ("", ("", "")),
])
def test_split_complete(buffer: str, expected: tuple[str, str]) -> None:
    assert split_complete(buffer) == expected
    assert "".join(split_complete(buffer)) == buffer


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="top_k"):
        Settings(top_k=0)
    with pytest.raises(ValueError, match="top_k"):
        Settings(top_k=30, candidates=20)
    with pytest.raises(ValueError, match="context_passages"):
        Settings(top_k=2, context_passages=3)


def test_nothing_to_show_is_a_refusal_not_an_empty_answer(
        index: Index, embedder: FakeEmbedder) -> None:
    # Relevant enough to call the model, but no sentence can be selected or quoted (the
    # context is empty) and the model says nothing: the user gets the refusal, not "".
    class NoSentences(Pipeline):
        def _select(self, question: str, retrieved: tuple) -> list:  # type: ignore[override]
            return []

    generator = FakeGenerator([""])
    answer = NoSentences(index, embedder, generator).answer("Who met Wang?")
    assert answer.abstained is True
    assert answer.text == REFUSAL
    assert len(generator.prompts) == 1

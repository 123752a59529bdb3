"""qa.pipeline with the fake embedder and the queued-reply generator.

The index holds two passages (tests/fakes.py). For "When was the Security Initiative launched?"
retrieval puts security.txt first (dense cosine sqrt(3/5) = 0.775, the only lexical hit), so
its sentences are passage [1]; trade.txt is [2]. Sentence ranking, with the question's terms
{security, initiative, launch}: "The Global Security Initiative was launched in April 2022."
has cosine 1.0 and covers all of them, the other sentences share no vocabulary word, so that
sentence is the evidence the model sees and the fallback quotes.

Refusal calibration is off (Settings(calibration=None)) except where a test sets one by hand.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from index.store import Index
from ingest.chunker import split_sentences
from qa.abstain import Calibration
from qa.answer import Answer
from qa.config import REFUSAL, Settings
from qa.pipeline import Evidence, Pipeline, split_complete
from tests.fakes import FakeEmbedder, FakeGenerator

QUESTION = "When was the Security Initiative launched?"
LAUNCH = "The Global Security Initiative was launched in April 2022."
FORUM = "Xi presented it at the Boao Forum."
MEETING = "Katherine Tai met Wang Wentao in San Francisco on 18 November."


NO_CALIBRATION = Settings(calibration=None)


def ask(index: Index, embedder: FakeEmbedder, replies: Sequence[str], question: str = QUESTION,
        settings: Settings = NO_CALIBRATION, history: Sequence[tuple[str, str]] = ()
        ) -> tuple[Answer, FakeGenerator]:
    generator = FakeGenerator(replies)
    answer = Pipeline(index, embedder, generator, settings).answer(question, history)
    return answer, generator


def test_off_topic_question_is_refused_without_calling_the_model(
        index: Index, embedder: FakeEmbedder) -> None:
    # No vocabulary word: the question is the "unknown" unit vector, cosine 0 with both chunks,
    # below min_relevance 0.30.
    generator = FakeGenerator(["Banana bread needs ripe bananas [1]."])
    pipeline = Pipeline(index, embedder, generator, NO_CALIBRATION)
    events = list(pipeline.stream("How do I bake banana bread?"))
    (answer,) = events  # no text event before the refusal
    assert isinstance(answer, Answer)
    assert answer.abstained and answer.text == REFUSAL
    assert answer.citations == ()
    assert generator.prompts == []
    assert answer.timings.ttft_s is None


def test_min_relevance_is_the_refusal_threshold(index: Index, embedder: FakeEmbedder) -> None:
    # "Boao Forum" -> best cosine 1/sqrt(5) = 0.447 (security.txt)
    refused, _ = ask(index, embedder, [FORUM], "Boao Forum",
                     Settings(min_relevance=0.45, calibration=None))
    answered, _ = ask(index, embedder, [FORUM], "Boao Forum",
                      Settings(min_relevance=0.44, calibration=None))
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
    answer, _ = ask(index, embedder,
                    ["It was launched in April 2022. The Global Security Initiative launched in "
                     "2022."])
    assert answer.text == ("It was launched in April 2022 [1]. "
                           "The Global Security Initiative launched in 2022 [1].")
    for start, end in split_sentences(answer.text):
        assert re.search(r"\[\d+\]", answer.text[start:end])


def test_prompt_holds_the_evidence_sentence_under_its_passage_number(
        index: Index, embedder: FakeEmbedder) -> None:
    _, generator = ask(index, embedder, [LAUNCH])
    assert generator.prompts == [[{
        "role": "user",
        "content": f"[1] {LAUNCH}\n\nQuestion: {QUESTION}\n"
                   "Answer in one sentence, using only the text above.",
    }]]


def test_a_question_about_both_documents_gets_a_sentence_from_each(
        index: Index, embedder: FakeEmbedder) -> None:
    # Terms {security, initiative, launch, tai, met}. LAUNCH covers the first three, MEETING
    # (the other document) adds "tai" and "met": both are evidence, shown in passage order,
    # and the quoted fallback cites both documents.
    question = "When was the Security Initiative launched and who met Tai?"
    answer, generator = ask(index, embedder, ["Nothing useful."], question)
    content = generator.prompts[0][0]["content"]
    assert content.startswith(f"[1] {LAUNCH}\n[2] {MEETING}\n\nQuestion:")
    assert answer.quoted
    assert {c.chunk.doc_id for c in answer.citations} == {"security.txt", "trade.txt"}


def test_hallucinated_reply_is_replaced_by_a_quoted_passage_sentence(
        index: Index, embedder: FakeEmbedder) -> None:
    answer, generator = ask(index, embedder, ["The representative was John Smith in 1999."])
    assert len(generator.prompts) == 1
    assert "John Smith" not in answer.text and "1999" not in answer.text
    assert answer.text == f"“{LAUNCH}” [1]"
    assert answer.quoted and not answer.abstained
    assert answer.rejected == ()  # no passage supports it at all: dropped before the checks
    (citation,) = answer.citations
    assert index.document_text(citation.chunk.doc_id)[citation.start:citation.end] == LAUNCH


@pytest.mark.parametrize("reply", [
    "The Global Security Initiative was launched in May 2023 [1].",  # invented date
    "The Global Security Initiative was launched by Joe Biden [1].",  # invented name
    "The Global Security Initiative was launched in April 1999 [1].",  # invented number
])
def test_a_hallucinating_model_yields_the_extractive_fallback_never_its_sentence(
        index: Index, embedder: FakeEmbedder, reply: str) -> None:
    answer, _ = ask(index, embedder, [reply])
    assert answer.text == f"“{LAUNCH}” [1]"
    assert answer.quoted


def test_a_reply_that_only_restates_the_question_is_replaced_by_the_evidence(
        index: Index, embedder: FakeEmbedder) -> None:
    # Every word is supported, but it says nothing the question did not: not an answer.
    answer, _ = ask(index, embedder, ["The Security Initiative was launched [1]."])
    assert answer.quoted and answer.text == f"“{LAUNCH}” [1]"
    assert answer.rejected == ("The Security Initiative was launched.",)


def test_a_reply_without_the_asked_for_date_is_replaced_when_the_evidence_has_one(
        index: Index, embedder: FakeEmbedder) -> None:
    # "When ...?" and LAUNCH holds "April 2022"; the reply is supported but dateless.
    answer, _ = ask(index, embedder, ["The Global Security Initiative was launched by Xi [1]."])
    assert answer.quoted and answer.text == f"“{LAUNCH}” [1]"


def test_a_sentence_far_in_meaning_from_the_evidence_is_rejected(
        index: Index, embedder: FakeEmbedder) -> None:
    # Supported word for word by passage 1 and adds "xi" and "forum", but the model was shown
    # LAUNCH only: cosine with it is 0, below min_answer_similarity.
    answer, _ = ask(index, embedder, ["Xi presented it at the Boao Forum [1]."])
    assert answer.quoted and "Boao" not in answer.text
    assert answer.rejected == ("Xi presented it at the Boao Forum.",)


def test_marker_out_of_range_is_dropped(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{LAUNCH[:-1]} [9]."])
    assert "[9]" not in answer.text
    assert answer.text == "The Global Security Initiative was launched in April 2022 [1]."
    assert [c.marker for c in answer.citations] == [1]


def test_repeated_sentence_is_shown_once(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{LAUNCH} {LAUNCH} {LAUNCH}"])
    assert answer.text == f"{LAUNCH[:-1]} [1]."


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
    second = "The Global Security Initiative was launched in 2022."
    reply = f"{LAUNCH[:-1]} [1]. Tai met Joe Biden in 1999. {second}"
    pipeline = Pipeline(index, embedder, LoggingGenerator([reply], log), NO_CALIBRATION)
    for event in pipeline.stream(QUESTION):
        log.append(("event", event))

    events = [e for kind, e in log if kind == "event"]
    first = "The Global Security Initiative was launched in April 2022 [1]."
    both = f"{first} The Global Security Initiative was launched in 2022 [1]."
    assert events[:-1] == [first, both]
    assert isinstance(events[-1], Answer) and events[-1].text == both
    # The first sentence appeared as soon as the next one began ("Tai"), long before the
    # reply ended, and the invented sentence in between never reached the screen.
    shown_at = log.index(("event", first))
    assert log[shown_at - 1] == ("piece", " Tai")
    assert ("piece", " 2022.") in log[shown_at:]


def test_unfinished_last_sentence_is_not_shown(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [f"{LAUNCH[:-1]} [1]. Xi presented it at the"])
    assert answer.text == "The Global Security Initiative was launched in April 2022 [1]."


def test_timings(index: Index, embedder: FakeEmbedder) -> None:
    answer, _ = ask(index, embedder, [LAUNCH])
    t = answer.timings
    assert t.ttft_s is not None
    assert 0 <= t.retrieval_s <= t.ttft_s <= t.total_s


def test_a_sentence_that_drops_most_of_the_answer_gives_way_to_the_quote(
        index: Index, embedder: FakeEmbedder) -> None:
    # Supported word for word, but of what the evidence adds to the question ("Global",
    # "April", "2022") it carries only "2022": below min_new_share (0.5).
    answer, _ = ask(index, embedder, ["The Security Initiative was launched in 2022."])
    assert answer.quoted
    assert answer.text == f"“{LAUNCH}” [1]"
    assert answer.rejected == ("The Security Initiative was launched in 2022.",)


def test_each_question_gets_the_next_reply(index: Index, embedder: FakeEmbedder) -> None:
    second = "The Global Security Initiative was launched in 2022."
    generator = FakeGenerator([LAUNCH, second])
    pipeline = Pipeline(index, embedder, generator, NO_CALIBRATION)
    assert pipeline.answer(QUESTION).text == f"{LAUNCH[:-1]} [1]."
    assert pipeline.answer(QUESTION).text == f"{second[:-1]} [1]."
    assert len(generator.prompts) == 2


def test_a_second_question_on_the_same_passages_embeds_only_itself(
        index: Index, embedder: FakeEmbedder) -> None:
    pipeline = Pipeline(index, embedder, FakeGenerator([LAUNCH, LAUNCH]), NO_CALIBRATION)
    first = pipeline.answer(QUESTION)
    before = embedder.embedded
    second = pipeline.answer(QUESTION)
    # The query once; the passages' sentences and the model's (same) reply were kept.
    assert embedder.embedded - before == 1
    assert second.text == first.text and second.citations == first.citations
    uncached = Pipeline(index, embedder, FakeGenerator([LAUNCH]),
                        Settings(calibration=None, sentence_cache=0))
    before = embedder.embedded
    assert uncached.answer(QUESTION).text == first.text
    assert embedder.embedded - before > 1 + 2  # the query, every sentence, the reply


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
    with pytest.raises(ValueError, match="dense_weight"):
        Settings(dense_weight=0)
    with pytest.raises(ValueError, match="sentence_cache"):
        Settings(sentence_cache=-1)


def test_no_sentence_to_stand_on_is_a_refusal_without_calling_the_model(
        index: Index, embedder: FakeEmbedder) -> None:
    # Relevant enough, but no sentence can be selected (the context is empty): the user gets
    # the refusal, not "", and the model is not asked.
    class NoSentences(Pipeline):
        def evidence(self, query: str) -> Evidence:
            found = super().evidence(query)
            return Evidence(found.retrieved, [], found.signals)

    generator = FakeGenerator([])
    answer = NoSentences(index, embedder, generator, NO_CALIBRATION).answer("Who met Wang?")
    assert answer.abstained is True
    assert answer.text == REFUSAL
    assert generator.prompts == []


def _calibration(tmp_path: Path, threshold: float) -> Settings:
    # confidence = sigmoid(4 * cosine - 2): 0.5 at cosine 0.5, 0.88 at cosine 1.0
    path = tmp_path / "calibration.json"
    path.write_text(Calibration({"cosine": 4.0}, -2.0, threshold, "by hand").to_json())
    return Settings(calibration=path)


def test_calibrated_threshold_refuses_a_relevant_but_unsupported_question(
        index: Index, embedder: FakeEmbedder, tmp_path: Path) -> None:
    # "Boao Forum": best passage cosine 0.447 passes min_relevance; the best sentence, FORUM,
    # has cosine 1/sqrt(2) = 0.707 -> confidence sigmoid(0.83) = 0.70.
    refused, generator = ask(index, embedder, [], "Boao Forum", _calibration(tmp_path, 0.75))
    assert refused.abstained and refused.text == REFUSAL and generator.prompts == []
    assert refused.confidence == pytest.approx(0.696, abs=0.01)
    answered, _ = ask(index, embedder, [FORUM], "Boao Forum", _calibration(tmp_path, 0.65))
    assert not answered.abstained


def test_a_follow_up_is_rewritten_with_the_history_before_retrieval(
        index: Index, embedder: FakeEmbedder) -> None:
    # Alone, "And what did he discuss?" has no vocabulary word: it is refused. After a
    # question about Wang Wentao it becomes "What did Wang Wentao discuss?", finds trade.txt.
    history = [("Who is Wang Wentao?", "Katherine Tai met Wang Wentao [1].")]
    answer, generator = ask(index, embedder, ["Katherine Tai met Wang Wentao on 18 November."],
                            "And what did he discuss?", history=history)
    assert answer.query == "What did Wang Wentao discuss?"
    assert answer.question == "And what did he discuss?"
    assert not answer.abstained
    assert answer.retrieved[0].chunk.doc_id == "trade.txt"
    assert "Question: What did Wang Wentao discuss?" in generator.prompts[0][0]["content"]
    alone, _ = ask(index, embedder, [], "And what did he discuss?")
    assert alone.abstained


def test_a_footnote_in_a_quoted_sentence_is_not_a_citation(
        corpus_dir: Path, embedder: FakeEmbedder, tmp_path: Path) -> None:
    # A Wikipedia-style "[2]" (or a planted one) in the quoted evidence must not read as the
    # pipeline's marker [2], which the web chat turns into a link to passage 2.
    from index.store import open_index
    from ingest.build import build_index

    security = corpus_dir / "security.txt"
    security.write_text(security.read_text().replace("April 2022.", "April 2022 [2]."))
    build_index([corpus_dir], tmp_path / "footnoted", embedder)
    index = open_index(tmp_path / "footnoted", embedder.model_id, embedder.dimension)
    try:
        answer, _ = ask(index, embedder, ["The representative was John Smith in 1999."])
    finally:
        index.close()
    assert answer.quoted
    assert answer.text == "“The Global Security Initiative was launched in April 2022 ［2］.” [1]"
    assert re.findall(r"\[(\d+)\]", answer.text) == ["1"]

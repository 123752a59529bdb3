"""qa.pipeline with a reader (tests.fakes.FakeReader): the span decides the evidence, is shown
first as the short answer, and every model sentence shown must hold it.

Same two-document index as test_pipeline.py: for "When was the Security Initiative launched?"
security.txt is passage [1] and trade.txt [2].
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from index.store import Index, open_index
from ingest.build import build_index
from qa.abstain import Calibration
from qa.answer import Answer
from qa.config import Settings
from qa.pipeline import Pipeline, holds_span, short_answer, span_sentences
from reader.model import Span
from tests.fakes import FakeEmbedder, FakeGenerator, FakeReader

QUESTION = "When was the Security Initiative launched?"
LAUNCH = "The Global Security Initiative was launched in April 2022."
NO_CALIBRATION = Settings(calibration=None)


def ask(index: Index, embedder: FakeEmbedder, reader: FakeReader, replies: Sequence[str],
        question: str = QUESTION, settings: Settings = NO_CALIBRATION
        ) -> tuple[Answer, FakeGenerator]:
    generator = FakeGenerator(replies)
    return Pipeline(index, embedder, generator, settings, reader).answer(question), generator


def test_the_span_is_the_short_answer_above_the_checked_sentence(
        index: Index, embedder: FakeEmbedder) -> None:
    answer, generator = ask(index, embedder, FakeReader(["April 2022"]), [f"{LAUNCH[:-1]} [1]."])
    assert answer.short == "April 2022"
    assert answer.text == "April 2022 [1]\n\nThe Global Security Initiative was launched in " \
                          "April 2022 [1]."
    assert generator.prompts[0][0]["content"].startswith(f"[1] {LAUNCH}\n\nQuestion:")
    assert not answer.quoted and not answer.abstained


def test_a_model_sentence_without_the_span_is_not_shown(
        index: Index, embedder: FakeEmbedder) -> None:
    # Supported by passage 1 word for word, but it does not say when: the evidence is quoted.
    answer, _ = ask(index, embedder, FakeReader(["April 2022"]),
                    ["The Global Security Initiative was launched [1]."])
    assert answer.quoted
    assert answer.text == f"April 2022 [1]\n\n“{LAUNCH}” [1]"
    assert answer.rejected == ("The Global Security Initiative was launched.",)


def test_the_evidence_is_the_readers_sentence_not_the_best_scoring_one(
        index: Index, embedder: FakeEmbedder) -> None:
    # Sentence scoring alone would pick LAUNCH (it holds every question term); the reader says
    # the Boao Forum sentence answers "where", so that is what the model reads.
    answer, generator = ask(index, embedder, FakeReader(["Boao Forum"]), ["Nothing."],
                            "Where was the Security Initiative launched?")
    assert "[1] Xi presented it at the Boao Forum." in generator.prompts[0][0]["content"]
    assert answer.text == "Boao Forum [1]\n\n“Xi presented it at the Boao Forum.” [1]"


def test_the_reader_margin_feeds_the_refusal(index: Index, embedder: FakeEmbedder,
                                             tmp_path: Path) -> None:
    path = tmp_path / "calibration.json"
    path.write_text(Calibration({"reader": 1.0}, 0.0, 0.5, "by hand").to_json())
    settings = Settings(calibration=path)
    sure, _ = ask(index, embedder, FakeReader(["April 2022"], margin=3.0), [LAUNCH],
                  settings=settings)
    unsure, generator = ask(index, embedder, FakeReader(["April 2022"], margin=-3.0), [],
                            settings=settings)
    assert not sure.abstained and sure.confidence > 0.9
    assert unsure.abstained and unsure.confidence < 0.1
    assert generator.prompts == []  # refused before the model is called


def goals_index(tmp_path: Path, embedder: FakeEmbedder, text: str) -> Index:
    """An index of one document, goals.txt holding `text`, built with the fake embedder."""
    corpus = tmp_path / "goals"
    corpus.mkdir()
    (corpus / "goals.txt").write_text(text, encoding="utf-8")
    build_index([corpus], tmp_path / "index", embedder)
    return open_index(tmp_path / "index", embedder.model_id, embedder.dimension)


def test_a_list_after_a_lead_in_is_shown_not_the_lead_in(
        tmp_path: Path, embedder: FakeEmbedder) -> None:
    # Sentence scoring alone picks the lead-in (it holds the question's words, the goals do
    # not); the reader's span covers the list, so the list is what the user sees.
    lead = "The Security Initiative has three primary goals:"
    goals = "Stability in Asia.\n- Fewer tariffs.\n- A forum for Xi."
    index = goals_index(tmp_path, embedder, f"{lead}\n- {goals}\n")
    question = "What are the goals of the Security Initiative?"
    try:
        answer, _ = ask(index, embedder, FakeReader([goals]), ["It has goals."], question)
        generator = FakeGenerator(["It has goals."])
        without = Pipeline(index, embedder, generator, NO_CALIBRATION).answer(question)
    finally:
        index.close()
    assert without.text == f"“{lead}” [1]"  # the old behaviour: the lead-in alone
    assert answer.short == " ".join(goals.split())
    for goal in ("Stability in Asia", "Fewer tariffs", "A forum for Xi"):
        assert goal in answer.text


def test_span_sentences_widen_to_every_sentence_the_span_touches() -> None:
    from common.records import Chunk

    text = "It has two goals: peace. And trade. Then more."
    chunk = Chunk("d.txt", "c1", text, 100, 100 + len(text), "d")
    start = text.index("peace")
    sentence, lead_in = span_sentences(Span(0, start, text.index("trade") + 5, "", 1.0, 0.0),
                                       chunk, 3)
    assert sentence.passage == 3 and not lead_in
    assert "peace" in sentence.text and "trade" in sentence.text and "Then" not in sentence.text
    assert sentence.start == 100 + text.index(sentence.text)


def test_a_span_in_a_lead_in_brings_the_list_that_follows(
        tmp_path: Path, embedder: FakeEmbedder) -> None:
    # The real reader marks "three primary goals" for "What are the goals ...?": the evidence
    # must run on through the numbered list, and the lead-in words are no short answer.
    lead = "The Security Initiative has three primary goals:"
    items = "1) stability in Asia. 2) fewer tariffs. 3) a forum for Xi."
    index = goals_index(tmp_path, embedder, f"{lead} {items}\n\nTai met Wang later.\n")
    try:
        answer, generator = ask(index, embedder, FakeReader(["three primary goals"]),
                                ["It has three primary goals [1]."],
                                "What are the goals of the Security Initiative?")
    finally:
        index.close()
    for item in ("stability in Asia", "fewer tariffs", "a forum for Xi"):
        assert item in generator.prompts[0][0]["content"]
        assert item in answer.text  # the bare lead-in reply fails, the list is quoted
    assert "Tai met Wang" not in answer.text  # the list stops at the paragraph's end
    assert answer.short == "" and answer.quoted


def test_holds_span_and_short_answer() -> None:
    assert holds_span("It was launched in April 2022 [1].", "april 2022")
    assert not holds_span("It was launched in 2022 in April.", "April 2022")
    assert not holds_span("Anything.", "")
    assert short_answer(None, []) == ""


def test_the_readers_passage_gives_the_passage_signals(
        index: Index, embedder: FakeEmbedder) -> None:
    # The reader's passage is security.txt; "Qiang" is in no document, so it is the rarest
    # question term that passage lacks, and the passage covers only part of the question.
    pipeline = Pipeline(index, embedder, FakeGenerator([]), NO_CALIBRATION,
                        FakeReader(["April 2022"]))
    found = pipeline.evidence("When was the Security Initiative launched with Qiang?")
    assert found.span is not None and found.span.text == "April 2022"
    assert 0 < found.signals["passage_coverage"] < 1
    assert found.signals["rarest_missing"] == pipeline.idf()("qiang") > 0
    complete = pipeline.evidence("When was the Security Initiative launched?")
    assert complete.signals["passage_coverage"] == 1.0
    assert complete.signals["rarest_missing"] == 0.0

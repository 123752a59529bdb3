"""qa.cite: markers checked, missing ones attached, invented names and numbers dropped.

Passage 1 is TRADE ("Katherine Tai met Wang Wentao in San Francisco on 18 November. The talks
covered tariffs and export controls."), passage 2 is SECURITY ("The Global Security Initiative
was launched in April 2022. Xi presented it at the Boao Forum.").
"""

from __future__ import annotations

import pytest

from common.records import Chunk
from qa.cite import (
    CitedSentence,
    cite_answer,
    cite_sentence,
    contradicts,
    inert_markers,
    parse_markers,
    render,
    support,
    supporting_span,
    unsupported_terms,
)
from tests.fakes import SECURITY, TRADE

PASSAGES = [TRADE, SECURITY]


@pytest.mark.parametrize(("sentence", "n", "expected"), [
    ("Tai met Wang [2][9].", 3, ("Tai met Wang.", (2,))),  # docstring
    ("Tai met Wang [0][7].", 3, ("Tai met Wang.", ())),  # 0 and 7 point nowhere
    ("A [3] b [1] c [3].", 3, ("A b c.", (3, 1))),  # order kept, repeats dropped
    ("[2] Tai met.", 3, ("Tai met.", (2,))),
    ("No markers here.", 3, ("No markers here.", ())),
    ("Tai met Wang [1].", 0, ("Tai met Wang.", ())),
])
def test_parse_markers(sentence: str, n: int, expected: tuple[str, tuple[int, ...]]) -> None:
    assert parse_markers(sentence, n) == expected


def test_support_and_unsupported_terms_docstrings() -> None:
    # content words tai, met, wang; the passage has tai and met
    assert support("Tai met Wang", "Katherine Tai met her counterpart") == pytest.approx(2 / 3)
    assert support("It was.", "anything") == 1.0  # nothing to support
    assert unsupported_terms("Tai met Wang Yi in 2023.", "Tai met Wang in 2022") == ["Yi", "2023"]
    # the first word is capitalized by grammar, not because it is a name
    assert unsupported_terms("Yesterday Tai met.", "Tai met") == []
    assert unsupported_terms("Wang's team met Tai.", "Wang met Tai") == []


def test_sentence_without_marker_gets_the_best_passage() -> None:
    assert cite_sentence("Xi presented it at the Boao Forum.", PASSAGES, 0.5) == CitedSentence(
        "Xi presented it at the Boao Forum.", (2,))
    assert cite_sentence("The talks covered tariffs.", PASSAGES, 0.5) == CitedSentence(
        "The talks covered tariffs.", (1,))


def test_min_support_threshold() -> None:
    # content words tai, enjoyed, dumplings, noodles: passage 1 has 1 of 4 = 0.25
    sentence = "Tai enjoyed dumplings and noodles."
    assert cite_sentence(sentence, PASSAGES, 0.5) is None
    assert cite_sentence(sentence, PASSAGES, 0.25) == CitedSentence(sentence, (1,))


@pytest.mark.parametrize("sentence", [
    "Tai met Wang Yi in San Francisco.",  # 5 of 6 content words overlap, but "Yi" is invented
    "Tai met Wang Yi in San Francisco [1].",  # a marker does not excuse it
    "The talks covered tariffs in 1999.",  # 3 of 4 overlap, the year is invented
    "The Initiative was launched in April 2023 [2].",
])
def test_invented_name_or_number_drops_the_sentence(sentence: str) -> None:
    assert cite_sentence(sentence, PASSAGES, 0.5) is None


def test_marker_at_an_unsupporting_passage_is_moved_to_the_supporting_one() -> None:
    assert cite_sentence("Xi presented it at the Boao Forum [1].", PASSAGES, 0.5) == (
        CitedSentence("Xi presented it at the Boao Forum.", (2,)))


def test_of_equally_supporting_passages_the_models_marker_wins() -> None:
    assert cite_sentence("The talks covered tariffs [2].", [TRADE, TRADE], 0.5) == (
        CitedSentence("The talks covered tariffs.", (2,)))
    assert cite_sentence("The talks covered tariffs.", [TRADE, TRADE], 0.5) == (
        CitedSentence("The talks covered tariffs.", (1,)))


def test_a_faithful_paraphrase_is_accepted() -> None:
    # other words, same facts: every name and number is in the passage
    assert cite_sentence("On 18 November, Tai held talks with Wang Wentao.", [TRADE], 0.5) == (
        CitedSentence("On 18 November, Tai held talks with Wang Wentao.", (1,)))


@pytest.mark.parametrize("sentence", [
    "Tai met Wang Wentao on 19 November.",  # a date the passage does not have
    "Tai met Wang Wentao and 40 officials.",  # a number
    "Tai met Wang Wentao and Janet Yellen.",  # a name
])
def test_a_date_number_or_name_absent_from_the_passage_is_rejected(sentence: str) -> None:
    assert cite_sentence(sentence, [TRADE], 0.5) is None


@pytest.mark.parametrize("sentence", ["[1]", "It is [1].", "And then it was."])
def test_sentence_without_content_words_is_dropped(sentence: str) -> None:
    assert cite_sentence(sentence, PASSAGES, 0.5) is None


def test_no_passages_no_citation() -> None:
    assert cite_sentence("The talks covered tariffs.", [], 0.5) is None


def test_cite_answer_moves_a_marker_after_the_full_stop_back() -> None:
    # Both passages support both sentences, so without a marker each would get [1]. The [2]
    # written after the first full stop belongs to the first sentence, not the second.
    answer = "Tai met Wang Wentao. [2] The talks covered tariffs."
    assert cite_answer(answer, [TRADE, TRADE], 0.5) == [
        CitedSentence("Tai met Wang Wentao.", (2,)),
        CitedSentence("The talks covered tariffs.", (1,)),
    ]


def test_cite_answer_drops_only_the_unsupported_sentence() -> None:
    answer = "Tai met Wang Wentao [1]. Later Tai met Joe Biden [1]. Xi presented it."
    assert cite_answer(answer, PASSAGES, 0.5) == [
        CitedSentence("Tai met Wang Wentao.", (1,)),
        CitedSentence("Xi presented it.", (2,)),
    ]


def test_cite_answer_of_nothing() -> None:
    assert cite_answer("", PASSAGES, 0.5) == []
    assert cite_answer("  [1] ", PASSAGES, 0.5) == []


@pytest.mark.parametrize(("sentences", "expected"), [
    ([CitedSentence("Tai met Wang.", (2,))], "Tai met Wang [2]."),  # docstring
    ([CitedSentence("Tai met Wang.", (2,)), CitedSentence("Really?!", (1, 3))],
     "Tai met Wang [2]. Really [1][3]?!"),
    ([CitedSentence("Tai met Wang", (1,))], "Tai met Wang [1]"),
    ([], ""),
])
def test_render_puts_markers_before_final_punctuation(sentences: list[CitedSentence],
                                                      expected: str) -> None:
    assert render(sentences) == expected


def test_render_then_parse_round_trips() -> None:
    shown = render([CitedSentence("Tai met Wang.", (2,))])
    assert parse_markers(shown, 2) == ("Tai met Wang.", (2,))


def test_supporting_span_is_in_document_offsets() -> None:
    document = "x" * 100 + "Tai met Wang. The talks covered tariffs."
    chunk = Chunk("d.txt", "d.txt#0", document[100:], 100, len(document), "d")
    # "The talks covered tariffs." is chunk characters 14..40
    start, end = supporting_span("Tariffs were covered in the talks.", chunk)
    assert (start, end) == (114, 140)
    assert document[start:end] == "The talks covered tariffs."
    # nothing in common: the first sentence, never an error
    assert supporting_span("Bananas.", chunk) == (100, 113)


# The chat once showed "the Chinese often set unachievable expectations" cited to a passage
# saying they "never, ever dictate" terms: every content word was there, the meaning flipped.
NEVER = ("Chinese officials insist that they never, ever dictate terms or set unachievable "
         "expectations when they invest abroad.")


@pytest.mark.parametrize("sentence", [
    "Chinese officials often set unachievable expectations when they invest abroad.",  # antonym
    "Chinese officials dictate terms when they invest abroad.",  # negation dropped
    "Katherine Tai did not meet Wang Wentao in San Francisco.",  # negation added
    "The talks covered fewer tariffs and export controls.",  # "more" is not there, but...
])
def test_a_sentence_that_says_the_opposite_of_its_passage_is_not_cited(sentence: str) -> None:
    passages = [NEVER, TRADE]
    if "fewer" in sentence:  # ... an antonym needs its opposite in the passage to count
        assert cite_sentence(sentence, passages, 0.5) is not None
        assert cite_sentence(sentence, [TRADE.replace("covered", "covered more")], 0.5) is None
        return
    assert cite_sentence(sentence, passages, 0.5) is None


def test_contradicts_keeps_faithful_paraphrases() -> None:
    assert contradicts("The Chinese often set expectations.",
                       "The Chinese never, ever dictate expectations.")
    assert not contradicts("Tai met Wang.", "Katherine Tai met Wang Wentao.")
    assert not contradicts("Chinese officials never dictate terms.", NEVER)
    assert not contradicts("They don't dictate terms.", "They do not dictate terms.")
    assert cite_sentence("Chinese officials never dictate terms abroad.", [NEVER], 0.5) == (
        CitedSentence("Chinese officials never dictate terms abroad.", (1,)))


def test_inert_markers_turns_a_documents_bracketed_numbers_into_fullwidth_ones() -> None:
    assert inert_markers("Rope was made [3].") == "Rope was made ［3］."
    assert inert_markers("See [12][x] and [a].") == "See ［12］[x] and [a]."
    assert parse_markers(inert_markers("Made [1] here."), 3) == ("Made ［1］ here.", ())

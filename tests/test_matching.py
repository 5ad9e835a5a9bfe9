"""The lexical matcher on an invented library domain: tokens, typos, scores, margins, context."""

from __future__ import annotations

import pytest

from smart_support.models import matching
from smart_support.models.matching import (
    CONFIDENT_MARGIN,
    CONFIDENT_SCORE,
    MIN_SCORE,
    Match,
    Matcher,
    split_identifier,
    stem,
    tokenize,
)

LIBRARY = {
    "loans": [
        "Borrowing books: renew a loan, check due dates, see what you have borrowed.",
        "Can I renew my book?",
        "When is my loan due?",
        "Extend the due date of the novel I borrowed",
    ],
    "events": [
        "Readings, workshops and children's events at the library.",
        "Are there any workshops this month?",
        "When is the next author reading?",
    ],
    "membership": [
        "Library cards: joining, replacing a lost card, changing your PIN.",
        "I lost my library card",
        "How do I become a member?",
    ],
}


@pytest.fixture(scope="module")
def library() -> Matcher:
    return Matcher(LIBRARY)


def test_snake_and_camel_case_names_are_split_into_words() -> None:
    assert split_identifier("renew_book_loan") == "renew book loan"
    assert split_identifier("getOrderStatus") == "get Order Status"
    assert tokenize("transfer_to_escalation") == ["transfer", stem("escalation")]


def test_inflections_of_a_word_share_one_stem() -> None:
    assert stem("cancelled") == stem("cancellation") == stem("cancel") == stem("cancels")
    assert stem("shipping") == stem("shipped") == stem("ship")
    assert stem("policies") == stem("policy")
    assert stem("deliveries") == stem("delivery") == stem("delivered")


def test_stop_words_and_bare_numbers_are_not_tokens() -> None:
    assert tokenize("What is the status of my order 1042?") == ["status", "order"]


def test_general_synonyms_meet_on_one_token() -> None:
    assert tokenize("parcel") == tokenize("package")
    assert tokenize("talk to a person") == tokenize("speak to a human")


def test_a_clear_request_matches_its_key_with_a_margin(library: Matcher) -> None:
    match = library.best("please renew the book I borrowed")
    assert match is not None
    assert match.key == "loans"
    assert match.margin > 0
    assert match.confident


def test_a_misspelt_request_still_matches_the_right_key(library: Matcher) -> None:
    match = library.best("i lsot my libary crad")
    assert match is not None and match.key == "membership"


def test_one_changed_letter_in_a_short_word_is_not_taken_for_another_word() -> None:
    matcher = Matcher({"sizes": ["What size should I pick?"], "other": ["Anything else"]})
    assert matcher.best("is your site down") is None
    swapped = matcher.best("which szie fits me")
    assert swapped is not None and swapped.key == "sizes"


def test_scores_cover_every_key_and_stay_between_zero_and_one(library: Matcher) -> None:
    scores = library.scores("when is the reading workshop for children")
    assert set(scores) == set(LIBRARY)
    assert all(0.0 <= s <= 1.0 for s in scores.values())
    assert max(scores, key=lambda k: scores[k]) == "events"


def test_a_message_about_nothing_known_matches_no_key(library: Matcher) -> None:
    assert library.best("what's the weather in Rome") is None
    assert all(s < MIN_SCORE for s in library.scores("tell me a joke").values())


def test_the_margin_is_the_lead_over_the_runner_up(library: Matcher) -> None:
    scores = library.scores("renew my card")
    match = library.best("renew my card")
    assert match is not None
    ranked = sorted(scores.values(), reverse=True)
    assert match.score == pytest.approx(ranked[0], abs=1e-3)
    assert match.margin == pytest.approx(ranked[0] - ranked[1], abs=1e-3)


def test_context_lifts_a_follow_up_but_not_an_unrelated_message(library: Matcher) -> None:
    context = ["Can I renew the novel I borrowed?"]
    assert library.best("and the other one?") is None
    follow_up = library.best("and the other one?", context)
    assert follow_up is not None and follow_up.key == "loans"
    assert library.best("tell me a joke", context) is None


def test_context_never_beats_what_the_message_itself_says(library: Matcher) -> None:
    match = library.best("I lost my card", ["Can I renew the novel I borrowed?"])
    assert match is not None and match.key == "membership"


def test_confidence_needs_both_a_high_score_and_a_clear_margin() -> None:
    assert Match("a", CONFIDENT_SCORE, CONFIDENT_MARGIN).confident
    assert not Match("a", CONFIDENT_SCORE - 0.01, 0.5).confident
    assert not Match("a", 0.9, CONFIDENT_MARGIN - 0.01).confident


def test_two_matchers_built_from_the_same_texts_score_identically() -> None:
    first, second = Matcher(LIBRARY), Matcher(dict(reversed(list(LIBRARY.items()))))
    text = "when is my lone due, I borowed a book"
    assert first.scores(text) == second.scores(text)


def test_an_empty_matcher_matches_nothing() -> None:
    assert Matcher({}).best("anything at all") is None


# -- style: what a message's function words and numbers say ---------------------------------------

HOTEL_DESK = {
    "bookings": [
        "One booking of the guest, by booking reference: dates, room, payment.",
        "Is booking 88120 confirmed?",
        "Move my booking 77311 to next week",
        "What room did I get in reservation 50921?",
    ],
    "policies": [
        "General questions about the hotel's rules: check-in times, pets, parking, breakfast.",
        "Do you allow pets?",
        "Can I check in early?",
        "Is breakfast included?",
    ],
}


def _lead(matcher: Matcher, text: str) -> float:
    scores = matcher.scores(text)
    return scores["bookings"] - scores["policies"]


def test_style_moves_a_general_question_towards_the_key_whose_texts_are_general() -> None:
    text = "can I change the room of a booking?"
    assert _lead(Matcher(HOTEL_DESK, style_weight=0.3), text) < _lead(Matcher(HOTEL_DESK), text)


def test_style_moves_a_question_about_one_numbered_record_towards_its_key() -> None:
    text = "is breakfast included in booking 40411?"
    assert _lead(Matcher(HOTEL_DESK, style_weight=0.3), text) > _lead(Matcher(HOTEL_DESK), text)


def test_style_never_lifts_a_message_the_matcher_knows_nothing_of() -> None:
    assert Matcher(HOTEL_DESK, style_weight=0.3).best("do you qwzx?") is None


def test_one_more_letter_at_the_end_of_a_short_word_is_another_word_too() -> None:
    matcher = Matcher({"delays": ["My parcel is late"], "other": ["Anything else"]})
    assert matcher.best("see you later") is None
    assert matcher.best("my parcel is lte") is not None  # a missing letter is still a typo


def test_more_general_synonyms_of_customer_service_meet_on_one_token() -> None:
    assert tokenize("supervisor") == tokenize("manager")
    assert tokenize("my attorney") == tokenize("my lawyer")
    assert tokenize("courier") == tokenize("carrier")
    assert tokenize("I want my money back") == tokenize("I want a refund")
    assert tokenize("it started to smoke") == tokenize("it started to burn")


def test_a_message_of_only_unknown_words_is_strange_and_one_of_stop_words_is_not(
    library: Matcher,
) -> None:
    assert library.strange("tell me a joke")
    assert not library.strange("renw my book")  # a typo of a known word is known
    assert not library.strange("yes, it's 6021")  # no content words at all


def test_a_number_in_the_message_lifts_the_key_whose_texts_carry_numbers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    docs = {
        "records": ["Invoice 1042 is wrong", "Resend invoice 2231", "About invoice 7781"],
        "policy": ["How are invoices and payments handled, and what are the payment terms?"],
    }
    matcher = Matcher(docs, style_weight=0.3)
    assert matcher.best("a question about invoice payment").key == "policy"  # type: ignore[union-attr]
    assert matcher.best("a question about invoice payment 5512").key == "records"  # type: ignore[union-attr]
    monkeypatch.setattr(matching, "SHAPE_WEIGHT", 0.0)  # the function words alone do not do it
    assert matcher.best("a question about invoice payment 5512").key == "policy"  # type: ignore[union-attr]

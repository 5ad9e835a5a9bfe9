"""The offline model answers the question asked: status, where, when, money, FAQ passages,
out-of-scope requests; on a shop record like the demo's and on an invented hotel one."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from smart_support.demo.knowledge import search_help_center
from smart_support.models.offline import OfflineChatModel

ORDER = {
    "ok": True,
    "order_id": 1042,
    "status": "processing",
    "placed_at": "2026-11-15T11:58:00Z",
    "items": [
        {
            "product": "Stretch Chino Trousers",
            "variant": "waist 30",
            "quantity": 1,
            "line_total": 59.0,
        },
        {"product": "Cast Iron Skillet", "variant": "size 20cm", "quantity": 2, "line_total": 90.0},
    ],
    "shipping_cost": 0.0,
    "total": 181.0,
    "currency": "USD",
    "payment_method": "Mastercard ending 2874",
    "shipping_address": {"street": "200 Mill Lane", "city": "Denver", "country": "US"},
    "customer_email": "maya.chen@example.com",
}
SHIPPED = {
    **ORDER,
    "order_id": 1050,
    "status": "shipped",
    "carrier": "UPS",
    "tracking_number": "1Z4F2A9E0312345678",
    "shipped_on": "2026-11-14",
    "estimated_delivery": "2026-11-18",
}
DELIVERED = {**SHIPPED, "order_id": 1110, "status": "delivered", "delivered_on": "2026-10-31"}


@tool
def get_order_status(order_id: int) -> dict:
    """Look up an order's status and details: items, total, payment, shipping address and dates."""
    return {}


@tool
def cancel_order(order_id: int) -> dict:
    """Cancel an order that has not shipped yet."""
    return {}


def answer(question: str, tool_name: str, result: Any, *earlier: BaseMessage) -> str:
    """The model's reply to `question` once `tool_name` returned `result`."""
    messages: list[BaseMessage] = [SystemMessage("You are a support agent."), *earlier]
    messages += [
        HumanMessage(question),
        AIMessage("", tool_calls=[{"name": tool_name, "args": {}, "id": "call_1"}]),
        ToolMessage(json.dumps(result), tool_call_id="call_1", name=tool_name),
    ]
    reply = OfflineChatModel().bind_tools([get_order_status, cancel_order]).invoke(messages)
    assert isinstance(reply, AIMessage) and not reply.tool_calls
    return reply.text


def lines(text: str) -> int:
    return len(text.splitlines())


# -- records: the question asked, not a dump ----------------------------------------------------


def test_the_status_question_gets_the_status_and_the_next_step_only() -> None:
    text = answer("What's the status of order 1042?", "get_order_status", ORDER)
    assert text == "Order 1042 is processing. It has not shipped yet."


def test_a_shipped_order_s_status_says_when_it_should_arrive() -> None:
    text = answer("what's the status of order 1050?", "get_order_status", SHIPPED)
    assert text == "Order 1050 is shipped. The estimated delivery date is November 18, 2026."


def test_when_gets_the_date_and_nothing_else() -> None:
    text = answer("and when will it arrive?", "get_order_status", SHIPPED)
    assert text == "The estimated delivery date is November 18, 2026."


def test_when_for_a_delivered_order_gets_the_day_it_was_delivered() -> None:
    text = answer("When will order 1110 be delivered?", "get_order_status", DELIVERED)
    assert text == "Order 1110 was delivered on October 31, 2026."


def test_when_for_an_order_not_shipped_says_there_is_no_date_yet() -> None:
    text = answer("when will it arrive?", "get_order_status", ORDER)
    assert text == "Order 1042 is processing. There is no delivery date yet."


def test_where_gets_carrier_tracking_and_the_expected_date() -> None:
    text = answer("where is my order 1050?", "get_order_status", SHIPPED)
    assert "UPS" in text and "1Z4F2A9E0312345678" in text and "November 18, 2026" in text
    assert "Skillet" not in text and "Mastercard" not in text and "$" not in text


def test_money_is_written_with_its_currency() -> None:
    assert answer("how much was order 1042?", "get_order_status", ORDER) == (
        "The total of order 1042 is $181.00."
    )
    assert answer("what was the shipping cost?", "get_order_status", ORDER) == (
        "The shipping cost of order 1042 is $0.00."
    )
    euros = {**ORDER, "currency": "EUR"}
    assert "€181.00" in answer("what's the total?", "get_order_status", euros)


def test_a_field_named_in_the_question_is_answered_alone() -> None:
    text = answer("what's the tracking number of 1050?", "get_order_status", SHIPPED)
    assert text == "The tracking number of order 1050 is 1Z4F2A9E0312345678."


def test_the_items_are_listed_when_asked_for_with_quantities_and_prices() -> None:
    text = answer("what items are in order 1042?", "get_order_status", ORDER)
    assert text == (
        "Items:\n"
        "- 1 × Stretch Chino Trousers (waist 30): $59.00\n"
        "- 2 × Cast Iron Skillet (size 20cm): $90.00"
    )


def test_everything_is_shown_only_when_asked_for_the_details() -> None:
    short = answer("What's the status of order 1042?", "get_order_status", ORDER)
    full = answer("show me all the details of order 1042", "get_order_status", ORDER)
    assert lines(short) == 1 and lines(full) > 8
    assert "- Placed at: November 15, 2026" in full and "T11:58" not in full
    assert "maya.chen@example.com" not in short


def test_a_write_result_reads_as_a_sentence_with_money_and_a_capital() -> None:
    result = {
        "ok": True,
        "order_id": 1042,
        "status": "cancelled",
        "message": "order 1042 is cancelled; 181.00 USD will be refunded within 5 business days",
    }
    text = answer("Cancel order 1042", "cancel_order", result)
    assert text == "Order 1042 is cancelled; $181.00 will be refunded within 5 business days."


def test_a_cancelled_order_s_status_tells_when_and_how_much_was_refunded() -> None:
    result = {
        **ORDER,
        "status": "cancelled",
        "cancellation": {"cancelled_on": "2026-11-16", "refund_amount": 181.0},
    }
    text = answer("what's the status of order 1042?", "get_order_status", result)
    assert text == (
        "Order 1042 is cancelled. It was cancelled on November 16, 2026. "
        "The refund amount is $181.00."
    )


def test_an_invented_hotel_booking_is_answered_from_its_own_field_names() -> None:
    booking = {
        "booking_reference": "AB1234",
        "state": "confirmed",
        "check_in_date": "2026-12-20",
        "nights": 3,
        "price_total": 540.0,
        "currency": "GBP",
    }
    assert answer("is booking AB1234 confirmed?", "get_booking", booking) == (
        "Booking AB1234 is confirmed."
    )
    assert answer("when is my check-in?", "get_booking", booking) == (
        "The check in date is December 20, 2026."
    )
    assert answer("how much will it cost?", "get_booking", booking) == (
        "The price total of booking AB1234 is £540.00."
    )


# -- FAQ passages ---------------------------------------------------------------------------------


async def faq(question: str) -> str:
    result = await search_help_center(question)
    return answer(question, "search_help_center", result)


async def test_a_yes_no_policy_question_gets_the_direct_answer_first() -> None:
    text = await faq("can I cancel after it shipped?")
    assert text.startswith("No. An order that has already shipped cannot be cancelled")


async def test_a_yes_question_gets_yes_and_the_sentence_that_says_so() -> None:
    text = await faq("Do you ship to Canada?")
    assert text.startswith("Yes. We ship to the United States, Canada")


async def test_a_yes_no_question_the_passage_does_not_settle_gets_no_yes_or_no() -> None:
    text = await faq("Do you ship to Australia?")
    assert not text.startswith(("Yes", "No"))


async def test_a_how_to_question_gets_the_steps_as_whole_sentences() -> None:
    text = await faq("how do I return an item?")
    steps = re.findall(r"^\d\. .+$", text, re.M)
    assert len(steps) == 3
    assert all(step.endswith(".") for step in steps)
    assert "drop it off at the carrier within 14 days of starting the return." in text


@pytest.mark.parametrize(
    "question",
    ["how long do refunds take?", "do gift cards expire?", "which payment methods do you take?"],
)
async def test_faq_answers_are_clean_sentences_without_file_names(question: str) -> None:
    text = await faq(question)
    assert ".md" not in text and "source" not in text and "**" not in text
    assert text[0].isupper() and text.rstrip()[-1] in ".!?"
    assert "\n" not in text  # no file chunk broken at its line ends


async def test_a_search_that_shares_only_a_word_with_the_question_is_not_quoted() -> None:
    assert await faq("what's 17 times 23") == "I could not find an answer to that."


# -- out of scope ---------------------------------------------------------------------------------


TEAM = {
    "orders": "A booking of the guest, by reference: dates, room changes, cancellations.",
    "policies": "Questions about the hotel: check-in times, pets, parking and breakfast.",
    "people": "The guest asks for a person, a manager, or is upset.",
    "front_desk": "Greetings, small talk and anything the other agents do not cover.",
}


def _routing_tools() -> list[dict[str, Any]]:
    return [
        {
            "type": "function",
            "function": {
                "name": f"transfer_to_{name}",
                "description": description,
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for name, description in TEAM.items()
    ]


def test_an_out_of_scope_request_lists_every_skill_of_the_assistant() -> None:
    model = OfflineChatModel()
    model.bind_tools(_routing_tools()).invoke([HumanMessage("write me a poem")])  # routing
    reply = model.invoke(
        [SystemMessage("You are the front desk."), HumanMessage("write me a poem")]
    )
    text = reply.text
    assert text.startswith("Sorry, that's not something I can help with.")
    assert "Dates, room changes, cancellations" in text
    assert "Check-in times, pets, parking and breakfast" in text
    assert "Connecting you with a person from our team" in text
    assert "small talk" not in text and "Greetings" not in text


def test_without_a_team_an_out_of_scope_request_lists_the_agent_s_own_tools() -> None:
    reply = (
        OfflineChatModel()
        .bind_tools([get_order_status, cancel_order])
        .invoke([HumanMessage("write me a poem")])
    )
    assert "look up an order's status" in reply.text and "cancel an order" in reply.text


# -- lists and searches ---------------------------------------------------------------------------


PRODUCTS = {
    "ok": True,
    "query": "rain jacket size M",
    "total": 2,
    "products": [
        {
            "id": "P001",
            "name": "Trailblazer Rain Jacket",
            "currency": "USD",
            "variants": [
                {"sku": "P001-01", "name": "size S", "price": 129.0, "in_stock": 3},
                {"sku": "P001-02", "name": "size M", "price": 129.0, "in_stock": 0},
            ],
        },
        {"id": "P002", "name": "Summit Down Parka", "currency": "USD", "variants": []},
    ],
}


def test_a_search_answers_with_the_closest_result_and_the_variant_asked_for() -> None:
    text = answer("Do you have the rain jacket in size M?", "search_products", PRODUCTS)
    assert text == (
        "Here's what I found:\n- Trailblazer Rain Jacket\n  - size M (in stock: 0): $129.00"
    )


def test_what_the_customer_told_us_is_not_repeated_back() -> None:
    account = {
        "customer_id": 7,
        "email": "jo@example.com",
        "recent_orders": [{"id": 1001, "status": "pending", "total": 41.5, "currency": "EUR"}],
    }
    text = answer("my email is jo@example.com, which orders do I have?", "find_customer", account)
    assert "jo@example.com" not in text
    assert "- Order 1001 (pending): €41.50" in text


def test_a_refusal_reads_as_a_sentence_with_dates_as_people_write_them() -> None:
    refusal = {
        "ok": False,
        "error": "order 1043 was delivered on 2026-08-19, more than 30 days ago",
    }
    assert answer("return order 1043", "start_return", refusal) == (
        "Sorry, that did not work: Order 1043 was delivered on August 19, 2026, "
        "more than 30 days ago."
    )


@pytest.mark.parametrize(
    "result",
    [
        {"results": [{"title": "A", "text": "One."}, 3, ["x"]]},
        {"items": [{"name": "x", "variants": [{"name": "M"}, 2]}, "loose"], "query": "q"},
        {"": "2026-11-15", "status": 3, "delivered_on": "2026-13-45"},
        {"latest_event": [{}, [None, "EUR"]], "order_id": None},
        [{"content": ""}, {"content": "**Bold**\n1. a\n2. b"}],
    ],
)
def test_odd_results_get_a_reply_rather_than_an_exception(result: Any) -> None:
    for question in ("when will it arrive?", "where is it?", "how do I do it?", "details"):
        assert isinstance(answer(question, "get_thing", result), str)

"""The offline model's arguments: from the message that asked, addresses, actions on request."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.tools import tool

from smart_support.models._address import parse_address
from smart_support.models.offline import OfflineChatModel


@tool
def get_order_status(order_id: int) -> dict:
    """Look up an order's status and details: items, total, payment, shipping address and dates."""
    return {}


@tool
def track_order(order_id: int) -> dict:
    """Track the shipment of an order: carrier, tracking number, latest scan, estimated delivery."""
    return {}


@tool
def cancel_order(order_id: int, reason: str | None = None) -> dict:
    """Cancel an order that has not shipped yet and refund it to the original payment method."""
    return {}


@tool
def change_shipping_address(
    order_id: int, street: str, city: str, postal_code: str, country: str
) -> dict:
    """Change the delivery address (street, city, postal code, country) of an unshipped order."""
    return {}


@tool
def start_return(order_id: int, reason: str) -> dict:
    """Start a return for a delivered order (within 30 days of delivery) and get a label."""
    return {}


@tool
def hand_off_to_human(reason: str) -> dict:
    """Hand the conversation over to a person on the support team."""
    return {}


SHOP = [get_order_status, track_order, cancel_order, change_shipping_address, start_return]


@tool
def check_availability(hotel: str, nights: int) -> dict:
    """Check which rooms are free at a hotel."""
    return {}


@tool
def cancel_booking(booking_reference: str, reason: str | None = None) -> dict:
    """Cancel an existing hotel booking."""
    return {}


@tool
def change_guest_address(booking_reference: str, street: str, city: str, zip_code: str) -> dict:
    """Change the billing address of a booking."""
    return {}


HOTEL = [check_availability, cancel_booking, change_guest_address]


def ask(tools: list[Any], *messages: BaseMessage | str) -> AIMessage:
    msgs = [SystemMessage("You are a support agent.")]
    msgs += [HumanMessage(m) if isinstance(m, str) else m for m in messages]
    reply = OfflineChatModel().bind_tools(tools).invoke(msgs)
    assert isinstance(reply, AIMessage)
    return reply


def call(name: str, **args: Any) -> AIMessage:
    return AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call_{name}"}])


# -- arguments come from the message that asked ---------------------------------------------


def test_a_reason_given_in_an_earlier_hand_off_is_not_reused_for_a_cancellation() -> None:
    reply = ask(
        SHOP,
        "I want to talk to a human",
        call("hand_off_to_human", reason="I want to talk to a human"),
        AIMessage("I've passed this conversation to our support team."),
        "Cancel order 1017",
    )
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("cancel_order", {"order_id": 1017})
    ]


def test_a_required_reason_is_what_the_request_says_besides_the_action() -> None:
    reply = ask(SHOP, "I want to return order 1060, the jacket is too small")
    assert reply.tool_calls[0]["args"] == {"order_id": 1060, "reason": "the jacket is too small"}


def test_a_request_without_a_reason_gets_asked_for_it_and_the_answer_fills_it() -> None:
    first = ask(SHOP, "I want to return order 1060")
    assert first.tool_calls == [] and "reason" in first.text
    second = ask(SHOP, "I want to return order 1060", AIMessage(first.text), "it's too small")
    assert [(c["name"], c["args"]) for c in second.tool_calls] == [
        ("start_return", {"order_id": 1060, "reason": "it's too small"})
    ]


def test_the_answer_to_a_question_for_a_number_continues_the_request() -> None:
    first = ask(SHOP, "please cancel my order")
    assert first.tool_calls == []
    second = ask(SHOP, "please cancel my order", AIMessage(first.text), "it's 7281")
    assert [(c["name"], c["args"]) for c in second.tool_calls] == [
        ("cancel_order", {"order_id": 7281})
    ]


# -- an action only when the customer asked for it ----------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "When will order 1110 be delivered?",
        "was order 1110 delivered?",
        "has order 1110 shipped yet?",
    ],
)
def test_a_read_question_never_becomes_an_action(text: str) -> None:
    reply = ask(SHOP, text)
    assert [c["name"] for c in reply.tool_calls] in (["get_order_status"], ["track_order"])


def test_an_earlier_cancellation_does_not_carry_over_to_a_question() -> None:
    reply = ask(
        SHOP,
        "Cancel order 1017",
        call("cancel_order", order_id=1017),
        AIMessage("Order 1017 is cancelled."),
        "and when will order 1110 arrive?",
    )
    assert [c["name"] for c in reply.tool_calls] in (["get_order_status"], ["track_order"])


def test_an_agent_whose_only_tool_acts_still_calls_it() -> None:
    reply = ask([hand_off_to_human], "get me a person, now")
    assert [c["name"] for c in reply.tool_calls] == ["hand_off_to_human"]


def test_an_invented_hotel_tool_set_checks_rather_than_cancels_on_a_question() -> None:
    reply = ask(HOTEL, "are rooms free at the Grand Budapest for 2 nights after I cancelled?")
    assert [c["name"] for c in reply.tool_calls] != ["change_guest_address"]
    reply = ask(HOTEL, "is booking AB1234 still cancellable?")
    assert [c["name"] for c in reply.tool_calls] == ["cancel_booking"] or not reply.tool_calls


# -- addresses ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("200 Main Street, Denver, CO 80202, US", ("200 Main Street", "Denver", "80202", "US")),
        ("12 Rue de Rivoli, 75001 Paris, FR", ("12 Rue de Rivoli", "Paris", "75001", "FR")),
        ("9 Elm Road, Bristol BS1 4DJ, UK", ("9 Elm Road", "Bristol", "BS1 4DJ", "UK")),
        (
            "3 Canal Street, Manchester, M1 3HE, UK",
            ("3 Canal Street", "Manchester", "M1 3HE", "UK"),
        ),
        ("Hauptstraße 5, 10115 Berlin, Germany", ("Hauptstraße 5", "Berlin", "10115", "Germany")),
        (
            "Keizersgracht 1, 1015 CJ Amsterdam, NL",
            ("Keizersgracht 1", "Amsterdam", "1015 CJ", "NL"),
        ),
        ("48 Oak Avenue, Austin, TX 78701", ("48 Oak Avenue", "Austin", "78701", "US")),
        ("10 Queen St W, Toronto, ON M5H 2N2", ("10 Queen St W", "Toronto", "M5H 2N2", "Canada")),
    ],
)
def test_common_address_forms_are_split_into_their_parts(
    text: str, parts: tuple[str, str, str, str]
) -> None:
    address = parse_address(f"please ship it to {text}")
    assert address is not None
    assert (address.street, address.city, address.postal_code, address.country) == parts


def test_a_us_state_is_kept_apart_from_the_zip_code() -> None:
    address = parse_address("200 Main Street, Denver, CO 80202, US")
    assert address is not None and (address.region, address.postal_code) == ("CO", "80202")


@pytest.mark.parametrize("text", ["send it to Paris", "Main Street", "to my office, please"])
def test_text_that_is_not_a_full_address_is_not_guessed(text: str) -> None:
    assert parse_address(text) is None


def test_a_french_address_fills_the_address_change() -> None:
    reply = ask(SHOP, "Please send order 1043 to 12 Rue de Rivoli, 75001 Paris, FR")
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        (
            "change_shipping_address",
            {
                "order_id": 1043,
                "street": "12 Rue de Rivoli",
                "city": "Paris",
                "postal_code": "75001",
                "country": "FR",
            },
        )
    ]


def test_a_us_address_does_not_put_the_state_into_the_postal_code() -> None:
    reply = ask(SHOP, "Change the address of order 1042 to 200 Main Street, Denver, CO 80202, US")
    args = reply.tool_calls[0]["args"]
    assert (args["city"], args["postal_code"], args["country"]) == ("Denver", "80202", "US")


def test_an_address_the_model_cannot_read_is_asked_for() -> None:
    reply = ask(SHOP, "change the shipping address of order 1042 to my office")
    assert reply.tool_calls == []
    assert "street" in reply.text and "postal code" in reply.text


def test_an_invented_hotel_tool_set_reads_a_uk_address_into_its_own_parameter_names() -> None:
    reply = ask(HOTEL, "change the address of booking AB1234 to 9 Elm Road, Bristol BS1 4DJ")
    assert reply.tool_calls[0]["args"] == {
        "booking_reference": "AB1234",
        "street": "9 Elm Road",
        "city": "Bristol",
        "zip_code": "BS1 4DJ",
    }


def test_an_address_given_in_answer_to_our_question_fills_the_change_and_keeps_the_order() -> None:
    request = "I need to change the address of order 3141"
    first = ask(SHOP, request)
    assert first.tool_calls == [] and "street" in first.text
    second = ask(SHOP, request, AIMessage(first.text), "it's 9 Elm Road, Bristol BS1 4DJ, UK")
    assert [(c["name"], c["args"]) for c in second.tool_calls] == [
        (
            "change_shipping_address",
            {
                "order_id": 3141,
                "street": "9 Elm Road",
                "city": "Bristol",
                "postal_code": "BS1 4DJ",
                "country": "UK",
            },
        )
    ]


STATUS_TURN = (
    "What's the status of order 1042?",
    call("get_order_status", order_id=1042),
    AIMessage("Order 1042 is processing. It has not shipped yet."),
)


def test_a_hypothetical_question_about_an_action_does_not_act_on_the_order_discussed() -> None:
    reply = ask(SHOP, *STATUS_TURN, "can I cancel after it shipped?")
    assert [c["name"] for c in reply.tool_calls] != ["cancel_order"]


@pytest.mark.parametrize("text", ["ok, then cancel it", "please cancel the order", "cancel that"])
def test_an_action_pointed_at_the_order_discussed_takes_its_number(text: str) -> None:
    reply = ask(SHOP, *STATUS_TURN, text)
    assert [(c["name"], c["args"]) for c in reply.tool_calls] == [
        ("cancel_order", {"order_id": 1042})
    ]

"""The offline model in a conversation that needs a verified customer, scripted at the model
level: the tool results carry the tool guard's own mark, as `ToolGuard` writes them."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool

from smart_support.models.offline import OfflineChatModel
from smart_support.runtime.guard import GUARD_MARK

ASK = "To keep your account safe, please give me the email on your account and one more detail."
NOT_VERIFIED = "Those details do not match. 3 attempts left."


@tool
def verify_customer(
    email: str, order_id: int | None = None, postal_code: str | None = None
) -> dict:
    """Verify who the customer is: their email plus an order number or their postal code."""
    return {}


@tool
def get_order_status(order_id: int) -> dict:
    """Get the status of an order: items, total and current state."""
    return {}


@tool
def track_order(order_id: int) -> dict:
    """Track an order's shipment: carrier, tracking number and estimated delivery date."""
    return {}


@tool
def cancel_order(order_id: int) -> dict:
    """Cancel an order that has not shipped yet."""
    return {}


@tool
def find_customer() -> dict:
    """The verified customer's account and orders (the email is bound by the guard)."""
    return {}


SHOP = [get_order_status, track_order, verify_customer, find_customer, cancel_order]


# An invented hotel whose verification tool has another name and other parameters.
@tool
def get_booking(booking_reference: str) -> dict:
    """Look up a hotel booking: dates, room and guests."""
    return {}


@tool
def confirm_guest(contact_email: str, booking_reference: str) -> dict:
    """Make sure the guest is who they say they are."""
    return {}


@tool
def cancel_booking(booking_reference: str) -> dict:
    """Cancel an existing hotel booking."""
    return {}


HOTEL = [get_booking, cancel_booking, confirm_guest]


def guard_result(call: AIMessage, kind: str, text: str, status: str = "error") -> ToolMessage:
    """What the tool guard writes instead of a tool's result, with its mark."""
    only = call.tool_calls[0]
    return ToolMessage(
        text,
        tool_call_id=only["id"],
        name=only["name"],
        status=status,
        additional_kwargs={GUARD_MARK: {"kind": kind}},
    )


def result(call: AIMessage, data: Any) -> ToolMessage:
    only = call.tool_calls[0]
    return ToolMessage(json.dumps(data), tool_call_id=only["id"], name=only["name"])


class Conversation:
    """A conversation with the offline model: each step appends the model's reply."""

    def __init__(self, tools: list[Any]) -> None:
        self.model = OfflineChatModel().bind_tools(tools)
        self.messages: list[BaseMessage] = [SystemMessage("You are the support assistant.")]

    def reply(self) -> AIMessage:
        answer = self.model.invoke(self.messages)
        assert isinstance(answer, AIMessage)
        self.messages.append(answer)
        return answer

    def say(self, text: str) -> AIMessage:
        self.messages.append(HumanMessage(text))
        return self.reply()

    def tool_answers(self, message: ToolMessage) -> AIMessage:
        self.messages.append(message)
        return self.reply()


def only_call(reply: AIMessage) -> tuple[str, dict[str, Any]]:
    assert len(reply.tool_calls) == 1, reply
    return reply.tool_calls[0]["name"], reply.tool_calls[0]["args"]


def refused(tools: list[Any], request: str) -> Conversation:
    """A conversation whose first request was refused for lack of a verified customer."""
    chat = Conversation(tools)
    call = chat.say(request)
    assert call.tool_calls, call
    answer = chat.tool_answers(guard_result(call, "verification_needed", ASK))
    assert answer.content == ASK
    return chat


ORDER_1042 = {
    "order_id": 1042,
    "status": "processing",
    "estimated_delivery": "2026-12-05",
    "total": 181.0,
    "currency": "USD",
}


# -- quoting ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kind",
    [
        "unknown_tool",
        "verification_needed",
        "sign_in_needed",
        "not_verified",
        "verification_refused",
        "system_down",
        "system_failed",
    ],
)
def test_a_result_the_guard_marked_is_quoted_as_it_is_whatever_its_kind(kind: str) -> None:
    chat = Conversation(SHOP)
    call = chat.say("What's the status of order 1042?")
    text = "A sentence of the guard's, worded for the customer, in no words the model knows."
    answer = chat.tool_answers(guard_result(call, kind, text))
    assert answer.content == text
    assert answer.tool_calls == []


def test_an_unmarked_error_result_still_says_it_did_not_work() -> None:
    chat = Conversation(SHOP)
    call = chat.say("What's the status of order 1042?")
    only = call.tool_calls[0]
    answer = chat.tool_answers(
        ToolMessage("error: timeout", tool_call_id=only["id"], name=only["name"], status="error")
    )
    assert str(answer.content).startswith("Sorry, that did not work")


# -- which tool verifies ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("details", "expected"),
    [
        ("maya.chen@example.com, order 1042", {"email": "maya.chen@example.com", "order_id": 1042}),
        (
            "order #1042 and my email is maya@example.com",
            {"email": "maya@example.com", "order_id": 1042},
        ),
        ("1042 / Maya.Chen@Example.com", {"email": "Maya.Chen@Example.com", "order_id": 1042}),
        (
            "it's maya.chen@example.com and my zip is 80225",
            {"email": "maya.chen@example.com", "postal_code": "80225"},
        ),
        (
            "80225 is my zip code, email maya.chen@example.com",
            {"email": "maya.chen@example.com", "postal_code": "80225"},
        ),
        (
            "postcode SW1A 1AA, j.smith@example.co.uk",
            {"email": "j.smith@example.co.uk", "postal_code": "SW1A 1AA"},
        ),
    ],
)
def test_after_a_verification_refusal_the_details_call_the_tool_they_fill(
    details: str, expected: dict[str, Any]
) -> None:
    chat = refused(SHOP, "What's the status of order 1042?")
    assert only_call(chat.say(details)) == ("verify_customer", expected)


def test_the_verification_tool_is_found_by_its_parameters_whatever_its_name() -> None:
    chat = refused(HOTEL, "show me booking BK-7781")
    assert only_call(chat.say("ann.lee@example.org, booking BK-7781")) == (
        "confirm_guest",
        {"contact_email": "ann.lee@example.org", "booking_reference": "BK-7781"},
    )


def test_an_email_and_a_number_without_a_refusal_before_them_verify_nobody() -> None:
    chat = Conversation(SHOP)
    assert only_call(chat.say("maya.chen@example.com, where is order 1042?"))[0] == "track_order"


def test_an_email_alone_after_the_refusal_is_no_verification() -> None:
    chat = refused(SHOP, "What's the status of order 1042?")
    reply = chat.say("it's maya.chen@example.com")
    assert all(c["name"] != "verify_customer" for c in reply.tool_calls)


# -- after the verdict --------------------------------------------------------------------------


def test_once_verified_the_original_request_is_looked_up_and_answered() -> None:
    chat = refused(SHOP, "What's the status of order 1042?")
    verify = chat.say("maya.chen@example.com, order 1042")
    verified = "Verified: thank you, Maya Chen. You are signed in for this conversation."
    again = chat.tool_answers(guard_result(verify, "verified", verified, status="success"))
    assert only_call(again) == ("get_order_status", {"order_id": 1042})
    assert again.tool_calls[0]["id"] != chat.messages[2].tool_calls[0]["id"]  # a new call
    answer = chat.tool_answers(result(again, ORDER_1042))
    assert "1042" in answer.content and "processing" in answer.content
    assert "Verified" not in answer.content


def test_once_verified_an_original_request_that_acts_is_made_again_on_its_order() -> None:
    chat = Conversation(SHOP)
    chat.messages += [
        HumanMessage("where is order 1050?"),
        AIMessage("Order 1050 has shipped with DHL."),
    ]
    chat = refused_after(chat, "ok, cancel order 1042 then")
    verify = chat.say("maya.chen@example.com / 1042")
    again = chat.tool_answers(guard_result(verify, "verified", "Verified.", status="success"))
    assert only_call(again) == ("cancel_order", {"order_id": 1042})


def refused_after(chat: Conversation, request: str) -> Conversation:
    call = chat.say(request)
    chat.tool_answers(guard_result(call, "verification_needed", ASK))
    return chat


def test_a_failed_verification_quotes_the_attempts_left_and_asks_again() -> None:
    chat = refused(SHOP, "What's the status of order 1042?")
    verify = chat.say("maya.chen@example.com, order 1024")
    answer = chat.tool_answers(guard_result(verify, "not_verified", NOT_VERIFIED))
    assert answer.content == f"{NOT_VERIFIED}\n\n{ASK}"
    assert answer.tool_calls == []
    # the next try verifies again, and success still carries on with the first request
    retry = chat.say("sorry, maya.chen@example.com, order 1042")
    assert only_call(retry) == (
        "verify_customer",
        {"email": "maya.chen@example.com", "order_id": 1042},
    )
    again = chat.tool_answers(guard_result(retry, "verified", "Verified.", status="success"))
    assert only_call(again) == ("get_order_status", {"order_id": 1042})


def test_after_too_many_attempts_details_no_longer_call_the_verification_tool() -> None:
    chat = refused(SHOP, "What's the status of order 1042?")
    verify = chat.say("maya.chen@example.com, order 1024")
    chat.tool_answers(guard_result(verify, "verification_refused", "No more attempts."))
    reply = chat.say("maya.chen@example.com, order 1042")
    assert all(c["name"] != "verify_customer" for c in reply.tool_calls)


def test_a_verification_nobody_asked_for_is_acknowledged_with_an_offer_to_help() -> None:
    chat = Conversation(SHOP)
    call = AIMessage(
        "",
        tool_calls=[
            {"name": "verify_customer", "args": {"email": "a@b.co", "order_id": 1}, "id": "v1"}
        ],
    )
    chat.messages += [HumanMessage("a@b.co, order 1"), call]
    answer = chat.tool_answers(guard_result(call, "verified", "Verified.", status="success"))
    assert answer.tool_calls == []
    assert answer.content == "Thank you, that's confirmed. What can I do for you?"


# -- follow-ups on the order under discussion ---------------------------------------------------


def verified_status_conversation() -> Conversation:
    chat = refused(SHOP, "What's the status of order 1042?")
    verify = chat.say("maya.chen@example.com, order 1042")
    again = chat.tool_answers(guard_result(verify, "verified", "Verified.", status="success"))
    chat.tool_answers(result(again, ORDER_1042))
    return chat


@pytest.mark.parametrize(
    ("follow_up", "expected"),
    [
        ("when will it arrive?", ("get_order_status", {"order_id": 1042})),
        ("where is it now?", ("track_order", {"order_id": 1042})),
        ("Cancel it", ("cancel_order", {"order_id": 1042})),
    ],
)
def test_after_the_verification_a_follow_up_is_about_the_order_under_discussion(
    follow_up: str, expected: tuple[str, dict[str, Any]]
) -> None:
    chat = verified_status_conversation()
    assert only_call(chat.say(follow_up)) == expected


def test_the_answer_to_a_follow_up_after_the_verification_answers_it() -> None:
    chat = verified_status_conversation()
    call = chat.say("when will it arrive?")
    answer = chat.tool_answers(result(call, ORDER_1042))
    assert "December 5, 2026" in answer.content


def test_a_refused_request_that_carries_the_details_verifies_at_once_and_carries_on() -> None:
    chat = Conversation(SHOP)
    call = chat.say("maya.chen@example.com here, where is order 1042?")
    assert only_call(call) == ("track_order", {"order_id": 1042})
    verify = chat.tool_answers(guard_result(call, "verification_needed", ASK))
    assert only_call(verify) == (
        "verify_customer",
        {"email": "maya.chen@example.com", "order_id": 1042},
    )
    again = chat.tool_answers(guard_result(verify, "verified", "Verified.", status="success"))
    assert only_call(again) == ("track_order", {"order_id": 1042})


@tool
def update_email(email: str, order_id: int) -> dict:
    """Change the email address on an order (needs a verified customer)."""
    return {}


def test_a_refused_call_is_never_made_again_for_the_same_message() -> None:
    # The only tool that takes the details needs a verified customer itself: the guard refuses
    # it too, and the model asks instead of calling it again and again.
    chat = Conversation([update_email])
    call = chat.say("set the email of order 1042 to maya.chen@example.com")
    assert only_call(call)[0] == "update_email"
    answer = chat.tool_answers(guard_result(call, "verification_needed", ASK))
    assert answer.tool_calls == []
    assert answer.content == ASK

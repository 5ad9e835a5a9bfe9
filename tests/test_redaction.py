"""Redaction (REDACT_PERSONAL_DATA, REDACT_FIELDS): the masks on realistic text and values, and
the operator replay API over real HTTP against the chat server on SQLite and PostgreSQL, with a
conversation in which the customer gives an email, phone numbers, a card and an address."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from chat_client import Chat, connect, server_settings
from smart_support.redaction import NO_REDACTION, Redactor, mask_text
from smart_support.redaction.masks import luhn
from smart_support.replay.pages import ENVELOPE
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings

OPERATOR = "op-secret-token-for-redaction"

EMAIL = "maya.chen@example.com"
PHONE = "+1 415 555 0100"
NATIONAL_PHONE = "(415) 555-0100"
CARD = "4111 1111 1111 1111"
STREET = "12 Harbour Road"
#: What the customer says, in order; the last asks for an approval (left pending).
SAID = [
    f"My email is {EMAIL}, which orders do I have?",
    f"Please call me back on {PHONE} or {NATIONAL_PHONE}.",
    f"I paid with my card {CARD}, how much is the merino wool sweater?",
    f"Change the shipping address of order 1042 to {STREET}, Portland 97201, US.",
]
#: Pieces of the personal data above, any one of which in an answer is a leak.
PERSONAL = [EMAIL, "maya.chen", "415 555 0100", "555-0100", CARD, "4111", "Harbour Road"]


# -- the masks on text -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("Write to maya.chen@example.com please", "Write to [email] please"),
        ("or maya_chen+orders@mail.co.uk.", "or [email]."),
        ("Call +1 415 555 0100 today", "Call [phone] today"),
        ("or (415) 555-0100, or 415.555.0100", "or [phone], or [phone]"),
        ("free on 1-800-555-0199", "free on [phone]"),
        ("+44 20 7946 0958 in London", "[phone] in London"),
        ("020 7946 0958 at the office", "[phone] at the office"),
        ("mobile 07700 900123 or 07700900123", "mobile [phone] or [phone]"),
        ("appelez le 06 12 34 56 78", "appelez le [phone]"),
        ("or +33 1 23 45 67 89", "or [phone]"),
        ("WhatsApp +4915112345678", "WhatsApp [phone]"),
        ("order 1042 415 555 0100", "order 1042 [phone]"),
        ("call 020 7946 0958 2024-05-01", "call [phone] 2024-05-01"),
        ("card 4111 1111 1111 1111 expires", "card [card] expires"),
        ("4111-1111-1111-1111", "[card]"),
        ("paid with 5555555555554444", "paid with [card]"),
        ("amex 3782 822463 10005", "amex [card]"),
        ("ship to 12 Harbour Road, Portland 97201, US", "ship to [address], US"),
        ("221B Baker Street", "[address]"),
        ("350 Fifth Avenue, Suite 3400, New York, NY 10118", "[address]"),
        ("1600 Pennsylvania Avenue NW, Washington, DC 20500", "[address]"),
        ("10 Downing Street, London SW1A 2AA", "[address]"),
        ("I live at 12 main street, ok", "I live at [address], ok"),
        ("meet me at 5th Ave.", "meet me at [address]"),
    ],
)
def test_personal_data_in_free_text_is_masked_by_its_type(text: str, masked: str) -> None:
    assert mask_text(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "What's the status of order 1042?",
        "orders 1042 1050 1060 and seq 17",
        "delivered on 2024-05-01, or was it 01/05/2024, 05-01-2024, 01.05.2024, 2024/05/01?",
        "created_at 2024-05-01T10:30:00.123456+00:00 and 2026-12-01T14:35:57Z",
        "it costs $1,234.56, or 1.234.567,89 EUR, or 89.00",
        "approval 44bf13b1-9ef9-5a0a-bbf2-2992cc60a3d5",
        "id 12345678-1234-1234-1234-123456789012",
        "4111 1111 1111 1112 fails the Luhn check",
        "a bare 4155550100 may be an order number",
        "tracking 1Z999AA10123456784, version 1.2.3",
        "It took 2 days on the road",
        "12 items, 3 Way",
        "Merino Wool Sweater, size M (in stock: 0): $89.00",
        "The order count of customer 1 is 9.",
    ],
)
def test_identifiers_dates_timestamps_amounts_and_prose_are_left_as_they_are(text: str) -> None:
    assert mask_text(text) == text


def test_a_card_number_is_one_that_passes_the_luhn_check() -> None:
    assert luhn("4111111111111111") and luhn("378282246310005")
    assert not luhn("4111111111111112") and not luhn("1234567890123456")


# -- the Redactor on values --------------------------------------------------------------------

ON = Redactor(enabled=True)


def test_fields_named_like_personal_data_are_masked_whole_with_their_type() -> None:
    masked = ON.value(
        {
            "customer_email": "whatever",
            "phone": 4155550100,
            "card_number": 4111111111111111,
            "postalCode": "97201",
            "City": "Portland",
            "default_address": {"recipient": "Maya Chen", "street": STREET},
            "order_id": 1042,
        }
    )
    assert masked == {
        "customer_email": "[email]",
        "phone": "[phone]",
        "card_number": "[card]",
        "postalCode": "[address]",
        "City": "[address]",
        "default_address": "[address]",
        "order_id": 1042,
    }


def test_redact_fields_mask_a_named_field_whole_whatever_it_holds_ignoring_case() -> None:
    redactor = Redactor(enabled=True, fields=["Name", "order-id", "notes"])
    masked = redactor.value(
        {
            "name": "Maya Chen",
            "ORDER_ID": 1042,
            "notes": {"said": ["anything", {"at": "all"}]},
            "items": [{"name": "Merino Wool Sweater", "qty": 2}],
            "left": None,
        }
    )
    assert masked == {
        "name": "[redacted]",
        "ORDER_ID": "[redacted]",
        "notes": "[redacted]",
        "items": [{"name": "[redacted]", "qty": 2}],
        "left": None,
    }


def test_the_envelope_of_an_event_is_copied_as_it_is_even_when_named_in_redact_fields() -> None:
    redactor = Redactor(enabled=True, fields=["tool", "agent", "status", "args"])
    data = {
        "conversation_id": "J-MYLf7SDWydcUzpCAxwP634",
        "type": "tool_activity",
        "agent": "orders",
        "tool": "find_customer",
        "call_id": "call_52a4634eec50dd446bcf2ee2",
        "status": "started",
        "args": {"email": EMAIL},
    }
    masked = redactor.value(data, keep=ENVELOPE)
    assert masked == {**data, "args": "[redacted]"}


def test_a_value_masked_by_its_field_is_masked_where_the_same_value_repeats_in_the_text() -> None:
    masked = ON.value(
        {
            "summary": "Ship order 1042 to 12 Harbour Road, 97201 Portland, US",
            "args": {
                "order_id": 1042,
                "street": STREET,
                "city": "Portland",
                "postal_code": "97201",
            },
        }
    )
    assert masked["summary"] == "Ship order 1042 to [address], [address] [address], US"


def test_a_tool_result_held_as_json_text_is_masked_as_the_value_it_holds() -> None:
    result = json.dumps(
        {"ok": True, "name": "Maya Chen", "email": EMAIL, "default_address": {"street": STREET}}
    )
    masked = json.loads(Redactor(enabled=True, fields=["name"]).value({"result": result})["result"])
    assert masked == {
        "ok": True,
        "name": "[redacted]",
        "email": "[email]",
        "default_address": "[address]",
    }
    cut_short = '{"order_id": 1042, "customer_email": "maya@shop.example", "street": "12 Harb'
    assert (
        ON.text(cut_short)
        == '{"order_id": 1042, "customer_email": "[email]", "street": "[address]"'
    )
    assert ON.text("{'phone': '5550100', 'qty': 2}") == "{'phone': \"[phone]\", 'qty': 2}"


def test_numbers_are_masked_by_their_field_name_only() -> None:
    masked = ON.value({"order_id": 4111111111111111, "at_ms": 1717171717171, "seq": 17})
    assert masked == {"order_id": 4111111111111111, "at_ms": 1717171717171, "seq": 17}


def test_strings_masks_only_the_strings_and_keeps_every_key() -> None:
    summary = {"tools": {"email": {"calls": 1}}, "agents": ["orders"], "note": f"from {EMAIL}"}
    assert ON.strings(summary) == {
        "tools": {"email": {"calls": 1}},
        "agents": ["orders"],
        "note": "from [email]",
    }


def test_a_disabled_redactor_returns_its_argument_itself() -> None:
    data = {"text": f"My email is {EMAIL}", "email": EMAIL}
    redactor = Redactor(enabled=False, fields=["text"])
    assert redactor.value(data) is data and redactor.strings(data) is data
    assert NO_REDACTION.value(data) is data and NO_REDACTION.text(SAID[0]) is SAID[0]


def test_the_redactor_is_built_from_the_settings(sqlite_url: str) -> None:
    settings = Settings(
        database_url=sqlite_url, redact_personal_data=True, redact_fields="name, Postal-Code"
    )
    redactor = Redactor.from_settings(settings)
    assert redactor.enabled and redactor.fields == {"name", "postalcode"}
    assert not Redactor.from_settings(Settings(database_url=sqlite_url)).enabled


# -- the operator replay API, end to end -------------------------------------------------------


@dataclass
class Written:
    """A conversation in the database, written by a server that has stopped since."""

    database_url: str
    shop_url: str
    conversation_id: str
    token: str

    @contextmanager
    def served(self, **settings: Any) -> Iterator[httpx.AsyncClient]:
        """An operator client of a chat server on this conversation's database."""
        extra = {"operator_token": OPERATOR, **settings}
        with serve_in_thread(server_settings(self.database_url, self.shop_url, **extra)) as url:
            yield httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"})


@pytest.fixture
async def written(database_url: str, running_shop: str) -> Written:
    """The customer gives an email, two phone numbers, a card and an address; tools are called
    with some of them (find_customer, search_products, change_shipping_address)."""
    settings = server_settings(database_url, running_shop, operator_token=OPERATOR)
    with serve_in_thread(settings) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            for text in SAID:
                frames = await chat.say(text, "reply_end", "error", "approval_requested")
                assert frames[-1]["type"] != "error", frames
    assert frames[-1]["type"] == "approval_requested", frames
    return Written(database_url, running_shop, started["conversation_id"], started["token"])


@dataclass
class Answers:
    """The raw text of what the operator replay API answered, and the events parsed."""

    events: str
    summary: str
    export: str

    @property
    def parsed(self) -> list[dict[str, Any]]:
        page = json.loads(self.events)
        assert page["has_more"] is False
        events: list[dict[str, Any]] = page["events"]
        return events

    def everything(self) -> str:
        return "\n".join([self.events, self.summary, self.export])


async def replay(client: httpx.AsyncClient, cid: str) -> Answers:
    base = f"/api/v1/operator/conversations/{cid}"
    async with client:
        answers = [
            await client.get(f"{base}/events", params={"limit": 1000}),
            await client.get(f"{base}/summary"),
            await client.get(f"{base}/export"),
        ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
    return Answers(*(a.text for a in answers))


def of_kind(events: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [e["data"] for e in events if e["kind"] == kind]


async def test_with_redaction_on_the_replay_events_summary_and_export_hold_no_personal_data(
    written: Written,
) -> None:
    with written.served(redact_personal_data=True) as client:
        masked = await replay(client, written.conversation_id)
    with written.served() as client:
        plain = await replay(client, written.conversation_id)
    text = masked.everything()
    for piece in PERSONAL:
        assert piece not in text, piece
    for mask in ("[email]", "[phone]", "[card]", "[address]"):
        assert mask in masked.events and mask in masked.export, mask
    said = [d["text"] for d in of_kind(masked.parsed, "customer_message")]
    assert said == [
        "My email is [email], which orders do I have?",
        "Please call me back on [phone] or [phone].",
        "I paid with my card [card], how much is the merino wool sweater?",
        "Change the shipping address of order 1042 to [address], US.",
    ]
    # The envelope is intact: the same seq, kinds, agents, moments, tools and statuses.
    envelope = ("seq", "kind", "agent", "created_at")
    assert [[e[k] for k in envelope] for e in masked.parsed] == [
        [e[k] for k in envelope] for e in plain.parsed
    ]
    assert [sorted(e["data"]) for e in masked.parsed] == [sorted(e["data"]) for e in plain.parsed]
    for on, off in zip(masked.parsed, plain.parsed, strict=True):
        assert {k: v for k, v in on["data"].items() if k in ENVELOPE} == {
            k: v for k, v in off["data"].items() if k in ENVELOPE
        }
    started = of_kind(masked.parsed, "tool_activity")[-1]
    assert started["tool"] == "change_shipping_address" and started["status"] == "started"
    assert started["args"]["order_id"] == 1042 and started["args"]["street"] == "[address]"
    assert json.loads(masked.summary) == json.loads(plain.summary)
    lines = [json.loads(line) for line in masked.export.splitlines()]
    assert lines[0] == json.loads(masked.summary) and lines[1:] == masked.parsed


async def test_with_redaction_off_the_operator_sees_what_the_customer_wrote(
    written: Written,
) -> None:
    with written.served(redact_fields=["country", "text"]) as client:  # fields alone: no switch
        plain = await replay(client, written.conversation_id)
    for piece in PERSONAL:
        assert piece in plain.events and piece in plain.export, piece
    assert [d["text"] for d in of_kind(plain.parsed, "customer_message")] == SAID
    requested = of_kind(plain.parsed, "approval_requested")[-1]
    assert requested["args"]["street"] == STREET and requested["args"]["country"] == "US"


async def test_redact_fields_masks_a_named_argument_whole(written: Written) -> None:
    with written.served(redact_personal_data=True, redact_fields=["Country", "order_id"]) as client:
        masked = await replay(client, written.conversation_id)
    requested = of_kind(masked.parsed, "approval_requested")[-1]
    assert requested["args"] == {
        "order_id": "[redacted]",
        "street": "[address]",
        "city": "[address]",
        "postal_code": "[address]",
        "country": "[redacted]",
    }
    assert requested["summary"] == "Ship order [redacted] to [address], [address] [address], US"
    assert requested["tool"] == "change_shipping_address" and requested["approval_id"]
    for piece in PERSONAL:
        assert piece not in masked.export, piece


async def test_the_customer_transcript_is_never_masked(written: Written) -> None:
    with written.served(redact_personal_data=True, redact_fields=["text", "args"]) as client:
        async with client:
            answer = await client.get(
                f"/api/v1/conversations/{written.conversation_id}/transcript",
                headers={"X-Conversation-Token": written.token},
            )
    assert answer.status_code == 200, answer.text
    for piece in PERSONAL:
        assert piece in answer.text, piece
    assert "[email]" not in answer.text and "[redacted]" not in answer.text


async def test_the_conversation_list_and_analytics_hold_no_customer_data_to_mask(
    written: Written,
) -> None:
    with written.served() as client:  # redaction off: there is nothing personal to hide
        async with client:
            listed = await client.get("/api/v1/operator/conversations")
            figures = await client.get("/api/v1/operator/analytics")
            table = await client.get("/api/v1/operator/analytics.csv")
    for answer in (listed, figures, table):
        assert answer.status_code == 200, answer.text
        for piece in [*PERSONAL, "Portland", "97201", "Maya"]:
            assert piece not in answer.text, piece
    assert written.conversation_id in listed.text
    assert json.loads(figures.text)["turns"] == len(SAID)

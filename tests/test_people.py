"""People in the conversation (issue 13, item 2): an operator takes an escalated conversation
over through the REST and the operator socket API, writes to the customer as a person, the
agents stay silent meanwhile, and the conversation is handed back. Through the real server on
loopback (SQLite, the offline model, the demo agents and shop) and real socket clients; the
support hours are unit tests."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import websockets

from chat_client import WAIT, Chat, ServerFactory, connect, of_type, server_settings
from smart_support.errors import ConfigError
from smart_support.escalation.hours import handoff_promise, in_support_hours, parse_hours
from smart_support.server.app import create_app
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings, load_settings

pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-people"
OPERATOR_API = "/api/v1/operator"


@pytest.fixture
def server(start_server: ServerFactory) -> Iterator[str]:
    with start_server(operator_token=OPERATOR) as url:
        yield url


def operator(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=WAIT
    )


def operator_socket(url: str) -> Any:
    return websockets.connect(
        url.replace("http://", "ws://", 1) + "/ws/v1/operator",
        additional_headers={"Authorization": f"Bearer {OPERATOR}"},
        open_timeout=WAIT,
    )


class Console:
    """The operator socket, as a console drives it (import progress frames skipped)."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))
            if frame["type"] not in ("import_progress", "operator_ready"):
                return frame


def usage_rows(sqlite_url: str) -> int:
    with sqlite3.connect(sqlite_url.split(":///", 1)[1]) as db:
        return int(db.execute("SELECT count(*) FROM usage").fetchone()[0])


async def escalated(chat: Chat) -> str:
    """A conversation the demo agents handed to the support team; returns its id."""
    started = await chat.start()
    frames = await chat.say("I want to talk to a person")
    assert any(f.get("reason") == "escalation" for f in of_type(frames, "agent_selected")), frames
    return str(started["conversation_id"])


async def silent_after(chat: Chat, text: str) -> list[dict[str, Any]]:
    """Send `text` and then a second message: turns of one conversation run one at a time, so
    once the second is accepted the first turn has ended. Returns the frames in between."""
    await chat.send(type="message", text=text)
    await chat.send(type="message", text="are you still there?")
    frames = await chat.until("message_accepted")
    frames += await chat.until("message_accepted")
    return frames


# the REST API ----------------------------------------------------------------------------------


async def test_an_operator_takes_over_by_rest_and_the_agents_stay_silent_until_hand_back(
    server: str, sqlite_url: str
) -> None:
    async with connect(server) as ws, operator(server) as api:
        chat = Chat(ws)
        conversation_id = await escalated(chat)

        waiting = (await api.get(f"{OPERATOR_API}/escalations")).json()
        listed = {e["conversation_id"]: e for e in waiting["escalations"]}
        assert listed[conversation_id]["held_by"] is None
        assert waiting["promise"] == "A person from our team will reply here."

        taken = await api.post(
            f"{OPERATOR_API}/conversations/{conversation_id}/takeover", json={"name": "Sam"}
        )
        assert taken.status_code == 200, taken.text
        assert taken.json()["held_by"] == "Sam"
        assert await chat.recv() == {
            "type": "person_joined",
            "conversation_id": conversation_id,
            "name": "Sam",
        }

        said = await api.post(
            f"{OPERATOR_API}/conversations/{conversation_id}/messages",
            json={"text": "Hi, I'm Sam from the support team. How can I help?"},
        )
        assert said.status_code == 200, said.text
        message = await chat.recv()
        assert message["type"] == "person_message"
        assert (message["name"], message["text"]) == (
            "Sam",
            "Hi, I'm Sam from the support team. How can I help?",
        )

        before = usage_rows(sqlite_url)
        frames = await silent_after(chat, "My parcel never arrived")
        assert [f["type"] for f in frames] == ["message_accepted", "message_accepted"]
        assert usage_rows(sqlite_url) == before

        logged = await api.get(
            f"{OPERATOR_API}/conversations/{conversation_id}/events",
            params={"kind": ["person_joined", "person_message"]},
        )
        assert [(e["kind"], e["agent"], e["data"]["name"]) for e in logged.json()["events"]] == [
            ("person_joined", None, "Sam"),
            ("person_message", None, "Sam"),
        ]

        back = await api.post(f"{OPERATOR_API}/conversations/{conversation_id}/handback")
        assert back.status_code == 200, back.text
        left = await chat.recv()
        assert (left["type"], left["name"]) == ("person_left", "Sam")

        answer = await chat.say("What's the status of order 1042?")
        assert answer[-1]["type"] == "reply_end", answer
        assert len(of_type(answer, "reply_end")) == 1  # the held messages are not answered again
        assert usage_rows(sqlite_url) > before


async def test_closing_a_held_conversation_hands_it_back_to_the_agents(server: str) -> None:
    async with connect(server) as ws, operator(server) as api:
        chat = Chat(ws)
        conversation_id = await escalated(chat)
        path = f"{OPERATOR_API}/conversations/{conversation_id}"
        taken = await api.post(f"{path}/takeover", json={"name": "Sam"})
        assert taken.status_code == 200, taken.text
        assert (await chat.recv())["type"] == "person_joined"
        closed = await api.post(f"{path}/close")
        assert closed.status_code == 200, closed.text
        left = await chat.recv()
        assert (left["type"], left["name"]) == ("person_left", "Sam")
        waiting = (await api.get(f"{OPERATOR_API}/escalations")).json()["escalations"]
        assert all(e["held_by"] is None for e in waiting if e["conversation_id"] == conversation_id)
        # The customer comes back later: the agents answer, nobody holds it any more.
        answer = await chat.say("What's the status of order 1042?")
        assert answer[-1]["type"] == "reply_end", answer


async def test_a_second_operator_is_refused_with_409_naming_who_holds_it(server: str) -> None:
    async with connect(server) as ws, operator(server) as api:
        conversation_id = await escalated(Chat(ws))
        path = f"{OPERATOR_API}/conversations/{conversation_id}"
        assert (await api.post(f"{path}/takeover", json={"name": "Sam"})).status_code == 200
        again = await api.post(f"{path}/takeover", json={"name": "Sam"})
        assert again.status_code == 200  # the same person again changes nothing

        other = await api.post(f"{path}/takeover", json={"name": "Alex"})
        assert other.status_code == 409
        assert other.json()["code"] == "conversation_held"
        assert "Sam" in other.json()["message"]

        not_theirs = await api.post(f"{path}/messages", json={"text": "hello", "name": "Alex"})
        assert (not_theirs.status_code, not_theirs.json()["code"]) == (409, "conversation_held")


async def test_the_operator_api_says_who_is_at_fault_and_never_shows_a_traceback(
    server: str,
) -> None:
    async with connect(server) as ws, operator(server) as api:
        conversation_id = await escalated(Chat(ws))
        path = f"{OPERATOR_API}/conversations/{conversation_id}"

        unknown = await api.post(f"{OPERATOR_API}/conversations/nope/takeover", json={"name": "S"})
        assert (unknown.status_code, unknown.json()["code"]) == (404, "conversation_not_found")
        nobody = await api.post(f"{path}/messages", json={"text": "hello"})
        assert (nobody.status_code, nobody.json()["code"]) == (409, "not_held")
        assert (await api.post(f"{path}/handback")).status_code == 409

        await api.post(f"{path}/takeover", json={"name": "Sam"})
        empty = await api.post(f"{path}/messages", json={"text": "   "})
        assert (empty.status_code, empty.json()["code"]) == (400, "bad_request")
        assert empty.json()["message"] == "The message is empty."
        bad_name = await api.post(f"{path}/takeover", json={"name": "<b>Sam</b>"})
        assert (bad_name.status_code, bad_name.json()["code"]) == (400, "bad_request")
        for answer in (unknown, nobody, empty, bad_name):
            assert "Traceback" not in answer.text

        async with httpx.AsyncClient(base_url=server, timeout=WAIT) as client:
            anonymous = await client.post(f"{path}/handback")
        assert anonymous.status_code == 401


async def test_after_a_reload_the_transcript_shows_the_persons_messages_with_their_name(
    server: str,
) -> None:
    async with connect(server) as ws, operator(server) as api:
        chat = Chat(ws)
        started = await chat.start()
        conversation_id, token = started["conversation_id"], started["token"]
        await chat.say("I want to talk to a person")
        path = f"{OPERATOR_API}/conversations/{conversation_id}"
        await api.post(f"{path}/takeover", json={"name": "Sam"})
        await api.post(f"{path}/messages", json={"text": "Your refund is on its way."})
        await api.post(f"{path}/handback")

    async with connect(server) as ws:
        chat = Chat(ws)
        await chat.send(type="resume", conversation_id=conversation_id, token=token)
        frames = await chat.until("transcript")
        entries = frames[-1]["events"]
        people = [(e["kind"], e["data"]) for e in entries if e["kind"].startswith("person_")]
        assert people == [
            ("person_joined", {"name": "Sam"}),
            ("person_message", {"name": "Sam", "text": "Your refund is on its way."}),
            ("person_left", {"name": "Sam"}),
        ]

    async with httpx.AsyncClient(base_url=server, timeout=WAIT) as client:
        answer = await client.get(
            f"/api/v1/conversations/{conversation_id}/transcript",
            headers={"X-Conversation-Token": token},
        )
    rest = [e["data"] for e in answer.json()["events"]]
    assert {"name": "Sam", "text": "Your refund is on its way."} in rest


async def test_take_over_and_hand_back_work_on_postgresql_too(
    pg_url: str, running_shop: str
) -> None:
    settings = server_settings(pg_url, running_shop, operator_token=OPERATOR)
    with serve_in_thread(settings) as url:
        async with connect(url) as ws, operator(url) as api:
            chat = Chat(ws)
            conversation_id = await escalated(chat)
            path = f"{OPERATOR_API}/conversations/{conversation_id}"
            assert (await api.post(f"{path}/takeover", json={"name": "Sam"})).status_code == 200
            assert (await chat.recv())["type"] == "person_joined"
            other = await api.post(f"{path}/takeover", json={"name": "Alex"})
            assert other.status_code == 409
            frames = await silent_after(chat, "hello?")
            assert [f["type"] for f in frames] == ["message_accepted", "message_accepted"]
            assert (await api.post(f"{path}/handback")).status_code == 200
            assert (await chat.recv())["type"] == "person_left"
            assert (await chat.say("What's the status of order 1042?"))[-1]["type"] == "reply_end"


# the operator socket ---------------------------------------------------------------------------


async def test_an_operator_takes_over_by_socket_and_gets_the_customers_messages_live(
    server: str, sqlite_url: str
) -> None:
    async with connect(server) as ws, operator_socket(server) as op:
        chat, console = Chat(ws), Console(op)
        conversation_id = await escalated(chat)

        await console.send(type="take_over", conversation_id=conversation_id, name="Sam Lee")
        joined = await console.recv()
        assert (joined["type"], joined["name"]) == ("person_joined", "Sam Lee")
        assert (await chat.recv())["name"] == "Sam Lee"

        await console.send(type="say", conversation_id=conversation_id, text="Hello, Sam here.")
        to_customer = await chat.recv()
        assert (to_customer["type"], to_customer["name"], to_customer["text"]) == (
            "person_message",
            "Sam Lee",
            "Hello, Sam here.",
        )
        assert (await console.recv())["type"] == "person_message"  # the console's own echo

        before = usage_rows(sqlite_url)
        frames = await silent_after(chat, "My parcel never arrived")
        assert [f["type"] for f in frames] == ["message_accepted", "message_accepted"]
        heard = [await console.recv(), await console.recv()]
        assert [(f["type"], f["text"]) for f in heard] == [
            ("customer_message", "My parcel never arrived"),
            ("customer_message", "are you still there?"),
        ]
        assert usage_rows(sqlite_url) == before

        await console.send(type="take_over", conversation_id=conversation_id, name="Alex")
        refused = await console.recv()
        assert (refused["type"], refused["code"]) == ("error", "conversation_held")

        await console.send(type="hand_back", conversation_id=conversation_id)
        assert (await console.recv())["type"] == "person_left"
        assert (await chat.recv())["type"] == "person_left"
        answer = await chat.say("What's the status of order 1042?")
        assert answer[-1]["type"] == "reply_end", answer


async def test_saying_something_without_taking_over_is_refused_on_the_socket(server: str) -> None:
    async with connect(server) as ws, operator_socket(server) as op:
        conversation_id = await escalated(Chat(ws))
        console = Console(op)
        await console.send(type="say", conversation_id=conversation_id, text="hi")
        refused = await console.recv()
        assert (refused["type"], refused["code"]) == ("error", "not_held")
        await console.send(type="say", conversation_id=conversation_id, text="")
        assert (await console.recv())["code"] == "bad_frame"


# support hours ---------------------------------------------------------------------------------


def hours(text: str | None, zone: str = "UTC", **extra: Any) -> Settings:
    return load_settings(support_hours=text, support_timezone=zone, **extra)


def test_a_handoff_in_hours_promises_a_person_here() -> None:
    settings = hours("mon-fri 09:00-17:30")
    tuesday_ten = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    assert handoff_promise(settings, tuesday_ten) == "A person from our team will reply here."


def test_a_handoff_out_of_hours_promises_the_offline_promise() -> None:
    settings = hours("mon-fri 09:00-17:30", offline_promise="by email within 24 hours")
    saturday = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    assert handoff_promise(settings, saturday) == (
        "Our team is away right now; a person will reply by email within 24 hours."
    )


def test_support_hours_are_read_in_the_support_time_zone() -> None:
    new_york = hours("mon-fri 09:00-17:00", "America/New_York")
    # 15:00 UTC is 10:00 in New York (EST) on a Tuesday; 23:00 UTC is 18:00, closed
    assert in_support_hours(new_york, datetime(2026, 12, 1, 15, 0, tzinfo=UTC))
    assert not in_support_hours(new_york, datetime(2026, 12, 1, 23, 0, tzinfo=UTC))
    tokyo = hours("mon-fri 09:00-17:00", "Asia/Tokyo")
    # Monday 01:00 UTC is Monday 10:00 in Tokyo; Friday 23:00 UTC is already Saturday there
    assert in_support_hours(tokyo, datetime(2026, 11, 30, 1, 0, tzinfo=UTC))
    assert not in_support_hours(tokyo, datetime(2026, 12, 4, 23, 0, tzinfo=UTC))


def test_several_spans_and_an_overnight_span_are_understood() -> None:
    settings = hours("mon-fri 09:00-12:00, mon-fri 13:00-17:00, sat 22:00-02:00")
    tuesday = datetime(2026, 12, 1, tzinfo=UTC)
    assert in_support_hours(settings, tuesday.replace(hour=11))
    assert not in_support_hours(settings, tuesday.replace(hour=12, minute=30))
    assert in_support_hours(settings, datetime(2026, 12, 6, 1, 30, tzinfo=UTC))  # Sunday 01:30
    assert not in_support_hours(settings, datetime(2026, 12, 6, 2, 0, tzinfo=UTC))


def test_unset_support_hours_mean_a_person_answers_at_any_time() -> None:
    assert parse_hours(None) is None
    assert in_support_hours(hours(None), datetime(2026, 12, 6, 3, 0, tzinfo=UTC))


@pytest.mark.parametrize(
    ("text", "zone", "setting"),
    [
        ("weekdays 9 to 5", "UTC", "SUPPORT_HOURS"),
        ("mon-fri 09:00", "UTC", "SUPPORT_HOURS"),
        ("mon-fry 09:00-17:00", "UTC", "SUPPORT_HOURS"),
        ("mon 25:00-26:00", "UTC", "SUPPORT_HOURS"),
        ("mon 09:00-09:00", "UTC", "SUPPORT_HOURS"),
        ("mon-fri 09:00-17:00", "Mars/Olympus", "SUPPORT_TIMEZONE"),
    ],
)
def test_bad_support_hours_are_refused_naming_the_setting(
    text: str, zone: str, setting: str
) -> None:
    with pytest.raises(ConfigError, match=f"invalid setting {setting}: "):
        parse_hours(text, zone)


def test_the_server_refuses_to_start_with_bad_support_hours(sqlite_url: str) -> None:
    with pytest.raises(ConfigError, match="SUPPORT_HOURS"):
        create_app(
            Settings(database_url=sqlite_url, llm_provider="offline", support_hours="always")
        )


async def test_outside_support_hours_the_customer_is_told_when_a_person_will_answer(
    start_server: ServerFactory,
) -> None:
    today = datetime.now(UTC).strftime("%a").lower()
    other = "sun" if today != "sun" else "mon"  # a day that is not today: out of hours now
    hours = {"support_hours": f"{other} 09:00-17:00", "offline_promise": "by email within a day"}
    with start_server(operator_token=OPERATOR, **hours) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.start()
            frames = await chat.say("I want to talk to a person")
    replies = " ".join(f["text"] for f in of_type(frames, "reply_end"))
    assert "Our team is away right now; a person will reply by email within a day." in replies
    assert "A person from our team will reply here." not in replies

"""The customer's thumbs up or down on a reply, through the chat socket: the real app under
uvicorn, the real engine (offline model, SQLite), the demo shop and a real WebSocket client."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from chat_client import Chat, ServerFactory, connect
from smart_support.runtime import feedback
from smart_support.runtime.feedback import (
    MAX_RATINGS_PER_REPLY,
    UnknownReply,
    latest_ratings,
    record_feedback,
)
from smart_support.settings import Settings
from smart_support.store import Store, open_persistence

#: The chat server fixtures (`start_server`, `chat_url`).
pytest_plugins = ["server_fixture"]

OPERATOR_TOKEN = "operator-secret-for-tests"


def _db(database_url: str) -> contextlib.closing[sqlite3.Connection]:
    return contextlib.closing(sqlite3.connect(database_url.split(":///", 1)[1]))


def stored_feedback(database_url: str) -> list[dict[str, Any]]:
    """The `feedback` events of the log (the SQLite file itself), with their conversation and
    agent."""
    with _db(database_url) as db:
        rows = db.execute(
            "SELECT conversation_id, agent, data FROM events WHERE kind = 'feedback'"
            " ORDER BY conversation_id, seq"
        )
        return [
            {"conversation_id": cid, "agent": agent, **json.loads(data)}
            for cid, agent, data in rows
        ]


def closed_at(database_url: str, conversation_id: str) -> str | None:
    with _db(database_url) as db:
        (value,) = db.execute(
            "SELECT closed_at FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return value  # type: ignore[no-any-return]


async def a_reply(chat: Chat) -> dict[str, Any]:
    frames = await chat.say("What's the status of order 1042?")
    reply = frames[-1]
    assert reply["type"] == "reply_end", frames
    return reply


async def rate(chat: Chat, reply_id: str, rating: str, **extra: Any) -> dict[str, Any]:
    await chat.send(type="feedback", reply_id=reply_id, rating=rating, **extra)
    return await chat.recv()


async def resumed_transcript(url: str, started: dict[str, Any]) -> dict[str, Any]:
    async with connect(url) as ws:
        chat = Chat(ws)
        await chat.send(
            type="resume", conversation_id=started["conversation_id"], token=started["token"]
        )
        assert (await chat.recv())["type"] == "conversation"
        transcript = await chat.recv()
    assert transcript["type"] == "transcript"
    return transcript


async def test_a_thumbs_up_on_a_reply_is_acknowledged_and_stored_under_the_replys_agent(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        reply = await a_reply(chat)
        ack = await rate(chat, reply["reply_id"], "up", comment="  Quick and clear  ")
    assert ack == {
        "type": "feedback_recorded",
        "conversation_id": started["conversation_id"],
        "reply_id": reply["reply_id"],
        "rating": "up",
    }
    assert stored_feedback(sqlite_url) == [
        {
            "conversation_id": started["conversation_id"],
            "agent": reply["agent"],
            "reply_id": reply["reply_id"],
            "rating": "up",
            "comment": "Quick and clear",
        }
    ]
    assert reply["agent"] == "orders"


async def test_rating_a_reply_again_records_the_new_rating_and_the_latest_counts(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        reply = await a_reply(chat)
        assert (await rate(chat, reply["reply_id"], "up"))["rating"] == "up"
        assert (await rate(chat, reply["reply_id"], "down"))["rating"] == "down"
        # The same rating once more is acknowledged but not stored twice.
        assert (await rate(chat, reply["reply_id"], "down"))["type"] == "feedback_recorded"
    assert [f["rating"] for f in stored_feedback(sqlite_url)] == ["up", "down"]
    transcript = await resumed_transcript(chat_url, started)
    [entry] = [e for e in transcript["events"] if e["kind"] == "reply_end"]
    assert entry["rating"] == "down"


async def test_a_reply_rated_too_often_is_refused_and_its_latest_rating_stays(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        await chat.start()
        reply = await a_reply(chat)
        for i in range(MAX_RATINGS_PER_REPLY):
            assert (await rate(chat, reply["reply_id"], "up" if i % 2 else "down"))[
                "type"
            ] == "feedback_recorded"
        refused = await rate(chat, reply["reply_id"], "down")
    assert (refused["type"], refused["code"]) == ("error", "feedback_limit")
    assert len(stored_feedback(sqlite_url)) == MAX_RATINGS_PER_REPLY


@pytest.mark.parametrize(
    ("feedback", "code", "words"),
    [
        ({"reply_id": "0" * 32, "rating": "up"}, "unknown_reply", "couldn't find that reply"),
        ({"rating": "meh"}, "bad_frame", "rating"),
        ({"rating": "up", "comment": "x" * 501}, "bad_frame", "under 500 characters"),
        ({"rating": "up", "comment": "nul\x00"}, "bad_frame", "comment"),
        ({"reply_id": "not an id!", "rating": "up"}, "bad_frame", "reply_id"),
        ({"rating": "up", "agent": "orders"}, "bad_frame", "agent"),
    ],
)
async def test_feedback_that_cannot_be_recorded_gets_a_clear_error_and_nothing_is_stored(
    chat_url: str, sqlite_url: str, feedback: dict[str, Any], code: str, words: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        reply = await a_reply(chat)
        error = await rate(chat, **{"reply_id": reply["reply_id"], **feedback})
        assert (error["type"], error["code"]) == ("error", code)
        assert words in error["message"]
        assert stored_feedback(sqlite_url) == []
        # The socket stays usable: a good rating still goes through.
        assert (await rate(chat, reply["reply_id"], "up"))["type"] == "feedback_recorded"
    if code == "unknown_reply":
        assert error["conversation_id"] == started["conversation_id"]
    assert len(stored_feedback(sqlite_url)) == 1


async def test_a_reply_of_another_conversation_cannot_be_rated(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as theirs_ws, connect(chat_url) as mine_ws:
        theirs, mine = Chat(theirs_ws), Chat(mine_ws)
        await theirs.start()
        their_reply = await a_reply(theirs)
        await mine.start()
        await a_reply(mine)
        error = await rate(mine, their_reply["reply_id"], "down")
        assert (error["type"], error["code"]) == ("error", "unknown_reply")
        assert "not saved" in error["message"]
        await mine.send(type="ping")
        assert await mine.recv() == {"type": "pong"}
    assert stored_feedback(sqlite_url) == []


async def test_feedback_before_a_conversation_starts_is_refused(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        error = await rate(chat, "0" * 32, "up")
        assert (error["type"], error["code"]) == ("error", "no_conversation")
        assert error["message"] == "Start or resume a conversation first."
        await chat.send(type="ping")
        assert await chat.recv() == {"type": "pong"}
    assert stored_feedback(sqlite_url) == []


async def test_the_transcript_after_a_reload_carries_reply_ids_and_the_latest_ratings(
    chat_url: str,
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        first = await a_reply(chat)
        second = await a_reply(chat)
        await rate(chat, first["reply_id"], "up")
        await rate(chat, first["reply_id"], "down")
    transcript = await resumed_transcript(chat_url, started)
    replies = [e for e in transcript["events"] if e["kind"] == "reply_end"]
    assert [(r["data"]["reply_id"], r["rating"]) for r in replies] == [
        (first["reply_id"], "down"),
        (second["reply_id"], None),
    ]
    # Ratings are folded into their replies, not entries of their own.
    assert "feedback" not in {e["kind"] for e in transcript["events"]}
    async with httpx.AsyncClient(base_url=chat_url) as client:
        response = await client.get(
            f"/api/v1/conversations/{started['conversation_id']}/transcript",
            headers={"X-Conversation-Token": started["token"]},
        )
    response.raise_for_status()
    assert response.json()["events"] == transcript["events"]


async def test_a_rating_on_a_closed_conversation_is_recorded_and_does_not_reopen_it(
    start_server: ServerFactory, sqlite_url: str
) -> None:
    with start_server(operator_token=OPERATOR_TOKEN) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            reply = await a_reply(chat)
            conversation_id = started["conversation_id"]
            async with httpx.AsyncClient(base_url=url) as client:
                closed = await client.post(
                    f"/api/v1/operator/conversations/{conversation_id}/close",
                    headers={"Authorization": f"Bearer {OPERATOR_TOKEN}"},
                )
            closed.raise_for_status()
            before = closed_at(sqlite_url, conversation_id)
            assert before is not None
            assert (await rate(chat, reply["reply_id"], "up"))["type"] == "feedback_recorded"
    assert closed_at(sqlite_url, conversation_id) == before
    assert [f["rating"] for f in stored_feedback(sqlite_url)] == ["up"]


async def test_a_reply_stored_before_replies_had_ids_offers_nothing_to_rate(
    chat_url: str, sqlite_url: str
) -> None:
    async with connect(chat_url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        await a_reply(chat)
    with _db(sqlite_url) as db, db:
        db.execute(
            "UPDATE events SET data = json_remove(data, '$.reply_id') WHERE kind = 'reply_end'"
        )
    transcript = await resumed_transcript(chat_url, started)
    [entry] = [e for e in transcript["events"] if e["kind"] == "reply_end"]
    assert "reply_id" not in entry["data"] and entry["data"]["text"]
    assert entry["rating"] is None


# -- the runtime function on both databases ------------------------------------------------------


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    settings = Settings(_env_file=None, database_url=database_url, llm_provider="offline")  # type: ignore[call-arg]
    async with open_persistence(settings) as opened:
        yield opened.store


async def test_a_reply_is_found_across_pages_of_the_log_and_rated_under_its_agent(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feedback, "_PAGE", 2)  # several keyset pages for a few replies
    await store.create_conversation("mine", "hash-mine")
    await store.create_conversation("theirs", "hash-theirs")
    for i in range(5):
        await store.append_event("mine", "customer_message", None, {"text": f"q{i}"})
        agent = "returns" if i == 3 else "orders"
        await store.append_event("mine", "reply_end", agent, {"text": "a", "reply_id": f"r{i}"})
    await store.append_event("theirs", "reply_end", "orders", {"text": "b", "reply_id": "t0"})

    recorded = await record_feedback(store, "mine", "r3", "down", "Wrong answer")
    assert (recorded.kind, recorded.agent) == ("feedback", "returns")
    assert recorded.data == {"reply_id": "r3", "rating": "down", "comment": "Wrong answer"}
    await record_feedback(store, "mine", "r3", "up")
    await record_feedback(store, "mine", "r0", "up", "")
    with pytest.raises(UnknownReply):
        await record_feedback(store, "mine", "t0", "up")
    with pytest.raises(UnknownReply):
        await record_feedback(store, "theirs", "r3", "up")

    assert latest_ratings(await store.events("mine")) == {"r3": "up", "r0": "up"}
    assert await store.events_page("theirs", kinds=["feedback"]) == []
    [*_, last] = await store.events("mine")
    assert last.data["comment"] is None, "an empty comment is no comment"

"""Retention (RETENTION_DAYS): conversations closed long ago are deleted in batches with every row
that names them and their checkpoint thread; open and recently closed ones stay, and so do the
analytics of old days. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from smart_support.analytics import compute
from smart_support.runtime.engine import Engine
from smart_support.runtime.retention import apply_retention, cutoff
from smart_support.server.app import create_app
from smart_support.settings import Settings
from smart_support.store import open_persistence
from smart_support.store.base import Store
from smart_support.store.records import Approval, Usage
from smart_support.store.retention import TABLES
from smart_support.testing import ScriptedChatModel, call

HERE = Path(__file__).parent
AGENTS = HERE / "data" / "engine_agents.yaml"
NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(days=100)
LAST_WEEK = NOW - timedelta(days=7)


def settings_for(database_url: str, **extra: Any) -> Settings:
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        agents_file=AGENTS,
        llm_provider="offline",
        **{"retention_days": 30, **extra},
    )


def engine_for(settings: Settings) -> Any:
    router = ScriptedChatModel(default=call("transfer_to_general"))
    return Engine.open(settings, model=ScriptedChatModel(default="Hello."), router_model=router)


async def say(engine: Engine, conversation_id: str, text: str) -> None:
    async for _ in engine.send(conversation_id, text):
        pass


async def closed_conversation(
    store: Store, conversation_id: str, closed_at: datetime, *, events: int = 2
) -> None:
    """A conversation with events, usage, an approval and its ledger entry, closed then."""
    await store.create_conversation(conversation_id, "hash")
    await fill(store, conversation_id, events=events)
    assert await store.close_conversation(conversation_id, "resolved", 1, closed_at)


async def fill(store: Store, conversation_id: str, *, events: int = 2) -> None:
    for n in range(events):
        await store.append_event(conversation_id, "customer_message", None, {"text": f"hi {n}"})
    await store.record_usage(Usage(conversation_id, "orders", "m", 10, 5, 0.25, NOW, {}))
    approval = f"approval-{conversation_id}"
    await store.create_approval(
        Approval(
            id=approval,
            conversation_id=conversation_id,
            agent="orders",
            tool="cancel_order",
            tool_call_id="call-1",
            args={},
            args_hash="hash",
            summary="Cancel order 1042",
            status="approved",
            created_at=NOW,
            expires_at=NOW + timedelta(minutes=5),
        )
    )
    await store.begin_action(f"key-{conversation_id}", approval, conversation_id, "t", {}, NOW)


async def everything_of(store: Store, conversation_id: str) -> list[Any]:
    """What the store still holds of a conversation (empty when it is all gone)."""
    held: list[Any] = [await store.get_conversation(conversation_id)]
    held += await store.events(conversation_id)
    held += await store.usage(conversation_id)
    held += await store.list_approvals(conversation_id, status=None)
    held.append(await store.get_action(f"key-{conversation_id}"))
    return [thing for thing in held if thing is not None]


def thread(conversation_id: str) -> Any:
    return {"configurable": {"thread_id": conversation_id, "checkpoint_ns": ""}}


# -- what is deleted and what stays -------------------------------------------------------------


async def test_a_conversation_closed_long_ago_goes_with_all_its_rows_and_its_checkpoint_thread(
    database_url: str,
) -> None:
    settings = settings_for(database_url)
    async with engine_for(settings) as engine:
        store, checkpointer = engine.store, engine.graph.checkpointer
        old, _ = await engine.start_conversation()
        recent, _ = await engine.start_conversation()
        for conversation in (old, recent):
            await say(engine, conversation, "Hello there")
            await fill(store, conversation)
            assert await checkpointer.aget_tuple(thread(conversation)) is not None
        assert await store.close_conversation(old, "resolved", 1, LONG_AGO)
        assert await store.close_conversation(recent, "resolved", 1, LAST_WEEK)
        due = await store.count_closed_before(NOW - timedelta(days=30))
        assert due["conversations"] == 1 and due["events"] >= 4 and due["conversation_facts"]

        report = await apply_retention(store, checkpointer, settings, now=NOW)

        assert report.conversation_ids == (old,)
        assert report.rows == due
        assert report.threads == 1
        assert await everything_of(store, old) == []
        assert await checkpointer.aget_tuple(thread(old)) is None
        assert len(await everything_of(store, recent)) > 5
        assert await checkpointer.aget_tuple(thread(recent)) is not None
        assert await store.count_closed_before(NOW - timedelta(days=30)) == dict.fromkeys(TABLES, 0)


async def test_open_conversations_stay_however_old_and_recently_closed_ones_stay(
    database_url: str,
) -> None:
    settings = settings_for(database_url)
    async with open_persistence(settings) as opened:
        store = opened.store
        await closed_conversation(store, "recent", LAST_WEEK)
        await closed_conversation(store, "reopened", LONG_AGO)  # closed long ago, open again
        assert await store.reopen_conversation("reopened")
        await store.create_conversation("never-closed", "hash")
        await fill(store, "never-closed")

        report = await apply_retention(store, opened.checkpointer, settings, now=NOW)
        much_later = await apply_retention(
            store, opened.checkpointer, settings, now=NOW + timedelta(days=3650)
        )

        assert report.conversation_ids == ()
        assert much_later.conversation_ids == ("recent",)  # open ones stay, even then
        for conversation in ("reopened", "never-closed"):
            assert len(await everything_of(store, conversation)) > 4


async def test_a_retention_of_zero_days_deletes_nothing(database_url: str) -> None:
    settings = settings_for(database_url, retention_days=0)
    async with open_persistence(settings) as opened:
        await closed_conversation(opened.store, "ancient", NOW - timedelta(days=3650))
        report = await apply_retention(opened.store, opened.checkpointer, settings, now=NOW)
        dry = await apply_retention(
            opened.store, opened.checkpointer, settings, now=NOW, dry_run=True
        )
        assert (report.before, report.conversations, dry.conversations) == (None, 0, 0)
        assert await opened.store.get_conversation("ancient") is not None


# -- batches ------------------------------------------------------------------------------------


async def test_450_old_conversations_go_in_three_batches_of_at_most_200(
    database_url: str,
) -> None:
    settings = settings_for(database_url, retention_batch=200)
    async with open_persistence(settings) as opened:
        store = opened.store
        for n in range(450):
            await store.create_conversation(f"c{n:03d}", "hash")
            await store.append_event(f"c{n:03d}", "customer_message", None, {"text": "hi"})
            await store.close_conversation(f"c{n:03d}", "unresolved", 1, LONG_AGO)

        report = await apply_retention(store, opened.checkpointer, settings, now=NOW)

        assert (report.batches, report.conversations, report.more) == (3, 450, False)
        assert report.rows["events"] == 450
        assert report.threads == 450
        assert await store.list_conversations(limit=1000) == []


async def test_one_batch_takes_the_conversations_closed_first(database_url: str) -> None:
    async with open_persistence(settings_for(database_url)) as opened:
        for n in range(5):
            await closed_conversation(opened.store, f"c{n}", LONG_AGO - timedelta(minutes=n))
        batch = await opened.store.delete_closed_before(NOW, 2)
        assert batch.conversation_ids == ("c3", "c4")
        assert batch.rows == {
            "actions": 2,
            "approvals": 2,
            "events": 4,
            "usage": 2,
            "conversation_facts": batch.rows["conversation_facts"],
            "conversations": 2,
        }
        assert batch.rows["conversation_facts"] > 0


async def test_a_sweep_stops_at_its_batch_cap_and_the_next_takes_the_rest(
    database_url: str,
) -> None:
    settings = settings_for(database_url, retention_batch=2)
    async with open_persistence(settings) as opened:
        for n in range(5):
            await closed_conversation(opened.store, f"c{n}", LONG_AGO + timedelta(minutes=n))
        capped = await apply_retention(
            opened.store, opened.checkpointer, settings, now=NOW, max_batches=2
        )
        rest = await apply_retention(opened.store, opened.checkpointer, settings, now=NOW)
        assert (capped.conversation_ids, capped.more) == (("c0", "c1", "c2", "c3"), True)
        assert (rest.conversation_ids, rest.batches, rest.more) == (("c4",), 1, False)


async def test_a_chat_turn_on_another_conversation_proceeds_while_retention_runs(
    database_url: str,
) -> None:
    settings = settings_for(database_url, retention_batch=20)
    async with engine_for(settings) as engine:
        store = engine.store
        for n in range(300):
            await closed_conversation(store, f"old-{n:03d}", LONG_AGO, events=5)
        talking, _ = await engine.start_conversation()
        finished: list[str] = []

        async def turn() -> None:
            await say(engine, talking, "Hello there")
            finished.append("turn")

        async def retention() -> None:
            report = await apply_retention(
                store, engine.graph.checkpointer, settings, now=NOW, max_batches=None
            )
            assert report.conversations == 300 and report.batches == 15
            finished.append("retention")

        await asyncio.wait_for(asyncio.gather(retention(), turn()), timeout=60)

        assert finished == ["turn", "retention"]  # the turn did not wait for 15 batches
        assert [e.kind for e in await store.events(talking)][-1] == "reply_end"
        assert await store.list_conversations() == [await store.get_conversation(talking)]


# -- analytics of old days ----------------------------------------------------------------------


async def test_the_analytics_of_the_deleted_conversations_days_stay_as_they_were(
    database_url: str,
) -> None:
    settings = settings_for(database_url)
    async with open_persistence(settings) as opened:
        store = opened.store
        for n in range(3):
            await closed_conversation(store, f"old-{n}", LONG_AGO)
        await store.create_conversation("open", "hash")
        today = NOW.replace(hour=0, minute=0, second=0, microsecond=0)
        window = (today - timedelta(days=1), today + timedelta(days=1))  # whole days
        before = (await compute(store, *window)).model_dump()

        report = await apply_retention(store, opened.checkpointer, settings, now=NOW)

        assert report.conversations == 3
        after = (await compute(store, *window)).model_dump()
        # The one figure read from the approvals themselves, not from the rollup.
        for figures in (before, after):
            figures["approvals"].pop("median_seconds_to_decide")
        assert after == before
        assert after["conversations"] == 4 and after["resolved"] == 3


# -- the server's sweeper and the command -------------------------------------------------------


async def test_the_servers_sweeper_deletes_conversations_closed_long_ago(
    database_url: str,
) -> None:
    settings = settings_for(database_url)
    async with engine_for(settings) as engine:
        await closed_conversation(engine.store, "old", LONG_AGO)
        await closed_conversation(engine.store, "recent", LAST_WEEK)
        app = create_app(settings, engine=engine, sweep_interval_seconds=0.05)
        async with app.router.lifespan_context(app):
            for _ in range(100):
                if await engine.store.get_conversation("old") is None:
                    break
                await asyncio.sleep(0.05)
        assert await engine.store.get_conversation("old") is None
        assert await engine.store.get_conversation("recent") is not None


def run_command(database_url: str, *args: str, days: int = 30) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url, "RETENTION_DAYS": str(days)}
    return subprocess.run(
        [sys.executable, "-m", "smart_support.cli", "retention", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_the_retention_command_prints_what_it_deleted_and_a_dry_run_deletes_nothing(
    database_url: str,
) -> None:
    settings = settings_for(database_url)
    async with open_persistence(settings) as opened:
        await closed_conversation(opened.store, "old-1", LONG_AGO)
        await closed_conversation(opened.store, "old-2", LONG_AGO)
        await closed_conversation(opened.store, "recent", LAST_WEEK)
        due = await opened.store.count_closed_before(NOW - timedelta(days=30))

    off = await asyncio.to_thread(run_command, database_url, days=0)
    dry = await asyncio.to_thread(run_command, database_url, "--dry-run")
    real = await asyncio.to_thread(run_command, database_url)
    again = await asyncio.to_thread(run_command, database_url)

    assert off.returncode == 0, off.stderr
    assert off.stdout == "retention is off (RETENTION_DAYS=0): nothing deleted\n"
    assert dry.returncode == 0, dry.stderr
    assert "dry run: 2 conversation(s) closed before" in dry.stdout
    assert "events 4" in dry.stdout and "actions 2" in dry.stdout
    assert real.returncode == 0, real.stderr
    lines = real.stdout.splitlines()
    assert lines[0].startswith("deleted 2 conversation(s) closed before ")
    assert lines[0].endswith(" in 1 batch(es)")
    assert lines[1] == "rows: " + ", ".join(f"{table} {due[table]}" for table in TABLES)
    assert lines[2] == "checkpoint threads: 2"
    assert again.stdout.startswith("deleted 0 conversation(s)")
    async with open_persistence(settings) as opened:
        assert await opened.store.get_conversation("old-1") is None
        assert await opened.store.get_conversation("recent") is not None


def test_the_retention_command_is_listed_in_the_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smart_support.cli", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "retention" in result.stdout


@pytest.mark.parametrize("days", [1, 30])
def test_the_cutoff_is_the_retention_days_before_now(days: int) -> None:
    settings = settings_for("sqlite:///unused.db", retention_days=days)
    assert cutoff(settings, NOW) == NOW - timedelta(days=days)

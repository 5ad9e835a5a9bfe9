"""A database that goes away: StoreUnavailable (never a driver error), then recovery by itself.

PostgreSQL outages are simulated per test database (connections refused, sessions terminated):
the shared server keeps running. SQLite outages: a write lock held by someone else for longer
than the busy timeout, and a file whose directory does not exist (yet).
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from langchain_core.runnables import RunnableConfig

from pg_admin import database_down
from smart_support.errors import StoreUnavailable
from smart_support.settings import Settings
from smart_support.store import (
    Approval,
    PostgresStore,
    SqliteStore,
    hash_args,
    open_persistence,
    translate_store_errors,
)

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
# Short pool timeouts keep the failing calls quick; reconnect_timeout < timeout is what lets
# the first call after the outage find a fresh connection (see make_pool).
FAST = {"timeout": 2.0, "reconnect_timeout": 0.5}


def approval() -> Approval:
    args = {"order_id": "A-1"}
    return Approval(
        "ap-1", "c-1", "orders", "cancel", "call-1", args, hash_args(args), "Cancel A-1",
        "pending", T0, T0 + timedelta(hours=1),
    )  # fmt: skip


async def test_a_postgres_outage_raises_store_unavailable_then_recovers_with_nothing_lost(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url, **FAST)  # type: ignore[arg-type]
    try:
        await store.setup()
        await store.create_conversation("c-1", "h")
        await store.append_event("c-1", "message", None, {"text": "before"})
        await store.create_approval(approval())
        with database_down(pg_url):
            with pytest.raises(StoreUnavailable) as read_error:
                await store.get_conversation("c-1")
            assert isinstance(read_error.value.__cause__, psycopg.OperationalError)
            with pytest.raises(StoreUnavailable):
                await store.append_event("c-1", "message", None, {"text": "during"})
            with pytest.raises(StoreUnavailable):
                async with store.conversation_lock("c-1"):
                    pytest.fail("the lock cannot be held while the database is down")
            with pytest.raises(StoreUnavailable):
                store.stored_bytes()
        await store.append_event("c-1", "message", None, {"text": "after"})
        assert [e.data["text"] for e in await store.events("c-1")] == ["before", "after"]
        assert await store.get_approval("ap-1") == approval()
        async with store.conversation_lock("c-1"):
            assert store.locks_in_use == 1
    finally:
        await store.close()


async def test_a_held_conversation_lock_whose_session_dies_is_released_quietly(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url, **FAST)  # type: ignore[arg-type]
    try:
        await store.setup()
        async with store.conversation_lock("c-1"):
            with database_down(pg_url):
                pass  # the session holding the lock is terminated mid-turn
        assert store.locks_in_use == 0
        # The dead session took its lock with it: another holder gets it at once.
        other = PostgresStore(pg_url, **FAST)  # type: ignore[arg-type]
        try:
            async with asyncio.timeout(60), other.conversation_lock("c-1"):
                pass
        finally:
            await other.close()
        # And the store whose session died takes locks again without help.
        async with asyncio.timeout(60), store.conversation_lock("c-1"):
            assert store.locks_in_use == 1
    finally:
        await store.close()


async def test_the_checkpointer_in_an_outage_fails_as_store_unavailable_when_translated(
    pg_url: str,
) -> None:
    settings = Settings(_env_file=None, database_url=pg_url)  # type: ignore[call-arg]
    config: RunnableConfig = {"configurable": {"thread_id": "c-1", "checkpoint_ns": ""}}
    async with open_persistence(settings) as persistence:
        with (
            database_down(pg_url),
            pytest.raises(StoreUnavailable),
            translate_store_errors(),
        ):
            await persistence.checkpointer.aget_tuple(config)
        with translate_store_errors():
            assert await persistence.checkpointer.aget_tuple(config) is None


async def test_opening_persistence_on_an_unreachable_server_raises_store_unavailable() -> None:
    settings = Settings(_env_file=None, database_url="postgresql://postgres@127.0.0.1:1/none")  # type: ignore[call-arg]
    with pytest.raises(StoreUnavailable) as error:
        async with open_persistence(settings):
            pytest.fail("opened a database that does not exist")
    assert isinstance(error.value.__cause__, psycopg.OperationalError)


async def test_a_sqlite_write_lock_held_too_long_raises_store_unavailable_then_recovers(
    tmp_path: Path,
) -> None:
    path = tmp_path / "db.sqlite"
    store = SqliteStore(path, busy_timeout=0.2)
    await store.setup()
    await store.create_conversation("c-1", "h")
    await store.append_event("c-1", "message", None, {"text": "before"})
    hog = sqlite3.connect(path, isolation_level=None)
    try:
        hog.execute("BEGIN EXCLUSIVE")
        with pytest.raises(StoreUnavailable) as error:
            await store.append_event("c-1", "message", None, {"text": "during"})
        assert isinstance(error.value.__cause__, sqlite3.OperationalError)
        hog.execute("ROLLBACK")
        await store.append_event("c-1", "message", None, {"text": "after"})
        assert [e.data["text"] for e in await store.events("c-1")] == ["before", "after"]
    finally:
        hog.close()
        await store.close()


async def test_a_sqlite_file_in_a_missing_directory_is_unavailable_until_the_directory_exists(
    tmp_path: Path,
) -> None:
    store = SqliteStore(tmp_path / "not-yet" / "db.sqlite")
    try:
        with pytest.raises(StoreUnavailable) as error:
            await store.setup()
        assert isinstance(error.value.__cause__, sqlite3.OperationalError)
        with pytest.raises(StoreUnavailable):
            await store.get_conversation("c-1")
        (tmp_path / "not-yet").mkdir()
        await store.setup()
        await store.create_conversation("c-1", "h")
        assert await store.get_conversation("c-1") is not None
    finally:
        await store.close()


async def test_open_persistence_creates_the_directory_of_a_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'data' / 'smart-support.db'}"
    settings = Settings(_env_file=None, database_url=url)  # type: ignore[call-arg]
    async with open_persistence(settings) as persistence:
        await persistence.store.create_conversation("c-1", "h")
    assert (tmp_path / "data" / "smart-support.db").exists()

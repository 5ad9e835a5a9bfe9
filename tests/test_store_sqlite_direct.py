"""The SQLite store runs a turn's small statements on the event loop's thread, and waits in its
worker thread when another connection holds the write lock (a real file, real connections)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path

from smart_support.store.sqlite import DIRECT, SqliteStore


async def test_a_turns_statements_run_on_the_event_loops_thread(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.setup()
    try:
        threads: list[int] = []
        store._direct_connection().set_trace_callback(
            lambda _: threads.append(threading.get_ident())
        )
        await store.create_conversation("c1", "hash")
        await store.append_event("c1", "message_accepted", None, {"text": "hi"})
        found = await store.get_conversation("c1")
    finally:
        await store.close()
    assert found is not None and found.id == "c1"
    assert {"append_event", "create_conversation", "get_conversation"} <= DIRECT
    assert len(threads) >= 3  # create_conversation also reads the row back
    assert set(threads) == {threading.get_ident()}


async def test_a_turns_write_waits_for_a_write_lock_held_by_another_connection(
    tmp_path: Path,
) -> None:
    path = tmp_path / "s.db"
    store = SqliteStore(path, busy_timeout=10)
    await store.setup()
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        await store.create_conversation("c1", "hash")
        other.execute("BEGIN IMMEDIATE")  # as the checkpointer's connection does while writing
        released = threading.Timer(0.3, lambda: other.execute("COMMIT"))
        released.start()
        # Busy on the loop's connection: the statement goes to the worker thread and waits.
        await store.append_event("c1", "message_accepted", None, {"text": "hi"})
        released.join()
        events = await store.events("c1")
    finally:
        other.close()
        await store.close()
    assert [e.kind for e in events] == ["message_accepted"]


async def test_the_store_reopens_its_loop_connection_after_close(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "s.db")
    await store.setup()
    await store.create_conversation("c1", "hash")
    await store.close()
    try:
        found = await asyncio.wait_for(store.get_conversation("c1"), 10)
    finally:
        await store.close()
    assert found is not None

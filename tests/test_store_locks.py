"""Conversation locks: one turn at a time per conversation, in a process and across processes."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import psycopg
import pytest

from pg_admin import PG_ADMIN_URL
from smart_support.store import PostgresStore, SqliteStore, create_store

GUARD_SECONDS = 60  # only a guard against hanging forever; no assertion depends on timing

HOLDER_PROCESS = """
import asyncio, sys
from smart_support.store.postgres import PostgresStore

async def main():
    store = PostgresStore(sys.argv[1])
    async with store.conversation_lock(sys.argv[2]):
        print("locked", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
    print("released", flush=True)
    await store.close()

asyncio.run(main())
"""


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[SqliteStore | PostgresStore]:
    opened = create_store(database_url)
    await opened.setup()
    await opened.create_conversation("c-1", "h")
    yield opened
    await opened.close()


async def wait_for_advisory_waiters(pg_url: str, count: int = 1) -> None:
    """Return once `count` sessions of that database wait for an advisory lock."""
    database = pg_url.rsplit("/", 1)[1]
    async with await psycopg.AsyncConnection.connect(PG_ADMIN_URL, autocommit=True) as admin:
        async with asyncio.timeout(GUARD_SECONDS):
            while True:
                cur = await admin.execute(
                    "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database"
                    " WHERE l.locktype = 'advisory' AND NOT l.granted AND d.datname = %s",
                    (database,),
                )
                row = await cur.fetchone()
                if row is not None and row[0] >= count:
                    return
                await asyncio.sleep(0.01)


async def test_concurrent_turns_of_one_conversation_in_one_process_run_one_at_a_time(
    store: SqliteStore | PostgresStore,
) -> None:
    order: list[tuple[str, int]] = []
    inside = 0
    most_inside = 0

    async def turn(n: int) -> None:
        nonlocal inside, most_inside
        async with store.conversation_lock("c-1"):
            inside += 1
            most_inside = max(most_inside, inside)
            order.append(("enter", n))
            for _ in range(3):
                await asyncio.sleep(0)
            await store.append_event("c-1", "message", None, {"n": n})
            order.append(("exit", n))
            inside -= 1

    async with asyncio.timeout(GUARD_SECONDS):
        await asyncio.gather(*(turn(n) for n in range(5)))
    assert most_inside == 1
    assert len(order) == 10
    for enter, leave in zip(order[::2], order[1::2], strict=True):
        assert enter[0] == "enter"
        assert leave == ("exit", enter[1])
    assert store.locks_in_use == 0


async def test_turns_of_different_conversations_do_not_wait_for_each_other(
    store: SqliteStore | PostgresStore,
) -> None:
    entered = False
    async with (
        asyncio.timeout(GUARD_SECONDS),
        store.conversation_lock("c-1"),
        store.conversation_lock("c-2"),
    ):
        entered = True
    assert entered
    assert store.locks_in_use == 0


async def test_a_cancelled_holder_releases_the_lock(store: SqliteStore | PostgresStore) -> None:
    holding = asyncio.Event()

    async def hold_forever() -> None:
        async with store.conversation_lock("c-1"):
            holding.set()
            await asyncio.Event().wait()

    holder = asyncio.create_task(hold_forever())
    await holding.wait()
    holder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await holder
    async with asyncio.timeout(GUARD_SECONDS), store.conversation_lock("c-1"):
        assert store.locks_in_use == 1
    assert store.locks_in_use == 0


async def test_a_cancelled_waiter_leaves_nothing_behind(store: SqliteStore | PostgresStore) -> None:
    async with store.conversation_lock("c-1"):
        waiter = asyncio.create_task(store.conversation_lock("c-1").__aenter__())
        for _ in range(5):
            await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
    assert store.locks_in_use == 0
    async with asyncio.timeout(GUARD_SECONDS), store.conversation_lock("c-1"):
        pass


async def test_two_postgres_stores_like_two_processes_exclude_each_other(pg_url: str) -> None:
    first, second = PostgresStore(pg_url), PostgresStore(pg_url)
    await first.setup()
    order: list[str] = []

    async def second_turn() -> None:
        async with second.conversation_lock("c-1"):
            order.append("second enters")
        order.append("second leaves")

    try:
        async with first.conversation_lock("c-1"):
            order.append("first enters")
            waiting = asyncio.create_task(second_turn())
            await wait_for_advisory_waiters(pg_url)
            assert not waiting.done()
            order.append("first leaves")
        async with asyncio.timeout(GUARD_SECONDS):
            await waiting
        assert order == ["first enters", "first leaves", "second enters", "second leaves"]
    finally:
        await first.close()
        await second.close()


async def test_many_conversations_hold_postgres_locks_at_once_without_a_connection_each(
    pg_url: str,
) -> None:
    store = PostgresStore(pg_url, max_size=2, lock_waiters=1)
    everyone_in = asyncio.Event()
    inside = 0

    async def turn(n: int) -> None:
        nonlocal inside
        async with store.conversation_lock(f"c-{n}"):
            inside += 1
            if inside == 30:
                everyone_in.set()
            await everyone_in.wait()

    try:
        async with asyncio.timeout(GUARD_SECONDS):
            await asyncio.gather(*(turn(n) for n in range(30)))
        assert inside == 30
        assert store.locks_in_use == 0
    finally:
        await store.close()


async def test_a_postgres_waiter_cancelled_while_waiting_leaves_no_lock_behind(
    pg_url: str,
) -> None:
    first, second, third = PostgresStore(pg_url), PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        async with first.conversation_lock("c-1"):
            waiter = asyncio.create_task(second.conversation_lock("c-1").__aenter__())
            await wait_for_advisory_waiters(pg_url)
            waiter.cancel()
            with pytest.raises(asyncio.CancelledError):
                await waiter
        # Had the cancelled waiter's session kept (or later got) the lock, this would hang.
        async with asyncio.timeout(GUARD_SECONDS), third.conversation_lock("c-1"):
            pass
        async with asyncio.timeout(GUARD_SECONDS), second.conversation_lock("c-1"):
            pass
    finally:
        for store in (first, second, third):
            await store.close()


async def test_a_turn_waits_while_another_process_holds_the_conversation(pg_url: str) -> None:
    store = PostgresStore(pg_url)
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        HOLDER_PROCESS,
        pg_url,
        "c-1",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdin is not None
    assert child.stdout is not None
    order: list[str] = []

    async def my_turn() -> None:
        async with store.conversation_lock("c-1"):
            order.append("this process enters")

    try:
        async with asyncio.timeout(GUARD_SECONDS):
            assert await child.stdout.readline() == b"locked\n"
            order.append("other process holds")
            mine = asyncio.create_task(my_turn())
            await wait_for_advisory_waiters(pg_url)
            assert not mine.done()
            child.stdin.write(b"release\n")
            await child.stdin.drain()
            await mine
            assert await child.stdout.readline() == b"released\n"
            assert await child.wait() == 0
        assert order == ["other process holds", "this process enters"]
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()
        await store.close()


async def test_a_singleton_is_held_by_one_postgres_process_at_a_time(pg_url: str) -> None:
    one, two = PostgresStore(pg_url), PostgresStore(pg_url)
    try:
        async with one.singleton("sweeper") as first:
            async with two.singleton("sweeper") as second:
                assert (first, second) == (True, False)  # the second skips, at once
            async with one.singleton("other work") as unrelated:
                assert unrelated
        async with two.singleton("sweeper") as after:
            assert after  # released when the first one's block ended
    finally:
        await one.close()
        await two.close()


async def test_a_singleton_of_a_sqlite_store_is_always_its_own(sqlite_url: str) -> None:
    store = create_store(sqlite_url)
    try:
        async with store.singleton("sweeper") as first, store.singleton("sweeper") as second:
            assert first and second  # one process per file: nobody else to exclude
    finally:
        await store.close()

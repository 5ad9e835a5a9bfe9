"""The tool guard under faults: the database going away right after an approved write ran, and a
pre-check tool that is no longer a read when it is called."""

from __future__ import annotations

import psycopg
from langchain_core.tools import StructuredTool

from smart_support.runtime.engine import Engine
from smart_support.runtime.events import ApprovalRequested, ReplyEnd, TurnError
from smart_support.runtime.guard import SYSTEM_FAILED, ToolGuard
from smart_support.settings import Settings
from smart_support.store import open_persistence
from smart_support.testing import ScriptedChatModel, call
from smart_support.tools import ToolContext
from test_engine_approvals import collect, only, read_book, settings_for, to_orders


async def test_an_approved_write_that_ran_before_the_database_went_away_is_reported_as_done(
    pg_url, book, monkeypatch
):
    monkeypatch.setenv("ENGINE_TEST_PG_URL", pg_url)
    monkeypatch.setenv("ENGINE_TEST_PLUG_AFTER_WRITE", "1")
    database = pg_url.rsplit("/", 1)[1]
    admin_url = pg_url.rsplit("/", 1)[0] + "/test"
    model = ScriptedChatModel(
        script=[call("cancel_order", {"order_id": 1042}), "Order 1042 is cancelled."]
    )
    async with Engine.open(settings_for(pg_url), model=model, router_model=to_orders()) as engine:
        conversation, _ = await engine.start_conversation()
        [request] = only(
            await collect(engine.send(conversation, "cancel order 1042")), ApprovalRequested
        )
        try:
            decided = await collect(
                engine.decide(request.approval_id, True, "customer", conversation)
            )
        finally:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        monkeypatch.delenv("ENGINE_TEST_PLUG_AFTER_WRITE")
        after = await collect(engine.send(conversation, "thanks, is it done?"))
        action = await engine.store.get_action(request.approval_id)

    [error] = only(decided, TurnError)
    assert error.message.startswith('"Cancel order 1042" was carried out.')
    assert "not sent" not in error.message
    assert only(after, ReplyEnd)[0].text == "Order 1042 is cancelled."
    assert action is not None and action.status == "succeeded", "not reported as unknown"
    assert [c["order_id"] for c in read_book(book)["calls"] if c["tool"] == "cancel_order"] == [
        1042
    ], "ran once"


async def test_a_check_tool_that_is_no_longer_a_read_is_not_called(sqlite_url):
    ran: list[int] = []

    async def lookup_order(order_id: int) -> dict:
        """Look up an order."""
        ran.append(order_id)
        return {"status": "pending"}

    lookup = StructuredTool.from_function(coroutine=lookup_order)
    lookup.metadata = {"access": "read"}
    settings = Settings(_env_file=None, database_url=sqlite_url)  # type: ignore[call-arg]
    async with open_persistence(settings) as persistence:
        guard = ToolGuard("orders", [lookup], persistence.store, settings)
        ctx = ToolContext(settings, conversation_id="c-1")
        assert await guard._guarded_read(lookup, {"order_id": 1}, ctx) == {"status": "pending"}

        lookup.metadata = {"access": "write"}  # changed after start-up (e.g. a reloaded entry)
        refused = await guard._guarded_read(lookup, {"order_id": 2}, ctx)

    assert refused == SYSTEM_FAILED
    assert ran == [1], "the write was never called as a check"

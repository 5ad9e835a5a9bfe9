"""The demo shop's own OpenAPI document, imported from the running shop, drives its API."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import urlsplit

from smart_support.openapi import ImportResult, import_spec
from smart_support.settings import Settings
from smart_support.tools import ToolContext, tool_context


def settings_for(shop_url: str) -> Settings:
    return Settings(egress_allowlist=[urlsplit(shop_url).netloc])


def shop_import(shop_url: str) -> ImportResult:
    return asyncio.run(import_spec(shop_url + "/openapi.json", settings_for(shop_url)))


def call(
    result: ImportResult,
    tool_name: str,
    shop_url: str,
    arguments: dict[str, Any],
    key: str | None = None,
) -> Any:
    tool = next(op.tool for op in result.operations if op.name == tool_name)

    async def run() -> Any:
        with tool_context(ToolContext(settings_for(shop_url), idempotency_key=key)):
            return await tool.ainvoke(arguments)

    return asyncio.run(run())


def test_the_shops_spec_gives_get_order_as_a_read_and_cancel_order_as_a_write(
    running_shop: str,
) -> None:
    result = shop_import(running_shop)
    access = {op.name: op.report()["access"] for op in result.operations}
    assert access["get_order"] == "read"
    assert access["cancel_order"] == "write"
    assert result.skipped == []
    cancel = next(op for op in result.operations if op.name == "cancel_order")
    names = {p["original"] for p in cancel.report()["parameters"]}
    assert "Idempotency-Key" not in names  # sent from the ledger, never by the model
    assert {"order_id", "X-Customer-Id", "reason"} <= names
    assert cancel.operation.server == running_shop


def test_get_order_through_the_imported_tool_returns_the_status_of_1042(running_shop: str) -> None:
    result = shop_import(running_shop)
    order = call(result, "get_order", running_shop, {"order_id": 1042})
    assert order["id"] == 1042 and order["status"] == "processing"
    missing = call(result, "get_order", running_shop, {"order_id": 999999})
    assert missing["ok"] is False and missing["status"] == 404


def test_cancel_order_sends_the_idempotency_key_and_a_repeat_changes_nothing(
    running_shop: str,
) -> None:
    result = shop_import(running_shop)
    first = call(
        result,
        "cancel_order",
        running_shop,
        {"order_id": 1042, "reason": "changed my mind"},
        key="approval-1",
    )
    again = call(
        result,
        "cancel_order",
        running_shop,
        {"order_id": 1042, "reason": "changed my mind"},
        key="approval-1",
    )
    assert again == first
    assert call(result, "get_order", running_shop, {"order_id": 1042})["status"] == "cancelled"


def test_invoked_as_the_tool_guard_invokes_it_the_tool_answers_a_json_tool_message(
    running_shop: str,
) -> None:
    result = shop_import(running_shop)
    tool = next(op.tool for op in result.operations if op.name == "get_order")
    call_ = {"name": "get_order", "args": {"order_id": 1042}, "id": "call-1", "type": "tool_call"}

    async def run() -> Any:
        with tool_context(ToolContext(settings_for(running_shop))):
            return await tool.ainvoke(call_)

    message = asyncio.run(run())
    assert message.tool_call_id == "call-1"
    assert json.loads(message.content)["status"] == "processing"

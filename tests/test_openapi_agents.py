"""An OpenAPI import as an agents.yaml tool source: the demo shop's own /openapi.json becomes the
orders agent's tools, below the tool guard (reads run, writes wait for approval and carry the
ledger's idempotency key to the shop). Real shop over HTTP, the engine on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from langchain_core.messages import BaseMessage, ToolMessage

from shop_fixture import running_shop, shop_process  # noqa: F401
from smart_support.errors import ConfigError
from smart_support.registry import load_registry, validate_command
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import ApprovalRequested, ReplyEnd
from smart_support.settings import Settings
from smart_support.testing import ScriptedChatModel, call
from smart_support.tools import ToolContext, open_toolkit, tool_context


def agents_file(tmp_path: Path, shop_url: str, tools: str) -> Path:
    path = tmp_path / "agents.yaml"
    path.write_text(
        "openapi:\n"
        f"  shop:\n    source: {shop_url}/openapi.json\n"
        "agents:\n"
        "  - name: orders\n"
        "    description: Orders.\n"
        "    role: fallback\n"
        "    tools:\n" + tools
    )
    return path


def settings_for(shop_url: str, **extra: Any) -> Settings:
    port = shop_url.rsplit(":", 1)[1]
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        egress_allowlist=[f"127.0.0.1:{port}"],
        llm_provider="offline",
        **extra,
    )


def echo(messages: list[BaseMessage]) -> str:
    last = messages[-1]
    return str(last.content) if isinstance(last, ToolMessage) else "?"


async def test_a_whole_import_gives_reads_for_gets_and_writes_for_the_rest(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
) -> None:
    registry = load_registry(agents_file(tmp_path, running_shop, "      - openapi: shop\n"))

    async with open_toolkit(registry, settings_for(running_shop)) as toolkit:
        access = {t.name: toolkit.access(t.name) for t in toolkit.tools_for("orders")}

    assert access["get_order"] == access["get_order_tracking"] == "read"
    assert access["cancel_order"] == access["start_return"] == "write"


async def test_an_imported_write_waits_for_approval_and_reaches_the_shop_once_with_its_key(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
    shop_process: Any,  # noqa: F811
    database_url: str,
) -> None:
    path = agents_file(
        tmp_path,
        running_shop,
        "      - openapi: shop\n        tool: get_order\n        access: read\n"
        "      - openapi: shop\n        tool: cancel_order\n"
        '        summary: "Cancel order {order_id}"\n',
    )
    model = ScriptedChatModel(
        script=[
            call("get_order", {"order_id": 1042}),
            echo,
            call("cancel_order", {"order_id": 1042}),
            echo,
        ]
    )
    router = ScriptedChatModel(default="")
    settings = settings_for(running_shop, agents_file=path, database_url=database_url)
    async with Engine.open(settings, model=model, router_model=router) as engine:
        conversation, _ = await engine.start_conversation()
        status = [e async for e in engine.send(conversation, "status of 1042?")]
        asked = [e async for e in engine.send(conversation, "cancel 1042")]
        [request] = [e for e in asked if isinstance(e, ApprovalRequested)]
        before = shop_process.app.state.shop.order(1042).status
        done = [e async for e in engine.decide(request.approval_id, True, "customer", conversation)]

    [reply] = [e for e in status if isinstance(e, ReplyEnd)]
    assert json.loads(reply.text)["status"] == "processing"
    assert request.summary == "Cancel order 1042"
    assert before == "processing", "nothing ran before the approval"
    [result] = [e for e in done if isinstance(e, ReplyEnd)]
    assert json.loads(result.text)["status"] == "cancelled"
    shop = shop_process.app.state.shop
    assert shop.order(1042).status == "cancelled"
    assert request.approval_id in shop._idempotency, "the ledger's key reached the shop"


async def test_access_read_on_a_whole_import_is_refused(tmp_path: Path) -> None:
    path = agents_file(
        tmp_path, "http://127.0.0.1:9", "      - openapi: shop\n        access: read\n"
    )

    with pytest.raises(ConfigError) as err:
        load_registry(path)

    assert "comes from each operation's method" in str(err.value)


def test_an_undeclared_import_is_named_by_validate(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = agents_file(tmp_path, running_shop, "      - openapi: billing\n")

    code = validate_command(path, settings_for(running_shop))

    assert code == 1
    assert "import 'billing' is not declared under openapi" in capsys.readouterr().err


async def test_an_operation_the_import_lacks_is_a_config_error_naming_it(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
) -> None:
    path = agents_file(
        tmp_path, running_shop, "      - openapi: shop\n        tool: refund_everything\n"
    )

    with pytest.raises(ConfigError) as err:
        async with open_toolkit(load_registry(path), settings_for(running_shop)):
            pass

    assert "has no operation 'refund_everything'" in str(err.value)
    assert "cancel_order" in str(err.value)


def tagged_agents_file(tmp_path: Path, shop_url: str, tools: str) -> Path:
    """The shop's own spec with tags on its operations, served by the shop itself."""
    from smart_support.demo.shop import create_app

    spec = create_app().openapi()
    for path, item in spec["paths"].items():
        for operation in item.values():
            operation["tags"] = ["orders"] if path.startswith("/orders") else ["catalog"]
    spec["paths"]["/orders/{order_id}/tracking"]["get"]["tags"] = ["orders", "shipping"]
    (tmp_path / "shop.json").write_text(json.dumps(spec))
    path = tmp_path / "agents.yaml"
    path.write_text(
        "openapi:\n"
        f"  shop:\n    source: shop.json\n    server: {shop_url}\n"
        "agents:\n"
        "  - name: orders\n"
        "    description: Orders.\n"
        "    role: fallback\n"
        "    tools:\n" + tools
    )
    return path


async def test_an_entry_with_tags_gives_only_the_operations_with_one_of_them(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
) -> None:
    path = tagged_agents_file(
        tmp_path, running_shop, "      - openapi: shop\n        tags: [shipping, catalog]\n"
    )

    async with open_toolkit(load_registry(path), settings_for(running_shop)) as toolkit:
        tools = {t.name: t for t in toolkit.tools_for("orders")}
        with tool_context(ToolContext(settings_for(running_shop))):
            tracking = await tools["get_order_tracking"].ainvoke({"order_id": 1042})

    assert set(tools) == {
        "get_order_tracking",
        "search_products",
        "get_product",
        "health",
        "find_customer_by_email",
    }
    assert tools["get_order_tracking"].metadata == {
        "access": "read",
        "summary": None,
        "source": "openapi:shop",
    }
    assert "1042" in json.dumps(tracking), "the tagged operation calls the shop"


async def test_two_entries_with_different_tags_give_both_sets_and_one_operation_twice_is_refused(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
) -> None:
    apart = tagged_agents_file(
        tmp_path,
        running_shop,
        "      - openapi: shop\n        tags: [shipping]\n"
        "      - openapi: shop\n        tags: [catalog]\n",
    )
    async with open_toolkit(load_registry(apart), settings_for(running_shop)) as toolkit:
        names = {t.name for t in toolkit.tools_for("orders")}
    assert {"get_order_tracking", "search_products"} <= names
    assert "cancel_order" not in names

    overlapping = tagged_agents_file(
        tmp_path,
        running_shop,
        "      - openapi: shop\n        tags: [shipping]\n"
        "      - openapi: shop\n        tags: [orders]\n",
    )
    with pytest.raises(ConfigError, match="duplicate tool name 'get_order_tracking'"):
        async with open_toolkit(load_registry(overlapping), settings_for(running_shop)):
            pass


async def test_an_unknown_tag_is_a_config_error_naming_the_tags_the_import_has(
    tmp_path: Path,
    running_shop: str,  # noqa: F811
) -> None:
    path = tagged_agents_file(
        tmp_path, running_shop, "      - openapi: shop\n        tags: [refunds]\n"
    )

    with pytest.raises(ConfigError) as err:
        async with open_toolkit(load_registry(path), settings_for(running_shop)):
            pass

    assert "agents[0].tools[0].tags: import 'shop' has no tag 'refunds'" in str(err.value)
    assert "(its tags: catalog, orders, shipping)" in str(err.value)


def test_tags_go_only_on_a_whole_import(tmp_path: Path) -> None:
    path = agents_file(
        tmp_path,
        "http://127.0.0.1:9",
        "      - openapi: shop\n        tool: get_order\n        tags: [orders]\n",
    )

    with pytest.raises(ConfigError) as err:
        load_registry(path)

    assert "`tags:` goes only with `openapi:` and no `tool:`" in str(err.value)

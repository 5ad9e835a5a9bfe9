"""The demo agents' tools against the real demo shop over HTTP, the help center, and agents.yaml."""

from __future__ import annotations

import importlib
import inspect
import socket
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import httpx
import pytest
import yaml

from shop_fixture import free_port, running_shop, shop_process  # noqa: F401
from smart_support.demo import tools
from smart_support.demo.knowledge import KnowledgeBase, search_help_center, split_sections
from smart_support.demo.shop import shop_today
from smart_support.errors import EgressRefused, ToolError
from smart_support.settings import Settings, load_settings
from smart_support.tools.context import ToolContext, tool_context


def settings_for(url: str, **overrides: object) -> Settings:
    port = url.rsplit(":", 1)[1]
    return load_settings(shop_url=url, egress_allowlist=[f"127.0.0.1:{port}"], **overrides)


@pytest.fixture
def shop_context(running_shop: str) -> Iterator[ToolContext]:  # noqa: F811
    with tool_context(ToolContext(settings=settings_for(running_shop))) as ctx:
        yield ctx


def order_status(url: str, order_id: int) -> str:
    return str(httpx.get(f"{url}/orders/{order_id}", trust_env=False).json()["status"])


# --- reads ----------------------------------------------------------------------------------------


async def test_the_status_of_order_1042_comes_from_the_shop(shop_context: ToolContext) -> None:
    facts = await tools.get_order_status(1042)
    assert facts["ok"] is True
    assert facts["order_id"] == 1042
    assert facts["status"] == "processing"
    items_total = sum(item["line_total"] for item in facts["items"])
    assert facts["total"] == round(items_total + facts["shipping_cost"], 2)
    assert "tracking_number" not in facts
    assert facts["shipping_address"]["recipient"] == "Maya Chen"


async def test_the_status_of_a_shipped_order_includes_its_tracking(
    shop_context: ToolContext,
) -> None:
    facts = await tools.get_order_status("#1050")  # type: ignore[arg-type]
    assert facts["status"] == "shipped"
    assert facts["carrier"] == "UPS"
    assert facts["tracking_number"] == "1Z4F2A9E0312345678"


async def test_tracking_order_1050_gives_carrier_number_and_estimated_delivery(
    shop_context: ToolContext,
) -> None:
    tracking = await tools.track_order(1050)
    assert tracking["ok"] is True
    assert tracking["tracking_number"] == "1Z4F2A9E0312345678"
    # 1050 shipped two days before the shop's day and arrives two days after it.
    assert tracking["estimated_delivery"] == (shop_today() + timedelta(days=2)).isoformat()
    assert "UPS" in tracking["message"]


async def test_an_unknown_order_is_an_answer_not_an_exception(shop_context: ToolContext) -> None:
    assert await tools.track_order(99999) == {
        "ok": False,
        "error": "order 99999 does not exist",
        "status_code": 404,
    }


@pytest.mark.parametrize("bad", ["abc", "10/../42", True, "1e3"])
async def test_something_that_is_not_an_order_number_is_refused_before_any_request(
    bad: object,
) -> None:
    # no tool context and no shop: a request would raise ToolError, so reaching none is the point
    settings = settings_for(f"http://127.0.0.1:{free_port()}")
    with tool_context(ToolContext(settings=settings)):
        answer = await tools.get_order_status(bad)  # type: ignore[arg-type]
    assert answer == {"ok": False, "error": "an order number is a whole number such as 1042"}


async def test_a_customer_is_found_by_email(shop_context: ToolContext) -> None:
    customer = await tools.find_customer("maya.chen@example.com")
    assert customer["ok"] is True
    assert customer["name"] == "Maya Chen"
    assert 1042 in [order["id"] for order in customer["recent_orders"]]
    assert customer["order_count"] >= len(customer["recent_orders"])


async def test_an_unknown_or_malformed_email_is_reported_readably(
    shop_context: ToolContext,
) -> None:
    unknown = await tools.find_customer("ghost@example.com")
    assert unknown["ok"] is False
    assert "ghost@example.com" in unknown["error"]
    malformed = await tools.find_customer("not an email")
    assert malformed["ok"] is False
    assert malformed["error"].startswith("email (in the query)")


async def test_product_search_finds_the_jacket_with_prices(shop_context: ToolContext) -> None:
    found = await tools.search_products("rain jacket")
    assert found["products"][0]["name"] == "Trailblazer Rain Jacket"
    assert all(variant["price"] > 0 for variant in found["products"][0]["variants"])


# --- writes ---------------------------------------------------------------------------------------


async def test_cancelling_with_an_idempotency_key_acts_once(running_shop: str) -> None:  # noqa: F811
    ctx = ToolContext(settings=settings_for(running_shop), idempotency_key="call-7f3a")
    with tool_context(ctx):
        first = await tools.cancel_order(1042, reason="ordered the wrong size")
        second = await tools.cancel_order(1042, reason="ordered the wrong size")

    assert first["ok"] is True and first["status"] == "cancelled"
    assert second == first  # a replay, not "already cancelled"
    assert order_status(running_shop, 1042) == "cancelled"
    # the shop saw the tool's key: reusing it for another request is refused
    async with httpx.AsyncClient(base_url=running_shop, trust_env=False) as client:
        reused = await client.post("/orders/1001/cancel", headers={"Idempotency-Key": "call-7f3a"})
    assert reused.status_code == 422
    assert order_status(running_shop, 1001) == "pending"


async def test_a_write_without_a_key_is_not_replayed(running_shop: str) -> None:  # noqa: F811
    with tool_context(ToolContext(settings=settings_for(running_shop))):
        first = await tools.cancel_order(1042)
        second = await tools.cancel_order(1042)
    assert first["ok"] is True
    assert second["ok"] is False
    assert "already cancelled" in second["error"]


async def test_cancelling_a_shipped_order_returns_the_shops_reason(
    shop_context: ToolContext,
    running_shop: str,  # noqa: F811
) -> None:
    answer = await tools.cancel_order(1050)
    assert answer == {
        "ok": False,
        "error": "order 1050 has already shipped and can no longer be cancelled",
        "status_code": 409,
    }
    assert order_status(running_shop, 1050) == "shipped"


async def test_changing_the_address_of_an_unshipped_order(
    shop_context: ToolContext,
    running_shop: str,  # noqa: F811
) -> None:
    answer = await tools.change_shipping_address(1042, "5 Canal Street", "Utrecht", "3511", "NL")
    assert answer["ok"] is True
    async with httpx.AsyncClient(base_url=running_shop, trust_env=False) as client:
        order = (await client.get("/orders/1042")).json()
    assert order["shipping_address"]["street"] == "5 Canal Street"
    assert order["shipping_address"]["country"] == "NL"


async def test_a_hostile_address_is_refused_with_a_reason(shop_context: ToolContext) -> None:
    answer = await tools.change_shipping_address(1042, "1 Main St\r\nX-Injected: 1", "A", "", "")
    assert answer["ok"] is False
    assert "street" in answer["error"] and "postal_code" in answer["error"]


async def test_returns_inside_and_outside_the_window(shop_context: ToolContext) -> None:
    started = await tools.start_return(1060, reason="too small")
    assert started["ok"] is True
    assert started["return"]["return_id"] == "R-1060"
    late = await tools.start_return(1070, reason="too small")
    assert late["ok"] is False
    assert "return window closed" in late["error"]


# --- the shop being down --------------------------------------------------------------------------


async def test_a_shop_that_is_down_raises_a_tool_error_naming_it() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with tool_context(ToolContext(settings=settings_for(url))), pytest.raises(ToolError) as err:
        await tools.get_order_status(1042)
    assert str(err.value).startswith(f"the shop API at {url} is not reachable: ")


async def test_a_shop_that_never_answers_raises_a_tool_error() -> None:
    with socket.socket() as silent:  # accepts connections into its backlog, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}"
        ctx = ToolContext(settings=settings_for(url, egress_timeout_seconds=0.2))
        with tool_context(ctx), pytest.raises(ToolError) as err:
            await tools.track_order(1050)
    assert str(err.value) == f"the shop API at {url} is not reachable: it timed out"


# --- tool descriptions ----------------------------------------------------------------------------


TOOLS = [
    tools.get_order_status,
    tools.track_order,
    tools.find_customer,
    tools.search_products,
    tools.cancel_order,
    tools.change_shipping_address,
    tools.start_return,
    search_help_center,
]


def test_every_tool_is_async_typed_and_has_a_distinct_first_docstring_line() -> None:
    first_lines = []
    for tool in TOOLS:
        assert inspect.iscoroutinefunction(tool), tool.__name__
        signature = inspect.signature(tool)
        assert all(
            p.annotation is not inspect.Parameter.empty for p in signature.parameters.values()
        )
        doc = inspect.getdoc(tool) or ""
        assert "Args:" in doc, tool.__name__
        first_lines.append(doc.splitlines()[0])
    assert len(set(first_lines)) == len(first_lines)


# --- the help center ------------------------------------------------------------------------------


async def test_how_do_i_return_an_item_finds_the_returns_section() -> None:
    found = await search_help_center("how do I return an item?")
    best = found["matches"][0]
    assert best["source"] == "returns.md"
    assert "How do I return an item?" in best["title"]
    assert "30 days" in found["matches"][0]["text"] or "30 days" in found["matches"][1]["text"]


@pytest.mark.parametrize(
    ("question", "source", "title_words"),
    [
        ("I forgot my password", "accounts.md", "password"),
        ("do you take PayPal?", "payments.md", "payment methods"),
        ("how much does shipping cost", "shipping.md", "costs"),
        ("can I cancel my order?", "returns.md", "Cancelling"),
        ("my package arrived damaged", "returns.md", "Damaged"),
    ],
)
async def test_the_help_center_finds_the_right_article(
    question: str, source: str, title_words: str
) -> None:
    best = (await search_help_center(question))["matches"][0]
    assert best["source"] == source
    assert title_words in best["title"]


async def test_a_question_the_help_center_does_not_cover_finds_nothing() -> None:
    found = await search_help_center("xylophone quantum")
    assert found["matches"] == []
    assert "xylophone" in found["note"]
    assert (await search_help_center("   "))["matches"] == []


def test_the_help_center_agrees_with_the_shops_rules() -> None:
    kb = Path(str(resources.files("smart_support.demo") / "kb"))
    text = " ".join(path.read_text() for path in kb.glob("*.md"))
    assert len(list(kb.glob("*.md"))) >= 4
    assert "within 30 days of delivery" in text
    for carrier in ("UPS", "FedEx", "DHL", "USPS"):
        assert carrier in text


def test_sections_are_split_at_second_level_headings() -> None:
    sections = split_sections("# Guide\nintro\n## One\nfirst text\n## Two\nsecond text\n", "g.md")
    assert [s.title for s in sections] == ["Guide: One", "Guide: Two"]
    assert sections[1].text == "second text"
    best = KnowledgeBase(sections).search("second")
    assert [s.title for _, s in best] == ["Guide: Two"]


# --- agents.yaml ----------------------------------------------------------------------------------


def demo_agents() -> list[dict[str, object]]:
    text = (resources.files("smart_support.demo") / "agents.yaml").read_text()
    spec = yaml.safe_load(text)
    assert spec["version"] == 1
    return list(spec["agents"])


def test_the_demo_agents_have_the_roles_the_runtime_expects() -> None:
    roles = {str(a["name"]): a.get("role", "specialist") for a in demo_agents()}
    assert roles == {
        "orders": "specialist",
        "faq": "specialist",
        "escalation": "escalation",
        "general": "fallback",
    }
    for agent in demo_agents():
        examples = agent["examples"]
        assert isinstance(examples, list) and 8 <= len(examples) <= 20, agent["name"]
        assert agent["personality"] and agent["description"]


def test_every_demo_tool_reference_resolves_and_writes_have_a_summary() -> None:
    for agent in demo_agents():
        for ref in agent.get("tools") or []:  # type: ignore[attr-defined]
            module, name = ref["python"].split(":")
            function = getattr(importlib.import_module(module), name)
            assert ref["access"] in ("read", "write")
            if ref["access"] == "write":
                fields = set(inspect.signature(function).parameters)
                summary = ref["summary"]
                used = {part.split("}")[0] for part in summary.split("{")[1:]}
                assert used <= fields, (name, used - fields)
            else:
                assert not name.startswith(("cancel", "change", "start")), name
    escalation = next(a for a in demo_agents() if a["name"] == "escalation")
    assert not escalation.get("tools")


async def test_a_shop_outside_the_egress_allowlist_is_refused_by_the_guard(
    running_shop: str,  # noqa: F811
) -> None:
    settings = load_settings(shop_url=running_shop, egress_allowlist=[])
    with tool_context(ToolContext(settings=settings)), pytest.raises(EgressRefused) as err:
        await tools.cancel_order(1042)
    assert str(err.value).startswith("refused: ")
    async with httpx.AsyncClient(base_url=running_shop, trust_env=False) as client:
        assert (await client.get("/orders/1042")).json()["status"] == "processing"

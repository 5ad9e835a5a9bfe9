"""The offline model: routing, tool choice, arguments, answers, streaming, and create_agent."""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import pytest
import yaml
from langchain.agents import create_agent
from langchain_core.callbacks import get_usage_metadata_callback
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool

from smart_support.models.offline import OFFLINE_LABEL, OfflineChatModel
from smart_support.registry import load_registry
from smart_support.runtime.routing import Router

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tests" / "data"
PERSONALITY = "You are the orders specialist of a shop. Be brief and friendly."
SYSTEM = SystemMessage(PERSONALITY)


# -- a shop tool set (like the demo's) and an invented hotel one ---------------------------------


@tool
def get_order_status(order_id: int) -> dict:
    """Get the status of an order: items, total and current state."""
    return {"order_id": order_id, "status": "shipped", "total": 59.9}


@tool
def track_order(order_id: int) -> dict:
    """Track an order's shipment: carrier, tracking number and estimated delivery date."""
    return {
        "order_id": order_id,
        "carrier": "DHL",
        "tracking_number": "JD014600006281",
        "estimated_delivery": "2026-11-28",
    }


@tool
def cancel_order(order_id: int, reason: str | None = None) -> dict:
    """Cancel an order that has not shipped yet."""
    return {"ok": True, "order_id": order_id, "status": "cancelled"}


@tool
def change_shipping_address(
    order_id: int, street: str, city: str, postal_code: str, country: str
) -> dict:
    """Change the shipping address of an order that has not shipped yet."""
    return {"ok": True}


@tool
def find_customer(email: str) -> dict:
    """Find a customer account by email address."""
    return {"email": email}


@tool
def search_help_center(query: str) -> list:
    """Search the help center for questions about shipping, returns, payment and accounts."""
    return []


SHOP = [get_order_status, track_order, cancel_order, change_shipping_address, find_customer]


@tool
def book_room(
    hotel: str,
    check_in: dt.date,
    nights: int,
    guests: int,
    room_type: Literal["single", "double", "family suite"],
) -> dict:
    """Book a hotel room for a number of nights."""
    return {}


@tool
def cancel_booking(booking_reference: str) -> dict:
    """Cancel an existing hotel booking."""
    return {}


@tool
def check_availability(hotel: str, check_in: dt.date, nights: int) -> dict:
    """Check which rooms are free at a hotel."""
    return {}


HOTEL = [book_room, cancel_booking, check_availability]


def ask(tools: list[Any], *messages: BaseMessage | str) -> AIMessage:
    msgs = [SYSTEM, *(HumanMessage(m) if isinstance(m, str) else m for m in messages)]
    reply = OfflineChatModel().bind_tools(tools).invoke(msgs)
    assert isinstance(reply, AIMessage)
    return reply


def call_of(reply: AIMessage) -> tuple[str, dict[str, Any]]:
    assert len(reply.tool_calls) == 1, reply
    return reply.tool_calls[0]["name"], reply.tool_calls[0]["args"]


def after_result(name: str, args: dict[str, Any], result: Any, **kw: Any) -> list[BaseMessage]:
    content = result if isinstance(result, str | list) else json.dumps(result)
    return [
        HumanMessage("please help"),
        AIMessage("", tool_calls=[{"name": name, "args": args, "id": "call_1"}]),
        ToolMessage(content, tool_call_id="call_1", name=name, **kw),
    ]


# -- routing --------------------------------------------------------------------------------------


def _bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "routing_accuracy", ROOT / "bench" / "routing_accuracy.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["routing_accuracy"] = module
    spec.loader.exec_module(module)
    return module


def _router() -> Router:
    return Router(load_registry(DATA / "routing_agents.yaml"), OfflineChatModel())


async def test_routing_sends_a_clear_request_for_a_person_to_the_escalation_agent() -> None:
    route = await _router().route("I'd like to speak with somebody from your staff", None, [])
    assert (route.agent, route.reason, route.used_model) == ("escalation", "escalation", True)


async def test_routing_sends_a_request_nothing_fits_to_the_fallback_agent() -> None:
    route = await _router().route("what's the population of Peru", None, [])
    assert (route.agent, route.reason) == ("general", "fallback")


async def test_a_closing_thanks_after_an_order_question_leaves_the_specialist() -> None:
    router = _router()
    route = await router.route("thank you, that's all I needed", "orders", [])
    assert route.agent == "general"


@pytest.mark.parametrize(
    ("agents", "cases", "minimum"),
    [
        ("routing_agents.yaml", "routing_cases.yaml", 0.96),
        ("demo", "routing_cases.yaml", 0.97),
        # The old held-out set: its misses have been looked at since, so it is no longer
        # independent; this guards what is reached today.
        ("demo", "routing_holdout.yaml", 0.89),
        ("routing_agents.yaml", "routing_holdout.yaml", 0.75),
        # The fresh held-out set (never tuned on): the target is 0.9.
        ("demo", "routing_fresh.yaml", 0.89),
        ("routing_agents.yaml", "routing_fresh.yaml", 0.76),
    ],
)
def test_routing_through_the_runtime_router_is_accurate_on_every_labelled_set(
    agents: str, cases: str, minimum: float
) -> None:
    bench = _bench()
    path = bench.DEMO_AGENTS if agents == "demo" else DATA / agents
    result = bench.evaluate(path, DATA / cases)
    print(bench.report(result))
    assert result.total >= 100
    assert set(result.per_agent) == {"orders", "faq", "escalation", "general"}
    assert result.accuracy >= minimum


def _example_words(*files: Path) -> set[tuple[str, ...]]:
    agents = [a for f in files for a in yaml.safe_load(f.read_text())["agents"]]
    return {_words(e) for a in agents for e in a["examples"]}


def _words(text: str) -> tuple[str, ...]:
    return tuple(re.findall(r"[a-z0-9]+", text.lower()))


def test_the_labelled_cases_are_not_copies_of_the_agents_examples() -> None:
    examples = _example_words(DATA / "routing_agents.yaml")
    cases = yaml.safe_load((DATA / "routing_cases.yaml").read_text())["cases"]
    assert [c["text"] for c in cases if _words(c["text"]) in examples] == []


def test_the_held_out_cases_are_not_copies_of_any_agents_examples() -> None:
    demo = ROOT / "src" / "smart_support" / "demo" / "agents.yaml"
    examples = _example_words(DATA / "routing_agents.yaml", demo)
    cases = yaml.safe_load((DATA / "routing_holdout.yaml").read_text())["cases"]
    assert len(cases) >= 100
    assert [c["text"] for c in cases if _words(c["text"]) in examples] == []


def test_the_fresh_cases_repeat_no_other_case_and_no_agents_example() -> None:
    demo = ROOT / "src" / "smart_support" / "demo" / "agents.yaml"
    taken = _example_words(DATA / "routing_agents.yaml", demo)
    for other in ("routing_cases.yaml", "routing_holdout.yaml"):
        taken |= {_words(c["text"]) for c in yaml.safe_load((DATA / other).read_text())["cases"]}
    cases = yaml.safe_load((DATA / "routing_fresh.yaml").read_text())["cases"]
    assert len(cases) >= 100
    assert [c["text"] for c in cases if _words(c["text"]) in taken] == []


async def test_a_message_no_agent_knows_a_word_of_leaves_the_specialist_for_the_fallback() -> None:
    router = _router()
    recent = [HumanMessage("How long does shipping take?"), AIMessage("3 to 5 days.")]
    assert (await router.route("sing me a lullaby", "faq", recent)).agent == "general"


async def test_an_answer_to_the_specialists_question_stays_even_in_words_nobody_knows() -> None:
    router = _router()
    recent = [HumanMessage("Ship order 1042 elsewhere"), AIMessage("Which city should it go to?")]
    route = await router.route("Reykjavik", "orders", recent)
    assert (route.agent, route.reason) == ("orders", "follow_up")


# -- tool choice and arguments --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("what's the status of order 1042?", ("get_order_status", {"order_id": 1042})),
        ("where is my parcel #77", ("track_order", {"order_id": 77})),
        ("cancle ordr 3 please", ("cancel_order", {"order_id": 3})),
        (
            "my e-mail is jo.doe+x@example.co.uk, find my account",
            ("find_customer", {"email": "jo.doe+x@example.co.uk"}),
        ),
    ],
)
def test_the_tool_that_fits_is_called_with_its_arguments(
    text: str, expected: tuple[str, dict[str, Any]]
) -> None:
    assert call_of(ask(SHOP, text)) == expected


def test_a_reason_clause_fills_an_optional_free_text_parameter() -> None:
    name, args = call_of(ask(SHOP, "Cancel order 12 because I found it cheaper elsewhere"))
    assert (name, args) == (
        "cancel_order",
        {"order_id": 12, "reason": "I found it cheaper elsewhere"},
    )


def test_a_free_text_query_parameter_gets_the_message() -> None:
    name, args = call_of(ask([*SHOP, search_help_center], "Do you take payment by bank transfer?"))
    assert name == "search_help_center"
    assert args == {"query": "Do you take payment by bank transfer"}


def test_a_comma_separated_address_fills_the_address_fields_in_order() -> None:
    text = "Please change the shipping address of order 88 to 1 Main St, Springfield, 12345, USA"
    assert call_of(ask(SHOP, text)) == (
        "change_shipping_address",
        {
            "order_id": 88,
            "street": "1 Main St",
            "city": "Springfield",
            "postal_code": "12345",
            "country": "USA",
        },
    )


def test_a_missing_required_id_gets_a_clarifying_question() -> None:
    reply = ask(SHOP, "I want to cancel my order")
    assert reply.tool_calls == []
    assert reply.content == "Which order number is this about?"


def test_a_missing_email_gets_a_question_naming_the_email() -> None:
    reply = ask(SHOP, "find my customer account")
    assert reply.tool_calls == [] and "email address" in str(reply.content)


def test_a_follow_up_takes_the_order_id_from_recent_history() -> None:
    history = after_result("get_order_status", {"order_id": 1042}, {"status": "processing"})
    reply = ask(SHOP, *history, AIMessage("Order 1042 is processing."), "ok, then cancel it")
    assert call_of(reply) == ("cancel_order", {"order_id": 1042})


def test_a_follow_up_with_a_new_id_uses_the_new_id_and_the_tracking_tool() -> None:
    history = after_result("get_order_status", {"order_id": 1042}, {"status": "shipped"})
    reply = ask(SHOP, *history, AIMessage("Order 1042 has shipped."), "and where is my order 1050?")
    assert call_of(reply) == ("track_order", {"order_id": 1050})


def test_a_follow_up_without_any_known_word_uses_the_conversation_as_context() -> None:
    history = [HumanMessage("what's the status of order 9?"), AIMessage("Order 9 is packed.")]
    name, args = call_of(ask(SHOP, *history, "and when will it arrive?"))
    assert name in {"get_order_status", "track_order"} and args == {"order_id": 9}


# -- answers after a tool result ------------------------------------------------------------------


def test_after_a_tool_result_the_answer_quotes_its_facts_and_calls_nothing() -> None:
    result = track_order.invoke({"order_id": 1042})
    reply = ask(SHOP, *after_result("track_order", {"order_id": 1042}, result))
    assert reply.tool_calls == []
    for fact in ("1042", "DHL", "JD014600006281", "November 28, 2026"):
        assert fact in reply.content
    assert "2026-11-28" not in reply.content


def test_a_successful_write_result_is_reported_as_done() -> None:
    reply = ask(
        SHOP, *after_result("cancel_order", {"order_id": 5}, {"ok": True, "status": "cancelled"})
    )
    assert reply.text.startswith("Done.") and "cancelled" in reply.content


@pytest.mark.parametrize(
    "result",
    [{"ok": False, "error": "Order 5 has already shipped"}, "Error: Order 5 has already shipped"],
)
def test_an_error_result_is_relayed_plainly(result: Any) -> None:
    reply = ask(SHOP, *after_result("cancel_order", {"order_id": 5}, result))
    assert reply.content == "Sorry, that did not work: Order 5 has already shipped."


def test_a_rejected_action_is_relayed_faithfully_and_never_as_success() -> None:
    notice = "The customer rejected this action (Cancel order 5). Nothing was changed."
    reply = ask(SHOP, *after_result("cancel_order", {"order_id": 5}, notice, status="error"))
    assert notice in reply.content
    assert "Done" not in reply.content and "did not work" not in reply.content


def test_an_expired_approval_is_relayed_faithfully() -> None:
    notice = "The approval for this action expired, so it was not performed."
    reply = ask(SHOP, *after_result("cancel_order", {"order_id": 5}, notice))
    assert notice in reply.text and not reply.text.startswith("Done")


def test_a_knowledge_base_result_in_content_blocks_quotes_the_best_passage() -> None:
    matches = [
        {"title": "Returns", "content": "Return unused items within 30 days.", "score": 0.31},
        {
            "title": "Shipping times",
            "content": "Standard delivery takes 3-5 working days.",
            "score": 0.87,
        },
    ]
    blocks = [{"type": "text", "text": json.dumps({"matches": matches})}]
    messages = after_result("search_help_center", {"query": "x"}, blocks)
    messages[0] = HumanMessage("how long does standard delivery take?")
    reply = ask([search_help_center], *messages)
    assert reply.content == "Standard delivery takes 3-5 working days."


# -- plain replies --------------------------------------------------------------------------------


def test_with_no_fitting_tool_the_reply_says_what_the_agent_can_do() -> None:
    reply = ask(SHOP, "can you recommend a good film")
    assert reply.tool_calls == []
    assert "track an order's shipment" in reply.content and "cancel an order" in reply.content


def test_a_fallback_agent_without_tools_greets_and_offers_a_human() -> None:
    system = SystemMessage("You are the general assistant. Offer to connect a human colleague.")
    reply = OfflineChatModel().invoke([system, HumanMessage("good morning!")])
    assert reply.text.startswith("Hello!")
    assert "I'm the general assistant." in reply.content and "person" in reply.content


# -- streaming, usage, determinism ----------------------------------------------------------------


async def test_streaming_yields_word_by_word_with_usage_and_model_name() -> None:
    model = OfflineChatModel()
    messages = [SYSTEM, HumanMessage("tell me something nice")]
    chunks = [c async for c in model.astream(messages)]
    whole = model.invoke(messages)
    words = [c.content for c in chunks if c.content]
    assert len(words) == len(str(whole.content).split()) > 5
    assert all(len(str(w).split()) == 1 for w in words)
    total = chunks[0]
    for chunk in chunks[1:]:
        total = total + chunk
    assert total.content == whole.content
    assert total.usage_metadata == whole.usage_metadata
    assert total.usage_metadata is not None and total.usage_metadata["output_tokens"] > 5
    assert total.usage_metadata["total_tokens"] == (
        total.usage_metadata["input_tokens"] + total.usage_metadata["output_tokens"]
    )
    assert total.response_metadata["model_name"] == "offline"


async def test_a_tool_call_survives_streaming() -> None:
    model = OfflineChatModel().bind_tools(SHOP)
    total: AIMessageChunk | None = None
    async for chunk in model.astream([SYSTEM, HumanMessage("track order 31 please")]):
        assert isinstance(chunk, AIMessageChunk)
        total = chunk if total is None else total + chunk
    assert total is not None
    assert [(c["name"], c["args"]) for c in total.tool_calls] == [("track_order", {"order_id": 31})]


def test_usage_is_totalled_under_the_offline_model_name() -> None:
    with get_usage_metadata_callback() as usage:
        ask(SHOP, "where is order 4")
        ask(SHOP, "hello")
    assert set(usage.usage_metadata) == {"offline"}
    assert usage.usage_metadata["offline"]["input_tokens"] > 0


def test_the_same_input_always_gives_the_same_output() -> None:
    history = [HumanMessage("where is order 8?"), AIMessage("It left the warehouse.")]
    first = ask(SHOP, *history, "cancel it please")
    second = ask(SHOP, *history, "cancel it please")
    assert first.tool_calls == second.tool_calls and first.content == second.content


def test_the_model_calls_itself_the_offline_model() -> None:
    model = OfflineChatModel()
    assert model._llm_type == "offline"
    assert OfflineChatModel.label == OFFLINE_LABEL == "offline model"


# -- through a real create_agent agent ------------------------------------------------------------


async def test_a_create_agent_agent_calls_the_tool_once_and_streams_the_answer() -> None:
    agent = create_agent(OfflineChatModel(), tools=SHOP, system_prompt=PERSONALITY, name="orders")
    inputs: Any = {"messages": [HumanMessage("Could you track order 1042 for me?")]}
    tokens: list[str] = []
    stream: Any = agent.astream(inputs, stream_mode="messages")
    async for chunk, metadata in stream:
        if isinstance(chunk, AIMessageChunk) and chunk.content:
            tokens.append(str(chunk.content))
            assert metadata["lc_agent_name"] == "orders"
    assert len(tokens) > 5
    assert "JD014600006281" in "".join(tokens)

    state = await agent.ainvoke(inputs)
    calls = [c for m in state["messages"] if isinstance(m, AIMessage) for c in m.tool_calls]
    assert [(c["name"], c["args"]) for c in calls] == [("track_order", {"order_id": 1042})]
    final = state["messages"][-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    assert "DHL" in final.content and "November 28, 2026" in final.content


# -- nothing is demo-specific ---------------------------------------------------------------------


def test_an_invented_hotel_tool_set_gets_dates_counts_and_enums() -> None:
    text = "Book a family suite at the Grand Budapest for 3 nights from 2026-12-20 for 2 guests"
    assert call_of(ask(HOTEL, text)) == (
        "book_room",
        {
            "hotel": "Grand Budapest",
            "check_in": "2026-12-20",
            "nights": 3,
            "guests": 2,
            "room_type": "family suite",
        },
    )


def test_an_invented_hotel_tool_set_asks_for_a_missing_reference() -> None:
    reply = ask(HOTEL, "I need to cancel my booking")
    assert reply.tool_calls == []
    assert re.fullmatch(
        r"Which booking reference? number is this about\?|Which booking number is this about\?",
        str(reply.content),
    )


def test_an_invented_hotel_tool_set_takes_a_string_reference_from_the_message() -> None:
    assert call_of(ask(HOTEL, "please cancel booking reference #AB1234")) == (
        "cancel_booking",
        {"booking_reference": "AB1234"},
    )


@pytest.mark.parametrize("decision", ["approve", "reject"])
async def test_a_write_paused_for_approval_is_answered_truthfully_after_the_decision(
    decision: str,
) -> None:
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.types import Command

    agent = create_agent(
        OfflineChatModel(),
        tools=SHOP,
        system_prompt=PERSONALITY,
        middleware=[HumanInTheLoopMiddleware(interrupt_on={"cancel_order": True})],
        checkpointer=InMemorySaver(),
    )
    config: RunnableConfig = {"configurable": {"thread_id": f"approval-{decision}"}}
    first: Any = {"messages": [HumanMessage("please cancel order 7")]}
    await agent.ainvoke(first, config)
    pending = (await agent.aget_state(config)).interrupts
    assert len(pending) == 1
    resume: Any = Command(resume={"decisions": [{"type": decision}]})
    state = await agent.ainvoke(resume, config)
    final = state["messages"][-1]
    assert isinstance(final, AIMessage) and not final.tool_calls
    if decision == "approve":
        assert final.text.startswith("Done.") and "cancelled" in final.content
    else:
        assert "rejected" in final.content and "not executed" in final.content
        assert "Done" not in final.content and "cancelled" not in final.content


def test_a_read_result_with_ok_true_and_records_lists_them_readably() -> None:
    result = {
        "ok": True,
        "order_id": 31,
        "status": "processing",
        "items": [{"name": "Trail socks", "quantity": 2, "price": 12.5}],
        "shipping_address": {"street": "1 Main St", "city": "Springfield"},
    }
    messages = after_result("get_order_status", {"order_id": 31}, result)
    messages[0] = HumanMessage("give me all the details of order 31")
    reply = ask(SHOP, *messages)
    assert "- Status: processing" in reply.text
    assert "- Items:\n  - 2 × Trail socks: $12.50" not in reply.text  # no currency: none made up
    assert "- Items:\n  - 2 × Trail socks: 12.50" in reply.text
    assert "- Shipping address: 1 Main St, Springfield" in reply.text


def test_an_empty_search_result_says_nothing_was_found_and_keeps_the_note() -> None:
    result = {"matches": [], "note": "the help center has nothing about 'llamas'"}
    reply = ask([search_help_center], *after_result("search_help_center", {"query": "q"}, result))
    assert reply.text == (
        "I could not find anything matching that. The help center has nothing about 'llamas'."
    )


def test_a_question_about_the_assistant_gets_its_capabilities_not_an_apology() -> None:
    reply = ask(SHOP, "what can you do?")
    assert reply.tool_calls == []
    assert reply.text.startswith("I'm an automated assistant.") and "sorry" not in reply.text
    assert "get the status of an order" in reply.text

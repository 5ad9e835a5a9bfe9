"""A model refines the rules' classification: scripted models, no network."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from smart_support.openapi import ImportResult, convert, import_spec
from smart_support.openapi.classify import Proposal, classify, classify_with_model, refine
from smart_support.openapi.load import Documents
from smart_support.runtime.usage import UsageRecorder
from smart_support.settings import Settings
from smart_support.testing import ScriptedChatModel, call, echo_classification

CORPUS = Path(__file__).parent / "data" / "openapi"


@cache
def _shop() -> ImportResult:
    from smart_support.demo.shop import create_app

    return convert(Documents(root="demo", docs={"demo": create_app().openapi()}), validate=False)


@pytest.fixture(scope="module")
def square() -> ImportResult:
    """Square's API: 312 operations, a refund write and POST searches the rules call reads."""
    return asyncio.run(import_spec(str(CORPUS / "square-2.0.json"), Settings(), remote_refs=False))


def _values(proposal: Proposal) -> list[tuple[Any, ...]]:
    return [
        (
            op.name,
            op.access.value,
            op.relevance.value,
            op.agent,
            tuple((p.name, p.role.value) for p in op.parameters),
        )
        for op in proposal.operations
    ]


async def _refine(result: ImportResult, model: ScriptedChatModel, **options: Any) -> Proposal:
    options.setdefault("retry_delay", 0)
    return await refine(result, classify(result), model, **options)


def _edit(name: str, **changes: Any):
    def edit(answer: dict[str, Any]) -> None:
        if answer["name"] == name:
            answer.update(changes)

    return edit


async def test_a_model_that_agrees_keeps_every_value_and_signs_its_decisions() -> None:
    rules = classify(_shop())
    model = ScriptedChatModel(default=echo_classification())
    refined = await refine(_shop(), rules, model)
    assert _values(refined) == _values(rules)
    assert {a.name: set(a.tools) for a in refined.agents} == {
        a.name: set(a.tools) for a in rules.agents
    }
    for op in refined.operations:
        assert op.access.source == op.relevance.source == "model"
        assert op.access.confidence == 0.8 and op.access.reason == "as the rules say"
    assert refined.warnings == []
    assert rules.operations[0].access.source == "rule"  # the input proposal is left unchanged
    assert len(model.seen) == 1  # 9 operations: one batch


async def test_the_model_is_asked_with_structured_output_about_each_operation_and_the_rules() -> (
    None
):
    model = ScriptedChatModel(default=echo_classification())
    await _refine(_shop(), model)
    [tool] = model.seen_tools[0]
    assert tool["function"]["name"] == "ClassifiedOperations"
    request = json.loads(str(model.seen[0][-1].content))
    cancel = next(op for op in request["operations"] if op["name"] == "cancel_order")
    assert cancel["method"] == "POST" and cancel["path"] == "/orders/{order_id}/cancel"
    assert cancel["rules"]["access"].startswith("write (")
    assert {"name": "X-Customer-Id", "in": "header", "required": False, "role": "identity"} in (
        cancel["parameters"]
    )
    assert {a["name"] for a in request["agents"]} == {"customer", "order", "product"}


@pytest.mark.parametrize("name", ["cancel_order", "RefundPayment"])
async def test_a_model_that_marks_a_cancel_or_a_refund_read_leaves_it_a_write(
    name: str, square: ImportResult
) -> None:
    result = _shop() if name == "cancel_order" else square
    edit = _edit(name, access="read", access_reason="it only reads the order")
    refined = await _refine(result, ScriptedChatModel(default=echo_classification(edit)))
    decision = refined.operation(name).access
    assert decision.value == "write" and decision.source == "rule"
    assert decision.reason.startswith("rule: write (")
    assert "the model said read (it only reads the order)" in decision.reason
    assert decision.reason.endswith("an operator may change it")
    assert refined.operation(name).summary


async def test_a_model_may_turn_a_post_search_the_rules_call_a_read_into_a_write(
    square: ImportResult,
) -> None:
    rules = classify(square)
    assert rules.operation("SearchOrders").access.value == "read"
    edit = _edit("SearchOrders", access="write", access_reason="may lock the orders", confidence=1)
    refined = await _refine(square, ScriptedChatModel(default=echo_classification(edit)))
    op = refined.operation("SearchOrders")
    assert (op.access.value, op.access.source, op.access.confidence) == ("write", "model", 1.0)
    assert op.access.reason == "may lock the orders"
    assert op.summary  # a write needs an approval summary: the rules' when the model gives none


async def test_a_model_may_move_an_operation_to_another_agent_and_turn_one_on() -> None:
    edit_health = _edit("health", relevance="on", agent="status", relevance_reason="outages")
    edit_product = _edit("get_product", agent="order")

    def edit(answer: dict[str, Any]) -> None:
        edit_health(answer)
        edit_product(answer)

    refined = await _refine(_shop(), ScriptedChatModel(default=echo_classification(edit)))
    health = refined.operation("health")
    assert (health.relevance.value, health.relevance.reason, health.agent) == (
        "on",
        "outages",
        "status",
    )
    agents = {a.name: a for a in refined.agents}
    assert agents["status"].tools == ["health"] and 5 <= len(agents["status"].examples) <= 10
    assert "get_product" in agents["order"].tools
    assert agents["product"].tools == ["search_products"]
    assert refined.operation("get_product").agent == "order"


async def test_an_invalid_agent_name_from_the_model_is_ignored_with_a_warning() -> None:
    edit = _edit("get_product", agent="Product Lookups!")
    refined = await _refine(_shop(), ScriptedChatModel(default=echo_classification(edit)))
    assert refined.operation("get_product").agent == "product"
    [warning] = refined.warnings
    assert "get_product" in warning and "not valid" in warning


async def test_a_model_may_change_a_parameter_role_but_not_unbind_the_verified_customer() -> None:
    def edit(answer: dict[str, Any]) -> None:
        if answer["name"] == "get_order":
            answer["parameters"] = [
                {"name": "X-Customer-Id", "role": "customer", "reason": "the customer says it"},
                {"name": "order_id", "role": "config", "reason": "fixed"},
            ]

    refined = await _refine(_shop(), ScriptedChatModel(default=echo_classification(edit)))
    roles = {p.name: p.role for p in refined.operation("get_order").parameters}
    assert (roles["order_id"].value, roles["order_id"].source) == ("config", "model")
    assert (roles["X-Customer-Id"].value, roles["X-Customer-Id"].source) == ("identity", "rule")
    assert "the model said customer (the customer says it)" in roles["X-Customer-Id"].reason


async def test_the_tool_budget_holds_after_a_model_moves_every_operation_into_one_agent(
    square: ImportResult,
) -> None:
    def everything_to_orders(answer: dict[str, Any]) -> None:
        if answer["relevance"] == "on":
            answer["agent"] = "orders"

    rules = classify(square)
    was_on = {op.name for op in rules.operations if op.relevance.value == "on"}
    assert len(was_on) > 15
    model = ScriptedChatModel(default=echo_classification(everything_to_orders))
    refined = await refine(square, rules, model, retry_delay=0)
    [agent] = refined.agents
    assert agent.name == "orders" and len(agent.tools) == 15 and set(agent.tools) <= was_on
    on = {op.name for op in refined.operations if op.relevance.value == "on"}
    assert on == set(agent.tools)
    for op in refined.operations:
        if op.name in was_on - on:
            assert op.relevance.reason == "over the per-agent tool budget" and op.agent is None


def _raises(messages: Sequence[BaseMessage]) -> AIMessage:
    raise RuntimeError("provider unavailable")


@pytest.mark.parametrize(
    "bad",
    [
        "I think they are all reads.",  # no tool call at all
        call("ClassifiedOperations", {"operations": "all fine"}),  # wrong schema
        call("ClassifiedOperations", {"operations": [{"name": "get_order", "access": "maybe"}]}),
        call(
            "ClassifiedOperations",
            {"operations": [{"name": "nope", "access": "read", "relevance": "on"}]},
        ),
        _raises,
    ],
    ids=["text", "wrong-schema", "wrong-values", "unknown-operations", "exception"],
)
async def test_a_failing_model_is_retried_then_the_batch_keeps_the_rules_with_a_warning(
    bad: Any,
) -> None:
    rules = classify(_shop())
    model = ScriptedChatModel(default=bad)
    refined = await refine(_shop(), rules, model, retries=2, retry_delay=0)
    assert len(model.seen) == 3
    assert refined.model_dump(exclude={"warnings"}) == rules.model_dump(exclude={"warnings"})
    [warning] = refined.warnings
    assert warning.startswith("batch 1 of 1 (9 operations, health to start_return)")
    assert "the model failed 3 times" in warning and "keep the rules' decisions" in warning


async def test_a_model_that_fails_once_is_retried_and_its_answer_used() -> None:
    model = ScriptedChatModel(script=["not a tool call"], default=echo_classification())
    refined = await _refine(_shop(), model, retries=1)
    assert len(model.seen) == 2 and refined.warnings == []
    assert refined.operation("get_order").access.source == "model"


async def test_a_model_that_times_out_keeps_the_rules() -> None:
    model = ScriptedChatModel(default=echo_classification(), latency=5)
    refined = await _refine(_shop(), model, retries=1, timeout_seconds=0.05)
    assert refined.operation("get_order").access.source == "rule"
    assert "timed out after 0.05 s" in refined.warnings[0]


async def test_only_the_failing_batch_keeps_the_rules() -> None:
    echo = echo_classification()

    def fails_on_cancel(messages: Sequence[BaseMessage]) -> AIMessage:
        if "cancel_order" in str(messages[-1].content):
            raise RuntimeError("boom")
        return echo(messages)

    model = ScriptedChatModel(default=fails_on_cancel)
    refined = await _refine(_shop(), model, batch_size=3, retries=0)
    sources = {op.name: op.access.source for op in refined.operations}
    assert sources["get_order"] == "model" and sources["cancel_order"] == "rule"
    [warning] = refined.warnings
    assert warning.startswith("batch 3 of 3 (3 operations, cancel_order to start_return)")


async def test_a_model_that_forgets_operations_leaves_them_to_the_rules() -> None:
    echo = echo_classification()

    def half(messages: Sequence[BaseMessage]) -> AIMessage:
        message = echo(messages)
        message.tool_calls[0]["args"]["operations"] = message.tool_calls[0]["args"]["operations"][
            :4
        ]
        return message

    refined = await _refine(_shop(), ScriptedChatModel(default=half))
    assert refined.operation("get_order").access.source == "model"
    assert refined.operation("start_return").access.source == "rule"
    [warning] = refined.warnings
    assert warning.startswith("the model did not answer for 5 operations (")


class _InFlight(AsyncCallbackHandler):
    def __init__(self) -> None:
        self.now = self.most = 0

    async def on_chat_model_start(self, *args: Any, **kwargs: Any) -> None:
        self.now += 1
        self.most = max(self.most, self.now)

    async def on_llm_end(self, *args: Any, **kwargs: Any) -> None:
        self.now -= 1

    async def on_llm_error(self, *args: Any, **kwargs: Any) -> None:
        self.now -= 1


async def test_batches_run_with_bounded_concurrency(square: ImportResult) -> None:
    counter = _InFlight()
    model = ScriptedChatModel(default=echo_classification(), latency=0.02)
    refined = await _refine(square, model, batch_size=20, concurrency=3, callbacks=[counter])
    assert len(model.seen) == 16  # 312 operations
    assert counter.most == 3 and counter.now == 0
    assert refined.warnings == []


class _Store:
    def __init__(self) -> None:
        self.records: list[Any] = []

    async def record_usage(self, record: Any) -> None:
        self.records.append(record)


async def test_tokens_and_cost_of_every_call_are_recorded_like_any_other_call() -> None:
    seen: list[tuple[str, int, int]] = []
    store = _Store()
    recorder = UsageRecorder(store, "import:shop", {"scripted": (1.0, 2.0)})  # type: ignore[arg-type]
    model = ScriptedChatModel(script=[_raises], default=echo_classification())
    await _refine(
        _shop(),
        model,
        batch_size=5,
        callbacks=[recorder],
        on_usage=lambda *usage: seen.append(usage),
    )
    assert len(seen) == 2  # the failed call had no answer, so no tokens
    assert all(name == "scripted" and i > 0 and o > 0 for name, i, o in seen)
    assert [(r.agent, r.model) for r in store.records] == [("classifier", "scripted")] * 2
    first = store.records[0]
    assert (first.input_tokens, first.output_tokens) == seen[0][1:]
    assert first.cost_usd == pytest.approx((seen[0][1] * 1.0 + seen[0][2] * 2.0) / 1e6)


async def test_with_the_offline_model_the_classification_is_the_rules_alone() -> None:
    settings = Settings(llm_provider="offline")
    first = await classify_with_model(_shop(), settings)
    second = await classify_with_model(_shop(), settings)
    assert first.model_dump(mode="json") == second.model_dump(mode="json")
    assert first == classify(_shop())


async def test_a_given_model_refines_even_with_the_offline_provider() -> None:
    model = ScriptedChatModel(default=echo_classification())
    refined = await classify_with_model(_shop(), Settings(llm_provider="offline"), model=model)
    assert refined.operation("get_order").access.source == "model"


async def test_a_configured_provider_is_refused_in_tests_at_the_model_layer(
    monkeypatch: pytest.MonkeyPatch, network_refusals: Any
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-not-real")
    settings = Settings(llm_provider="anthropic", llm_max_retries=0)
    with pytest.raises(pytest.fail.Exception, match="real ChatAnthropic"):
        await classify_with_model(_shop(), settings)
    assert network_refusals.take()


@asynccontextmanager
async def _openai_compatible(broken_first: int) -> AsyncIterator[tuple[list[dict], str]]:
    """A /v1/chat/completions on loopback, on this event loop, that answers the classifier's
    tool call with the rules' decisions, after `broken_first` answers whose JSON is cut off."""
    requests: list[dict] = []
    echo = echo_classification()
    app = FastAPI()

    @app.post("/v1/chat/completions")
    async def complete(request: Request) -> dict:
        body = await request.json()
        requests.append(body)
        [tool] = body["tools"]
        args = echo([HumanMessage(content=body["messages"][-1]["content"])]).tool_calls[0]["args"]
        arguments = json.dumps(args)
        if len(requests) <= broken_first:
            arguments = arguments[: len(arguments) // 2]
        call = {"name": tool["function"]["name"], "arguments": arguments}
        message = {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": f"call_{len(requests)}", "type": "function", "function": call}],
        }
        return {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}],
            "usage": {"prompt_tokens": 420, "completion_tokens": 70, "total_tokens": 490},
        }

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 - uvicorn offers only this flag
        await asyncio.sleep(0.01)
    try:
        yield requests, f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def test_an_openai_compatible_provider_refines_through_tool_calling_and_is_retried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    async with _openai_compatible(broken_first=1) as (requests, base_url):
        settings = Settings(
            llm_provider="openai", llm_model="gpt-4o-mini", llm_base_url=base_url, llm_max_retries=0
        )
        usage: list[tuple[str, int, int]] = []
        refined = await classify_with_model(
            _shop(), settings, on_usage=lambda *u: usage.append(u), retry_delay=0
        )
    assert len(requests) == 2  # the cut-off answer was retried
    assert requests[0]["tool_choice"]["function"]["name"] == "ClassifiedOperations"
    assert refined.warnings == []
    assert _values(refined) == _values(classify(_shop()))
    assert refined.operation("cancel_order").access.source == "model"
    assert usage == [("gpt-4o-mini", 420, 70)] * 2


@pytest.mark.parametrize("max_agents", [6, 2])
async def test_the_agent_budget_holds_after_a_model_puts_every_operation_in_a_new_agent(
    square: ImportResult, max_agents: int
) -> None:
    def a_desk_each(answer: dict[str, Any]) -> None:
        if answer["relevance"] == "on":
            answer["agent"] = f"desk_{answer['name'].lower()}"

    rules = classify(square, max_agents=max_agents)
    was_on = {op.name for op in rules.operations if op.relevance.value == "on"}
    assert len(was_on) > max_agents
    model = ScriptedChatModel(default=echo_classification(a_desk_each))
    refined = await refine(square, rules, model, retry_delay=0, max_agents=max_agents)
    assert len(refined.agents) == max_agents
    on = {op.name for op in refined.operations if op.relevance.value == "on"}
    assert on == {tool for agent in refined.agents for tool in agent.tools}
    for op in refined.operations:
        if op.name in was_on - on:
            assert op.agent is None
            assert op.relevance.reason.startswith(f"beyond the {max_agents}-agent budget: ")


async def test_the_catalogue_budget_holds_after_a_model_moves_every_operation_to_the_catalog(
    square: ImportResult,
) -> None:
    def everything_to_catalog(answer: dict[str, Any]) -> None:
        if answer["relevance"] == "on":
            answer["agent"] = "catalog"

    model = ScriptedChatModel(default=echo_classification(everything_to_catalog))
    refined = await _refine(square, model)
    [agent] = refined.agents
    assert agent.name == "catalog" and len(agent.tools) == 5
    assert {refined.operation(t).access.value for t in agent.tools} == {"read"}
    assert any(
        op.relevance.reason.startswith("over the catalogue's budget")
        for op in refined.operations
        if op.access.value == "write"
    )


async def test_an_unchanged_agent_keeps_what_an_operator_wrote_and_a_changed_one_its_name() -> None:
    rules = classify(_shop())
    agents = {a.name: a for a in rules.agents}
    agents["customer"].display_name = "My account"
    agents["customer"].description = "Written by an operator."
    agents["customer"].examples = [f"Operator example {i}" for i in range(5)]
    agents["order"].display_name = "Your orders"
    model = ScriptedChatModel(default=echo_classification(_edit("get_product", agent="order")))
    refined = await refine(_shop(), rules, model, retry_delay=0)
    assert [a.name for a in refined.agents] == [a.name for a in rules.agents]
    after = {a.name: a for a in refined.agents}
    assert after["customer"] == agents["customer"]
    assert after["order"].display_name == "Your orders"
    assert "get_product" in after["order"].tools
    assert after["order"].description != agents["order"].description

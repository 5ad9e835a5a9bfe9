"""`smart-support eval`: tau2's grading of our retail-tau2 API, pass^k, routing, scripted tasks.

Real APIs on loopback (uvicorn threads), the real engine and router, the offline model or a
scripted one; no real LLM.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from smart_support.cli import main
from smart_support.errors import ConfigError
from smart_support.evals.api import running_api, state_hash
from smart_support.evals.gold import check_gold, replay, tools_by_name
from smart_support.evals.report import pass_hat_k, pass_k_table
from smart_support.evals.routing import evaluate_routing
from smart_support.evals.sets import RoutingCase, load_eval_set
from smart_support.evals.tasks import run_task, run_tau2_task, with_api_url
from smart_support.evals.tau2 import Action, grade, initial_hash, load_tasks
from smart_support.models.offline import OfflineChatModel
from smart_support.registry import load_registry
from smart_support.runtime.engine import Engine
from smart_support.settings import Settings
from smart_support.templates.retail_tau2.api import create_app
from smart_support.templates.retail_tau2.tools import RetailTools, ToolType
from smart_support.testing import ScriptedChatModel, call
from smart_support.tools import open_toolkit

TEMPLATES = Path(__file__).resolve().parents[1] / "src" / "smart_support" / "templates"
RETAIL = TEMPLATES / "retail_tau2"
TASKS = RETAIL / "data" / "tasks.json"
WRITES = {name for name, kind in RetailTools.tool_types().items() if kind is ToolType.WRITE}
#: tau2's hash of its untouched retail db.json (tau2's own code, commit a2c0247).
TAU2_INITIAL_HASH = "b25c9cb211f5efcaee5dd646054a73c4a9f43f4f5acc32c10713cd9f9ac20e9c"


def settings_for(url: str, tmp_path: Path, **extra: object) -> Settings:
    authority = url.split("://", 1)[1]
    return Settings(
        database_url=f"sqlite:///{tmp_path / 'eval.db'}",
        llm_provider="offline",
        egress_allowlist=[authority],
        **extra,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def retail_api() -> Iterator[str]:
    with running_api(create_app()) as url:
        yield url


@pytest.fixture
def retail(retail_api: str, tmp_path: Path) -> tuple[Settings, object, str]:
    settings = settings_for(retail_api, tmp_path)
    registry = with_api_url(load_registry(RETAIL / "agents.yaml"), retail_api)
    return settings, registry, retail_api


async def test_an_untouched_database_hashes_as_tau2s_initial_database(retail):
    settings, _, url = retail
    await replay(settings, {}, url, [])
    assert await state_hash(settings, url) == TAU2_INITIAL_HASH == initial_hash(TASKS)


def test_the_openapi_document_hides_the_grading_endpoints_and_names_each_tau2_tool():
    spec = create_app().openapi()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert len(operations) == 16
    assert "cancel_pending_order" in operations
    assert not any(path.startswith("/_state") for path in spec["paths"])
    shipped = json.loads((RETAIL / "openapi.json").read_text())
    assert shipped["paths"] == spec["paths"], "openapi.json drifted from api.py: regenerate it"


async def test_the_gold_actions_of_every_tau2_retail_task_score_1_through_our_tools(retail):
    settings, registry, url = retail
    tasks = load_tasks(TASKS)
    assert len(tasks) == 114
    results = await check_gold(settings, registry, url, tasks)
    failures = [r.as_json() for r in results if not r.passed]
    assert failures == []
    for task, result in zip(tasks, results, strict=True):
        assert grade(task, result.db_hash, []).components["DB"] == "pass"


async def _replayed(retail, actions: list[Action]) -> str:
    settings, registry, url = retail
    async with open_toolkit(registry, settings) as toolkit:
        db_hash, _ = await replay(settings, tools_by_name(registry, toolkit), url, actions)
    return db_hash


def _cancel_task():
    """A task whose one write is a cancellation (and that looks the user up)."""
    return next(
        t
        for t in load_tasks(TASKS)
        if [a.name for a in t.actions if a.name in WRITES] == ["cancel_pending_order"]
        and any(a.name == "get_user_details" for a in t.actions)
        and not t.nl_assertions
        and not t.communicate_info
    )


async def test_a_cancellation_with_the_other_reason_scores_0(retail):
    task = _cancel_task()
    other = {"no longer needed": "ordered by mistake", "ordered by mistake": "no longer needed"}
    wrong = [
        replace(a, arguments={**a.arguments, "reason": other[a.arguments["reason"]]})
        if a.name == "cancel_pending_order"
        else a
        for a in task.actions
    ]
    assert grade(task, await _replayed(retail, task.actions), []).reward == 1.0
    result = grade(task, await _replayed(retail, wrong), [])
    assert (result.verdict, result.reward, result.components["DB"]) == ("fail", 0.0, "fail")


async def test_an_extra_write_after_the_gold_actions_scores_0(retail):
    task = _cancel_task()
    user_id = next(a.arguments["user_id"] for a in task.actions if "user_id" in a.arguments)
    extra = Action(
        "modify_user_address",
        {
            "user_id": user_id,
            "address1": "1 Elsewhere Road",
            "address2": "",
            "city": "Austin",
            "state": "TX",
            "country": "USA",
            "zip": "78701",
        },
    )
    assert grade(task, await _replayed(retail, [*task.actions, extra]), []).reward == 0.0


def test_a_task_with_nl_assertions_is_unknown_not_a_pass_when_its_db_matches():
    task = next(t for t in load_tasks(TASKS) if t.nl_assertions)
    assert task.expected_hash is not None
    result = grade(task, task.expected_hash, [])
    assert (result.verdict, result.reward, result.success) == ("unknown", None, False)
    assert result.components["NL_ASSERTION"].startswith("skipped")


def test_a_run_the_customer_did_not_end_scores_0_as_tau2s_premature_stop():
    task = _cancel_task()
    assert task.expected_hash is not None
    assert grade(task, task.expected_hash, [], stopped=False).reward == 0.0


def test_communicate_info_is_matched_as_tau2_matches_it_commas_removed():
    task = next(t for t in load_tasks(TASKS) if t.communicate_info)
    info = task.communicate_info[0]
    said = f"The total is {info[:1]},{info[1:]}" if info[:1].isdigit() and len(info) > 3 else info
    assert task.expected_hash is not None
    assert (
        grade(task, task.expected_hash, [said.upper()]).components["COMMUNICATE"].startswith("pass")
    )


def test_pass_k_from_four_runs_with_two_successes():
    assert pass_hat_k(4, 2, 1) == 0.5
    assert pass_hat_k(4, 2, 2) == pytest.approx(1 / 6)
    assert pass_hat_k(4, 2, 3) == 0.0
    table = pass_k_table({"a": [True, False, True, False], "b": [True, True, True, True]})
    assert table == pytest.approx({1: 0.75, 2: (1 / 6 + 1) / 2, 3: 0.5, 4: 0.5})


def keyword_router() -> ScriptedChatModel:
    def pick(messages):
        return call("transfer_to_retail") if "order" in messages[-1].content else "none"

    return ScriptedChatModel(default=pick)


async def test_routing_gives_the_exact_accuracy_and_confusion_table_through_the_real_router():
    registry = load_registry(RETAIL / "agents.yaml")
    cases = [
        RoutingCase(text="Cancel my order please", agent="retail"),
        RoutingCase(text="Where is my order?", agent="help"),
        RoutingCase(text="hello", agent="help"),
        RoutingCase(text="I want a refund", agent="retail"),
    ]
    result = await evaluate_routing(registry, keyword_router(), cases)
    assert (result.correct, result.total, result.accuracy) == (2, 4, 0.5)
    assert result.confusion == {
        "retail": {"retail": 1, "help": 1},
        "help": {"retail": 1, "help": 1},
    }
    assert result.per_agent()["retail"] == {"cases": 2, "correct": 1, "accuracy": 0.5}


async def test_a_scripted_customer_cancels_an_order_through_the_engine_graded_from_the_shop(
    shop_process, tmp_path
):
    url = shop_process.url
    settings = settings_for(url, tmp_path, shop_url=url)
    eval_set = load_eval_set(TEMPLATES / "ecommerce" / "eval.yaml")
    tasks = {t.id: t for t in eval_set.tasks}
    registry = load_registry(TEMPLATES / "ecommerce" / "agents.yaml")

    async def reset() -> bool:
        shop_process.reset()
        return True

    async with Engine.open(settings, model=OfflineChatModel(), registry=registry) as engine:
        done = await run_task(engine, url, tasks["cancel-processing-order"], reset=reset)
        kept = await run_task(
            engine, url, tasks["rejected-cancellation-keeps-the-order"], reset=reset
        )
        events = await engine.transcript(done.conversation.conversation_id)
    assert done.grade.verdict == "pass", done.grade.components
    assert done.grade.components["GET /orders/1042"] == "pass"
    assert "approval_resolved" in [e.kind for e in events]
    assert done.replay.endswith(
        f"/api/v1/operator/conversations/{done.conversation.conversation_id}/events"
    )
    assert kept.grade.verdict == "pass", kept.grade.components


def test_a_bad_eval_set_names_the_file_and_line(tmp_path):
    bad = tmp_path / "eval.yaml"
    bad.write_text("routing:\n  - text: hi\n    agent: help\n  - text: hello\n    agnt: help\n")
    with pytest.raises(ConfigError, match=r"eval.yaml:4: routing.1.agent: Field required"):
        load_eval_set(bad)


@pytest.mark.parametrize("template", ["ecommerce", "saas"])
def test_the_cli_prints_routing_accuracy_and_pass_k_and_writes_json_and_html(
    template, tmp_path, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'eval.db'}")
    out_json, out_html = tmp_path / "report.json", tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "eval",
            "--template",
            template,
            "--runs",
            "2",
            "--json",
            str(out_json),
            "--html",
            str(out_html),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "routing: " in result.output and "accuracy" in result.output
    assert "pass^1" in result.output and "pass^2" in result.output
    report = json.loads(out_json.read_text())
    assert set(report["tasks"]["pass_k"]) == {"1", "2"}
    assert (
        report["routing"]["total"]
        == len(report["routing"]["misses"]) + report["routing"]["correct"]
    )
    page = out_html.read_text()
    assert "<h3>" in page and "/api/v1/operator/conversations/" in page


def test_the_cli_routes_the_retail_tau2_set_with_the_offline_model(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'eval.db'}")
    result = CliRunner().invoke(main, ["eval", "--template", "retail-tau2", "--only", "routing"])
    assert result.exit_code == 0, result.output
    assert "routing: 7/7 correct" in result.output


async def test_a_tau2_task_run_through_the_engine_with_an_llm_customer_passes_on_the_gold_write(
    retail, tmp_path
):
    settings, registry, url = retail
    task = _cancel_task()
    cancel = next(a for a in task.actions if a.name == "cancel_pending_order")
    agent = ScriptedChatModel(
        script=[call("cancel_pending_order", cancel.arguments), "Your order is cancelled."]
    )
    router = ScriptedChatModel(default=call("transfer_to_retail"))
    customer = ScriptedChatModel(
        script=[
            f"Please cancel order {cancel.arguments['order_id']}.",
            "yes",
            "Thanks! ###STOP###",
        ]
    )
    async with Engine.open(settings, model=agent, router_model=router, registry=registry) as engine:
        run = await run_tau2_task(engine, url, task, customer_model=customer)
    assert run is not None
    assert run.conversation.stopped and run.conversation.turns == 2
    assert run.grade.verdict == "pass", run.grade.components
    assert run.conversation.agent_messages[-1] == "Your order is cancelled."
    prompt = customer.seen[1][-1].content  # what the customer saw: the approval to decide
    assert "Do you approve?" in prompt and cancel.arguments["reason"] in prompt


async def test_the_retail_api_answers_tau2s_errors_and_honours_a_repeated_idempotency_key():
    app = create_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://retail"
    ) as client:
        order = (await client.get("/orders/%23W2378156")).json()
        assert order["order_id"] == "#W2378156" and order["status"] == "delivered"
        refused = await client.post(
            "/orders/%23W2378156/cancel", json={"reason": "ordered by mistake"}
        )
        assert refused.status_code == 400
        assert refused.json() == {"detail": "Non-pending order cannot be cancelled"}
        missing = await client.get("/orders/%23W0000000")
        assert (missing.status_code, missing.json()) == (404, {"detail": "Order not found"})
        pending = next(o for o in app.state.world.tools.db.orders.values() if o.status == "pending")
        path = f"/orders/{pending.order_id.replace('#', '%23')}/cancel"
        key = {"Idempotency-Key": "k-1"}
        first = await client.post(path, json={"reason": "no longer needed"}, headers=key)
        after_first = (await client.get("/_state/hash")).json()["hash"]
        again = await client.post(path, json={"reason": "no longer needed"}, headers=key)
        assert first.status_code == again.status_code == 200
        assert again.json() == first.json() and first.json()["status"] == "cancelled"
        assert (await client.get("/_state/hash")).json()["hash"] == after_first != TAU2_INITIAL_HASH
        reset = (await client.post("/_state/reset")).json()["hash"]
        assert reset == TAU2_INITIAL_HASH

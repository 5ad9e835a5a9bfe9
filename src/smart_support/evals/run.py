"""An evaluation from start to end: the template's API, routing, gold actions, tasks, the report."""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from uvicorn.importer import ImportFromStringError, import_from_string

from smart_support.errors import ConfigError
from smart_support.evals import api as api_calls
from smart_support.evals.gold import check_gold
from smart_support.evals.report import pass_k_table
from smart_support.evals.routing import evaluate_routing
from smart_support.evals.sets import EvalSet, load_eval_set
from smart_support.evals.tasks import RunResult, run_task, run_tau2_task, with_api_url
from smart_support.evals.tau2 import tasks_of
from smart_support.models.provider import build_chat_model, model_label
from smart_support.registry import load_registry
from smart_support.runtime.engine import Engine
from smart_support.settings import Settings
from smart_support.templates.registry import get_template


@dataclass(frozen=True)
class Target:
    """What to evaluate: the eval set, the agents, the API (an app to start, or a URL)."""

    name: str
    eval_set: Path
    agents: Path
    app: Any = None
    """An ASGI app (or `module:attr`) to start on a free loopback port."""
    api_url: str | None = None
    port: int = 0
    """Where to start `app` (a template's declared port, which its tools may assume); 0: any."""


def template_target(name: str) -> Target:
    """A template's eval set, agents and API app (`smart_support.templates`); an app built by a
    factory (`api.factory: true`) is rebuilt for each run, from its seed data.

    Raises:
        ConfigError: No such template, or its app does not import.
    """
    template = get_template(name)
    try:  # uvicorn's own importer, as `smart-support api` has uvicorn import the app
        found = import_from_string(template.api.app)
    except ImportFromStringError as exc:
        raise ConfigError(f"template {name!r}: api.app {template.api.app!r}: {exc}") from None
    factory = getattr(template.api, "factory", None)
    if factory is None:  # a template.yaml without `factory:`: a plain function builds the app
        factory = inspect.isfunction(found) and not inspect.iscoroutinefunction(found)
    return Target(
        name=template.name,
        eval_set=template.directory / (template.eval or "eval.yaml"),
        agents=template.directory / "agents.yaml",
        app=api_calls.FreshApp(found) if factory else found,
        port=template.api.port,
    )


@contextlib.contextmanager
def running_target(target: Target) -> Iterator[str | None]:
    if target.app is None:
        yield target.api_url
        return
    with api_calls.running_api(target.app, port=target.port) as url:
        yield url


def allow_loopback(settings: Settings, url: str | None) -> Settings:
    """The settings with the API's host:port allowed through the egress guard."""
    if url is None:
        return settings
    authority = url.split("://", 1)[1].rstrip("/")
    allow = [*settings.egress_allowlist, authority]
    return settings.model_copy(update={"egress_allowlist": allow})


async def evaluate(
    target: Target,
    settings: Settings,
    *,
    runs: int = 1,
    only: str | None = None,
    gold: bool = False,
    api_url: str | None = None,
    model: Any = None,
    customer_model: Any = None,
    echo: Any = click.echo,
) -> dict[str, Any]:
    """Run the evaluation; return the report (JSON-ready). `model` injects the agents' model
    (tests); the customer's is the configured one unless `customer_model` is given."""
    eval_set = load_eval_set(target.eval_set)
    registry = load_registry(target.agents)
    if api_url is not None:
        registry = with_api_url(registry, api_url)
    offline = settings.resolved_provider() == "offline" if model is None else None
    label = model_label(settings) if model is None else type(model).__name__
    report: dict[str, Any] = {"name": target.name, "model": label, "runs": runs}
    if model is None:
        model = build_chat_model(settings)
    if customer_model is None and not offline:
        customer_model = build_chat_model(settings)
    if only in (None, "routing") and eval_set.routing:
        router = build_chat_model(settings, router=True) if settings.router_model else model
        routing = await evaluate_routing(registry, router, eval_set.routing)
        report["routing"] = routing.as_json()
        _echo_routing(echo, routing.as_json())
    if gold and eval_set.tau2 is not None and api_url is not None:
        results = await check_gold(
            settings, registry, api_url, tasks_of(eval_set.tau2, eval_set.base_dir)
        )
        passed = sum(r.passed for r in results)
        report["gold"] = {
            "passed": passed,
            "total": len(results),
            "tasks": [r.as_json() for r in results],
        }
        echo(f"gold actions: {passed}/{len(results)} tau2 retail tasks score 1 (DB hash)")
        for r in results:
            if not r.passed:
                echo(f"  task {r.task_id}: hash {r.db_hash[:12]} != {str(r.expected)[:12]}")
    if only in (None, "tasks") and api_url is not None:
        async with Engine.open(settings, model=model, registry=registry) as engine:
            fresh = target.app if isinstance(target.app, api_calls.FreshApp) else None
            report["tasks"] = await _tasks(
                engine, eval_set, api_url, runs, customer_model, echo, fresh
            )
    return report


async def _tasks(
    engine: Engine,
    eval_set: EvalSet,
    api_url: str,
    runs: int,
    customer_model: Any,
    echo: Any,
    fresh: api_calls.FreshApp | None = None,
) -> dict[str, Any] | None:
    results: dict[str, list[RunResult]] = {}
    described: dict[str, str] = {}
    notes: list[str] = []
    skipped: list[str] = []
    expected_offline = {t.id for t in eval_set.tasks if t.offline or not engine.is_offline}

    async def reset() -> bool:
        if await api_calls.reset_state(engine.settings, api_url):
            return True
        if fresh is not None:  # a new app from the template's factory: its seed data
            fresh.renew()
            return True
        if not any(n.startswith("no reset") for n in notes):
            notes.append("no reset: the API has no POST /_state/reset, state carries over runs")
        return False

    tau2_tasks = tasks_of(eval_set.tau2, eval_set.base_dir) if eval_set.tau2 else []
    for _ in range(runs):
        for task in eval_set.tasks:
            described[task.id] = task.description
            run = await run_task(engine, api_url, task, reset=reset, customer_model=customer_model)
            if run is None:
                skipped.append(task.id)
            else:
                results.setdefault(task.id, []).append(run)
        for tau2_task in tau2_tasks:
            described[tau2_task.id] = tau2_task.purpose or ""
            expected_offline.add(tau2_task.id)
            run = await run_tau2_task(engine, api_url, tau2_task, customer_model=customer_model)
            if run is None:
                skipped.append(tau2_task.id)
            else:
                results.setdefault(tau2_task.id, []).append(run)
    if skipped:
        notes.append(
            f"{len(set(skipped))} task(s) skipped: no scripted lines, and no model to play the"
            " customer (the offline model cannot)"
        )
    if any(r.grade.verdict == "unknown" for rs in results.values() for r in rs):
        notes.append(
            "unknown: every graded component passed but NL_ASSERTION (an LLM judge) was not"
            " run; pass^k counts these as failures, pass_k_upper as successes"
        )
    if not results:
        for note in notes:
            echo(note)
        return None
    strict = {t: [r.grade.success for r in rs] for t, rs in results.items()}
    upper = {t: [r.grade.verdict != "fail" for r in rs] for t, rs in results.items()}
    table = pass_k_table(strict)
    summary: dict[str, Any] = {
        "pass_k": table,
        "pass_k_upper": pass_k_table(upper) if upper != strict else None,
        "notes": notes,
        "tasks": [
            {
                "id": task_id,
                "description": described.get(task_id, ""),
                "expected_offline": task_id in expected_offline,
                "runs": [r.as_json() for r in rs],
                "turns": sum(r.conversation.turns for r in rs) / len(rs),
                "cost_usd": round(sum(r.cost_usd for r in rs) / len(rs), 6),
            }
            for task_id, rs in results.items()
        ],
    }
    echo(
        f"tasks: {len(results)} task(s) x {runs} run(s): "
        + ", ".join(f"pass^{k} {v:.3f}" for k, v in table.items())
    )
    for task in summary["tasks"]:
        verdicts = " ".join(r["verdict"] for r in task["runs"])
        echo(
            f"  {task['id']}: {verdicts} (turns {task['turns']:.1f},"
            f" cost ${task['cost_usd']:.4f})"
            + ("" if task["expected_offline"] else " [not expected to pass offline]")
        )
    for note in notes:
        echo(note)
    return summary


def _echo_routing(echo: Any, routing: dict[str, Any]) -> None:
    echo(
        f"routing: {routing['correct']}/{routing['total']} correct "
        f"(accuracy {routing['accuracy']:.1%})"
    )
    for agent, row in routing["per_agent"].items():
        chosen = ", ".join(f"{a} {n}" for a, n in sorted(routing["confusion"][agent].items()))
        echo(
            f"  {agent}: {row['correct']}/{row['cases']} ({row['accuracy']:.1%}); chosen: {chosen}"
        )

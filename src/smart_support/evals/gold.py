"""tau2's gold actions replayed through our tools against the retail-tau2 API, and graded.

For each task: reset the API's database, call each gold action's tool as the agents would (the
OpenAPI tools `open_toolkit` builds from the template's agents.yaml, through the egress guard;
writes carry an Idempotency-Key), then grade the database hash as `evals.tau2` does. A gold
action that fails is skipped, as tau2's evaluator skips it (15 tasks have one). Every task must
score 1 on its DB component: that shows our API, our tools and tau2's code reach the same state.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langchain_core.tools import BaseTool

from smart_support.errors import ToolError
from smart_support.evals import api as api_calls
from smart_support.evals.tau2 import Action, Tau2Task
from smart_support.registry import Registry
from smart_support.settings import Settings
from smart_support.tools import open_toolkit
from smart_support.tools.context import ToolContext, tool_context


@dataclass
class GoldResult:
    task_id: str
    passed: bool
    db_hash: str
    expected: str | None
    failed_actions: list[str]

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.task_id,
            "passed": self.passed,
            "db_hash": self.db_hash,
            "expected": self.expected,
            "failed_actions": self.failed_actions,
        }


async def call_tool(settings: Settings, tool: BaseTool, arguments: dict[str, Any]) -> Any:
    """Call one of our tools outside a conversation, as the tool guard would (a fresh
    idempotency key for a write); a ToolError becomes an `{"ok": false}` answer."""
    with tool_context(ToolContext(settings, idempotency_key=uuid.uuid4().hex)):
        try:
            return await tool.ainvoke(arguments)
        except ToolError as exc:
            return {"ok": False, "error": str(exc)}


def failed(result: Any) -> bool:
    return isinstance(result, dict) and result.get("ok") is False


async def replay(
    settings: Settings, tools: dict[str, BaseTool], api_url: str, actions: list[Action]
) -> tuple[str, list[str]]:
    """Reset the API, run `actions` through `tools`; the database hash and the failed calls."""
    await api_calls.reset_state(settings, api_url)
    failures = []
    for action in actions:
        result = await call_tool(settings, tools[action.name], action.arguments)
        if failed(result):
            failures.append(f"{action.name}: {result.get('error')}")
    return await api_calls.state_hash(settings, api_url), failures


def tools_by_name(registry: Registry, toolkit: Any) -> dict[str, BaseTool]:
    return {tool.name: tool for a in registry.agents for tool in toolkit.tools_for(a.name)}


async def check_gold(
    settings: Settings, registry: Registry, api_url: str, tasks: list[Tau2Task]
) -> list[GoldResult]:
    """Replay every task's gold actions through the registry's tools and grade the DB hash."""
    results = []
    async with open_toolkit(registry, settings) as toolkit:
        tools = tools_by_name(registry, toolkit)
        for task in tasks:
            db_hash, failures = await replay(settings, tools, api_url, task.actions)
            passed = task.expected_hash is not None and db_hash == task.expected_hash
            results.append(GoldResult(task.id, passed, db_hash, task.expected_hash, failures))
    return results

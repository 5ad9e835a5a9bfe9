"""Pre-checks: before a write is offered for approval, re-read the current state.

A write entry in agents.yaml may name a `check:` read tool and the values some of its result
fields must have. The approval gate runs it when it is about to ask (on a first request and on a
retry after an approval expired, when the order may have shipped meanwhile), so nobody is asked
to approve an action the business would refuse anyway.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.tools import BaseTool

from smart_support.errors import SmartSupportError
from smart_support.tools.context import ToolContext, tool_context

log = logging.getLogger("smart_support.approvals")


def _as_mapping(result: Any) -> Mapping[str, Any] | None:
    if isinstance(result, tuple) and len(result) == 2:  # content_and_artifact tools
        result = result[1] if isinstance(result[1], Mapping) else result[0]
    if isinstance(result, str):
        try:
            result = json.loads(result)
        except ValueError:
            return None
    return result if isinstance(result, Mapping) else None


def _words(values: list[Any]) -> str:
    shown = [str(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


async def precheck(
    check: Mapping[str, Any],
    tools: Mapping[str, BaseTool],
    args: Mapping[str, Any],
    action: str,
    ctx: ToolContext,
) -> str | None:
    """Run the check of a write; None when it may be offered, else why not (for the customer).

    Args:
        check: `{"tool": name, "expect": {field: [allowed values]} | None}` from agents.yaml.
        tools: the agent's tools by name.
        args: the write call's arguments; the check gets those it accepts.
        action: the write's one-line summary, used in the explanation.
        ctx: the tool context to run the check in.
    """
    tool = tools.get(check["tool"])
    if tool is None:  # the registry refuses this at start-up; stay safe anyway
        return f'Not asked: "{action}" cannot be checked right now, so it was not offered.'
    accepted = {k: v for k, v in args.items() if k in tool.args}
    try:
        with tool_context(ctx):
            result = await tool.ainvoke(accepted)
    except SmartSupportError as exc:
        log.warning("check %s before %r failed: %s", tool.name, action, exc)
        return f'Not asked: the current state could not be checked before "{action}" ({exc}).'
    data = _as_mapping(result)
    if data is None:
        return None
    if data.get("ok") is False:
        return f'Not asked: "{action}" cannot be done: {data.get("error") or "refused"}.'
    for field, allowed in (check.get("expect") or {}).items():
        value = data.get(field)
        if value not in allowed:
            return (
                f'Not asked: "{action}" needs {field.replace("_", " ")} to be '
                f"{_words(allowed)}, but it is {value} now, so nothing was changed."
            )
    return None

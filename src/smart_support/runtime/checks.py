"""Pre-checks: before a write is offered for approval, re-read the current state.

A write entry in agents.yaml may name a `check:` read tool and the values some of its result
fields must have. The tool guard runs it when it is about to ask (on a first request and on a
retry after an approval expired, when the order may have shipped meanwhile), so nobody is asked
to approve an action the business would refuse anyway. The read goes through the guard's own
read path: its access is checked at call time, and identity binding and ownership apply, so a
check never reads what the customer could not.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from langchain_core.tools import BaseTool

log = logging.getLogger("smart_support.approvals")

#: Runs a read for the check: the result's data, a refusal sentence, or None (unreadable).
Read = Callable[[BaseTool, dict[str, Any]], Awaitable[Any]]


def _words(values: list[Any]) -> str:
    shown = [str(v) for v in values]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " or " + shown[-1]


async def precheck(
    check: Mapping[str, Any],
    args: Mapping[str, Any],
    action: str,
    read: Read,
    tools: Mapping[str, BaseTool],
) -> str | None:
    """Run the check of a write; None when it may be offered, else why not (for the customer).

    Args:
        check: `{"tool": name, "expect": {field: [allowed values]} | None}` from agents.yaml.
        args: the write call's arguments; the check gets those it accepts.
        action: the write's one-line summary, used in the explanation.
        read: the guard's read path.
        tools: the agent's tools by name.
    """
    tool = tools.get(check["tool"])
    if tool is None:  # the registry refuses this at start-up; stay safe anyway
        return f'Not asked: "{action}" cannot be checked right now, so it was not offered.'
    accepted = {k: v for k, v in args.items() if k in tool.args}
    data = await read(tool, accepted)
    if isinstance(data, str):
        return f'Not asked: the current state could not be checked before "{action}". {data}'
    if not isinstance(data, Mapping):
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

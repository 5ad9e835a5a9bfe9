"""The hand-off to a human: a tool the runtime gives the escalation agent.

Calling it records the hand-off on the conversation (flag, event log and the escalation webhooks
of WEBHOOK_URLS, in one transaction: a crash after it loses no webhook), where operators and the
helpdesk pick it up. It changes no business data, so it needs no approval.
"""

from __future__ import annotations

from typing import Any

from langchain_core.tools import BaseTool, StructuredTool

from smart_support.escalation.hours import handoff_promise
from smart_support.escalation.outbox import escalation_messages
from smart_support.store.base import Store
from smart_support.tools.context import current_tool_context

HANDED_OFF = (
    "I've passed this conversation to our support team. {promise} You don't need to repeat"
    " anything."
)
"""What the customer is told; `{promise}` says when and where a person answers (SUPPORT_HOURS)."""


def handoff_tool(store: Store, agent: str) -> BaseTool:
    """`hand_off_to_human(reason)`, bound to the store that records the hand-off."""

    async def hand_off_to_human(reason: str) -> dict[str, Any]:
        """Hand this conversation to a person from the support team (a human agent).

        Args:
            reason: why the customer wants or needs a person, in a few words.
        """
        context = current_tool_context()
        conversation_id = context.conversation_id
        if conversation_id is None:
            return {"ok": False, "error": "no conversation to hand off"}
        why = reason[:500]
        webhooks = await escalation_messages(store, context.settings, conversation_id, why, agent)
        await store.escalate(conversation_id, webhooks, agent=agent, handoff={"reason": why})
        promise = handoff_promise(context.settings)
        return {"ok": True, "handed_off": True, "message": HANDED_OFF.format(promise=promise)}

    tool = StructuredTool.from_function(
        coroutine=hand_off_to_human, parse_docstring=True, name="hand_off_to_human"
    )
    tool.metadata = {"access": "read", "summary": None, "source": "builtin:handoff"}
    return tool

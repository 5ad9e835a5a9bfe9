"""A closed conversation's outcome, computed once from its event log when it closes.

The definition is versioned: each stored outcome carries the `OUTCOME_VERSION` that computed it,
so refining the rules later (a new version) never silently changes the figures of conversations
closed before. Change the rules only together with a new version number.

Version 1, in this order:

- `escalated`: handed to a person or the escalation agent (a handoff event, routing for the
  escalation reason, or the conversation's escalated flag);
- `resolved`: at least one tool call succeeded (a `tool_activity` event with status
  `succeeded`, as the replay summary counts it) and no escalation;
- `abandoned`: the agent's last word asked the customer something and the customer never
  answered: its last reply ends with a question mark, or an approval it asked for was left
  pending or expired;
- `unresolved`: anything else.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from smart_support.replay.summary import ESCALATION_REASON, HANDOFF_KIND, current_kind
from smart_support.store.records import EventRecord

OUTCOME_VERSION = 1
Outcome = Literal["resolved", "escalated", "abandoned", "unresolved"]
OUTCOMES: tuple[Outcome, ...] = ("resolved", "escalated", "abandoned", "unresolved")


def outcome(events: Iterable[EventRecord], *, escalated: bool = False) -> Outcome:
    """The outcome of a conversation (definition `OUTCOME_VERSION`) from its events in order.

    Args:
        events: The conversation's whole event log, oldest first.
        escalated: The conversation's stored escalated flag (`Conversation.escalated`).
    """
    succeeded = False
    awaiting_customer = False
    for event in events:
        kind = current_kind(event.kind)
        data = event.data
        if kind == HANDOFF_KIND or (
            kind == "agent_selected" and data.get("reason") == ESCALATION_REASON
        ):
            escalated = True
        elif kind == "tool_activity" and data.get("status") == "succeeded":
            succeeded = True
        elif kind == "customer_message":
            awaiting_customer = False
        elif kind == "reply_end":
            awaiting_customer = str(data.get("text", "")).rstrip().endswith("?")
        elif kind == "approval_requested":
            awaiting_customer = True
        elif kind == "approval_resolved":
            # An expired approval is one the customer never answered.
            awaiting_customer = data.get("status") == "expired"
    if escalated:
        return "escalated"
    if succeeded:
        return "resolved"
    if awaiting_customer:
        return "abandoned"
    return "unresolved"


__all__ = ["OUTCOMES", "OUTCOME_VERSION", "Outcome", "outcome"]

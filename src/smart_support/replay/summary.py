"""A conversation at a glance: who handled it, what it called, what waited for a person, what
failed, and what it cost. Folded from the event log and the usage records."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from smart_support.replay.pages import all_events
from smart_support.store.base import Store
from smart_support.store.records import Conversation, EventRecord, Usage

#: Kinds written by earlier versions of the runtime, read as their current names.
LEGACY_KINDS = {"tool": "tool_activity", "error": "turn_error"}
#: The event that hands a conversation to a person, and the routing reason that means the same.
HANDOFF_KIND = "handoff"
ESCALATION_REASON = "escalation"


def current_kind(kind: str) -> str:
    """The current name of a stored event kind."""
    return LEGACY_KINDS.get(kind, kind)


def stored_kinds(*kinds: str) -> tuple[str, ...]:
    """The names these kinds may be stored under: their own and their legacy ones."""
    legacy = tuple(old for old, new in LEGACY_KINDS.items() if new in kinds)
    return (*kinds, *legacy)


class ToolCalls(BaseModel):
    """How one tool fared in the conversation."""

    calls: int = Field(default=0, description="Calls started.")
    succeeded: int = 0
    failed: int = 0


class ApprovalCounts(BaseModel):
    """Approvals asked for in the conversation, by how they ended."""

    requested: int = 0
    approved: int = 0
    rejected: int = 0
    expired: int = 0
    cancelled: int = 0
    pending: int = Field(default=0, description="Requested and not resolved (yet).")


class UsageTotals(BaseModel):
    """Tokens and cost of model calls."""

    model_calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, usage: Usage) -> None:
        self.model_calls += 1
        self.input_tokens += usage.input_tokens
        self.output_tokens += usage.output_tokens
        self.cost_usd = round(self.cost_usd + usage.cost_usd, 10)


class ConversationSummary(BaseModel):
    """What a support lead asks first about one conversation."""

    conversation_id: str
    created_at: datetime
    first_event_at: datetime | None = None
    last_event_at: datetime | None = None
    events: int = Field(default=0, description="Entries in the event log.")
    last_seq: int = Field(
        default=0, description="The seq of the last event (0 when there is none)."
    )
    turns: int = Field(default=0, description="Customer messages.")
    replies: int = 0
    agents: list[str] = Field(
        default_factory=list, description="Agents that took part, in the order they first did."
    )
    tools: dict[str, ToolCalls] = Field(default_factory=dict)
    approvals: ApprovalCounts = Field(default_factory=ApprovalCounts)
    errors: dict[str, int] = Field(
        default_factory=dict, description="Turn errors by code (`tool_error`, ...)."
    )
    escalated: bool = Field(
        default=False, description="Handed to the escalation agent or a person."
    )
    outcome: str | None = Field(
        default=None,
        description="`resolved`, `escalated`, `abandoned` or `unresolved`, computed when the"
        " conversation closed (`analytics.outcomes`); null while it is open.",
    )
    outcome_version: int | None = Field(
        default=None, description="The version of the outcome definition that computed it."
    )
    closed_at: datetime | None = None
    usage: UsageTotals = Field(default_factory=UsageTotals)
    usage_by_model: dict[str, UsageTotals] = Field(default_factory=dict)
    usage_by_agent: dict[str, UsageTotals] = Field(default_factory=dict)
    usage_by_purpose: dict[str, UsageTotals] = Field(
        default_factory=dict,
        description="Model calls by what they were for: `routing` (the router) and `reply` (the"
        " agents' steps).",
    )
    tool_ms: int = Field(
        default=0, description="Time tools ran, summed over the calls logged with a duration."
    )
    tool_ms_by_tool: dict[str, int] = Field(default_factory=dict)
    longest_approval_wait_seconds: float | None = Field(
        default=None,
        description="The longest time from an approval's request to its decision or expiry;"
        " null when none was resolved (or the log predates `waited_seconds`).",
    )
    model_ms: int = Field(
        default=0, description="Time model calls took, summed (calls recorded with a duration)."
    )

    @classmethod
    def start(cls, conversation: Conversation) -> ConversationSummary:
        return cls(
            conversation_id=conversation.id,
            created_at=conversation.created_at,
            escalated=conversation.escalated,
            outcome=conversation.outcome,
            outcome_version=conversation.outcome_version,
            closed_at=conversation.closed_at,
        )

    def add(self, event: EventRecord) -> None:
        """Fold one more event in (events come in seq order)."""
        kind = current_kind(event.kind)
        data = event.data
        self.events += 1
        self.last_seq = event.seq
        self.first_event_at = self.first_event_at or event.created_at
        self.last_event_at = event.created_at
        agent = event.agent or (data.get("agent") if kind == "agent_selected" else None)
        if isinstance(agent, str) and agent not in self.agents:
            self.agents.append(agent)
        if kind == "customer_message":
            self.turns += 1
        elif kind == "reply_end":
            self.replies += 1
        elif kind == "tool_activity":
            tool = self.tools.setdefault(str(data.get("tool", "?")), ToolCalls())
            status = data.get("status")
            if status == "started":
                tool.calls += 1
            elif status == "succeeded":
                tool.succeeded += 1
            elif status == "failed":
                tool.failed += 1
            duration = data.get("duration_ms")
            if isinstance(duration, int) and status != "started":
                name = str(data.get("tool", "?"))
                self.tool_ms_by_tool[name] = self.tool_ms_by_tool.get(name, 0) + duration
                self.tool_ms += duration
        elif kind == "approval_requested":
            self.approvals.requested += 1
            self.approvals.pending += 1
        elif kind == "approval_resolved":
            status = data.get("status")
            if status in ("approved", "rejected", "expired", "cancelled"):
                setattr(self.approvals, status, getattr(self.approvals, status) + 1)
                self.approvals.pending = max(0, self.approvals.pending - 1)
            waited = data.get("waited_seconds")
            if isinstance(waited, int | float):
                longest = self.longest_approval_wait_seconds or 0.0
                self.longest_approval_wait_seconds = max(float(waited), longest)
        elif kind == "turn_error":
            code = str(data.get("code", "error"))
            self.errors[code] = self.errors.get(code, 0) + 1
        elif kind == HANDOFF_KIND or (
            kind == "agent_selected" and data.get("reason") == ESCALATION_REASON
        ):
            self.escalated = True

    def add_usage(self, usage: Usage) -> None:
        self.usage.add(usage)
        self.usage_by_model.setdefault(usage.model, UsageTotals()).add(usage)
        self.usage_by_agent.setdefault(usage.agent, UsageTotals()).add(usage)
        self.usage_by_purpose.setdefault(purpose_of(usage), UsageTotals()).add(usage)
        duration = usage.extra.get("duration_ms")
        if isinstance(duration, int):
            self.model_ms += duration


def purpose_of(usage: Usage) -> str:
    """What a model call was for (`events.ModelCall.purpose`): as recorded, or for rows
    recorded before purposes were, `routing` for the router's and `reply` for the rest."""
    purpose = usage.extra.get("purpose")
    if isinstance(purpose, str):
        return purpose
    return "routing" if usage.agent == "router" else "reply"


async def summarize(store: Store, conversation_id: str) -> ConversationSummary | None:
    """The summary of one conversation, None when there is no such conversation.

    It reads the whole log (page by page): its cost grows with the conversation, unlike a
    page's. The usage records are the model calls' own, attributed to the agent that made them
    and to their purpose; the same calls are on the events of their steps (`model_calls`), but
    the usage table holds them all (a failed turn's last calls too), so the totals come from it.
    """
    conversation = await store.get_conversation(conversation_id)
    if conversation is None:
        return None
    summary = ConversationSummary.start(conversation)
    async for event in all_events(store, conversation_id):
        summary.add(event)
    for usage in await store.usage(conversation_id):
        summary.add_usage(usage)
    return summary

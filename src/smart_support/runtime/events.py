"""What a conversation turn emits, in order. The terminal chat and the WebSocket both consume these.

Every event is a pydantic model with a `type` tag, so it serialises to JSON as it is.
"""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from smart_support.store.records import Approval


class _Event(BaseModel):
    conversation_id: str


class MessageAccepted(_Event):
    """The customer's message is stored; it will be answered."""

    type: Literal["message_accepted"] = "message_accepted"
    text: str
    seq: int


class AgentSelected(_Event):
    """The supervisor handed the conversation to an agent (or kept it with the same one)."""

    type: Literal["agent_selected"] = "agent_selected"
    agent: str
    previous: str | None = None
    reason: Literal["routed", "follow_up", "fallback", "escalation", "resume"] = "routed"
    display_name: str | None = None
    """How customers see the agent (agents.yaml `display_name`)."""


class Token(_Event):
    type: Literal["token"] = "token"
    agent: str
    text: str


class ToolActivity(_Event):
    """An agent called a tool (`started`) or got its result. Kept whole in the event log for
    operators; the chat socket sends customers only a label and the status
    (`smart_support.server.protocol.ToolActivityFrame`)."""

    type: Literal["tool_activity"] = "tool_activity"
    agent: str
    tool: str
    call_id: str
    status: Literal["started", "succeeded", "failed"]
    args: dict[str, Any] = Field(default_factory=dict)
    detail: str | None = None


class ApprovalView(BaseModel):
    """An approval as the customer who decides it sees it: the one approval model that the
    event, the socket frames and the REST answers extend."""

    approval_id: str
    agent: str
    summary: str = Field(description="The action in plain words.")
    args: dict[str, Any] = Field(description="The exact arguments that will be executed.")
    expires_at: datetime

    @classmethod
    def from_record(cls, approval: Approval, **extra: Any) -> Self:
        """Build any of the approval models from a store record (`store.records.Approval`)."""
        fields: dict[str, Any] = {"approval_id": approval.id, **extra}
        for name in cls.model_fields:
            if name not in fields and hasattr(approval, name):
                fields[name] = getattr(approval, name)
        return cls.model_validate(fields)


class ApprovalRequest(ApprovalView):
    """An approval with the tool it runs (for the event log and operators)."""

    tool: str


class ApprovalRequested(ApprovalRequest, _Event):
    type: Literal["approval_requested"] = "approval_requested"


class ApprovalResolved(_Event):
    type: Literal["approval_resolved"] = "approval_resolved"
    approval_id: str
    status: Literal["approved", "rejected", "expired", "cancelled"]
    decided_by: str | None = None


class ReplyEnd(_Event):
    """The agent finished speaking for this turn; `text` is the whole reply."""

    type: Literal["reply_end"] = "reply_end"
    agent: str
    text: str
    reply_id: str = Field(
        default_factory=lambda: uuid4().hex,
        description="Names this reply, for the customer's thumbs up or down on it.",
    )


class CustomerVerified(_Event):
    """The conversation's customer is now verified (signed identity at start, or the
    verification tool). `customer` is how the UI names them."""

    type: Literal["customer_verified"] = "customer_verified"
    method: Literal["signed", "verified"]
    customer: str


class TurnError(_Event):
    """A turn (or a decision) failed; `message` is worded for the customer. The chat socket
    sends it as an `error` frame (`smart_support.server.protocol.ErrorFrame`)."""

    type: Literal["turn_error"] = "turn_error"
    code: str
    message: str


Event = Annotated[
    MessageAccepted
    | AgentSelected
    | Token
    | ToolActivity
    | ApprovalRequested
    | ApprovalResolved
    | ReplyEnd
    | CustomerVerified
    | TurnError,
    Field(discriminator="type"),
]

"""What a conversation turn emits, in order. The terminal chat and the WebSocket both consume these.

Every event is a pydantic model with a `type` tag, so it serialises to JSON as it is.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field


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


class Token(_Event):
    type: Literal["token"] = "token"
    agent: str
    text: str


class ToolActivity(_Event):
    type: Literal["tool"] = "tool"
    agent: str
    tool: str
    call_id: str
    status: Literal["started", "succeeded", "failed"]
    args: dict[str, Any] = Field(default_factory=dict)
    detail: str | None = None


class ApprovalRequested(_Event):
    type: Literal["approval_requested"] = "approval_requested"
    approval_id: str
    agent: str
    tool: str
    args: dict[str, Any]
    summary: str
    expires_at: datetime


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


class TurnError(_Event):
    type: Literal["error"] = "error"
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
    | TurnError,
    Field(discriminator="type"),
]

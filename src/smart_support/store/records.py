"""Records kept in our own tables (beside LangGraph's checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "cancelled"]
ActionStatus = Literal["started", "succeeded", "failed", "unknown"]


@dataclass(frozen=True)
class Conversation:
    id: str
    token_hash: str
    created_at: datetime
    active_agent: str | None = None
    escalated: bool = False
    #: The verified customer (`smart_support.identity.Identity` as JSON), None while anonymous.
    identity: dict[str, Any] | None = None
    #: Failed attempts of the verification tool in this conversation.
    verify_failures: int = 0


@dataclass(frozen=True)
class EventRecord:
    """One entry of a conversation's append-only event log (transcript, replay, analytics)."""

    conversation_id: str
    seq: int
    kind: str
    agent: str | None
    data: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class Approval:
    """A write action waiting for (or past) a human decision."""

    id: str
    conversation_id: str
    agent: str
    tool: str
    tool_call_id: str
    args: dict[str, Any]
    args_hash: str
    summary: str
    status: ApprovalStatus
    created_at: datetime
    expires_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None


@dataclass(frozen=True)
class Action:
    """The ledger entry of an approved call: written before the call, completed after it."""

    idempotency_key: str
    approval_id: str
    conversation_id: str
    tool: str
    args: dict[str, Any]
    status: ActionStatus
    started_at: datetime
    finished_at: datetime | None = None
    result: Any = None


@dataclass(frozen=True)
class Usage:
    """Tokens and cost of one LLM call."""

    conversation_id: str
    agent: str
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    created_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

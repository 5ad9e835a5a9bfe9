"""What a conversation turn emits, in order. The terminal chat and the WebSocket both consume these.

Every event is a pydantic model with a `type` tag, so it serialises to JSON as it is. The event
log (`log_data`) keeps each whole, so that an operator reading a conversation's log understands
every step: what the router decided and why, each tool call with its arguments, result and
duration, approvals and who decided them after how long, errors with their operator detail, and
the tokens and cost of each model call on the step it was made for (`ModelCall`).

Some fields are for operators only (`operator_only`): they are excluded from every
serialisation (`model_dump`, the socket's frames, the generated protocol schema) and written to
the event log by `log_data` alone, so an event the socket sends as it is (`agent_selected`,
`reply_end`) never shows a customer the router's scores or what a reply cost.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self
from uuid import uuid4

from pydantic import BaseModel, Field, PrivateAttr
from pydantic_core import to_jsonable_python

if TYPE_CHECKING:
    from smart_support.store.records import Approval


#: How much of a tool's result the event log keeps (characters of its text, usually JSON).
RESULT_CHARS = 2000
#: How much of an exception's message an operator detail keeps.
DETAIL_CHARS = 500


def operator_only(description: str, default: Any = None, **kwargs: Any) -> Any:
    """A field kept in the event log for operators and never serialised anywhere else."""
    if "default_factory" in kwargs:
        return Field(exclude=True, description=description, **kwargs)
    return Field(default, exclude=True, description=description, **kwargs)


class _Event(BaseModel):
    conversation_id: str
    #: Its event-log row was written in the transaction of the change it reports (a decision:
    #: `Store.decide_approval(logged=...)`), so the engine does not append it again.
    _stored: bool = PrivateAttr(default=False)


class ModelCall(BaseModel):
    """One chat-model call, on the event of the step it was made for.

    Why on the step's event and not an event of its own: the usage table already gets one row
    per call (`runtime.usage`), so a `model_call` event would double the writes per call, and
    the replay would have to pair each with its step. Here the call costs no write of its own,
    and an operator reads the router's tokens on its `agent_selected`, those of a model step
    that called tools on the first `tool_activity` it started, and those of the answer on the
    `reply_end` (a turn paused for an approval: on its `approval_requested`). The figures are
    the usage rows' own, so the two sum to the same totals (a turn that failed mid-way has its
    last calls in the usage table only).
    """

    purpose: Literal["routing", "reply"] = Field(
        description="`routing`: the router's choice of agent; `reply`: an agent's model step"
        " (its answer, or the tool calls it made on the way)."
    )
    agent: str = Field(description="The agent that made the call (`router` for routing).")
    model: str
    input_tokens: int
    output_tokens: int
    cost_usd: float
    duration_ms: int | None = Field(default=None, description="From request to last token.")


class RoutingDecision(BaseModel):
    """How the router chose the agent (`runtime.routing`): only what it computed anyway."""

    method: Literal["follow_up", "model", "default"] = Field(
        description="`follow_up`: kept with the active specialist by the lexical matcher, no"
        " model call; `model`: the router model was asked; `default`: no router model, the"
        " fallback agent."
    )
    asked_because: Literal["first_message", "no_specialist", "topic_switch", "off_topic"] | None = (
        Field(
            default=None,
            description="Why the model was asked: the conversation had no agent yet, its agent is"
            " no specialist, another agent matched clearly better, or no agent knows the message's"
            " words.",
        )
    )
    scores: dict[str, float] | None = Field(
        default=None,
        description="The lexical matcher's score per agent (0..1), when it was consulted.",
    )
    tool: str | None = Field(
        default=None,
        description="The transfer tool the router model called; null when it called none.",
    )


def log_data(event: _Event) -> dict[str, Any]:
    """An event as the event log keeps it: every field, operator-only ones included."""
    data = event.model_dump(mode="json")
    for name, field in type(event).model_fields.items():
        if field.exclude:
            data[name] = to_jsonable_python(getattr(event, name))
    return data


_SECRETS = (
    # credentials in a URL (scheme://user:pass@host) and whole query strings (keys, tokens)
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^\s/@]+@"), r"\1***@"),
    (re.compile(r"(?i)\b(https?://[^\s?#]+)\?[^\s'\")]*"), r"\1?***"),
    (re.compile(r"(?i)\b(bearer|basic|token)\s+[a-z0-9._~+/=-]{8,}"), r"\1 ***"),
    (
        re.compile(
            r"(?i)\b((?:api[_-]?key|access[_-]?token|token|secret|password|passwd|pwd|"
            r"authorization|cookie)[\"']?\s*[:=]\s*)[\"']?[^\s,;&\"'}]+"
        ),
        r"\1***",
    ),
    (re.compile(r"\b(sk|pk|rk|xox[abp])-[A-Za-z0-9_-]{8,}"), "***"),
)


def operator_detail(exc: BaseException) -> str:
    """An exception as an operator reads it in the event log: its class and message, with
    anything shaped like a secret (URL credentials and query strings, bearer tokens,
    `key=value` secrets, provider keys) masked, at most `DETAIL_CHARS` characters."""
    message = str(exc)
    for pattern, replacement in _SECRETS:
        message = pattern.sub(replacement, message)
    text = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return text[:DETAIL_CHARS]


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
    decision: RoutingDecision | None = operator_only("How the router decided (event log only).")
    model_calls: list[ModelCall] = operator_only(
        "The router's model call, if it made one (event log only).", default_factory=list
    )


class Token(_Event):
    type: Literal["token"] = "token"
    agent: str
    text: str


class ToolActivity(_Event):
    """An agent called a tool (`started`, with its arguments) or got its result (`succeeded`,
    `failed`, with the result and how long the call took). Kept whole in the event log for
    operators; the chat socket sends customers only a label and the status
    (`smart_support.server.protocol.ToolActivityFrame`)."""

    type: Literal["tool_activity"] = "tool_activity"
    agent: str
    tool: str
    call_id: str
    status: Literal["started", "succeeded", "failed"]
    args: dict[str, Any] = Field(default_factory=dict)
    detail: str | None = Field(
        default=None,
        description=f"The result as the agent got it (its text, usually JSON), at most"
        f" {RESULT_CHARS} characters (500 in logs written before `detail_chars`); for a failed"
        f" call, the failure as the agent read it.",
    )
    detail_chars: int | None = Field(default=None, description="The whole result's length.")
    detail_trimmed: bool = Field(
        default=False, description="Whether `detail` is cut (`detail_chars` is the whole)."
    )
    duration_ms: int | None = Field(
        default=None,
        description="How long the tool ran, from the guard's call to its answer; null when it"
        " did not run (refused by the guard, or an approval's outcome replayed).",
    )
    guard: str | None = Field(
        default=None,
        description="Set when the tool guard wrote the result instead of the tool (or over it):"
        " system_down, system_failed, unknown_tool, verification_needed, sign_in_needed,"
        " verified, not_verified, verification_refused.",
    )
    error: str | None = Field(
        default=None,
        description="What the tool raised, as `operator_detail` words it (secrets masked).",
    )
    model_calls: list[ModelCall] = operator_only(
        "The model step that made this call (on the first call it started).",
        default_factory=list,
    )

    @staticmethod
    def trimmed(text: str) -> dict[str, Any]:
        """The `detail`, `detail_chars` and `detail_trimmed` fields for a result's text."""
        return {
            "detail": text[:RESULT_CHARS],
            "detail_chars": len(text),
            "detail_trimmed": len(text) > RESULT_CHARS,
        }


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
    model_calls: list[ModelCall] = operator_only(
        "Model calls of the run that paused here not on an earlier step.", default_factory=list
    )


class ApprovalResolved(_Event):
    """An approval ended: decided by the customer (`customer`), an operator
    (`operator:<name>`), or expired (`system`)."""

    type: Literal["approval_resolved"] = "approval_resolved"
    approval_id: str
    status: Literal["approved", "rejected", "expired", "cancelled"]
    decided_by: str | None = None
    waited_seconds: float | None = Field(
        default=None, description="From the request to the decision (or expiry)."
    )

    @staticmethod
    def row(approval: Approval) -> tuple[str, dict[str, Any]]:
        """Its event-log row (kind, data), for the decision's own transaction."""
        event = ApprovalResolved.of(approval)
        return event.type, log_data(event)

    @classmethod
    def stored(cls, approval: Approval) -> ApprovalResolved:
        """The event of a decision whose row `row` wrote in the decision's transaction."""
        event = cls.of(approval)
        event._stored = True
        return event

    @classmethod
    def of(cls, approval: Approval) -> ApprovalResolved:
        """The event of a decided approval (`store.records.Approval`)."""
        waited = None
        if approval.decided_at is not None:
            waited = round((approval.decided_at - approval.created_at).total_seconds(), 3)
        return cls(
            conversation_id=approval.conversation_id,
            approval_id=approval.id,
            status=approval.status,  # type: ignore[arg-type]
            decided_by=approval.decided_by,
            waited_seconds=waited,
        )


class ReplyEnd(_Event):
    """The agent finished speaking for this turn; `text` is the whole reply."""

    type: Literal["reply_end"] = "reply_end"
    agent: str
    text: str
    reply_id: str = Field(
        default_factory=lambda: uuid4().hex,
        description="Names this reply, for the customer's thumbs up or down on it.",
    )
    model_calls: list[ModelCall] = operator_only(
        "The model calls of the answer (event log only).", default_factory=list
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
    detail: str | None = operator_only(
        "What failed, for operators: the exception's class and message (`operator_detail`)."
    )


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

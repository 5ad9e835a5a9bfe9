"""The chat WebSocket protocol, version 1 (`/ws/v1`): every client and server frame as a model.

Frames are JSON text messages with a `type` tag. Server frames that report what a turn did are the
runtime events of `smart_support.runtime.events`, serialised as they are; the models below add the
frames that only the socket needs (conversation, transcript, pong, error). `docs/protocol.md` is
generated from these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    MessageAccepted,
    ReplyEnd,
    Token,
    ToolActivity,
    TurnError,
)
from smart_support.store.records import Approval, EventRecord

PROTOCOL_VERSION = 1
#: Text frames longer than this get a `frame_too_large` error frame (the socket stays open).
MAX_FRAME_CHARS = 16 * 1024
#: A customer message longer than this is refused with `bad_frame`.
MAX_MESSAGE_CHARS = 4000


class _ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    v: Literal[1] = Field(1, description="Protocol version; optional, 1 when absent.")


class StartFrame(_ClientFrame):
    """Start a new conversation; the server answers with a `conversation` frame."""

    type: Literal["start"]


class ResumeFrame(_ClientFrame):
    """Resume a conversation with the token issued when it started.

    The server answers with `conversation` then `transcript` (earlier events and any pending
    approval), or `error` `unauthorized` when the id is unknown or the token is not its token.
    """

    type: Literal["resume"]
    conversation_id: str = Field(min_length=1, max_length=200)
    token: str = Field(min_length=1, max_length=200)


class MessageFrame(_ClientFrame):
    """A customer message in the current conversation."""

    type: Literal["message"]
    text: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)


class DecisionFrame(_ClientFrame):
    """The customer's decision on a pending approval of the current conversation."""

    type: Literal["decision"]
    approval_id: str = Field(min_length=1, max_length=200)
    decision: Literal["approve", "reject"]


class PingFrame(_ClientFrame):
    """Keep-alive; answered with `pong`."""

    type: Literal["ping"]


ClientFrame = Annotated[
    StartFrame | ResumeFrame | MessageFrame | DecisionFrame | PingFrame,
    Field(discriminator="type"),
]
client_frame_adapter: TypeAdapter[ClientFrame] = TypeAdapter(ClientFrame)


class ConversationFrame(BaseModel):
    """The conversation this socket is attached to. Keep `token`: it is needed to resume."""

    type: Literal["conversation"] = "conversation"
    conversation_id: str
    token: str
    model_label: str = Field(description='"offline model" or "provider:model".')
    is_offline: bool
    resumed: bool = False


class TranscriptEntry(BaseModel):
    """One stored event of the conversation's log."""

    seq: int
    kind: str
    agent: str | None = None
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_record(cls, record: EventRecord) -> TranscriptEntry:
        return cls(
            seq=record.seq,
            kind=record.kind,
            agent=record.agent,
            data=record.data,
            created_at=record.created_at,
        )


class PendingApproval(BaseModel):
    """An approval still waiting for a decision (same fields as `approval_requested`)."""

    approval_id: str
    agent: str
    tool: str
    args: dict[str, Any]
    summary: str
    expires_at: datetime

    @classmethod
    def from_approval(cls, approval: Approval) -> PendingApproval:
        return cls(
            approval_id=approval.id,
            agent=approval.agent,
            tool=approval.tool,
            args=approval.args,
            summary=approval.summary,
            expires_at=approval.expires_at,
        )


class TranscriptFrame(BaseModel):
    """Sent after a resume: the conversation so far and the approvals still pending."""

    type: Literal["transcript"] = "transcript"
    conversation_id: str
    events: list[TranscriptEntry]
    pending_approvals: list[PendingApproval]


class PongFrame(BaseModel):
    type: Literal["pong"] = "pong"


class ErrorFrame(BaseModel):
    """Something went wrong; `message` is safe to show a customer. The socket stays usable.

    Stable codes: bad_frame, frame_too_large, unsupported_version, no_conversation, unauthorized,
    conversation_not_found, busy, approval_error, store_unavailable, model_unavailable,
    tool_error, internal_error (see docs/protocol.md).
    """

    type: Literal["error"] = "error"
    code: str
    message: str
    conversation_id: str | None = None


ServerFrame = Annotated[
    ConversationFrame
    | TranscriptFrame
    | MessageAccepted
    | AgentSelected
    | Token
    | ToolActivity
    | ApprovalRequested
    | ApprovalResolved
    | ReplyEnd
    | PongFrame
    | ErrorFrame,
    Field(discriminator="type"),
]
"""Everything the server sends. A turn's error arrives as `TurnError`, which has the shape of
`ErrorFrame` with `conversation_id` set."""

CLIENT_FRAMES: tuple[type[BaseModel], ...] = (
    StartFrame,
    ResumeFrame,
    MessageFrame,
    DecisionFrame,
    PingFrame,
)
SERVER_FRAMES: tuple[type[BaseModel], ...] = (
    ConversationFrame,
    TranscriptFrame,
    MessageAccepted,
    AgentSelected,
    Token,
    ToolActivity,
    ApprovalRequested,
    ApprovalResolved,
    ReplyEnd,
    TurnError,
    PongFrame,
    ErrorFrame,
)


BEGIN_MARK = "<!-- generated schemas: begin (python -m smart_support.server.protocol) -->"
END_MARK = "<!-- generated schemas: end -->"


def schemas_markdown() -> str:
    """The JSON schema of every frame, as the generated section of docs/protocol.md."""
    import json

    parts = [BEGIN_MARK, ""]
    for title, frames in (("Client frames", CLIENT_FRAMES), ("Server frames", SERVER_FRAMES)):
        parts += [f"### {title}", ""]
        for model in frames:
            schema = model.model_json_schema()
            tag = schema["properties"]["type"].get("const") or schema["properties"]["type"].get(
                "default"
            )
            parts += [
                f"#### `{tag}` ({model.__name__})",
                "",
                "```json",
                json.dumps(schema, indent=2, sort_keys=True),
                "```",
                "",
            ]
    parts.append(END_MARK)
    return "\n".join(parts)


def update_docs(path: str) -> None:
    """Rewrite the generated section of `path` (docs/protocol.md) in place."""
    from pathlib import Path

    doc = Path(path)
    text = doc.read_text(encoding="utf-8")
    head, _, rest = text.partition(BEGIN_MARK)
    _, _, tail = rest.partition(END_MARK)
    doc.write_text(head + schemas_markdown() + tail, encoding="utf-8")


if __name__ == "__main__":  # pragma: no cover
    import sys

    if len(sys.argv) > 1:
        update_docs(sys.argv[1])
    else:
        print(schemas_markdown())

"""The chat WebSocket protocol, version 1 (`/ws/v1`): every client and server frame as a model.

Frames are JSON text messages with a `type` tag. Server frames that report what a turn did are the
customer's view of the runtime events of `smart_support.runtime.events` (`to_frame`, the one place
that decides what of a turn reaches a browser); the other frames only the socket needs. Client
frames are validated here, at the edge, so that nothing a database cannot store gets further.
`docs/protocol.md` and `web/src/protocol.ts` are generated from these models
(`python -m smart_support.server.schema_export`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal, assert_never

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from smart_support.escalation.people import (
    MAX_NAME_CHARS,
    PERSON_KINDS,
    PersonJoined,
    PersonLeft,
    PersonMessage,
    person_event_adapter,
)
from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    ApprovalView,
    CustomerVerified,
    Event,
    MessageAccepted,
    ReplyEnd,
    Token,
    ToolActivity,
    TurnError,
)
from smart_support.runtime.feedback import (
    FEEDBACK_KIND,
    MAX_COMMENT_CHARS,
    Rating,
    latest_ratings,
)
from smart_support.store.records import Approval, EventRecord

PROTOCOL_VERSION = 1
#: Text frames longer than this get a `frame_too_large` error frame (the socket stays open).
MAX_FRAME_CHARS = 16 * 1024
#: A customer message longer than this is refused with `bad_frame`.
MAX_MESSAGE_CHARS = 4000
#: The ids and tokens the server issues (`secrets.token_urlsafe`, UUIDs): anything else is not
#: one of ours and is refused at the edge, before it reaches a database.
ID_PATTERN = r"^[A-Za-z0-9_-]{1,200}$"
#: Characters no database column can hold: NUL (PostgreSQL text) and lone surrogates (UTF-8).
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable(value: str) -> str:
    """`value` unchanged, or ValueError when it holds a NUL or a lone surrogate."""
    if _UNSTORABLE.search(value):
        raise ValueError("must not contain NUL characters or invalid Unicode")
    return value


#: An id or token the server issued.
Id = Annotated[str, Field(pattern=ID_PATTERN)]

#: The start of an ISO 8601 datetime: a date, `T` or a space, hours and minutes.
_ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")


def iso_datetime(value: Any) -> Any:
    """`value` unchanged if it is text that reads as an ISO datetime, else ValueError. Pydantic
    alone would also take a number of seconds since 1970 or a bare date, which the API does
    not promise: `until=0.5` is a typo to refuse, not January 1970."""
    if isinstance(value, str) and not _ISO_DATETIME.match(value):
        raise ValueError("must be an ISO 8601 datetime, such as 2026-11-25T12:00:00Z")
    return value


#: A datetime parameter of the REST API: ISO 8601 text only (UTC when it has no offset).
IsoDatetime = Annotated[datetime, BeforeValidator(iso_datetime)]


class _ClientFrame(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    v: Literal[1] = Field(1, description="Protocol version; optional, 1 when absent.")


class StartFrame(_ClientFrame):
    """Start a new conversation; the server answers with a `conversation` frame.

    `identity` is the signed identity of a customer the host site has signed in (a JWT its
    server signed with IDENTITY_SECRET or the key of IDENTITY_PUBLIC_KEY; see docs/security.md).
    A forged, expired or wrongly signed one is refused with `identity_refused` and no
    conversation starts. Without it the conversation is anonymous: tools that need a customer
    are refused until the customer verifies in the conversation."""

    type: Literal["start"]
    identity: str | None = Field(
        None, min_length=1, max_length=8192, description="A signed identity token (JWT)."
    )


class ResumeFrame(_ClientFrame):
    """Resume a conversation with the token issued when it started.

    The server answers with `conversation` then `transcript` (earlier events and any pending
    approval), or `error` `unauthorized` when the id is unknown or the token is not its token.
    """

    type: Literal["resume"]
    conversation_id: Id
    token: Id


class MessageFrame(_ClientFrame):
    """A customer message in the current conversation."""

    type: Literal["message"]
    text: Annotated[
        str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(storable)
    ]


class DecisionFrame(_ClientFrame):
    """The customer's decision on a pending approval of the current conversation."""

    type: Literal["decision"]
    approval_id: Id
    decision: Literal["approve", "reject"]


class FeedbackFrame(_ClientFrame):
    """The customer's thumbs up or down on one reply of the current conversation.

    Answered with `feedback_recorded`, or `error` `unknown_reply` when `reply_id` is not the
    `reply_id` of a `reply_end` of this conversation (nothing is stored). Rating a reply again
    records the new rating: the latest counts. A closed conversation's replies may be rated;
    that does not reopen it."""

    type: Literal["feedback"]
    reply_id: Id = Field(description="The `reply_id` of the `reply_end` being rated.")
    rating: Rating = Field(description='"up" (helpful) or "down" (not helpful).')
    comment: Annotated[
        str | None,
        Field(max_length=MAX_COMMENT_CHARS, description="An optional short comment."),
        AfterValidator(lambda value: value if value is None else storable(value)),
    ] = None


class PingFrame(_ClientFrame):
    """Keep-alive; answered with `pong`."""

    type: Literal["ping"]


ClientFrame = Annotated[
    StartFrame | ResumeFrame | MessageFrame | DecisionFrame | FeedbackFrame | PingFrame,
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
    welcome_message: str = Field(
        description="What the chat says before the first message (WELCOME_MESSAGE)."
    )
    link_domains: list[str] = Field(
        description="Domains (and their subdomains) whose links the chat renders as links"
        " (LINK_DOMAINS); any other URL is shown as plain text."
    )
    verified: bool = Field(
        False, description="Whether the customer is verified (signed identity or verification)."
    )
    customer: str | None = Field(
        None, description="How the chat names the verified customer; null while anonymous."
    )


class ToolActivityFrame(BaseModel):
    """What a customer sees of an agent's tool call (`ToolActivity` in the event log): a
    label and the status, never the tool's name, arguments or result."""

    type: Literal["tool_activity"] = "tool_activity"
    conversation_id: str
    status: Literal["started", "succeeded", "failed"]
    label: str = Field(description='Words to show, e.g. "Checking our records".')


class ApprovalRequestedFrame(ApprovalView):
    """A write action waits for the customer's decision (`ApprovalRequested` without the tool
    name)."""

    type: Literal["approval_requested"] = "approval_requested"
    conversation_id: str


class ErrorFrame(BaseModel):
    """Something went wrong; `message` is safe to show a customer. The socket stays usable.

    Stable codes: bad_frame, frame_too_large, message_too_long, unsupported_version,
    no_conversation, unauthorized, conversation_not_found, busy, approval_error,
    approval_pending, unknown_reply, feedback_limit, rate_limited, conversation_too_long,
    store_unavailable, model_unavailable, tool_error, internal_error; on the operator socket
    also conversation_held, not_held, bad_request (see docs/protocol.md). `conversation_id` is
    set for errors of a conversation's turn.
    """

    type: Literal["error"] = "error"
    code: str
    message: str
    conversation_id: str | None = None


#: What a customer sees while a tool runs, by status.
TOOL_LABELS: dict[str, str] = {
    "started": "Checking our records",
    "succeeded": "Got it",
    "failed": "That did not work",
}
#: A started call of a tool whose name begins with one of these verbs is "Preparing the change"
#: (the call starts before its approval; a fixed phrase: the tool's name never reaches the
#: browser).
_CHANGE_VERBS = frozenset(
    [
        "add",
        "cancel",
        "change",
        "create",
        "delete",
        "issue",
        "refund",
        "remove",
        "return",
        "send",
        "set",
        "start",
        "update",
    ]
)


def tool_label(tool: str, status: str) -> str:
    """What the customer reads while `tool` runs (`status` started) or after it."""
    if status != "started":
        return TOOL_LABELS[status]
    verb = re.split(r"[_.-]", tool.lower(), maxsplit=1)[0]
    if verb == "verify":
        return "Checking your details"
    return "Preparing the change" if verb in _CHANGE_VERBS else TOOL_LABELS["started"]


#: Server frames that report what a turn did: the customer's view of each runtime event.
EventFrame = (
    MessageAccepted
    | AgentSelected
    | Token
    | ToolActivityFrame
    | ApprovalRequestedFrame
    | ApprovalResolved
    | ReplyEnd
    | CustomerVerified
    | ErrorFrame
    | PersonJoined
    | PersonMessage
    | PersonLeft
)
#: A person's joining, message and leaving (`escalation.people`): sent as they are.
PersonFrame = PersonJoined | PersonMessage | PersonLeft


def to_frame(event: Event | PersonFrame) -> EventFrame:
    """The customer's view of a runtime event: the one place that decides what of a turn
    reaches the browser (live frames and transcripts). Tool calls lose their name, arguments
    and result (customer data, a payment method: they stay in the event log for operators);
    approvals lose the tool name."""
    if isinstance(event, ToolActivity):
        return ToolActivityFrame(
            conversation_id=event.conversation_id,
            status=event.status,
            label=tool_label(event.tool, event.status),
        )
    if isinstance(event, ApprovalRequested):
        return ApprovalRequestedFrame.model_validate(event.model_dump(exclude={"type", "tool"}))
    if isinstance(event, TurnError):
        return ErrorFrame(
            code=event.code, message=event.message, conversation_id=event.conversation_id
        )
    if isinstance(
        event,
        MessageAccepted
        | AgentSelected
        | Token
        | ApprovalResolved
        | ReplyEnd
        | CustomerVerified
        | PersonJoined
        | PersonMessage
        | PersonLeft,
    ):
        return event  # nothing in these that the customer may not see
    # A new kind of event reaches a browser only once someone decided what of it may (mypy
    # fails here until then).
    assert_never(event)


_event_adapter: TypeAdapter[Event] = TypeAdapter(Event)
#: Kinds stored before the events' tags matched their class names.
_LEGACY_KINDS = {"tool": "tool_activity", "error": "turn_error"}


class TranscriptEntry(BaseModel):
    """One stored event of the conversation's log, as the customer may see it: `data` is the
    event's frame without `type` and `conversation_id` (`customer_message`: `{text}`).

    A `reply_end`'s `data` has the `reply_id` to rate it by (none for replies stored before
    replies had ids) and `rating` is the customer's latest rating of it."""

    seq: int
    kind: str
    agent: str | None = None
    data: dict[str, Any]
    created_at: datetime
    rating: Rating | None = Field(
        default=None, description="`reply_end` only: the customer's latest rating of this reply."
    )

    @classmethod
    def from_record(cls, record: EventRecord) -> TranscriptEntry:
        kind = _LEGACY_KINDS.get(record.kind, record.kind)
        data = record.data
        if kind in PERSON_KINDS:  # a person's words: shown with their name after a reload
            try:
                person = person_event_adapter.validate_python({**record.data, "type": kind})
            except ValidationError:
                data = {}
            else:
                data = person.model_dump(mode="json", exclude={"type", "conversation_id"})
        elif kind != "customer_message":
            try:
                event = _event_adapter.validate_python({**record.data, "type": kind})
            except ValidationError:
                data = {}  # an entry we cannot read shows nothing rather than everything
            else:
                frame = to_frame(event)
                kind = frame.type
                data = frame.model_dump(mode="json", exclude={"type", "conversation_id"})
        if kind == "reply_end" and "reply_id" not in record.data:
            data.pop("reply_id", None)  # stored before replies had ids: nothing to rate it by
        return cls(
            seq=record.seq, kind=kind, agent=record.agent, data=data, created_at=record.created_at
        )


class TranscriptFrame(BaseModel):
    """Sent after a resume: the conversation so far and the approvals still pending.

    The customer's ratings are not entries of their own: each `reply_end` carries its latest
    one (`rating`)."""

    type: Literal["transcript"] = "transcript"
    conversation_id: str
    events: list[TranscriptEntry]
    pending_approvals: list[ApprovalView]

    @classmethod
    def build(
        cls, conversation_id: str, records: list[EventRecord], pending: list[Approval]
    ) -> TranscriptFrame:
        ratings = latest_ratings(records)
        events = []
        for record in records:
            if record.kind == FEEDBACK_KIND:
                continue
            entry = TranscriptEntry.from_record(record)
            reply_id = entry.data.get("reply_id") if entry.kind == "reply_end" else None
            if isinstance(reply_id, str) and reply_id in ratings:
                entry.rating = ratings[reply_id]
            events.append(entry)
        return cls(
            conversation_id=conversation_id,
            events=events,
            pending_approvals=[ApprovalView.from_record(a) for a in pending],
        )


class FeedbackRecordedFrame(BaseModel):
    """The customer's rating of a reply is stored (the answer to `feedback`, on this socket
    only). Rating the same reply again is answered the same way; the latest rating counts,
    up to 20 ratings of one reply (then `feedback_limit`)."""

    type: Literal["feedback_recorded"] = "feedback_recorded"
    conversation_id: str
    reply_id: str
    rating: Rating


class PongFrame(BaseModel):
    type: Literal["pong"] = "pong"


ServerFrame = Annotated[
    ConversationFrame
    | TranscriptFrame
    | MessageAccepted
    | AgentSelected
    | Token
    | ToolActivityFrame
    | ApprovalRequestedFrame
    | ApprovalResolved
    | ReplyEnd
    | CustomerVerified
    | PersonJoined
    | PersonMessage
    | PersonLeft
    | FeedbackRecordedFrame
    | PongFrame
    | ErrorFrame,
    Field(discriminator="type"),
]
"""Everything the server sends."""

CLIENT_FRAMES: tuple[type[BaseModel], ...] = (
    StartFrame,
    ResumeFrame,
    MessageFrame,
    DecisionFrame,
    FeedbackFrame,
    PingFrame,
)
SERVER_FRAMES: tuple[type[BaseModel], ...] = (
    ConversationFrame,
    TranscriptFrame,
    MessageAccepted,
    AgentSelected,
    Token,
    ToolActivityFrame,
    ApprovalRequestedFrame,
    ApprovalResolved,
    ReplyEnd,
    CustomerVerified,
    PersonJoined,
    PersonMessage,
    PersonLeft,
    FeedbackRecordedFrame,
    PongFrame,
    ErrorFrame,
)


# -- the operator socket (`/ws/v1/operator`) -----------------------------------------------------


class OperatorAuthFrame(_ClientFrame):
    """The operator token, as the first frame of an operator socket (browsers cannot set an
    `Authorization` header on a WebSocket). Not needed when the upgrade request had one."""

    type: Literal["auth"]
    token: str = Field(min_length=1, max_length=1024)


class TakeOverFrame(_ClientFrame):
    """Take a conversation over as `name` (the customer sees it): the agents stay silent and
    this socket gets the customer's messages (`customer_message`) until it is handed back.
    Answered with `person_joined`; `error` `conversation_held` when someone else holds it,
    `conversation_not_found` when there is no such conversation. Taking over again as the same
    name (after a reconnect) follows the conversation again and changes nothing else."""

    type: Literal["take_over"]
    conversation_id: Id
    name: Annotated[str, Field(min_length=1, max_length=MAX_NAME_CHARS), AfterValidator(storable)]


class SayFrame(_ClientFrame):
    """A message to the customer of a conversation this socket took over, as its person."""

    type: Literal["say"]
    conversation_id: Id
    text: Annotated[
        str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS), AfterValidator(storable)
    ]


class HandBackFrame(_ClientFrame):
    """Give the conversation back to the agents; answered with `person_left`."""

    type: Literal["hand_back"]
    conversation_id: Id


OperatorClientFrame = Annotated[
    OperatorAuthFrame | PingFrame | TakeOverFrame | SayFrame | HandBackFrame,
    Field(discriminator="type"),
]
operator_frame_adapter: TypeAdapter[OperatorClientFrame] = TypeAdapter(OperatorClientFrame)


class ImportProgressFrame(BaseModel):
    """An import job changed: sent for every change of every job, in order per job.

    `status` goes queued, fetching, validating, parsing, classifying, then ready (`draft_id`
    set) or failed (`error`, `error_code`: spec_error, spec_refused, interrupted,
    internal_error). A job interrupted by a restart goes back to queued once."""

    type: Literal["import_progress"] = "import_progress"
    job_id: str
    status: Literal["queued", "fetching", "validating", "parsing", "classifying", "ready", "failed"]
    stage: str = Field(description='What it is doing in words, e.g. "reading operations".')
    done: int = Field(description="Operations classified so far (classifying, ready).")
    total: int = Field(description="Operations to classify, 0 before classification starts.")
    draft_id: str | None = Field(description="The draft made, once ready.")
    error: str | None = Field(description="Why it failed, for the operator.")
    error_code: str | None


class OperatorReadyFrame(BaseModel):
    """The token was accepted: from now on every job change is sent. `jobs` are the import
    jobs not yet ended at that moment."""

    type: Literal["operator_ready"] = "operator_ready"
    jobs: list[ImportProgressFrame]


class CustomerMessageFrame(BaseModel):
    """The customer wrote in a conversation this operator socket holds (taken over): the
    agents do not answer it, the person does."""

    type: Literal["customer_message"] = "customer_message"
    conversation_id: str
    text: str
    seq: int = Field(description="Its place in the conversation's event log.")


class OperatorApprovalRequestedFrame(ApprovalView):
    """An approval of any conversation waits for a decision (as `GET /api/v1/operator/approvals`
    lists it): sent to every operator socket when an approval is created, in any server process
    on the same database."""

    type: Literal["approval_requested"] = "approval_requested"
    tool: str
    conversation_id: str
    status: str
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None


class OperatorApprovalResolvedFrame(BaseModel):
    """An approval of any conversation ended (decided, expired, cancelled): drop it from the
    inbox. `decided_by`: `customer`, `operator:<name>` or `system`."""

    type: Literal["approval_resolved"] = "approval_resolved"
    approval_id: str
    conversation_id: str
    status: Literal["approved", "rejected", "expired", "cancelled"]
    decided_by: str | None = None


OperatorServerFrame = Annotated[
    OperatorReadyFrame
    | ImportProgressFrame
    | CustomerMessageFrame
    | OperatorApprovalRequestedFrame
    | OperatorApprovalResolvedFrame
    | PersonJoined
    | PersonMessage
    | PersonLeft
    | PongFrame
    | ErrorFrame,
    Field(discriminator="type"),
]
"""Everything the server sends on the operator socket."""

OPERATOR_CLIENT_FRAMES: tuple[type[BaseModel], ...] = (
    OperatorAuthFrame,
    PingFrame,
    TakeOverFrame,
    SayFrame,
    HandBackFrame,
)
OPERATOR_SERVER_FRAMES: tuple[type[BaseModel], ...] = (
    OperatorReadyFrame,
    ImportProgressFrame,
    CustomerMessageFrame,
    OperatorApprovalRequestedFrame,
    OperatorApprovalResolvedFrame,
    PersonJoined,
    PersonMessage,
    PersonLeft,
    PongFrame,
    ErrorFrame,
)

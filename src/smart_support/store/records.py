"""Records kept in our own tables (beside LangGraph's checkpoints)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from smart_support.errors import SmartSupportError

ApprovalStatus = Literal["pending", "approved", "rejected", "expired", "cancelled"]
ActionStatus = Literal["started", "succeeded", "failed", "unknown"]
#: A draft takes changes; accepted and discarded are final (neither becomes the other).
ImportStatus = Literal["draft", "accepted", "discarded"]
#: An import job's steps in the order it takes them; ready and failed are final.
ImportJobStatus = Literal[
    "queued", "fetching", "validating", "parsing", "classifying", "ready", "failed"
]
#: The statuses of a job some worker is running.
RUNNING_JOB_STATUSES: tuple[ImportJobStatus, ...] = (
    "fetching",
    "validating",
    "parsing",
    "classifying",
)


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
    #: When it closed (idle or explicitly); None while open, and again once a message reopens it.
    closed_at: datetime | None = None
    #: `resolved`, `escalated`, `abandoned` or `unresolved`, computed at close; None while open.
    outcome: str | None = None
    #: The version of the outcome definition that computed `outcome`.
    outcome_version: int | None = None
    #: The person (an operator's display name) who took the conversation over; None while the
    #: agents answer. The agents stay silent while a person holds it.
    held_by: str | None = None
    held_since: datetime | None = None


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


@dataclass(frozen=True)
class ImportDraft:
    """An imported spec waiting for (or past) an operator's review; nothing of it reaches an
    agent before it is accepted.

    The current decisions are `proposal` (as the classifier made it, never rewritten) with the
    draft's changes applied in order: the change log is the history and the state at once.
    """

    id: str
    name: str
    #: The spec's URL, or `document` for one sent inline.
    source: str
    status: ImportStatus
    #: Small numbers about the report (operations, writes, warnings, skipped) for listings.
    counts: dict[str, int]
    #: The import's report (`ImportResult.report()`); None in listings, which leave it out.
    report: dict[str, Any] | None
    #: The classifier's proposal as a JSON document (its shape is the classifier's), or None.
    proposal: dict[str, Any] | None
    created_by: str
    created_at: datetime
    #: The last change, acceptance or discard.
    updated_at: datetime
    accepted_by: str | None = None
    accepted_at: datetime | None = None
    discarded_by: str | None = None
    discarded_at: datetime | None = None
    #: How many changes the draft has (filled in listings and reads).
    change_count: int = 0
    #: How the import was asked for, for whoever turns it into agents: `server` (the URL called
    #: instead of the spec's servers, or None), `remote_refs`, and `auth` (an `AuthSpec` as JSON
    #: naming environment variables, never secrets, or None). {} for drafts stored before.
    options: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ImportChange:
    """One operator decision on a draft: who set which field of which operation, from what."""

    id: int
    import_id: str
    #: The operation's tool name.
    operation: str
    #: `access`, `relevance`, `agent`, `summary` or `parameter.<name>.role`.
    field: str
    value: Any
    #: The field's value just before this change.
    previous: Any
    changed_by: str
    changed_at: datetime
    #: The operator confirmed a change that needs it (a write operation marked read).
    confirmed: bool = False


@dataclass(frozen=True)
class ImportJob:
    """An import running in the server's background: where it is, and the draft it made."""

    id: str
    status: ImportJobStatus
    #: What it is doing in words (`reading operations`), "" when there is nothing to add.
    stage: str
    #: Operations classified so far, of `total` (0 and 0 before classification).
    done: int
    total: int
    #: The draft the job made, once `ready`.
    draft_id: str | None
    #: Why it failed (safe to show an operator), and the error code (`spec_error`, ...).
    error: str | None
    error_code: str | None
    #: How many times a worker took the job (a job interrupted by a restart runs again once).
    attempts: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    #: The import's request (the POST body, document included) when read for running it;
    #: None in listings and progress.
    request: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("ready", "failed")


class ImportDraftError(SmartSupportError):
    """A draft that cannot be read or changed as asked; the message says why (for operators)."""

    code = "import_error"

    def __init__(self, message: str) -> None:
        self.public_message = message
        super().__init__(message)


class ImportNotFound(ImportDraftError):
    code = "import_not_found"


class ImportClosed(ImportDraftError):
    """The draft was accepted or discarded: it takes no more changes, nor the other decision."""

    code = "import_closed"


#: A webhook delivery: `pending` until a 2xx (`delivered`), the end of the retry schedule
#: (`dead`, the dead-letter list) or a 410 from its endpoint (`disabled`).
DeliveryStatus = Literal["pending", "delivered", "dead", "disabled"]


@dataclass(frozen=True)
class OutboxMessage:
    """A webhook to send, as the outbox stores it (one per endpoint); written in the
    transaction of what it reports."""

    #: The `webhook-id` header: unique per delivery, stable across its retries.
    id: str
    endpoint: str
    event_type: str
    conversation_id: str | None
    #: The JSON body (`{type, timestamp, data}`).
    payload: dict[str, Any]
    #: When it may be sent first (now, or a little later to let the same turn add to it).
    not_before: datetime


@dataclass(frozen=True)
class WebhookDelivery:
    """One row of the webhook outbox: a message to one endpoint and how its attempts went."""

    id: str
    endpoint: str
    event_type: str
    conversation_id: str | None
    payload: dict[str, Any]
    status: DeliveryStatus
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    updated_at: datetime
    #: The worker holding it and until when (a lease): another may take it once that passed.
    claimed_by: str | None = None
    claimed_until: datetime | None = None
    #: The HTTP status of the last attempt (None: no answer: a timeout, a refused connection).
    last_status: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None


@dataclass(frozen=True)
class DisabledEndpoint:
    """An endpoint that answered 410 Gone: nothing is sent to it until an operator enables it."""

    endpoint: str
    disabled_at: datetime
    reason: str | None

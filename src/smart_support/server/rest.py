"""REST endpoints: health, info, a customer's transcript, and the operator API.

Customers present their conversation token in `X-Conversation-Token`; a wrong token and an unknown
conversation get the same 404. Operators present `Authorization: Bearer <OPERATOR_TOKEN>`; with no
token configured the operator API answers 404 `operator_disabled`.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import secrets
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Security
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, Field

from smart_support.errors import ConversationNotFound, StoreUnavailable
from smart_support.observability import metrics
from smart_support.observability.health import readiness
from smart_support.observability.logs import bind_conversation
from smart_support.redaction import Redactor
from smart_support.replay import (
    DEFAULT_LIMIT,
    KIND_PATTERN,
    MAX_LIMIT,
    ConversationSummary,
    EventPage,
    export_lines,
    read_page,
    summarize,
)
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import ApprovalRequest, ApprovalResolved, TurnError
from smart_support.server.errors import ApiError, error_responses
from smart_support.server.protocol import ID_PATTERN, IsoDatetime, TranscriptFrame, storable
from smart_support.store.listing import ConversationFilter
from smart_support.store.records import Conversation
from smart_support.store.rows import MAX_PAGE_KINDS

log = logging.getLogger("smart_support.server")

router = APIRouter()

#: A store slower than this to answer counts as down (a health check must not hang).
HEALTH_TIMEOUT_SECONDS = 2.0
#: Paging further than this is not paging (and a 64-bit offset overflows the databases).
MAX_OFFSET = 1_000_000_000
#: An operator's name: letters of any script, digits, spaces and . @ ' -
OPERATOR_NAME = r"^[\w .@'-]+$"
NDJSON = "application/x-ndjson"

ConversationId = Annotated[str, Path(pattern=ID_PATTERN)]
ApprovalId = Annotated[str, Path(pattern=ID_PATTERN)]


def _version() -> str:
    try:
        return importlib.metadata.version("smart-support")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - running from a checkout
        return "0"


def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


EngineDep = Annotated[Engine, Depends(get_engine)]


def get_redactor(request: Request) -> Redactor:
    """The app's redactor (REDACT_PERSONAL_DATA): what the operator replay API masks."""
    redactor: Redactor = request.app.state.redactor
    return redactor


RedactorDep = Annotated[Redactor, Depends(get_redactor)]


#: The operator token as the OpenAPI document's security scheme, so that the document says
#: which operations need it (and clients and schemathesis send it); checked by us, not by it.
OPERATOR_BEARER = HTTPBearer(
    scheme_name="operator",
    description="`Authorization: Bearer <OPERATOR_TOKEN>`",
    auto_error=False,
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Security(OPERATOR_BEARER)]


def check_operator(request: Request, credentials: HTTPAuthorizationCredentials | None) -> str:
    """Check the operator bearer token; returns the name used as `decided_by`."""
    expected = request.app.state.settings.operator_token
    if not expected:
        raise ApiError("operator_disabled")
    presented = credentials.credentials.strip() if credentials is not None else ""
    if not secrets.compare_digest(presented.encode(), expected.encode()):
        raise ApiError("unauthorized", "A valid operator token is required.")
    return "operator"


def require_operator(request: Request, credentials: Credentials = None) -> str:
    """The operator API's dependency: `check_operator` on the request's bearer token."""
    return check_operator(request, credentials)


OperatorDep = Annotated[str, Depends(require_operator)]


class Info(BaseModel):
    model_label: str
    is_offline: bool
    version: str
    websocket: str = "/ws/v1"
    allowed_origins: list[str] = Field(
        default_factory=list,
        description="Other sites' origins (ALLOWED_ORIGINS) whose pages may embed the chat and"
        " hand it a signed identity; the embedded chat listens to these only.",
    )


class OperatorApproval(ApprovalRequest):
    """An approval as operators see it: what the customer sees, the tool, and its state."""

    conversation_id: str
    status: str
    created_at: datetime
    decided_at: datetime | None = None
    decided_by: str | None = None


class ConversationOut(BaseModel):
    conversation_id: str
    created_at: datetime
    active_agent: str | None = None
    escalated: bool = False
    outcome: str | None = Field(None, description="Computed at close; null while open.")
    closed_at: datetime | None = None

    @classmethod
    def from_conversation(cls, c: Conversation) -> ConversationOut:
        return cls(
            conversation_id=c.id,
            created_at=c.created_at,
            active_agent=c.active_agent,
            escalated=c.escalated,
            outcome=c.outcome,
            closed_at=c.closed_at,
        )


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    operator: Annotated[str, Field(pattern=OPERATOR_NAME), AfterValidator(storable)] | None = Field(
        None, max_length=80, description="Who decides; recorded as `operator:<name>`."
    )


class DecisionOut(BaseModel):
    approval_id: str
    decision: Literal["approve", "reject"]
    events: list[dict[str, Any]] = Field(description="What the resumed turn emitted.")


_UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "description": "The store, or what the answer names, is not ready.",
        "model": dict[str, Any],
    }
}


@router.get("/healthz", tags=["health"], responses=_UNAVAILABLE)
async def healthz(engine: EngineDep) -> JSONResponse:
    """200 when the store answers, 503 when it does not."""
    try:
        async with asyncio.timeout(HEALTH_TIMEOUT_SECONDS):
            await engine.store.list_conversations(limit=1)
    except (StoreUnavailable, TimeoutError):
        return JSONResponse({"status": "unavailable", "store": "down"}, status_code=503)
    return JSONResponse({"status": "ok", "store": "ok"})


def _mcp_servers(engine: Engine) -> dict[str, Any]:
    """The MCP servers of the engine's open toolkits (none until the engine lists them)."""
    servers: dict[str, Any] = {}
    for toolkit in getattr(engine, "toolkits", ()):
        servers.update(toolkit.servers)
    return servers


@router.get("/readyz", tags=["health"], responses=_UNAVAILABLE)
async def readyz(engine: EngineDep, request: Request) -> JSONResponse:
    """200 when the database answers, its schema is at the newest migration and the MCP
    sessions are up; 503 naming what is not (`not_ready`). See docs/operations.md."""
    answer = await readiness(request.app.state.settings, _mcp_servers(engine))
    return JSONResponse(answer, status_code=200 if answer["status"] == "ready" else 503)


_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


@router.get(
    "/metrics",
    tags=["health"],
    response_class=Response,
    responses={
        200: {"content": {"text/plain": {}}, "description": "Prometheus text format"},
        **error_responses(401, 404),
    },
)
async def prometheus_metrics(request: Request, credentials: Credentials = None) -> Response:
    """Prometheus metrics (text format). With OPERATOR_TOKEN set a scraper presents it as a
    bearer token; without one only clients on this machine are answered."""
    if request.app.state.settings.operator_token:
        check_operator(request, credentials)
    elif (request.client.host if request.client else "") not in _LOOPBACK:
        raise ApiError("operator_disabled")
    body, content_type = metrics.render()
    return Response(body, media_type=content_type)


@router.get("/api/v1/info", tags=["chat"])
async def info(engine: EngineDep, request: Request) -> Info:
    """Which model answers (the web UI shows an "offline model" badge) and which sites may
    embed the chat."""
    return Info(
        model_label=engine.model_label,
        is_offline=engine.is_offline,
        version=_version(),
        allowed_origins=[o.strip().rstrip("/") for o in request.app.state.settings.allowed_origins],
    )


@router.get(
    "/api/v1/conversations/{conversation_id}/transcript",
    tags=["chat"],
    responses=error_responses(404, 503),
)
async def transcript(
    conversation_id: ConversationId,
    engine: EngineDep,
    x_conversation_token: Annotated[str | None, Header()] = None,
) -> TranscriptFrame:
    """The stored events of one conversation and its pending approvals (customer token)."""
    bind_conversation(conversation_id)
    if not x_conversation_token or not await engine.authorize(
        conversation_id, x_conversation_token
    ):
        raise ApiError(
            "conversation_not_found", "This conversation does not exist or is not yours."
        )
    records = await engine.transcript(conversation_id)
    pending = await engine.pending_approvals(conversation_id)
    return TranscriptFrame.build(conversation_id, records, pending)


@router.get("/api/v1/operator/approvals", tags=["operator"])
async def operator_approvals(
    engine: EngineDep,
    _: OperatorDep,
    conversation_id: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
) -> list[OperatorApproval]:
    """Pending approvals, oldest first (optionally of one conversation)."""
    pending = await engine.pending_approvals(conversation_id)
    return [OperatorApproval.from_record(a) for a in pending]


@router.post(
    "/api/v1/operator/approvals/{approval_id}/decision",
    tags=["operator"],
    responses=error_responses(409),
)
async def operator_decide(
    approval_id: ApprovalId, body: DecisionIn, engine: EngineDep, operator: OperatorDep
) -> DecisionOut:
    """Approve or reject any pending approval; the customer sees the result live."""
    decided_by = f"operator:{body.operator}" if body.operator else operator
    decided = engine.decide(approval_id, body.decision == "approve", decided_by)
    events = [event async for event in metrics.observed(decided, turn=False)]
    if not any(isinstance(e, ApprovalResolved) for e in events):
        # Nothing was decided (unknown, already decided, expired, store down): say why.
        error = next((e for e in events if isinstance(e, TurnError)), None)
        raise ApiError(error.code if error else "approval_error", error.message if error else None)
    log.info("approval %s decided %s by %s", approval_id, body.decision, decided_by)
    return DecisionOut(
        approval_id=approval_id,
        decision=body.decision,
        events=[e.model_dump(mode="json") for e in events],
    )


@router.get("/api/v1/operator/conversations", tags=["operator"])
async def operator_conversations(
    engine: EngineDep,
    _: OperatorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    outcome: Annotated[
        Literal["open", "resolved", "escalated", "abandoned", "unresolved"] | None,
        Query(description="Only conversations of this outcome (`open`: not closed yet)."),
    ] = None,
    agent: Annotated[
        str | None, Query(max_length=200, description="Only those this agent answered in.")
    ] = None,
    escalated: bool | None = None,
    since: Annotated[IsoDatetime | None, Query(description="Created at or after.")] = None,
    until: Annotated[IsoDatetime | None, Query(description="Created before.")] = None,
    before: Annotated[
        str | None,
        Query(
            pattern=ID_PATTERN,
            description="Keyset paging: the last conversation id of the previous page.",
        ),
    ] = None,
) -> list[ConversationOut]:
    """Conversations, newest first. Filters narrow the list; page with `before` (the last id
    of the previous page: a page at any depth costs what the first does) or `offset`."""
    filters = ConversationFilter(
        outcome=outcome, agent=agent, escalated=escalated, since=since, until=until
    )
    if offset and before is None and filters == ConversationFilter():
        found = await engine.list_conversations(limit=limit, offset=offset)
    else:
        cursor = None
        if before is not None:
            last = await engine.store.get_conversation(before)
            if last is None:
                raise ApiError("conversation_not_found", "There is no such conversation.")
            cursor = (last.created_at, last.id)
        found = await engine.store.list_conversations_page(filters, limit, cursor)
    return [ConversationOut.from_conversation(c) for c in found]


#: An event kind to filter a page on (repeat `kind` for several).
EventKind = Annotated[str, Field(pattern=KIND_PATTERN)]


async def _known(engine: Engine, conversation_id: str) -> None:
    if await engine.store.get_conversation(conversation_id) is None:
        raise ApiError("conversation_not_found", "There is no such conversation.")


@router.get("/api/v1/operator/conversations/{conversation_id}/events", tags=["operator"])
async def operator_events(
    conversation_id: ConversationId,
    engine: EngineDep,
    redactor: RedactorDep,
    _: OperatorDep,
    after: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    kind: Annotated[list[EventKind], Query(max_length=MAX_PAGE_KINDS)] = [],  # noqa: B006
) -> EventPage:
    """A page of the event log as stored (customers get a projection of it): the events with
    seq > `after`, oldest first, of the `kind`s given; `next_after` is the next page's `after`.
    Keyset pagination: a page at any depth costs the same as the first. With
    REDACT_PERSONAL_DATA on, personal data in the events is masked."""
    bind_conversation(conversation_id)
    page = await read_page(
        engine.store, conversation_id, after=after, limit=limit, kinds=kind, redactor=redactor
    )
    if not page.events:  # a page with events proves the conversation; an empty one may not
        await _known(engine, conversation_id)
    return page


async def _summary(engine: Engine, conversation_id: str, redactor: Redactor) -> ConversationSummary:
    summary = await summarize(engine.store, conversation_id)
    if summary is None:
        raise ApiError("conversation_not_found", "There is no such conversation.")
    if not redactor.enabled:
        return summary
    # Its keys are its own fields and the names of agents, tools and models: strings only.
    return ConversationSummary.model_validate(redactor.strings(summary.model_dump(mode="json")))


@router.get("/api/v1/operator/conversations/{conversation_id}/summary", tags=["operator"])
async def operator_summary(
    conversation_id: ConversationId, engine: EngineDep, redactor: RedactorDep, _: OperatorDep
) -> ConversationSummary:
    """Agents involved, tools called, approvals, errors, escalation, turns, tokens and cost."""
    bind_conversation(conversation_id)
    return await _summary(engine, conversation_id, redactor)


class ClosedConversation(BaseModel):
    """A conversation once closed: its outcome and the definition's version that computed it."""

    conversation_id: str
    outcome: Literal["resolved", "escalated", "abandoned", "unresolved"]
    outcome_version: int
    closed_at: datetime


@router.post("/api/v1/operator/conversations/{conversation_id}/close", tags=["operator"])
async def operator_close(
    conversation_id: ConversationId, engine: EngineDep, _: OperatorDep
) -> ClosedConversation:
    """Close a conversation now and compute its outcome; closing it again answers the same.
    A later customer message reopens it (the outcome is computed again at the next close)."""
    bind_conversation(conversation_id)
    try:
        closed = await engine.close_conversation(conversation_id)
    except ConversationNotFound:
        raise ApiError("conversation_not_found", "There is no such conversation.") from None
    return ClosedConversation.model_validate(
        {
            "conversation_id": closed.id,
            "outcome": closed.outcome,
            "outcome_version": closed.outcome_version,
            "closed_at": closed.closed_at,
        }
    )


@router.get(
    "/api/v1/operator/conversations/{conversation_id}/export",
    tags=["operator"],
    response_class=StreamingResponse,
    responses={200: {"content": {NDJSON: {}}, "description": "JSON Lines"}},
)
async def operator_export(
    conversation_id: ConversationId, engine: EngineDep, redactor: RedactorDep, _: OperatorDep
) -> StreamingResponse:
    """The whole conversation as JSON Lines for audits: the summary on the first line, then
    every event in order (streamed page by page), masked as the events page is."""
    bind_conversation(conversation_id)
    summary = await _summary(engine, conversation_id, redactor)
    return StreamingResponse(
        export_lines(engine.store, summary, redactor),
        media_type=NDJSON,
        headers={"Content-Disposition": f'attachment; filename="{conversation_id}.jsonl"'},
    )


class ActionOut(BaseModel):
    """An entry of the action ledger: an approved call, with its outcome."""

    idempotency_key: str
    approval_id: str
    conversation_id: str
    tool: str
    args: dict[str, Any]
    status: Literal["started", "succeeded", "failed", "unknown"] = Field(
        description="`unknown`: the system stopped mid-call; a person must check whether it"
        " took effect (it is never repeated automatically)."
    )
    started_at: datetime
    finished_at: datetime | None = None
    result: Any = None


@router.get("/api/v1/operator/actions", tags=["operator"])
async def operator_actions(
    engine: EngineDep,
    _: OperatorDep,
    status: Literal["started", "succeeded", "failed", "unknown"] | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[ActionOut]:
    """Approved actions, newest first; `?status=unknown` lists those a person must check."""
    return [
        ActionOut.model_validate(action, from_attributes=True)
        for action in await engine.store.list_actions(status, limit)
    ]

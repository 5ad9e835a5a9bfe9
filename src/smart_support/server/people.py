"""The operator API of people in the conversation (`escalation.people`): the escalations that
wait for a person, taking one over, writing to its customer, handing it back.

Errors say who is at fault: 404 `conversation_not_found` (no such conversation), 409
`conversation_held` (someone else holds it; the message names them) or `not_held` (nobody
does), 400 `bad_request` (an empty message, an unusable name).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smart_support.errors import ConversationNotFound, SmartSupportError
from smart_support.escalation import people
from smart_support.escalation.hours import check_hours, handoff_promise
from smart_support.escalation.people import MAX_NAME_CHARS, MAX_TEXT_CHARS
from smart_support.server.errors import HTTP_STATUS, error_responses
from smart_support.server.rest import ConversationId, EngineDep, OperatorDep
from smart_support.settings import Settings
from smart_support.store.records import Conversation

router = APIRouter(tags=["operator"])

_STATUS = {"conversation_held": 409, "not_held": 409, "bad_request": 400}


def people_router(settings: Settings) -> APIRouter:
    """This router, once SUPPORT_HOURS and SUPPORT_TIMEZONE are known to be readable: a bad
    value stops the server at start instead of failing a customer's hand-off."""
    check_hours(settings)
    return router


def _refused(exc: SmartSupportError) -> JSONResponse:
    if isinstance(exc, ConversationNotFound):
        body = {"code": "conversation_not_found", "message": "There is no such conversation."}
        return JSONResponse(body, status_code=404)
    message = str(exc) if isinstance(exc, people.ConversationHeld) else exc.public_message
    status = _STATUS.get(exc.code) or HTTP_STATUS.get(exc.code, 500)
    return JSONResponse({"code": exc.code, "message": message}, status_code=status)


#: A name as `escalation.people` takes it: letters, digits, spaces and . @ ' - once the
#: surrounding white space is stripped, and not empty then. Only documented (the schema's
#: `pattern`): `escalation.people` refuses the rest itself, in words that say what is wrong.
NAME_PATTERN = r"^\s*[\w.@'-][\w .@'-]*\s*$"


class TakeOverIn(BaseModel):
    name: str = Field(
        min_length=1,
        max_length=MAX_NAME_CHARS,
        description="The person, as the customer sees it.",
        json_schema_extra={"pattern": NAME_PATTERN},
    )


class MessageIn(BaseModel):
    text: str = Field(
        max_length=MAX_TEXT_CHARS,
        description="Plain text, not only white space.",
        json_schema_extra={"minLength": 1, "pattern": r"\S"},
    )
    name: str | None = Field(
        None,
        max_length=MAX_NAME_CHARS,
        description="Who writes; when given, it must be the person holding the conversation.",
        json_schema_extra={"pattern": NAME_PATTERN},
    )


class Held(BaseModel):
    """A conversation a person holds."""

    conversation_id: str
    held_by: str
    held_since: datetime | None = None


class Sent(BaseModel):
    conversation_id: str
    name: str
    text: str


class HandedBack(BaseModel):
    conversation_id: str
    name: str = Field(description="The person who held it.")


class Escalation(BaseModel):
    """An escalated conversation waiting for a person, or one a person holds."""

    conversation_id: str
    created_at: datetime
    active_agent: str | None = None
    escalated: bool
    held_by: str | None = Field(None, description="Who holds it; null while it waits.")
    held_since: datetime | None = None
    closed: bool = Field(description="Closed (idle); a held one stays listed until handed back.")


class Escalations(BaseModel):
    escalations: list[Escalation]
    promise: str = Field(
        description="What a customer handed off now is told (SUPPORT_HOURS, OFFLINE_PROMISE)."
    )


def _escalation(c: Conversation) -> Escalation:
    return Escalation(
        conversation_id=c.id,
        created_at=c.created_at,
        active_agent=c.active_agent,
        escalated=c.escalated,
        held_by=c.held_by,
        held_since=c.held_since,
        closed=c.closed_at is not None,
    )


@router.get("/api/v1/operator/escalations")
async def operator_escalations(
    engine: EngineDep,
    _: OperatorDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> Escalations:
    """Escalated conversations still open (waiting for a person) and every held one, newest
    first."""
    found = [_escalation(c) for c in await engine.store.waiting_for_people(limit)]
    return Escalations(escalations=found[:limit], promise=handoff_promise(engine.settings))


#: `conversation_held`, `not_held`.
_CONFLICTS = error_responses(409)


@router.post(
    "/api/v1/operator/conversations/{conversation_id}/takeover",
    response_model=Held,
    responses=_CONFLICTS,
)
async def operator_take_over(
    conversation_id: ConversationId, body: TakeOverIn, engine: EngineDep, _: OperatorDep
) -> Held | JSONResponse:
    """Take the conversation over as `name`: the agents stay silent and the customer sees
    "<name> joined the conversation". Taking it over again as the same name changes nothing."""
    try:
        joined = await people.take_over(engine, conversation_id, body.name)
    except SmartSupportError as exc:
        return _refused(exc)
    conversation = await engine.store.get_conversation(conversation_id)
    since = conversation.held_since if conversation is not None else None
    return Held(conversation_id=conversation_id, held_by=joined.name, held_since=since)


@router.post(
    "/api/v1/operator/conversations/{conversation_id}/messages",
    response_model=Sent,
    responses=_CONFLICTS,
)
async def operator_message(
    conversation_id: ConversationId, body: MessageIn, engine: EngineDep, _: OperatorDep
) -> Sent | JSONResponse:
    """A message to the customer from the person holding the conversation, with their name."""
    try:
        sent = await people.say(engine, conversation_id, body.text, body.name)
    except SmartSupportError as exc:
        return _refused(exc)
    return Sent(conversation_id=conversation_id, name=sent.name, text=sent.text)


@router.post(
    "/api/v1/operator/conversations/{conversation_id}/handback",
    response_model=HandedBack,
    responses=_CONFLICTS,
)
async def operator_hand_back(
    conversation_id: ConversationId, engine: EngineDep, _: OperatorDep
) -> HandedBack | JSONResponse:
    """Give the conversation back to the agents: they answer the customer's next message."""
    try:
        left = await people.hand_back(engine, conversation_id)
    except SmartSupportError as exc:
        return _refused(exc)
    return HandedBack(conversation_id=conversation_id, name=left.name)


__all__ = ["people_router", "router"]

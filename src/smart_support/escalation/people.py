"""People in the conversation: an operator takes a conversation over, writes to the customer as
themselves, and hands it back to the agents.

While a person holds a conversation (`Conversation.held_by`) the agents stay silent: the
customer's messages are stored and reach the operators following it (`Engine._turn`), and no
agent runs. The person's joining, messages and leaving are events of the conversation's log
(`person_joined`, `person_message`, `person_left`) published live to every socket following it,
so the customer sees them as they happen and again in the transcript after a reload.

Any conversation may be taken over, escalated or not; the operator API lists the escalated
ones (`GET /api/v1/operator/escalations`). One person holds a conversation at a time: taking
over one that someone else holds is refused (`ConversationHeld`); the same person taking it
over again changes nothing (a reconnected console, say).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import BaseModel, Field, TypeAdapter

from smart_support.errors import ConversationNotFound, SmartSupportError

if TYPE_CHECKING:
    from smart_support.runtime.engine import Engine

#: The longest name and message a person may send.
MAX_NAME_CHARS = 80
MAX_TEXT_CHARS = 4000
#: What a person's name may hold: letters, digits, spaces and . @ ' - (as operator names).
_NAME = re.compile(r"^[\w .@'-]+$")
_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


class PersonJoined(BaseModel):
    """A person from the support team took the conversation over; the agents are silent
    until they leave. `name` is how the customer sees them."""

    type: Literal["person_joined"] = "person_joined"
    conversation_id: str
    name: str


class PersonMessage(BaseModel):
    """A person's message to the customer, shown with their name (never an agent's label)."""

    type: Literal["person_message"] = "person_message"
    conversation_id: str
    name: str
    text: str


class PersonLeft(BaseModel):
    """The person handed the conversation back: the agents answer the next message."""

    type: Literal["person_left"] = "person_left"
    conversation_id: str
    name: str


PersonEvent = Annotated[PersonJoined | PersonMessage | PersonLeft, Field(discriminator="type")]
person_event_adapter: TypeAdapter[PersonEvent] = TypeAdapter(PersonEvent)
#: The event log kinds of these events.
PERSON_KINDS = frozenset({"person_joined", "person_message", "person_left"})


class ConversationHeld(SmartSupportError):
    """Another person holds the conversation (the operator asking is at fault: 409)."""

    code = "conversation_held"
    public_message = "Someone else from the team has taken this conversation over."

    def __init__(self, held_by: str) -> None:
        self.held_by = held_by
        super().__init__(f"{held_by} holds this conversation; they must hand it back first.")


class NotHeld(SmartSupportError):
    """A message or a hand-back for a conversation nobody holds (409)."""

    code = "not_held"
    public_message = "Nobody holds this conversation: take it over first."


class BadPersonInput(SmartSupportError):
    """An empty or unusable name or message (400)."""

    code = "bad_request"

    def __init__(self, message: str) -> None:
        self.public_message = message
        super().__init__(message)


def _name(name: str | None) -> str:
    name = (name or "").strip()
    if not name or len(name) > MAX_NAME_CHARS or not _NAME.match(name):
        raise BadPersonInput(
            f"A name of 1 to {MAX_NAME_CHARS} letters, digits, spaces or . @ ' - is needed:"
            " the customer sees it."
        )
    return name


def _text(text: str | None) -> str:
    text = (text or "").strip()
    if not text:
        raise BadPersonInput("The message is empty.")
    if len(text) > MAX_TEXT_CHARS:
        raise BadPersonInput(f"Please keep a message under {MAX_TEXT_CHARS} characters.")
    if _UNSTORABLE.search(text):
        raise BadPersonInput("The message holds NUL characters or invalid Unicode.")
    return text


async def _holder(engine: Engine, conversation_id: str) -> str | None:
    conversation = await engine.store.get_conversation(conversation_id)
    if conversation is None:
        raise ConversationNotFound()
    return conversation.held_by


async def take_over(engine: Engine, conversation_id: str, name: str) -> PersonJoined:
    """`name` takes the conversation over: the agents stay silent, the customer is told that
    `name` joined.

    Raises:
        ConversationNotFound: no such conversation.
        ConversationHeld: someone else holds it (the same name again is not an error and
            publishes nothing new).
        BadPersonInput: an empty or unusable name.
    """
    name = _name(name)
    joined = PersonJoined(conversation_id=conversation_id, name=name)
    for _ in range(2):  # a second time when it was handed back between the two steps
        if await engine.store.hold_conversation(conversation_id, name, datetime.now(UTC)):
            await engine.publish(joined)
            return joined
        holder = await _holder(engine, conversation_id)
        if holder is not None and holder != name:
            raise ConversationHeld(holder)
        if holder == name:
            return joined
    raise ConversationHeld("someone else")


async def say(
    engine: Engine, conversation_id: str, text: str, name: str | None = None
) -> PersonMessage:
    """The holder's message to the customer (stored, then sent to every socket following the
    conversation). `name`, when given, must be the holder's.

    Raises:
        ConversationNotFound, NotHeld, ConversationHeld (another holds it), BadPersonInput.
    """
    text = _text(text)
    holder = await _holder(engine, conversation_id)
    if holder is None:
        raise NotHeld()
    if name is not None and _name(name) != holder:
        raise ConversationHeld(holder)
    message = PersonMessage(conversation_id=conversation_id, name=holder, text=text)
    await engine.publish(message)
    return message


async def hand_back(engine: Engine, conversation_id: str) -> PersonLeft:
    """Give the conversation back to the agents; the customer is told the person left. Any
    operator may hand back (a person who went home should not keep the agents silent).

    Raises:
        ConversationNotFound, NotHeld.
    """
    holder = await _holder(engine, conversation_id)
    if holder is None or not await engine.store.release_conversation(conversation_id):
        raise NotHeld()
    left = PersonLeft(conversation_id=conversation_id, name=holder)
    await engine.publish(left)
    return left


__all__ = [
    "PERSON_KINDS",
    "BadPersonInput",
    "ConversationHeld",
    "NotHeld",
    "PersonEvent",
    "PersonJoined",
    "PersonLeft",
    "PersonMessage",
    "hand_back",
    "person_event_adapter",
    "say",
    "take_over",
]

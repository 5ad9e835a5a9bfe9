"""Events as another process receives them: every field, operator-only ones included.

The operator sockets of the other process read operator-only fields (a turn error's detail, a
tool's error), so an event travels as the event log keeps it (`runtime.events.log_data`), not
as a customer's socket would see it; it is rebuilt by its `type` tag into the same class.
"""

from __future__ import annotations

import typing
from typing import Annotated, Any, Union

from pydantic import BaseModel, Field, TypeAdapter

from smart_support.escalation.people import PersonEvent
from smart_support.runtime.events import Event, log_data
from smart_support.runtime.events import _Event as TurnEvent


def _members(annotated: Any) -> tuple[Any, ...]:
    return typing.get_args(typing.get_args(annotated)[0])


#: Every live event: a turn's (`runtime.events`) and a person's (`escalation.people`).
_LIVE_EVENT: Any = Annotated[
    Union[(*_members(Event), *_members(PersonEvent))],  # a union built at run time
    Field(discriminator="type"),
]
_LIVE: TypeAdapter[Any] = TypeAdapter(_LIVE_EVENT)


def encode(event: BaseModel) -> dict[str, Any]:
    """`event` as JSON-ready data."""
    if isinstance(event, TurnEvent):
        return log_data(event)
    return event.model_dump(mode="json")


def decode(data: dict[str, Any]) -> Any:
    """The event `encode` made `data` from. Raises pydantic.ValidationError for anything else."""
    return _LIVE.validate_python(data)


__all__ = ["decode", "encode"]

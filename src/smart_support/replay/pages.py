"""Pages of a conversation's event log: keyset on seq, so a page at any depth costs the same."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from smart_support.store.base import Store
from smart_support.store.records import EventRecord

#: Page size when none is asked for, and the most a page may hold.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: An event kind as the log names them (`tool_activity`, `approval_resolved`...).
KIND_PATTERN = r"^[a-z][a-z_]{0,39}$"


class LoggedEvent(BaseModel):
    """One entry of a conversation's event log, whole: tool arguments and results included."""

    seq: int
    kind: str
    agent: str | None = None
    data: dict[str, Any]
    created_at: datetime

    @classmethod
    def from_record(cls, record: EventRecord) -> LoggedEvent:
        return cls(
            seq=record.seq,
            kind=record.kind,
            agent=record.agent,
            data=record.data,
            created_at=record.created_at,
        )


class EventPage(BaseModel):
    """Events after a cursor, oldest first."""

    events: list[LoggedEvent]
    next_after: int | None = Field(
        description="Pass as `after` for the next page; null when this page is the last."
    )
    has_more: bool = Field(description="Whether events after this page exist (of these kinds).")


async def read_page(
    store: Store,
    conversation_id: str,
    *,
    after: int = 0,
    limit: int = DEFAULT_LIMIT,
    kinds: Sequence[str] = (),
) -> EventPage:
    """The page of `limit` events with seq > `after` (of `kinds` only, when given).

    One more row than asked is read to know whether another page follows, so the last page
    says so itself (no empty page to fetch).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"a page holds 1 to {MAX_LIMIT} events, not {limit}")
    found = await store.events_page(conversation_id, after, limit + 1, kinds)
    has_more = len(found) > limit
    events = [LoggedEvent.from_record(r) for r in found[:limit]]
    return EventPage(
        events=events, next_after=events[-1].seq if has_more else None, has_more=has_more
    )


async def all_events(
    store: Store, conversation_id: str, *, page_size: int = MAX_LIMIT
) -> AsyncIterator[EventRecord]:
    """Every event of a conversation in order, read page by page (memory stays one page)."""
    after = 0
    while True:
        found = await store.events_page(conversation_id, after, page_size)
        for record in found:
            yield record
        if len(found) < page_size:
            return
        after = found[-1].seq

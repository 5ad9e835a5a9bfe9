"""Pages of a conversation's event log: keyset on seq, so a page at any depth costs the same."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from smart_support.redaction import NO_REDACTION, Redactor
from smart_support.store.base import Store
from smart_support.store.records import EventRecord

#: Page size when none is asked for, and the most a page may hold.
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
#: An event kind as the log names them (`tool_activity`, `approval_resolved`...).
KIND_PATTERN = r"^[a-z][a-z_]{0,39}$"
#: The fields of an event's `data` that name and order things rather than say them: redaction
#: copies them as they are (ids, kinds, statuses, agents, tools, moments).
ENVELOPE = frozenset(
    {
        "seq",
        "kind",
        "type",
        "agent",
        "previous",
        "display_name",
        "created_at",
        "expires_at",
        "conversation_id",
        "approval_id",
        "reply_id",
        "call_id",
        "tool",
        "status",
        "method",
        "code",
        "rating",
        "decided_by",
        "duration_ms",
        "waited_seconds",
        "model_calls",
        "decision",
        "result_chars",
        "result_trimmed",
    }
)


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

    def redacted(self, redactor: Redactor) -> LoggedEvent:
        """This event with personal data masked in `data` (the ENVELOPE fields as they are)."""
        if not redactor.enabled:
            return self
        return self.model_copy(update={"data": redactor.value(self.data, keep=ENVELOPE)})


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
    redactor: Redactor = NO_REDACTION,
) -> EventPage:
    """The page of `limit` events with seq > `after` (of `kinds` only, when given), masked by
    `redactor`.

    One more row than asked is read to know whether another page follows, so the last page
    says so itself (no empty page to fetch).
    """
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"a page holds 1 to {MAX_LIMIT} events, not {limit}")
    found = await store.events_page(conversation_id, after, limit + 1, kinds)
    has_more = len(found) > limit
    events = [LoggedEvent.from_record(r).redacted(redactor) for r in found[:limit]]
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

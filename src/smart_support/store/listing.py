"""The operator console's conversation list: filters and keyset pages, part of `SqlStore`.

Pages are keyed on `(created_at, id)`, newest first: the next page starts strictly after the
last row of this one, so a page at any depth costs what the first does and a conversation
created meanwhile neither shifts nor repeats rows. Absent filters bind sentinels (the widest
window, an empty cursor) rather than `IS NULL` tests on instants, which the two dialects type
differently.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from smart_support.store import rows
from smart_support.store.records import Conversation
from smart_support.store.sql_base import SqlBase

#: `outcome` filter value for conversations not closed yet.
OPEN = "open"
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_LATEST = datetime(9999, 12, 31, tzinfo=UTC)
#: Sorts after every conversation id (ids are ASCII).
_AFTER_EVERY_ID = "\x7f"

LIST_FILTERED_CONVERSATIONS = (
    "SELECT * FROM conversations c WHERE c.created_at >= :since AND c.created_at < :until"
    " AND (c.created_at < :before_at OR (c.created_at = :before_at AND c.id < :before_id))"
    " AND (CAST(:outcome AS TEXT) IS NULL OR c.outcome = CAST(:outcome AS TEXT)"
    " OR (CAST(:outcome AS TEXT) = 'open' AND c.closed_at IS NULL))"
    " AND (CAST(:escalated AS INTEGER) IS NULL"
    " OR (CASE WHEN c.escalated THEN 1 ELSE 0 END) = CAST(:escalated AS INTEGER))"
    " AND (CAST(:agent AS TEXT) IS NULL OR c.active_agent = CAST(:agent AS TEXT)"
    " OR EXISTS (SELECT 1 FROM events e WHERE e.conversation_id = c.id"
    " AND e.agent = CAST(:agent AS TEXT)))"
    " ORDER BY c.created_at DESC, c.id DESC LIMIT CAST(:limit AS BIGINT)"
)

#: The conversations waiting for people (the console's escalations list), newest first; the
#: WHERE is migration 8's index's (`{escalated}`: the dialect's test, without the alias there).
WAITING_FOR_PEOPLE = (
    "SELECT * FROM conversations WHERE held_by IS NOT NULL OR ({escalated} AND closed_at IS NULL)"
    " ORDER BY created_at DESC, id DESC LIMIT CAST(:limit AS BIGINT)"
)


@dataclass(frozen=True)
class ConversationFilter:
    """What the console's conversation list is narrowed to; None is "any"."""

    outcome: str | None = None
    """`resolved`, `escalated`, `abandoned`, `unresolved`, or `open` (not closed yet)."""
    agent: str | None = None
    """An agent that answered in it (its current agent, or any event of that agent)."""
    escalated: bool | None = None
    since: datetime | None = None
    """Created at or after (inclusive)."""
    until: datetime | None = None
    """Created before (exclusive)."""


class ListingQueries(SqlBase):
    """The console's conversation list (written once for both adapters)."""

    async def waiting_for_people(self, limit: int = 100) -> list[Conversation]:
        """Conversations held by a person, or escalated and still open, newest first."""
        escalated = self._sql.escalated.removeprefix("c.")
        found = await self._run(
            "waiting_for_people", WAITING_FOR_PEOPLE.format(escalated=escalated), limit=limit
        )
        return [rows.conversation(r) for r in found]

    async def list_conversations_page(
        self,
        filters: ConversationFilter,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
    ) -> list[Conversation]:
        """Conversations matching `filters`, newest first; `before` is the `(created_at, id)`
        of the previous page's last row (None: the first page)."""
        before_at, before_id = before or (_LATEST, _AFTER_EVERY_ID)
        escalated = None if filters.escalated is None else int(filters.escalated)
        found = await self._run(
            "list_conversations_page",
            LIST_FILTERED_CONVERSATIONS,
            since=self._sql.moment(filters.since or _EARLIEST),
            until=self._sql.moment(filters.until or _LATEST),
            before_at=self._sql.moment(before_at),
            before_id=before_id,
            outcome=filters.outcome,
            escalated=escalated,
            agent=filters.agent,
            limit=limit,
        )
        return [rows.conversation(r) for r in found]


__all__ = ["OPEN", "ConversationFilter", "ListingQueries"]

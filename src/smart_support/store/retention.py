"""Retention: conversations closed before a moment are deleted with every row that names them.

One call deletes one batch in one transaction: it claims up to `batch` conversations closed
before `before` (oldest close first), then deletes their rows table by table, children first
(there are no ON DELETE CASCADEs), and the conversations last. The analytics rollup holds no
conversation id and is kept, so the figures of old days stay right; a conversation not yet
rolled up is not due.

The claim is an UPDATE that changes nothing, for its row locks: on PostgreSQL a customer message
that reopens a claimed conversation, or appends to it, waits for the batch to commit and then
finds no conversation; on SQLite the transaction holds the one write lock throughout. Only a
closed conversation is ever claimed, however old an open one is.

LangGraph's checkpoints are not ours: the caller deletes each deleted conversation's thread
through the saver's own API after the batch commits (runtime/retention.py).

Statements use only SQL both dialects read alike (`:name` placeholders, no `::`, no `%`).
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from itertools import islice, product
from string import ascii_lowercase
from typing import Any

from smart_support.store.rows import Dialect, Fetch

#: The tables whose rows name a conversation, in the order they are deleted (children first).
CHILD_TABLES: tuple[str, ...] = (
    "actions",
    "approvals",
    "events",
    "usage",
    "conversation_facts",
)
#: Every table a batch deletes from, as `RetentionBatch.rows` counts them.
TABLES: tuple[str, ...] = (*CHILD_TABLES, "conversations")

#: Due: closed before :before, and its analytics facts in the rollup (every close rolls up; a
#: conversation closed before migration 6 waits for the setup's catch-up).
_CLOSED_BEFORE = "closed_at IS NOT NULL AND closed_at < :before AND rolled_up_at IS NOT NULL"

#: Claim (row-lock) up to :batch conversations closed before :before, the oldest close first.
#: The outer condition is checked again on the locked row: one reopened meanwhile drops out.
CLAIM = (
    "UPDATE conversations SET closed_at = closed_at WHERE id IN (SELECT id FROM conversations"
    f" WHERE {_CLOSED_BEFORE} ORDER BY closed_at, id LIMIT :batch) AND {_CLOSED_BEFORE}"
    " RETURNING id"
)
#: Delete the rows of `{table}` whose `{column}` is in `{ids}` (the claimed ids' placeholders).
#: No RETURNING: reading 6,000 deleted events back tripled the time of a batch on SQLite.
DELETE = "DELETE FROM {table} WHERE {column} IN ({ids})"
#: Every child table's rows of the conversations `{ids}` (placeholders or a subquery), one row.
COUNT = "SELECT " + ", ".join(
    f"(SELECT COUNT(*) FROM {table} WHERE conversation_id IN ({{ids}})) AS {table}"
    for table in CHILD_TABLES
)
#: The conversations due, as a subquery (a dry run counts them and their rows).
DUE = f"SELECT id FROM conversations WHERE {_CLOSED_BEFORE}"

Transaction = Callable[[str], AbstractAsyncContextManager[Fetch]]
"""A store's `_transaction`: statements of the fetch it yields commit together."""


@dataclass(frozen=True)
class RetentionBatch:
    """What one batch deleted.

    Attributes:
        conversation_ids: The deleted conversations (sorted); empty when none was due.
        rows: Rows deleted per table (every table of `TABLES`, conversations included).
    """

    conversation_ids: tuple[str, ...] = ()
    rows: dict[str, int] = field(default_factory=dict)


def _names(count: int) -> list[str]:
    """`count` placeholder names (`id_aaa`, `id_aab`...): the `:name` translation reads letters
    and underscores only."""
    letters = ("".join(p) for p in product(ascii_lowercase, repeat=3))
    return [f"id_{s}" for s in islice(letters, count)]


async def delete_closed_before(
    transaction: Transaction, dialect: Dialect, before: datetime, batch: int
) -> RetentionBatch:
    """Delete up to `batch` conversations closed before `before`, with their rows, in one
    transaction (`Store.delete_closed_before`, for either adapter).

    Args:
        transaction: The store's `_transaction`.
        dialect: The store's dialect.
        before: Conversations closed strictly before this instant are due.
        batch: At most this many conversations (at most 17,576: three letters of names).
    """
    async with transaction("delete_closed_before") as fetch:
        claimed = await fetch(
            dialect.sql(CLAIM), {"before": dialect.moment(before), "batch": batch}
        )
        ids = sorted(str(r["id"]) for r in claimed)
        if not ids:
            return RetentionBatch()
        names = _names(len(ids))
        params: dict[str, Any] = dict(zip(names, ids, strict=True))
        in_list = ", ".join(f":{n}" for n in names)
        # Counted before deleting: the claim's row locks hold off appends and reopens meanwhile
        # (SQLite: the transaction's write lock holds off every writer).
        found = await fetch(dialect.sql(COUNT.format(ids=in_list)), params)
        counts = {table: int(found[0][table]) for table in CHILD_TABLES}
        for table in CHILD_TABLES:
            statement = DELETE.format(table=table, column="conversation_id", ids=in_list)
            await fetch(dialect.sql(statement), params)
        await fetch(
            dialect.sql(DELETE.format(table="conversations", column="id", ids=in_list)), params
        )
        counts["conversations"] = len(ids)
    return RetentionBatch(tuple(ids), counts)


async def count_closed_before(fetch: Fetch, dialect: Dialect, before: datetime) -> dict[str, int]:
    """Rows per table (`TABLES`) that deleting every conversation due before `before` would
    remove (`Store.count_closed_before`: a dry run, nothing changes)."""
    params = {"before": dialect.moment(before)}
    found = await fetch(dialect.sql(COUNT.format(ids=DUE)), params)
    counts = {table: int(found[0][table]) for table in CHILD_TABLES}
    due = await fetch(dialect.sql(f"SELECT COUNT(*) AS n FROM ({DUE}) d"), params)
    counts["conversations"] = int(due[0]["n"])
    return counts


__all__ = [
    "CHILD_TABLES",
    "TABLES",
    "RetentionBatch",
    "Transaction",
    "count_closed_before",
    "delete_closed_before",
]

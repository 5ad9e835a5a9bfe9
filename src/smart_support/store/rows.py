"""Database rows to records and back, for both adapters.

SQLite hands back timestamps and JSON as text; PostgreSQL as datetimes and parsed JSONB. The
builders accept either, told which by `json_text`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Protocol

from smart_support.errors import ApprovalError
from smart_support.store.records import Action, Approval, Conversation, EventRecord, Usage


class Row(Protocol):
    """A sqlite3.Row or a psycopg dict row: columns by name."""

    def __getitem__(self, key: str, /) -> Any: ...


def utc(moment: datetime) -> datetime:
    """The same instant as a timezone-aware UTC datetime; a naive one is taken as UTC."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def iso(moment: datetime) -> str:
    """Fixed-width UTC text (microseconds, +00:00): text order is time order in SQLite."""
    return utc(moment).isoformat(timespec="microseconds")


def now() -> datetime:
    return datetime.now(UTC)


def dumps(value: Any) -> str:
    """JSON text; values JSON cannot hold (dates, decimals, ids) become strings."""
    return json.dumps(value, default=str, ensure_ascii=False, separators=(",", ":"))


def _when(value: Any) -> datetime:
    if isinstance(value, datetime):
        return utc(value)
    return utc(datetime.fromisoformat(value))


def _maybe_when(value: Any) -> datetime | None:
    return None if value is None else _when(value)


def _json(value: Any, json_text: bool) -> Any:
    if json_text and value is not None:
        return json.loads(value)
    return value


def conversation(row: Row) -> Conversation:
    return Conversation(
        id=row["id"],
        token_hash=row["token_hash"],
        created_at=_when(row["created_at"]),
        active_agent=row["active_agent"],
        escalated=bool(row["escalated"]),
        identity=_json(row["identity"], isinstance(row["identity"], str)),
        verify_failures=int(row["verify_failures"] or 0),
    )


def event(row: Row, *, json_text: bool) -> EventRecord:
    return EventRecord(
        conversation_id=row["conversation_id"],
        seq=int(row["seq"]),
        kind=row["kind"],
        agent=row["agent"],
        data=_json(row["data"], json_text),
        created_at=_when(row["created_at"]),
    )


def approval(row: Row, *, json_text: bool) -> Approval:
    return Approval(
        id=row["id"],
        conversation_id=row["conversation_id"],
        agent=row["agent"],
        tool=row["tool"],
        tool_call_id=row["tool_call_id"],
        args=_json(row["args"], json_text),
        args_hash=row["args_hash"],
        summary=row["summary"],
        status=row["status"],
        created_at=_when(row["created_at"]),
        expires_at=_when(row["expires_at"]),
        decided_at=_maybe_when(row["decided_at"]),
        decided_by=row["decided_by"],
    )


def action(row: Row, *, json_text: bool) -> Action:
    return Action(
        idempotency_key=row["idempotency_key"],
        approval_id=row["approval_id"],
        conversation_id=row["conversation_id"],
        tool=row["tool"],
        args=_json(row["args"], json_text),
        status=row["status"],
        started_at=_when(row["started_at"]),
        finished_at=_maybe_when(row["finished_at"]),
        result=_json(row["result"], json_text),
    )


def usage(row: Row, *, json_text: bool) -> Usage:
    return Usage(
        conversation_id=row["conversation_id"],
        agent=row["agent"],
        model=row["model"],
        input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]),
        cost_usd=float(row["cost_usd"]),
        created_at=_when(row["created_at"]),
        extra=_json(row["extra"], json_text),
    )


DECIDABLE = frozenset({"approved", "rejected", "expired", "cancelled"})
"""Statuses a pending approval may move to."""

EXPIRING = ("approved", "rejected")
"""Decisions that turn into `expired` when taken at or after expires_at."""


def check_decision(status: str) -> None:
    """Refuse a target status that is not a decision (a programming error, not a user's)."""
    if status not in DECIDABLE:
        raise ValueError(f"cannot decide an approval to {status!r}; use one of {sorted(DECIDABLE)}")


def decision_result(
    approval_id: str, requested: str, updated: Approval | None, current: Approval | None
) -> Approval:
    """What decide_approval returns or raises, given what its compare-and-set did.

    Args:
        approval_id: The approval asked about.
        requested: The status the caller asked for.
        updated: The row the conditional UPDATE changed, None when it changed nothing.
        current: The stored row, read only when nothing was updated.
    """
    if updated is not None:
        if updated.status == "expired" and requested in EXPIRING:
            raise ApprovalError(
                f"approval {approval_id} expired at {updated.expires_at.isoformat()}"
            )
        return updated
    if current is None:
        raise ApprovalError(f"approval {approval_id} not found")
    raise ApprovalError(f"approval {approval_id} is already {current.status}")


__all__ = [
    "DECIDABLE",
    "EXPIRING",
    "action",
    "approval",
    "check_decision",
    "conversation",
    "decision_result",
    "dumps",
    "event",
    "iso",
    "now",
    "usage",
    "utc",
]

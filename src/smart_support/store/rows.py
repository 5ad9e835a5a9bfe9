"""Database rows to records and back, for both adapters.

SQLite hands back timestamps and JSON as text; PostgreSQL as datetimes and parsed JSONB. The
builders accept either, told which by `json_text`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from smart_support.errors import ApprovalError
from smart_support.store.records import (
    Action,
    Approval,
    Conversation,
    EventRecord,
    ImportChange,
    ImportClosed,
    ImportDraft,
    ImportJob,
    ImportNotFound,
    Usage,
)
from smart_support.store.rollups import (
    AnalyticsRows,
    EventGroup,
    EventVocabulary,
    UsageGroup,
)


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
        closed_at=_maybe_when(row["closed_at"]),
        outcome=row["outcome"],
        outcome_version=None if row["outcome_version"] is None else int(row["outcome_version"]),
        held_by=row["held_by"],
        held_since=_maybe_when(row["held_since"]),
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


# -- import drafts -------------------------------------------------------------------------
#
# Each statement is written once, with `:name` placeholders (SQLite's own style); the
# PostgreSQL adapter runs `pg(sql)`. They use only SQL both dialects read alike: CAST instead of
# `::`, no `%`. Parameters are bound by each adapter (JSON text and ISO text for SQLite, Jsonb and
# datetimes for PostgreSQL).

_IMPORT_HEAD = (
    "id, name, source, status, counts, created_by, created_at, updated_at, accepted_by,"
    " accepted_at, discarded_by, discarded_at, options,"
    " (SELECT COUNT(*) FROM import_changes c WHERE c.import_id = imports.id) AS change_count"
)

INSERT_IMPORT = (
    "INSERT INTO imports (id, name, source, status, counts, report, proposal, options,"
    " created_by, created_at, updated_at) VALUES (:id, :name, :source, 'draft', :counts, :report,"
    " :proposal, :options, :created_by, :now, :now)"
)
GET_IMPORT = f"SELECT {_IMPORT_HEAD}, report, proposal FROM imports WHERE id = :id"
LIST_IMPORTS = (
    f"SELECT {_IMPORT_HEAD} FROM imports WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)"
    " ORDER BY created_at DESC, id DESC LIMIT :limit"
)
#: A trigger skips the row unless the draft exists and is still a draft (see migration 3).
INSERT_IMPORT_CHANGE = (
    "INSERT INTO import_changes (import_id, operation, field, value, previous, changed_by,"
    " changed_at, confirmed) VALUES (:import_id, :operation, :field, :value, :previous, :by,"
    " :now, :confirmed) RETURNING *"
)
LIST_IMPORT_CHANGES = "SELECT * FROM import_changes WHERE import_id = :import_id ORDER BY id"
#: Compare-and-set from draft; the caller reads the row when nothing changed.
SET_IMPORT_STATUS = (
    "UPDATE imports SET status = :status, updated_at = :now,"
    " accepted_by = CASE WHEN CAST(:status AS TEXT) = 'accepted' THEN :by END,"
    " accepted_at = CASE WHEN CAST(:status AS TEXT) = 'accepted' THEN :now END,"
    " discarded_by = CASE WHEN CAST(:status AS TEXT) = 'discarded' THEN :by END,"
    " discarded_at = CASE WHEN CAST(:status AS TEXT) = 'discarded' THEN :now END"
    " WHERE id = :id AND status = 'draft' RETURNING id"
)

# -- import jobs (migration 4) --------------------------------------------------------------
#
# `request` (the POST body, document included: up to the spec size limit) is JSON *text* on both
# dialects, read only to run the job: JSONB would reorder the spec's keys, and with them the
# operations of the import. Progress statements return the row without it.

_JOB_HEAD = (
    "id, status, stage, done, total, draft_id, error, error_code, attempts, created_by,"
    " created_at, updated_at"
)
_RUNNING = "('fetching', 'validating', 'parsing', 'classifying')"

INSERT_IMPORT_JOB = (
    "INSERT INTO import_jobs (id, status, stage, done, total, request, attempts, created_by,"
    " created_at, updated_at) VALUES (:id, 'queued', '', 0, 0, :request, 0, :created_by, :now,"
    f" :now) RETURNING {_JOB_HEAD}"
)
GET_IMPORT_JOB = f"SELECT {_JOB_HEAD} FROM import_jobs WHERE id = :id"
LIST_IMPORT_JOBS = (
    f"SELECT {_JOB_HEAD} FROM import_jobs ORDER BY created_at DESC, id DESC LIMIT :limit"
)
#: Take the oldest queued job (compare-and-set: of two workers, one gets it), with its request.
CLAIM_IMPORT_JOB = (
    "UPDATE import_jobs SET status = 'fetching', stage = '', attempts = attempts + 1,"
    " updated_at = :now WHERE id = (SELECT id FROM import_jobs WHERE status = 'queued'"
    " ORDER BY created_at, id LIMIT 1) AND status = 'queued'"
    f" RETURNING {_JOB_HEAD}, request"
)
#: A finished job is never changed again.
UPDATE_IMPORT_JOB = (
    "UPDATE import_jobs SET status = :status, stage = :stage, done = :done, total = :total,"
    " draft_id = :draft_id, error = :error, error_code = :error_code, updated_at = :now"
    f" WHERE id = :id AND status NOT IN ('ready', 'failed') RETURNING {_JOB_HEAD}"
)
#: A job a worker was running when its server stopped (not touched since :stale_before), and
#: already ran before.
FAIL_INTERRUPTED_JOBS = (
    "UPDATE import_jobs SET status = 'failed', error = :error, error_code = 'interrupted',"
    f" updated_at = :now WHERE status IN {_RUNNING} AND attempts >= :max_attempts"
    f" AND updated_at < :stale_before RETURNING {_JOB_HEAD}"
)
#: After FAIL_INTERRUPTED_JOBS: the other interrupted jobs run again from the start.
REQUEUE_INTERRUPTED_JOBS = (
    "UPDATE import_jobs SET status = 'queued', stage = :stage, done = 0, total = 0,"
    f" updated_at = :now WHERE status IN {_RUNNING} AND updated_at < :stale_before"
    f" RETURNING {_JOB_HEAD}"
)
#: The heartbeat of a running job's worker.
TOUCH_IMPORT_JOB = (
    f"UPDATE import_jobs SET updated_at = :now WHERE id = :id AND status IN {_RUNNING}"
)

# -- replay (keyset pages of the event log) --------------------------------------------------

#: The most event kinds one page may filter on (each is one placeholder).
MAX_PAGE_KINDS = 26


def events_page_sql(kinds: int) -> str:
    """A page of one conversation's events after a seq, oldest first, optionally of some kinds.

    Keyset pagination on the primary key (conversation_id, seq): a page at any depth reads only
    its own rows, never an OFFSET's worth. Placeholders `:cid`, `:after`, `:limit` and
    `:kind_a`... (`kinds` of them; see `events_page_params`).
    """
    if not 0 <= kinds <= MAX_PAGE_KINDS:
        raise ValueError(f"a page filters on at most {MAX_PAGE_KINDS} kinds, not {kinds}")
    names = ", ".join(f":kind_{chr(97 + i)}" for i in range(kinds))
    where = f" AND kind IN ({names})" if kinds else ""
    return (
        "SELECT * FROM events WHERE conversation_id = :cid AND seq > :after"
        f"{where} ORDER BY seq LIMIT :limit"
    )


def events_page_params(
    conversation_id: str, after_seq: int, limit: int, kinds: Sequence[str]
) -> dict[str, Any]:
    """The parameters of `events_page_sql(len(kinds))`."""
    params: dict[str, Any] = {"cid": conversation_id, "after": after_seq, "limit": limit}
    params.update({f"kind_{chr(97 + i)}": kind for i, kind in enumerate(kinds)})
    return params


# -- conversation outcomes (migration 5) ----------------------------------------------------

#: Compare-and-set: only an open conversation closes, so of two closers one wins.
CLOSE_CONVERSATION = (
    "UPDATE conversations SET closed_at = :now, outcome = :outcome, outcome_version = :version"
    " WHERE id = :id AND closed_at IS NULL RETURNING id"
)
#: A message to a closed conversation reopens it: the outcome is computed again at the next close.
REOPEN_CONVERSATION = (
    "UPDATE conversations SET closed_at = NULL, outcome = NULL, outcome_version = NULL,"
    " rolled_up_at = NULL"
    " WHERE id = :id AND closed_at IS NOT NULL RETURNING id"
)
#: Open conversations whose last event (or, without events, creation) is older than `:before`.
#: The last event is the primary key's last entry for the conversation: one index probe each.
IDLE_CONVERSATIONS = (
    "SELECT c.id FROM conversations c WHERE c.closed_at IS NULL AND COALESCE((SELECT"
    " e.created_at FROM events e WHERE e.conversation_id = c.id ORDER BY e.seq DESC LIMIT 1),"
    " c.created_at) < :before ORDER BY c.created_at, c.id LIMIT :limit"
)

Fetch = Callable[[str, dict[str, Any]], Awaitable[Sequence[Row]]]
"""An adapter's way to run one statement (`:name` style, as `Dialect.sql` left it) and read rows."""


async def idle_conversations(
    fetch: Fetch, dialect: Dialect, before: datetime, limit: int
) -> list[str]:
    """`Store.idle_conversations`, for either adapter."""
    found = await fetch(
        dialect.sql(IDLE_CONVERSATIONS), {"before": dialect.moment(before), "limit": limit}
    )
    return [str(r["id"]) for r in found]


# -- dialects -------------------------------------------------------------------------------


_PLACEHOLDER = re.compile(r"(?<![:\w]):([a-z_]+)")


@functools.lru_cache(maxsize=512)
def pg(sql: str) -> str:
    """A `:name` statement in psycopg's placeholder style (`%(name)s`), translated once."""
    return _PLACEHOLDER.sub(r"%(\1)s", sql)


@dataclass(frozen=True)
class Dialect:
    """What SQLite and PostgreSQL do differently: SQL fragments, how values are bound and read."""

    day: str
    """`created_at` of alias `c` as `YYYY-MM-DD` (UTC)."""
    hour: str
    """`created_at` of alias `c` as `YYYY-MM-DDTHH` (UTC)."""
    field: str
    """`{column}` JSON's member `{name}` as text (format with column= and name=)."""
    seconds: str
    """`a.decided_at - a.created_at` in seconds."""
    elapsed: str
    """Seconds from the row's `created_at` to the instant `:now`."""
    escalated: str
    """`c.escalated` is true."""
    sql: Callable[[str], str]
    """A `:name` statement in the driver's placeholder style."""
    moment: Callable[[datetime], Any]
    """An instant as bound (ISO text for SQLite, an aware datetime for PostgreSQL)."""
    json: Callable[[Any], Any]
    """A JSON value as bound (text for SQLite, Jsonb for PostgreSQL)."""
    json_text: bool
    """Whether JSON columns read back as text (SQLite) rather than parsed (PostgreSQL JSONB)."""
    no_limit: int | None
    """What `LIMIT` takes for "all rows"."""
    append_event: str
    """Append an event with the conversation's next seq, in one statement, returning the row
    (nothing when the conversation does not exist). Params `:cid :kind :agent :data :now`."""


#: One statement: SQLite's write lock makes MAX(seq) + 1 and the insert atomic.
_SQLITE_APPEND_EVENT = (
    "INSERT INTO events (conversation_id, seq, kind, agent, data, created_at)"
    " SELECT :cid, COALESCE((SELECT MAX(seq) FROM events WHERE conversation_id = :cid), 0) + 1,"
    " :kind, :agent, :data, :now WHERE EXISTS (SELECT 1 FROM conversations WHERE id = :cid)"
    " RETURNING *"
)
#: The conversation row's lock (UPDATE of last_seq) serialises appenders across connections.
_POSTGRES_APPEND_EVENT = (
    "WITH next AS (UPDATE conversations SET last_seq = last_seq + 1 WHERE id = :cid"
    " RETURNING id, last_seq)"
    " INSERT INTO events (conversation_id, seq, kind, agent, data, created_at)"
    " SELECT id, last_seq, CAST(:kind AS TEXT), CAST(:agent AS TEXT), :data, :now"
    " FROM next RETURNING *"
)


def _jsonb(value: Any) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(value, dumps=dumps)


SQLITE = Dialect(
    day="substr(c.created_at, 1, 10)",
    hour="substr(c.created_at, 1, 13)",
    field="json_extract({column}, '$.{name}')",
    seconds="(julianday(a.decided_at) - julianday(a.created_at)) * 86400.0",
    elapsed="(julianday(:now) - julianday(created_at)) * 86400.0",
    escalated="c.escalated = 1",
    sql=lambda sql: sql,
    moment=lambda moment: iso(moment),
    json=dumps,
    json_text=True,
    no_limit=-1,
    append_event=_SQLITE_APPEND_EVENT,
)
POSTGRES = Dialect(
    day="to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD')",
    hour="to_char(c.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24')",
    field="{column}->>'{name}'",
    seconds="EXTRACT(EPOCH FROM (a.decided_at - a.created_at))",
    elapsed="EXTRACT(EPOCH FROM (CAST(:now AS TIMESTAMPTZ) - created_at))",
    escalated="c.escalated",
    sql=pg,
    moment=lambda moment: utc(moment),
    json=_jsonb,
    json_text=False,
    no_limit=None,
    append_event=_POSTGRES_APPEND_EVENT,
)

CLOSING = frozenset({"accepted", "discarded"})
"""Statuses a draft may move to."""


def import_draft(row: Row, *, json_text: bool, full: bool = True) -> ImportDraft:
    """A draft from a row of GET_IMPORT, or of LIST_IMPORTS (`full=False`: no report, proposal)."""
    return ImportDraft(
        id=row["id"],
        name=row["name"],
        source=row["source"],
        status=row["status"],
        counts=_json(row["counts"], json_text),
        report=_json(row["report"], json_text) if full else None,
        proposal=_json(row["proposal"], json_text) if full else None,
        created_by=row["created_by"],
        created_at=_when(row["created_at"]),
        updated_at=_when(row["updated_at"]),
        accepted_by=row["accepted_by"],
        accepted_at=_maybe_when(row["accepted_at"]),
        discarded_by=row["discarded_by"],
        discarded_at=_maybe_when(row["discarded_at"]),
        change_count=int(row["change_count"] or 0),
        options=_json(row["options"], json_text) or {},
    )


def import_job(row: Row, *, json_text: bool, with_request: bool = False) -> ImportJob:
    """A job from a row of the job statements (`with_request`: of CLAIM_IMPORT_JOB)."""
    return ImportJob(
        id=row["id"],
        status=row["status"],
        stage=row["stage"],
        done=int(row["done"]),
        total=int(row["total"]),
        draft_id=row["draft_id"],
        error=row["error"],
        error_code=row["error_code"],
        attempts=int(row["attempts"]),
        created_by=row["created_by"],
        created_at=_when(row["created_at"]),
        updated_at=_when(row["updated_at"]),
        # Text on both dialects (see above).
        request=json.loads(row["request"]) if with_request else None,
    )


def request_text(request: dict[str, Any]) -> str:
    """A job's request as stored: ASCII JSON, so a lone surrogate in a spec cannot break UTF-8."""
    return json.dumps(request, separators=(",", ":"))


def import_change(row: Row, *, json_text: bool) -> ImportChange:
    return ImportChange(
        id=int(row["id"]),
        import_id=row["import_id"],
        operation=row["operation"],
        field=row["field"],
        value=_json(row["value"], json_text),
        previous=_json(row["previous"], json_text),
        changed_by=row["changed_by"],
        changed_at=_when(row["changed_at"]),
        confirmed=bool(row["confirmed"]),
    )


def check_import_status(status: str) -> None:
    """Refuse a target status a draft cannot move to (a programming error, not a user's)."""
    if status not in CLOSING:
        raise ValueError(f"cannot set an import to {status!r}; use one of {sorted(CLOSING)}")


def status_result(import_id: str, requested: str, current: ImportDraft | None) -> ImportDraft:
    """What set_import_status returns or raises when its compare-and-set changed nothing.

    Asking again for the status a draft already has returns it unchanged (a retried request);
    the other closing status is refused.
    """
    if current is None:
        raise ImportNotFound(f"There is no import {import_id}.")
    if current.status == requested:
        return current
    raise ImportClosed(
        f"Import {import_id} was already {current.status} by {closed_by(current)};"
        f" it cannot be {requested} now."
    )


def change_refused(import_id: str, current: ImportDraft | None) -> ImportNotFound | ImportClosed:
    """The error for a change that the store did not record (unknown or closed draft)."""
    if current is None:
        return ImportNotFound(f"There is no import {import_id}.")
    return ImportClosed(
        f"Import {import_id} was {current.status} by {closed_by(current)} and takes no more"
        " changes; import the spec again to review it anew."
    )


def closed_by(draft: ImportDraft) -> str:
    who = draft.accepted_by if draft.status == "accepted" else draft.discarded_by
    return who or "someone"


__all__ = [
    "CLAIM_IMPORT_JOB",
    "CLOSE_CONVERSATION",
    "CLOSING",
    "DECIDABLE",
    "EXPIRING",
    "FAIL_INTERRUPTED_JOBS",
    "GET_IMPORT",
    "GET_IMPORT_JOB",
    "IDLE_CONVERSATIONS",
    "INSERT_IMPORT",
    "INSERT_IMPORT_CHANGE",
    "INSERT_IMPORT_JOB",
    "LIST_IMPORTS",
    "LIST_IMPORT_CHANGES",
    "LIST_IMPORT_JOBS",
    "MAX_PAGE_KINDS",
    "POSTGRES",
    "REOPEN_CONVERSATION",
    "REQUEUE_INTERRUPTED_JOBS",
    "SET_IMPORT_STATUS",
    "SQLITE",
    "TOUCH_IMPORT_JOB",
    "UPDATE_IMPORT_JOB",
    "AnalyticsRows",
    "Dialect",
    "EventGroup",
    "EventVocabulary",
    "Fetch",
    "UsageGroup",
    "action",
    "approval",
    "change_refused",
    "check_decision",
    "check_import_status",
    "conversation",
    "decision_result",
    "dumps",
    "event",
    "events_page_params",
    "events_page_sql",
    "idle_conversations",
    "import_change",
    "import_draft",
    "import_job",
    "iso",
    "now",
    "pg",
    "request_text",
    "status_result",
    "usage",
    "utc",
]

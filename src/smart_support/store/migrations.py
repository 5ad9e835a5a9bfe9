"""Versioned migrations of our own tables, one ordered list per dialect, and their runner.

A migration's version is its position in the list plus one (the scheme of
langgraph-checkpoint-postgres). The lists are append-only: never edit or reorder a migration that
has shipped; add a new one. Each applied version is recorded in ``schema_migrations``, so running
the migrations again is a no-op.

Two processes may start at the same moment. On PostgreSQL the runner takes a transaction-level
advisory lock before it even creates ``schema_migrations``; on SQLite it opens the transaction with
``BEGIN IMMEDIATE``, which takes the database's write lock. Either way the second process waits,
then finds every version applied.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg import AsyncConnection

logger = logging.getLogger("smart_support.store")


@dataclass(frozen=True)
class Migration:
    """One schema change: a name for people and the statements that make it."""

    name: str
    statements: tuple[str, ...]


_STATUS_APPROVAL = "('pending', 'approved', 'rejected', 'expired', 'cancelled')"
_STATUS_ACTION = "('started', 'succeeded', 'failed', 'unknown')"
_STATUS_IMPORT = "('draft', 'accepted', 'discarded')"
#: pending (due at next_attempt_at), delivered, dead (retries exhausted: the dead-letter list),
#: disabled (its endpoint answered 410 Gone).
_STATUS_DELIVERY = "('pending', 'delivered', 'dead', 'disabled')"
_STATUS_IMPORT_JOB = (
    "('queued', 'fetching', 'validating', 'parsing', 'classifying', 'ready', 'failed')"
)


def _import_jobs(timestamp: str, options: str) -> Migration:
    """Migration 4 in either dialect (they differ in the timestamp and JSON types only).

    A job's `request` is JSON text on both (JSONB would reorder the spec's keys, see rows.py).
    """
    return Migration(
        "background import jobs; the options of an import",
        (
            f"""CREATE TABLE import_jobs (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL CHECK (status IN {_STATUS_IMPORT_JOB}),
                stage TEXT NOT NULL,
                done INTEGER NOT NULL,
                total INTEGER NOT NULL,
                request TEXT NOT NULL,
                draft_id TEXT REFERENCES imports (id),
                error TEXT,
                error_code TEXT,
                attempts INTEGER NOT NULL,
                created_by TEXT NOT NULL,
                created_at {timestamp} NOT NULL,
                updated_at {timestamp} NOT NULL
            )""",
            "CREATE INDEX import_jobs_status_created_idx ON import_jobs (status, created_at)",
            "CREATE INDEX import_jobs_created_idx ON import_jobs (created_at)",
            f"ALTER TABLE imports ADD COLUMN options {options} NOT NULL DEFAULT '{{}}'",
        ),
    )


def _rollups(timestamp: str, integer: str, real: str, decided_seconds: str) -> Migration:
    """Migration 6: analytics facts and rollups (see store/rollups.py), and the indexes that
    keep analytics and retention off the bulk of the conversations."""
    keys = "hour TEXT NOT NULL, metric TEXT NOT NULL, k1 TEXT NOT NULL, k2 TEXT NOT NULL,"
    keys += " k3 TEXT NOT NULL"
    values = (
        f"n {integer} NOT NULL, input_tokens {integer} NOT NULL,"
        f" output_tokens {integer} NOT NULL, cost_usd {real} NOT NULL"
    )
    return Migration(
        "analytics rollups",
        (
            f"ALTER TABLE conversations ADD COLUMN rolled_up_at {timestamp}",
            f"""CREATE TABLE conversation_facts (
                conversation_id TEXT NOT NULL REFERENCES conversations (id),
                {keys}, {values},
                PRIMARY KEY (conversation_id, metric, k1, k2, k3)
            )""",
            f"""CREATE TABLE analytics_rollup (
                {keys}, {values},
                PRIMARY KEY (hour, metric, k1, k2, k3)
            )""",
            # The same sums by day: a 30-day window reads 30 days of rows, not 720 hours.
            f"""CREATE TABLE analytics_rollup_daily (
                {keys.replace("hour TEXT", "day TEXT")}, {values},
                PRIMARY KEY (day, metric, k1, k2, k3)
            )""",
            # Analytics reads live only the conversations not rolled up (mostly open ones).
            "CREATE INDEX conversations_live_idx ON conversations (created_at)"
            " WHERE rolled_up_at IS NULL",
            # Retention takes the oldest closed conversations first.
            "CREATE INDEX conversations_closed_idx ON conversations (closed_at)"
            " WHERE closed_at IS NOT NULL",
            # ... and deletes their ledger entries, found by conversation.
            "CREATE INDEX actions_conversation_idx ON actions (conversation_id)",
            # The median time to decide: each decision's seconds, stored when it is taken, and
            # read in order from an index of the window's decided approvals only.
            f"ALTER TABLE approvals ADD COLUMN decision_seconds {real}",
            f"UPDATE approvals SET decision_seconds = {decided_seconds}"
            " WHERE decided_at IS NOT NULL",
            "CREATE INDEX approvals_decided_idx ON approvals (decision_seconds, created_at)"
            " WHERE status IN ('approved', 'rejected')",
            "CREATE INDEX approvals_decided_created_idx ON approvals (created_at)"
            " WHERE status IN ('approved', 'rejected')",
        ),
    )


def _waiting_for_people(escalated: str) -> Migration:
    """Migration 8: the conversations the console's escalations list shows (held by a person,
    or escalated and still open) in an index of their own, newest first: the list reads them
    from the index however many conversations there are. `escalated`: the dialect's "is
    escalated" test (the list's query repeats it, so the planner can use the index)."""
    return Migration(
        "conversations waiting for people",
        (
            "CREATE INDEX conversations_people_idx ON conversations (created_at, id)"
            f" WHERE held_by IS NOT NULL OR ({escalated} AND closed_at IS NULL)",
        ),
    )


def _people_and_webhooks(timestamp: str, json: str) -> Migration:
    """Migration 7 (issue 13): a person can hold a conversation; the webhook outbox.

    `webhook_deliveries` is an outbox: a row is written in the transaction of what it reports
    (a hand-off, an approval, a close) and a delivery worker POSTs it. A worker claims a due row
    by compare-and-set (`claimed_by`, `claimed_until`: a lease, so a crashed worker's claim runs
    out and another process takes it). No foreign key to conversations: a delivery outlives the
    conversation's retention, as an audit of what was sent.
    """
    return Migration(
        "people and webhooks",
        (
            "ALTER TABLE conversations ADD COLUMN held_by TEXT",
            f"ALTER TABLE conversations ADD COLUMN held_since {timestamp}",
            f"""CREATE TABLE webhook_deliveries (
                id TEXT PRIMARY KEY,
                endpoint TEXT NOT NULL,
                event_type TEXT NOT NULL,
                conversation_id TEXT,
                payload {json} NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_DELIVERY}),
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_at {timestamp} NOT NULL,
                claimed_by TEXT,
                claimed_until {timestamp},
                last_status INTEGER,
                last_error TEXT,
                created_at {timestamp} NOT NULL,
                updated_at {timestamp} NOT NULL,
                delivered_at {timestamp}
            )""",
            "CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at)"
            " WHERE status = 'pending'",
            "CREATE INDEX webhook_deliveries_status_idx ON webhook_deliveries (status, created_at)",
            "CREATE INDEX webhook_deliveries_conversation_idx ON webhook_deliveries"
            " (conversation_id, created_at)",
            f"""CREATE TABLE webhook_endpoints (
                endpoint TEXT PRIMARY KEY,
                disabled_at {timestamp},
                disabled_reason TEXT
            )""",
        ),
    )


SQLITE_MIGRATIONS: list[Migration] = [
    Migration(
        "initial schema",
        (
            # Timestamps are ISO-8601 text, always UTC with microseconds, so that text order is
            # time order.
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL,
                created_at TEXT NOT NULL,
                active_agent TEXT,
                escalated INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX conversations_created_at_idx ON conversations (created_at)",
            """CREATE TABLE events (
                conversation_id TEXT NOT NULL REFERENCES conversations (id),
                seq INTEGER NOT NULL,
                kind TEXT NOT NULL,
                agent TEXT,
                data TEXT NOT NULL,
                created_at TEXT NOT NULL,
                PRIMARY KEY (conversation_id, seq)
            )""",
            f"""CREATE TABLE approvals (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                tool TEXT NOT NULL,
                tool_call_id TEXT NOT NULL,
                args TEXT NOT NULL,
                args_hash TEXT NOT NULL,
                summary TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_APPROVAL}),
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                decided_at TEXT,
                decided_by TEXT
            )""",
            "CREATE INDEX approvals_conversation_idx ON approvals (conversation_id, created_at)",
            "CREATE INDEX approvals_status_expiry_idx ON approvals (status, expires_at)",
            f"""CREATE TABLE actions (
                idempotency_key TEXT PRIMARY KEY,
                approval_id TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                tool TEXT NOT NULL,
                args TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_ACTION}),
                started_at TEXT NOT NULL,
                finished_at TEXT,
                result TEXT
            )""",
            "CREATE INDEX actions_approval_idx ON actions (approval_id)",
            """CREATE TABLE usage (
                id INTEGER PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                model TEXT NOT NULL,
                input_tokens INTEGER NOT NULL,
                output_tokens INTEGER NOT NULL,
                cost_usd REAL NOT NULL,
                created_at TEXT NOT NULL,
                extra TEXT NOT NULL
            )""",
            "CREATE INDEX usage_conversation_idx ON usage (conversation_id)",
        ),
    ),
    Migration(
        "customer identity; actions by status",
        (
            "ALTER TABLE conversations ADD COLUMN identity TEXT",
            "ALTER TABLE conversations ADD COLUMN verify_failures INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX actions_status_idx ON actions (status, started_at)",
        ),
    ),
    Migration(
        "import drafts and the log of operators' changes",
        (
            f"""CREATE TABLE imports (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                source TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_IMPORT}),
                counts TEXT NOT NULL,
                report TEXT NOT NULL,
                proposal TEXT,
                created_by TEXT NOT NULL,
                created_at TEXT NOT NULL,
                updated_at TEXT NOT NULL,
                accepted_by TEXT,
                accepted_at TEXT,
                discarded_by TEXT,
                discarded_at TEXT
            )""",
            "CREATE INDEX imports_status_created_idx ON imports (status, created_at)",
            """CREATE TABLE import_changes (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                import_id TEXT NOT NULL REFERENCES imports (id),
                operation TEXT NOT NULL,
                field TEXT NOT NULL,
                value TEXT NOT NULL,
                previous TEXT NOT NULL,
                changed_by TEXT NOT NULL,
                changed_at TEXT NOT NULL,
                confirmed INTEGER NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX import_changes_import_idx ON import_changes (import_id, id)",
            # Only a draft takes changes, checked inside the INSERT itself (the write lock makes
            # it atomic against an accept), and each change touches the draft's updated_at.
            """CREATE TRIGGER import_changes_only_drafts BEFORE INSERT ON import_changes
            WHEN NOT EXISTS (SELECT 1 FROM imports WHERE id = NEW.import_id AND status = 'draft')
            BEGIN SELECT RAISE(IGNORE); END""",
            """CREATE TRIGGER import_changes_touch AFTER INSERT ON import_changes
            BEGIN UPDATE imports SET updated_at = NEW.changed_at WHERE id = NEW.import_id; END""",
        ),
    ),
    _import_jobs("TEXT", "TEXT"),
    Migration(
        "conversation outcomes",
        (
            "ALTER TABLE conversations ADD COLUMN closed_at TEXT",
            "ALTER TABLE conversations ADD COLUMN outcome TEXT",
            "ALTER TABLE conversations ADD COLUMN outcome_version INTEGER",
            # The sweeper looks for open conversations only; closed ones stay out of its index.
            "CREATE INDEX conversations_open_idx ON conversations (created_at)"
            " WHERE closed_at IS NULL",
        ),
    ),
    _rollups(
        "TEXT", "INTEGER", "REAL", "(julianday(decided_at) - julianday(created_at)) * 86400.0"
    ),
    _people_and_webhooks("TEXT", "TEXT"),
    _waiting_for_people("escalated = 1"),
]

POSTGRES_MIGRATIONS: list[Migration] = [
    Migration(
        "initial schema",
        (
            # last_seq hands out event numbers: the row lock of the UPDATE serialises appenders.
            """CREATE TABLE conversations (
                id TEXT PRIMARY KEY,
                token_hash TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                active_agent TEXT,
                escalated BOOLEAN NOT NULL DEFAULT FALSE,
                last_seq BIGINT NOT NULL DEFAULT 0
            )""",
            "CREATE INDEX conversations_created_at_idx ON conversations (created_at)",
            """CREATE TABLE events (
                conversation_id TEXT NOT NULL REFERENCES conversations (id),
                seq BIGINT NOT NULL,
                kind TEXT NOT NULL,
                agent TEXT,
                data JSONB NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                PRIMARY KEY (conversation_id, seq)
            )""",
            f"""CREATE TABLE approvals (
                id TEXT PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                tool TEXT NOT NULL,
                tool_call_id TEXT NOT NULL,
                args JSONB NOT NULL,
                args_hash TEXT NOT NULL,
                summary TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_APPROVAL}),
                created_at TIMESTAMPTZ NOT NULL,
                expires_at TIMESTAMPTZ NOT NULL,
                decided_at TIMESTAMPTZ,
                decided_by TEXT
            )""",
            "CREATE INDEX approvals_conversation_idx ON approvals (conversation_id, created_at)",
            "CREATE INDEX approvals_pending_expiry_idx ON approvals (expires_at)"
            " WHERE status = 'pending'",
            f"""CREATE TABLE actions (
                idempotency_key TEXT PRIMARY KEY,
                approval_id TEXT NOT NULL,
                conversation_id TEXT NOT NULL,
                tool TEXT NOT NULL,
                args JSONB NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_ACTION}),
                started_at TIMESTAMPTZ NOT NULL,
                finished_at TIMESTAMPTZ,
                result JSONB
            )""",
            "CREATE INDEX actions_approval_idx ON actions (approval_id)",
            """CREATE TABLE usage (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                conversation_id TEXT NOT NULL,
                agent TEXT NOT NULL,
                model TEXT NOT NULL,
                input_tokens BIGINT NOT NULL,
                output_tokens BIGINT NOT NULL,
                cost_usd DOUBLE PRECISION NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                extra JSONB NOT NULL
            )""",
            "CREATE INDEX usage_conversation_idx ON usage (conversation_id)",
        ),
    ),
    Migration(
        "customer identity; actions by status",
        (
            "ALTER TABLE conversations ADD COLUMN identity JSONB",
            "ALTER TABLE conversations ADD COLUMN verify_failures INTEGER NOT NULL DEFAULT 0",
            "CREATE INDEX actions_status_idx ON actions (status, started_at)",
        ),
    ),
    Migration(
        "import drafts and the log of operators' changes",
        (
            f"""CREATE TABLE imports (
                id TEXT PRIMARY KEY,
                name TEXT NOT NULL,
                source TEXT NOT NULL,
                status TEXT NOT NULL CHECK (status IN {_STATUS_IMPORT}),
                counts JSONB NOT NULL,
                report JSONB NOT NULL,
                proposal JSONB,
                created_by TEXT NOT NULL,
                created_at TIMESTAMPTZ NOT NULL,
                updated_at TIMESTAMPTZ NOT NULL,
                accepted_by TEXT,
                accepted_at TIMESTAMPTZ,
                discarded_by TEXT,
                discarded_at TIMESTAMPTZ
            )""",
            "CREATE INDEX imports_status_created_idx ON imports (status, created_at)",
            """CREATE TABLE import_changes (
                id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                import_id TEXT NOT NULL REFERENCES imports (id),
                operation TEXT NOT NULL,
                field TEXT NOT NULL,
                value JSONB NOT NULL,
                previous JSONB NOT NULL,
                changed_by TEXT NOT NULL,
                changed_at TIMESTAMPTZ NOT NULL,
                confirmed BOOLEAN NOT NULL DEFAULT FALSE
            )""",
            "CREATE INDEX import_changes_import_idx ON import_changes (import_id, id)",
            # Only a draft takes changes: the UPDATE locks the draft's row, so an accept that
            # commits meanwhile is seen (the change is then skipped), and touches updated_at.
            """CREATE FUNCTION import_changes_only_drafts() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                UPDATE imports SET updated_at = NEW.changed_at
                    WHERE id = NEW.import_id AND status = 'draft';
                IF NOT FOUND THEN
                    RETURN NULL;
                END IF;
                RETURN NEW;
            END
            $$""",
            """CREATE TRIGGER import_changes_only_drafts BEFORE INSERT ON import_changes
            FOR EACH ROW EXECUTE FUNCTION import_changes_only_drafts()""",
        ),
    ),
    _import_jobs("TIMESTAMPTZ", "JSONB"),
    Migration(
        "conversation outcomes",
        (
            "ALTER TABLE conversations ADD COLUMN closed_at TIMESTAMPTZ",
            "ALTER TABLE conversations ADD COLUMN outcome TEXT",
            "ALTER TABLE conversations ADD COLUMN outcome_version INTEGER",
            # The sweeper looks for open conversations only; closed ones stay out of its index.
            "CREATE INDEX conversations_open_idx ON conversations (created_at)"
            " WHERE closed_at IS NULL",
        ),
    ),
    _rollups(
        "TIMESTAMPTZ", "BIGINT", "DOUBLE PRECISION", "EXTRACT(EPOCH FROM (decided_at - created_at))"
    ),
    _people_and_webhooks("TIMESTAMPTZ", "JSONB"),
    _waiting_for_people("escalated"),
]

#: Our tables, for size accounting (``stored_bytes``).
OUR_TABLES: tuple[str, ...] = (
    "schema_migrations",
    "conversations",
    "events",
    "approvals",
    "actions",
    "usage",
    "imports",
    "import_changes",
    "import_jobs",
    "conversation_facts",
    "analytics_rollup",
    "webhook_deliveries",
    "webhook_endpoints",
)

_CREATE_SQLITE_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%f+00:00', 'now'))
)"""

_CREATE_POSTGRES_LEDGER = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
)"""

#: Key of the transaction-level advisory lock that serialises migration runs on PostgreSQL.
MIGRATION_LOCK_NAME = "smart_support.migrations"


def _pending(
    migrations: list[Migration], applied: set[int], dialect: str
) -> list[tuple[int, Migration]]:
    newest = len(migrations)
    ahead = sorted(v for v in applied if v > newest)
    if ahead:
        logger.warning(
            "%s schema has versions %s that this code does not know (it knows 1-%d)",
            dialect,
            ahead,
            newest,
        )
    return [(i, m) for i, m in enumerate(migrations, start=1) if i not in applied]


def migrate_sqlite(path: str | Path, *, busy_timeout: float = 5.0) -> list[int]:
    """Apply the pending SQLite migrations to the file at `path` (blocking; run it in a thread).

    Args:
        path: The database file; it is created when missing (its directory is not).
        busy_timeout: Seconds to wait for another writer's lock before giving up.

    Returns:
        The versions applied by this call (empty when the schema was up to date).

    Raises:
        sqlite3.Error: The file cannot be opened or stays locked; the caller maps it.
    """
    conn = sqlite3.connect(str(path), timeout=busy_timeout, isolation_level=None)
    try:
        _enable_wal(conn, busy_timeout)
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute(_CREATE_SQLITE_LEDGER)
            applied = {row[0] for row in conn.execute("SELECT version FROM schema_migrations")}
            done: list[int] = []
            for version, migration in _pending(SQLITE_MIGRATIONS, applied, "sqlite"):
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                    (version, migration.name),
                )
                done.append(version)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.close()
    for version in done:
        logger.info(
            "sqlite migration %d applied (%s)", version, SQLITE_MIGRATIONS[version - 1].name
        )
    return done


def _enable_wal(conn: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch the file to WAL: readers proceed while the checkpointer or another process writes.

    The mode is stored in the file and cannot change inside a transaction, hence before BEGIN.
    Switching needs an exclusive lock and SQLite answers "locked" at once instead of calling
    the busy handler (seen when two processes open a fresh file together), so retry here.
    """
    deadline = time.monotonic() + busy_timeout
    while True:
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


async def migrate_postgres(conn: AsyncConnection[Any]) -> list[int]:
    """Apply the pending PostgreSQL migrations in one transaction on `conn`.

    Args:
        conn: An autocommit connection (e.g. from the shared pool).

    Returns:
        The versions applied by this call (empty when the schema was up to date).
    """
    done: list[int] = []
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (MIGRATION_LOCK_NAME,)
        )
        await conn.execute(_CREATE_POSTGRES_LEDGER)
        cur = await conn.execute("SELECT version FROM schema_migrations")
        applied = {_first(row) for row in await cur.fetchall()}
        for version, migration in _pending(POSTGRES_MIGRATIONS, applied, "postgres"):
            for statement in migration.statements:
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)",
                (version, migration.name),
            )
            done.append(version)
    for version in done:
        logger.info(
            "postgres migration %d applied (%s)", version, POSTGRES_MIGRATIONS[version - 1].name
        )
    return done


def _first(row: Any) -> Any:
    """The first column of a row, whatever the connection's row factory."""
    if isinstance(row, dict):
        return next(iter(row.values()))
    return row[0]


__all__ = [
    "MIGRATION_LOCK_NAME",
    "OUR_TABLES",
    "POSTGRES_MIGRATIONS",
    "SQLITE_MIGRATIONS",
    "Migration",
    "migrate_postgres",
    "migrate_sqlite",
]

"""The SQLite adapter of the Store port: one file, WAL mode, one aiosqlite connection.

Each method is one SQL statement run with ``execute_fetchall`` (one hop to aiosqlite's thread),
so statements of concurrent coroutines never interleave inside a method, and SQLite's write lock
makes each statement atomic against other connections and processes too.

Unavailability: a file that cannot be opened (its directory is missing, permissions) or a write
lock held by someone else for longer than `busy_timeout` raise StoreUnavailable. The connection is
opened lazily and retried on the next call, so the store recovers by itself once the file can be
opened or the lock is released. Not detected: a file deleted (or its directory removed) while
open; on POSIX the open descriptor keeps working on the unlinked file.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite

from smart_support.errors import ConversationNotFound, StoreUnavailable
from smart_support.store import rows
from smart_support.store.locks import KeyedLocks
from smart_support.store.migrations import migrate_sqlite
from smart_support.store.records import (
    Action,
    ActionStatus,
    Approval,
    ApprovalStatus,
    Conversation,
    EventRecord,
    ImportChange,
    ImportDraft,
    ImportJob,
    ImportJobStatus,
    ImportStatus,
    Usage,
)

logger = logging.getLogger("smart_support.store")

#: Conversation locks are per process: two SqliteStore objects on one file exclude each other.
_PROCESS_LOCKS = KeyedLocks()


def is_unavailable(exc: BaseException) -> bool:
    """Whether a SQLite error means "the database cannot be used right now" (not a bug of ours)."""
    if isinstance(exc, sqlite3.OperationalError | OSError):
        return True
    # Plain DatabaseError: "file is not a database", "database disk image is malformed".
    return type(exc) is sqlite3.DatabaseError


class SqliteStore:
    """Store on a SQLite file.

    Args:
        path: The database file (created when missing; its directory must exist).
        busy_timeout: Seconds a statement waits for another writer before StoreUnavailable.
    """

    dialect = "sqlite"

    def __init__(self, path: str | Path, *, busy_timeout: float = 5.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._conn: aiosqlite.Connection | None = None
        self._open_lock = asyncio.Lock()
        self._lock_key = str(self.path.resolve())

    # -- plumbing ---------------------------------------------------------------------------

    async def _connection(self) -> aiosqlite.Connection:
        if self._conn is None:
            async with self._open_lock:
                if self._conn is None:
                    conn = await aiosqlite.connect(
                        str(self.path), timeout=self.busy_timeout, isolation_level=None
                    )
                    conn.row_factory = sqlite3.Row
                    try:
                        await conn.execute("PRAGMA foreign_keys=ON")
                        # WAL + NORMAL: a commit survives a crash of this process; only an OS
                        # crash or power loss can drop the last commits. FULL fsyncs every
                        # commit and made writes queue up under load.
                        await conn.execute("PRAGMA synchronous=NORMAL")
                    except BaseException:
                        await conn.close()
                        raise
                    self._conn = conn
        return self._conn

    @asynccontextmanager
    async def _translated(self, what: str) -> AsyncIterator[None]:
        try:
            yield
        except Exception as exc:
            if not is_unavailable(exc):
                raise
            logger.warning("sqlite store unavailable during %s: %s", what, exc)
            raise StoreUnavailable(f"SQLite database {self.path} unavailable: {exc}") from exc

    async def _fetch(self, what: str, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        async with self._translated(what):
            conn = await self._connection()
            return list(await conn.execute_fetchall(sql, params))

    async def setup(self) -> None:
        """Apply pending migrations (in a worker thread, on a connection of their own)."""
        async with self._translated("setup"):
            await asyncio.to_thread(migrate_sqlite, self.path, busy_timeout=self.busy_timeout)
            await self._connection()

    async def close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            await conn.close()

    # -- conversations and events -----------------------------------------------------------

    async def create_conversation(self, conversation_id: str, token_hash: str) -> Conversation:
        """Insert; an existing id is returned unchanged (the caller compares token_hash)."""
        await self._fetch(
            "create_conversation",
            "INSERT INTO conversations (id, token_hash, created_at) VALUES (?, ?, ?)"
            " ON CONFLICT (id) DO NOTHING",
            (conversation_id, token_hash, rows.iso(rows.now())),
        )
        found = await self.get_conversation(conversation_id)
        assert found is not None  # conversations are never deleted
        return found

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._fetch(
            "get_conversation", "SELECT * FROM conversations WHERE id = ?", (conversation_id,)
        )
        return rows.conversation(found[0]) if found else None

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Newest first."""
        found = await self._fetch(
            "list_conversations",
            "SELECT * FROM conversations ORDER BY created_at DESC, id DESC LIMIT ? OFFSET ?",
            (limit, offset),
        )
        return [rows.conversation(r) for r in found]

    async def _update_conversation(
        self, what: str, conversation_id: str, sql: str, *p: Any
    ) -> None:
        found = await self._fetch(what, sql + " WHERE id = ? RETURNING id", (*p, conversation_id))
        if not found:
            raise ConversationNotFound(f"conversation {conversation_id} not found")

    async def set_active_agent(self, conversation_id: str, agent: str | None) -> None:
        await self._update_conversation(
            "set_active_agent", conversation_id, "UPDATE conversations SET active_agent = ?", agent
        )

    async def mark_escalated(self, conversation_id: str) -> None:
        await self._update_conversation(
            "mark_escalated", conversation_id, "UPDATE conversations SET escalated = 1"
        )

    async def set_identity(self, conversation_id: str, identity: dict[str, Any]) -> None:
        await self._update_conversation(
            "set_identity",
            conversation_id,
            "UPDATE conversations SET identity = ?",
            rows.dumps(identity),
        )

    async def count_failed_verification(self, conversation_id: str) -> int:
        found = await self._fetch(
            "count_failed_verification",
            "UPDATE conversations SET verify_failures = verify_failures + 1 WHERE id = ?"
            " RETURNING verify_failures",
            (conversation_id,),
        )
        if not found:
            raise ConversationNotFound(f"conversation {conversation_id} not found")
        return int(found[0]["verify_failures"])

    async def close_conversation(
        self, conversation_id: str, outcome: str, version: int, now: datetime
    ) -> bool:
        return await rows.close_conversation(
            self._fetcher("close_conversation"),
            rows.SQLITE,
            conversation_id,
            outcome,
            version,
            now,
        )

    async def reopen_conversation(self, conversation_id: str) -> bool:
        return await rows.reopen_conversation(
            self._fetcher("reopen_conversation"), rows.SQLITE, conversation_id
        )

    async def idle_conversations(self, before: datetime, limit: int = 100) -> list[str]:
        return await rows.idle_conversations(
            self._fetcher("idle_conversations"), rows.SQLITE, before, limit
        )

    def _fetcher(self, what: str) -> rows.Fetch:
        async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
            return list(await self._fetch(what, sql, params))

        return fetch

    async def append_event(
        self, conversation_id: str, kind: str, agent: str | None, data: dict[str, Any]
    ) -> EventRecord:
        """Append with the next seq; one statement, so SQLite's write lock makes it atomic."""
        created = rows.now()
        found = await self._fetch(
            "append_event",
            "INSERT INTO events (conversation_id, seq, kind, agent, data, created_at)"
            " SELECT ?, COALESCE((SELECT MAX(seq) FROM events WHERE conversation_id = ?), 0) + 1,"
            " ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM conversations WHERE id = ?)"
            " RETURNING *",
            (
                conversation_id,
                conversation_id,
                kind,
                agent,
                rows.dumps(data),
                rows.iso(created),
                conversation_id,
            ),
        )
        if not found:
            raise ConversationNotFound(f"conversation {conversation_id} not found")
        return rows.event(found[0], json_text=True)

    async def events(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        found = await self._fetch(
            "events",
            "SELECT * FROM events WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
            (conversation_id, after_seq, -1 if limit is None else limit),
        )
        return [rows.event(r, json_text=True) for r in found]

    async def events_page(
        self,
        conversation_id: str,
        after_seq: int = 0,
        limit: int = 100,
        kinds: Sequence[str] = (),
    ) -> list[EventRecord]:
        wanted = list(dict.fromkeys(kinds))
        found = await self._fetch(
            "events_page",
            rows.events_page_sql(len(wanted)),
            rows.events_page_params(conversation_id, after_seq, limit, wanted),
        )
        return [rows.event(r, json_text=True) for r in found]

    async def analytics_rows(
        self, since: datetime, until: datetime, vocabulary: rows.EventVocabulary
    ) -> rows.AnalyticsRows:
        async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
            return list(await self._fetch("analytics", sql, params))

        return await rows.analytics_rows(fetch, rows.SQLITE, since, until, vocabulary)

    # -- approvals --------------------------------------------------------------------------

    async def create_approval(self, approval: Approval) -> Approval:
        a = approval
        await self._fetch(
            "create_approval",
            "INSERT INTO approvals (id, conversation_id, agent, tool, tool_call_id, args,"
            " args_hash, summary, status, created_at, expires_at, decided_at, decided_by)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING",
            (
                a.id,
                a.conversation_id,
                a.agent,
                a.tool,
                a.tool_call_id,
                rows.dumps(a.args),
                a.args_hash,
                a.summary,
                a.status,
                rows.iso(a.created_at),
                rows.iso(a.expires_at),
                None if a.decided_at is None else rows.iso(a.decided_at),
                a.decided_by,
            ),
        )
        stored = await self.get_approval(a.id)
        assert stored is not None  # approvals are never deleted
        return stored

    async def get_approval(self, approval_id: str) -> Approval | None:
        found = await self._fetch(
            "get_approval", "SELECT * FROM approvals WHERE id = ?", (approval_id,)
        )
        return rows.approval(found[0], json_text=True) if found else None

    async def list_approvals(
        self, conversation_id: str | None = None, status: ApprovalStatus | None = "pending"
    ) -> list[Approval]:
        """Oldest first, filtered by conversation and status when given."""
        found = await self._fetch(
            "list_approvals",
            "SELECT * FROM approvals WHERE (? IS NULL OR conversation_id = ?)"
            " AND (? IS NULL OR status = ?) ORDER BY created_at, id",
            (conversation_id, conversation_id, status, status),
        )
        return [rows.approval(r, json_text=True) for r in found]

    async def decide_approval(
        self, approval_id: str, status: ApprovalStatus, decided_by: str, now: datetime
    ) -> Approval:
        """Compare-and-set from pending; approved/rejected at or after expires_at become expired."""
        rows.check_decision(status)
        found = await self._fetch(
            "decide_approval",
            "UPDATE approvals SET status = CASE WHEN :status IN ('approved', 'rejected')"
            " AND expires_at <= :now THEN 'expired' ELSE :status END,"
            " decided_at = :now, decided_by = :by WHERE id = :id AND status = 'pending'"
            " RETURNING *",
            {"status": status, "now": rows.iso(now), "by": decided_by, "id": approval_id},
        )
        updated = rows.approval(found[0], json_text=True) if found else None
        current = None if updated else await self.get_approval(approval_id)
        return rows.decision_result(approval_id, status, updated, current)

    async def due_approvals(self, now: datetime) -> list[Approval]:
        """Pending approvals whose expires_at is at or before `now`, soonest expiry first."""
        found = await self._fetch(
            "due_approvals",
            "SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= ?"
            " ORDER BY expires_at, id",
            (rows.iso(now),),
        )
        return [rows.approval(r, json_text=True) for r in found]

    # -- action ledger ----------------------------------------------------------------------

    async def begin_action(
        self,
        idempotency_key: str,
        approval_id: str,
        conversation_id: str,
        tool: str,
        args: dict[str, Any],
        now: datetime,
    ) -> tuple[Action, bool]:
        inserted = await self._fetch(
            "begin_action",
            "INSERT INTO actions (idempotency_key, approval_id, conversation_id, tool, args,"
            " status, started_at) VALUES (?, ?, ?, ?, ?, 'started', ?)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
            (idempotency_key, approval_id, conversation_id, tool, rows.dumps(args), rows.iso(now)),
        )
        if inserted:
            return rows.action(inserted[0], json_text=True), True
        stored = await self.get_action(idempotency_key)
        assert stored is not None  # the conflict says it is there; actions are never deleted
        return stored, False

    async def finish_action(
        self, idempotency_key: str, status: ActionStatus, result: Any, now: datetime
    ) -> Action:
        """Record the outcome. Raises LookupError for a key begin_action never recorded."""
        found = await self._fetch(
            "finish_action",
            "UPDATE actions SET status = ?, result = ?, finished_at = ?"
            " WHERE idempotency_key = ? RETURNING *",
            (status, rows.dumps(result), rows.iso(now), idempotency_key),
        )
        if not found:
            raise LookupError(f"no action with idempotency key {idempotency_key}")
        return rows.action(found[0], json_text=True)

    async def list_actions(
        self, status: ActionStatus | None = None, limit: int = 100
    ) -> list[Action]:
        """Newest first; `status="unknown"` lists what a person must check."""
        found = await self._fetch(
            "list_actions",
            "SELECT * FROM actions WHERE (? IS NULL OR status = ?)"
            " ORDER BY started_at DESC LIMIT ?",
            (status, status, limit),
        )
        return [rows.action(r, json_text=True) for r in found]

    async def get_action(self, idempotency_key: str) -> Action | None:
        found = await self._fetch(
            "get_action", "SELECT * FROM actions WHERE idempotency_key = ?", (idempotency_key,)
        )
        return rows.action(found[0], json_text=True) if found else None

    # -- usage ------------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        u = usage
        await self._fetch(
            "record_usage",
            "INSERT INTO usage (conversation_id, agent, model, input_tokens, output_tokens,"
            " cost_usd, created_at, extra) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                u.conversation_id,
                u.agent,
                u.model,
                u.input_tokens,
                u.output_tokens,
                u.cost_usd,
                rows.iso(u.created_at or rows.now()),
                rows.dumps(u.extra),
            ),
        )

    async def usage(self, conversation_id: str | None = None) -> list[Usage]:
        """In recording order."""
        found = await self._fetch(
            "usage",
            "SELECT * FROM usage WHERE (? IS NULL OR conversation_id = ?) ORDER BY id",
            (conversation_id, conversation_id),
        )
        return [rows.usage(r, json_text=True) for r in found]

    # -- import drafts (statements shared with PostgreSQL, in rows.py) ----------------------

    async def create_import(
        self,
        import_id: str,
        *,
        name: str,
        source: str,
        report: dict[str, Any],
        counts: dict[str, int],
        proposal: dict[str, Any] | None,
        created_by: str,
        options: dict[str, Any] | None = None,
    ) -> ImportDraft:
        await self._fetch(
            "create_import",
            rows.INSERT_IMPORT,
            {
                "id": import_id,
                "name": name,
                "source": source,
                "counts": rows.dumps(counts),
                "report": rows.dumps(report),
                "proposal": None if proposal is None else rows.dumps(proposal),
                "options": rows.dumps(options or {}),
                "created_by": created_by,
                "now": rows.iso(rows.now()),
            },
        )
        stored = await self.get_import(import_id)
        assert stored is not None  # drafts are never deleted
        return stored

    async def get_import(self, import_id: str) -> ImportDraft | None:
        found = await self._fetch("get_import", rows.GET_IMPORT, {"id": import_id})
        return rows.import_draft(found[0], json_text=True) if found else None

    async def list_imports(
        self, status: ImportStatus | None = None, limit: int = 50
    ) -> list[ImportDraft]:
        found = await self._fetch(
            "list_imports", rows.LIST_IMPORTS, {"status": status, "limit": limit}
        )
        return [rows.import_draft(r, json_text=True, full=False) for r in found]

    async def record_import_change(
        self,
        import_id: str,
        *,
        operation: str,
        field: str,
        value: Any,
        previous: Any,
        changed_by: str,
        confirmed: bool = False,
    ) -> ImportChange:
        found = await self._fetch(
            "record_import_change",
            rows.INSERT_IMPORT_CHANGE,
            {
                "import_id": import_id,
                "operation": operation,
                "field": field,
                "value": rows.dumps(value),
                "previous": rows.dumps(previous),
                "by": changed_by,
                "now": rows.iso(rows.now()),
                "confirmed": confirmed,
            },
        )
        if not found:
            raise rows.change_refused(import_id, await self.get_import(import_id))
        return rows.import_change(found[0], json_text=True)

    async def import_changes(self, import_id: str) -> list[ImportChange]:
        found = await self._fetch(
            "import_changes", rows.LIST_IMPORT_CHANGES, {"import_id": import_id}
        )
        return [rows.import_change(r, json_text=True) for r in found]

    async def set_import_status(self, import_id: str, status: ImportStatus, by: str) -> ImportDraft:
        rows.check_import_status(status)
        await self._fetch(
            "set_import_status",
            rows.SET_IMPORT_STATUS,
            {"status": status, "by": by, "now": rows.iso(rows.now()), "id": import_id},
        )
        current = await self.get_import(import_id)
        return rows.status_result(import_id, status, current)

    # -- import jobs (statements shared with PostgreSQL, in rows.py) ----------------------------

    async def create_import_job(
        self, job_id: str, *, request: dict[str, Any], created_by: str
    ) -> ImportJob:
        found = await self._fetch(
            "create_import_job",
            rows.INSERT_IMPORT_JOB,
            {
                "id": job_id,
                "request": rows.request_text(request),
                "created_by": created_by,
                "now": rows.iso(rows.now()),
            },
        )
        return rows.import_job(found[0], json_text=True)

    async def get_import_job(self, job_id: str) -> ImportJob | None:
        found = await self._fetch("get_import_job", rows.GET_IMPORT_JOB, {"id": job_id})
        return rows.import_job(found[0], json_text=True) if found else None

    async def list_import_jobs(self, limit: int = 50) -> list[ImportJob]:
        found = await self._fetch("list_import_jobs", rows.LIST_IMPORT_JOBS, {"limit": limit})
        return [rows.import_job(r, json_text=True) for r in found]

    async def claim_import_job(self) -> ImportJob | None:
        found = await self._fetch(
            "claim_import_job", rows.CLAIM_IMPORT_JOB, {"now": rows.iso(rows.now())}
        )
        return rows.import_job(found[0], json_text=True, with_request=True) if found else None

    async def update_import_job(
        self,
        job_id: str,
        *,
        status: ImportJobStatus,
        stage: str = "",
        done: int = 0,
        total: int = 0,
        draft_id: str | None = None,
        error: str | None = None,
        error_code: str | None = None,
    ) -> ImportJob | None:
        found = await self._fetch(
            "update_import_job",
            rows.UPDATE_IMPORT_JOB,
            {
                "id": job_id,
                "status": status,
                "stage": stage,
                "done": done,
                "total": total,
                "draft_id": draft_id,
                "error": error,
                "error_code": error_code,
                "now": rows.iso(rows.now()),
            },
        )
        return rows.import_job(found[0], json_text=True) if found else None

    async def recover_import_jobs(self, *, max_attempts: int, error: str) -> list[ImportJob]:
        moment = rows.iso(rows.now())
        failed = await self._fetch(
            "recover_import_jobs",
            rows.FAIL_INTERRUPTED_JOBS,
            {"error": error, "now": moment, "max_attempts": max_attempts},
        )
        requeued = await self._fetch(
            "recover_import_jobs",
            rows.REQUEUE_INTERRUPTED_JOBS,
            {"stage": "resumed after a restart", "now": moment},
        )
        return [rows.import_job(r, json_text=True) for r in [*failed, *requeued]]

    # -- concurrency and size ---------------------------------------------------------------

    def conversation_lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """One turn at a time per conversation within this process (not across processes)."""
        return _PROCESS_LOCKS.hold((self._lock_key, conversation_id))

    @property
    def locks_in_use(self) -> int:
        """Conversation locks held or awaited in this process (diagnostics; 0 when idle)."""
        return len(_PROCESS_LOCKS)

    def stored_bytes(self) -> int | None:
        """Size of the database file plus its write-ahead log (checkpoints share the file)."""
        total = 0
        for suffix in ("", "-wal"):
            try:
                total += Path(f"{self.path}{suffix}").stat().st_size
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise StoreUnavailable(f"SQLite database {self.path} unavailable: {exc}") from exc
        return total


__all__ = ["SqliteStore", "is_unavailable"]

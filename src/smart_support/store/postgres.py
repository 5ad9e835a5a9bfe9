"""The PostgreSQL adapter of the Store port, on a psycopg AsyncConnectionPool.

The pool may be shared with LangGraph's AsyncPostgresSaver (see persistence.py). Conversation
locks are session-level advisory locks kept apart from that pool (see pg_locks.py), so a long
turn never holds one of the connections the checkpointer needs.

Unavailability: the pool waits at most `timeout` seconds for a connection and checks each one
before handing it out (``check_connection``), so a dead server fails fast as StoreUnavailable and
dead connections are replaced once it is back, without a restart.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg.types.json import Jsonb

from smart_support.errors import ConversationNotFound, StoreUnavailable
from smart_support.store import rows
from smart_support.store.locks import KeyedLocks
from smart_support.store.migrations import OUR_TABLES, migrate_postgres
from smart_support.store.pg_locks import AdvisoryLocks
from smart_support.store.pg_pool import (
    UNAVAILABLE,
    Pool,
    make_pool,
    mark_suspect,
    normalize_url,
)
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

#: LangGraph's checkpoint tables, counted by stored_bytes beside ours.
CHECKPOINT_TABLES = (
    "checkpoints",
    "checkpoint_blobs",
    "checkpoint_writes",
    "checkpoint_migrations",
)


_INSERT_IMPORT = rows.pg(rows.INSERT_IMPORT)
_GET_IMPORT = rows.pg(rows.GET_IMPORT)
_LIST_IMPORTS = rows.pg(rows.LIST_IMPORTS)
_INSERT_IMPORT_CHANGE = rows.pg(rows.INSERT_IMPORT_CHANGE)
_LIST_IMPORT_CHANGES = rows.pg(rows.LIST_IMPORT_CHANGES)
_SET_IMPORT_STATUS = rows.pg(rows.SET_IMPORT_STATUS)
_INSERT_IMPORT_JOB = rows.pg(rows.INSERT_IMPORT_JOB)
_GET_IMPORT_JOB = rows.pg(rows.GET_IMPORT_JOB)
_LIST_IMPORT_JOBS = rows.pg(rows.LIST_IMPORT_JOBS)
_CLAIM_IMPORT_JOB = rows.pg(rows.CLAIM_IMPORT_JOB)
_UPDATE_IMPORT_JOB = rows.pg(rows.UPDATE_IMPORT_JOB)
_FAIL_INTERRUPTED_JOBS = rows.pg(rows.FAIL_INTERRUPTED_JOBS)
_REQUEUE_INTERRUPTED_JOBS = rows.pg(rows.REQUEUE_INTERRUPTED_JOBS)


def _json(value: Any) -> Jsonb:
    return Jsonb(value, dumps=rows.dumps)


class PostgresStore:
    """Store on PostgreSQL.

    Args:
        url: The database URL (also used for the lock pool and stored_bytes).
        pool: A pool to share (e.g. with the checkpointer); this store then does not close it.
            Without one, the store makes and owns a pool of `max_size` connections.
        timeout: Seconds to wait for a connection before StoreUnavailable (own pools only).
        reconnect_timeout: See make_pool.
        max_size: Size of the pool the store makes when none is given.
        lock_waiters: Turns that may wait at once for a conversation another process holds.
    """

    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        pool: Pool | None = None,
        timeout: float = 5.0,
        reconnect_timeout: float = 2.0,
        max_size: int = 10,
        lock_waiters: int = 10,
    ) -> None:
        self.url = normalize_url(url)
        self._owns_pool = pool is None
        self._pool = pool or make_pool(
            url, max_size=max_size, timeout=timeout, reconnect_timeout=reconnect_timeout
        )
        self._advisory = AdvisoryLocks(
            url, timeout=timeout, reconnect_timeout=reconnect_timeout, max_waiters=lock_waiters
        )
        self._locks = KeyedLocks()
        self._opened = False

    # -- plumbing ---------------------------------------------------------------------------

    async def _open(self) -> None:
        if not self._opened:
            if self._owns_pool:
                await self._pool.open()
            await self._advisory.open()
            self._opened = True

    def _unavailable(self, what: str, exc: BaseException) -> StoreUnavailable:
        mark_suspect()
        logger.warning("postgres store unavailable during %s: %s", what, exc)
        return StoreUnavailable(f"PostgreSQL unavailable: {exc}")

    async def _fetch(self, what: str, sql: str, params: Any = None) -> list[DictRow]:
        try:
            await self._open()
            async with (
                self._pool.connection() as conn,
                conn.cursor(row_factory=dict_row) as cur,
            ):
                await cur.execute(sql, params)
                return await cur.fetchall() if cur.description else []
        except UNAVAILABLE as exc:
            raise self._unavailable(what, exc) from exc

    async def setup(self) -> None:
        """Apply pending migrations under an advisory lock (safe from several processes)."""
        try:
            await self._open()
            async with self._pool.connection() as conn:
                await migrate_postgres(conn)
        except UNAVAILABLE as exc:
            raise self._unavailable("setup", exc) from exc

    async def close(self) -> None:
        await self._advisory.close()
        if self._owns_pool:
            await self._pool.close()
        self._opened = False

    # -- conversations and events -----------------------------------------------------------

    async def create_conversation(self, conversation_id: str, token_hash: str) -> Conversation:
        """Insert; an existing id is returned unchanged (the caller compares token_hash)."""
        await self._fetch(
            "create_conversation",
            "INSERT INTO conversations (id, token_hash, created_at) VALUES (%s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (conversation_id, token_hash, rows.now()),
        )
        found = await self.get_conversation(conversation_id)
        assert found is not None  # conversations are never deleted
        return found

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._fetch(
            "get_conversation", "SELECT * FROM conversations WHERE id = %s", (conversation_id,)
        )
        return rows.conversation(found[0]) if found else None

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Newest first."""
        found = await self._fetch(
            "list_conversations",
            "SELECT * FROM conversations ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            (limit, offset),
        )
        return [rows.conversation(r) for r in found]

    async def _update_conversation(
        self, what: str, conversation_id: str, sql: str, *p: Any
    ) -> None:
        found = await self._fetch(what, sql + " WHERE id = %s RETURNING id", (*p, conversation_id))
        if not found:
            raise ConversationNotFound(f"conversation {conversation_id} not found")

    async def set_active_agent(self, conversation_id: str, agent: str | None) -> None:
        await self._update_conversation(
            "set_active_agent",
            conversation_id,
            "UPDATE conversations SET active_agent = %s::text",
            agent,
        )

    async def mark_escalated(self, conversation_id: str) -> None:
        await self._update_conversation(
            "mark_escalated", conversation_id, "UPDATE conversations SET escalated = TRUE"
        )

    async def set_identity(self, conversation_id: str, identity: dict[str, Any]) -> None:
        await self._update_conversation(
            "set_identity",
            conversation_id,
            "UPDATE conversations SET identity = %s::jsonb",
            rows.dumps(identity),
        )

    async def count_failed_verification(self, conversation_id: str) -> int:
        found = await self._fetch(
            "count_failed_verification",
            "UPDATE conversations SET verify_failures = verify_failures + 1 WHERE id = %s"
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
            rows.POSTGRES,
            conversation_id,
            outcome,
            version,
            now,
        )

    async def reopen_conversation(self, conversation_id: str) -> bool:
        return await rows.reopen_conversation(
            self._fetcher("reopen_conversation"), rows.POSTGRES, conversation_id
        )

    async def idle_conversations(self, before: datetime, limit: int = 100) -> list[str]:
        return await rows.idle_conversations(
            self._fetcher("idle_conversations"), rows.POSTGRES, before, limit
        )

    def _fetcher(self, what: str) -> rows.Fetch:
        async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
            return list(await self._fetch(what, sql, params))

        return fetch

    async def append_event(
        self, conversation_id: str, kind: str, agent: str | None, data: dict[str, Any]
    ) -> EventRecord:
        """Append with the next seq; the conversation row's lock serialises appenders."""
        found = await self._fetch(
            "append_event",
            "WITH next AS (UPDATE conversations SET last_seq = last_seq + 1 WHERE id = %(cid)s"
            " RETURNING id, last_seq)"
            " INSERT INTO events (conversation_id, seq, kind, agent, data, created_at)"
            " SELECT id, last_seq, %(kind)s::text, %(agent)s::text, %(data)s, %(created)s"
            " FROM next RETURNING *",
            {
                "cid": conversation_id,
                "kind": kind,
                "agent": agent,
                "data": _json(data),
                "created": rows.now(),
            },
        )
        if not found:
            raise ConversationNotFound(f"conversation {conversation_id} not found")
        return rows.event(found[0], json_text=False)

    async def events(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        found = await self._fetch(
            "events",
            "SELECT * FROM events WHERE conversation_id = %s AND seq > %s ORDER BY seq"
            " LIMIT %s::bigint",
            (conversation_id, after_seq, limit),
        )
        return [rows.event(r, json_text=False) for r in found]

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
            rows.pg(rows.events_page_sql(len(wanted))),
            rows.events_page_params(conversation_id, after_seq, limit, wanted),
        )
        return [rows.event(r, json_text=False) for r in found]

    async def analytics_rows(
        self, since: datetime, until: datetime, vocabulary: rows.EventVocabulary
    ) -> rows.AnalyticsRows:
        async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
            return list(await self._fetch("analytics", sql, params))

        return await rows.analytics_rows(fetch, rows.POSTGRES, since, until, vocabulary)

    # -- approvals --------------------------------------------------------------------------

    async def create_approval(self, approval: Approval) -> Approval:
        a = approval
        await self._fetch(
            "create_approval",
            "INSERT INTO approvals (id, conversation_id, agent, tool, tool_call_id, args,"
            " args_hash, summary, status, created_at, expires_at, decided_at, decided_by)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (id) DO NOTHING",
            (
                a.id,
                a.conversation_id,
                a.agent,
                a.tool,
                a.tool_call_id,
                _json(a.args),
                a.args_hash,
                a.summary,
                a.status,
                rows.utc(a.created_at),
                rows.utc(a.expires_at),
                None if a.decided_at is None else rows.utc(a.decided_at),
                a.decided_by,
            ),
        )
        stored = await self.get_approval(a.id)
        assert stored is not None  # approvals are never deleted
        return stored

    async def get_approval(self, approval_id: str) -> Approval | None:
        found = await self._fetch(
            "get_approval", "SELECT * FROM approvals WHERE id = %s", (approval_id,)
        )
        return rows.approval(found[0], json_text=False) if found else None

    async def list_approvals(
        self, conversation_id: str | None = None, status: ApprovalStatus | None = "pending"
    ) -> list[Approval]:
        """Oldest first, filtered by conversation and status when given."""
        found = await self._fetch(
            "list_approvals",
            "SELECT * FROM approvals WHERE (%(cid)s::text IS NULL OR conversation_id = %(cid)s)"
            " AND (%(status)s::text IS NULL OR status = %(status)s) ORDER BY created_at, id",
            {"cid": conversation_id, "status": status},
        )
        return [rows.approval(r, json_text=False) for r in found]

    async def decide_approval(
        self, approval_id: str, status: ApprovalStatus, decided_by: str, now: datetime
    ) -> Approval:
        """Compare-and-set from pending; approved/rejected at or after expires_at become expired."""
        rows.check_decision(status)
        found = await self._fetch(
            "decide_approval",
            "UPDATE approvals SET status = CASE WHEN %(status)s::text IN ('approved', 'rejected')"
            " AND expires_at <= %(now)s THEN 'expired' ELSE %(status)s::text END,"
            " decided_at = %(now)s, decided_by = %(by)s"
            " WHERE id = %(id)s AND status = 'pending' RETURNING *",
            {"status": status, "now": rows.utc(now), "by": decided_by, "id": approval_id},
        )
        updated = rows.approval(found[0], json_text=False) if found else None
        current = None if updated else await self.get_approval(approval_id)
        return rows.decision_result(approval_id, status, updated, current)

    async def due_approvals(self, now: datetime) -> list[Approval]:
        """Pending approvals whose expires_at is at or before `now`, soonest expiry first."""
        found = await self._fetch(
            "due_approvals",
            "SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= %s"
            " ORDER BY expires_at, id",
            (rows.utc(now),),
        )
        return [rows.approval(r, json_text=False) for r in found]

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
            " status, started_at) VALUES (%s, %s, %s, %s, %s, 'started', %s)"
            " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *",
            (idempotency_key, approval_id, conversation_id, tool, _json(args), rows.utc(now)),
        )
        if inserted:
            return rows.action(inserted[0], json_text=False), True
        stored = await self.get_action(idempotency_key)
        assert stored is not None  # the conflict says it is there; actions are never deleted
        return stored, False

    async def finish_action(
        self, idempotency_key: str, status: ActionStatus, result: Any, now: datetime
    ) -> Action:
        """Record the outcome. Raises LookupError for a key begin_action never recorded."""
        found = await self._fetch(
            "finish_action",
            "UPDATE actions SET status = %s, result = %s, finished_at = %s"
            " WHERE idempotency_key = %s RETURNING *",
            (status, _json(result), rows.utc(now), idempotency_key),
        )
        if not found:
            raise LookupError(f"no action with idempotency key {idempotency_key}")
        return rows.action(found[0], json_text=False)

    async def list_actions(
        self, status: ActionStatus | None = None, limit: int = 100
    ) -> list[Action]:
        """Newest first; `status="unknown"` lists what a person must check."""
        found = await self._fetch(
            "list_actions",
            "SELECT * FROM actions WHERE (%s::text IS NULL OR status = %s)"
            " ORDER BY started_at DESC LIMIT %s",
            (status, status, limit),
        )
        return [rows.action(r, json_text=False) for r in found]

    async def get_action(self, idempotency_key: str) -> Action | None:
        found = await self._fetch(
            "get_action", "SELECT * FROM actions WHERE idempotency_key = %s", (idempotency_key,)
        )
        return rows.action(found[0], json_text=False) if found else None

    # -- usage ------------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        u = usage
        await self._fetch(
            "record_usage",
            "INSERT INTO usage (conversation_id, agent, model, input_tokens, output_tokens,"
            " cost_usd, created_at, extra) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                u.conversation_id,
                u.agent,
                u.model,
                u.input_tokens,
                u.output_tokens,
                u.cost_usd,
                rows.utc(u.created_at or rows.now()),
                _json(u.extra),
            ),
        )

    async def usage(self, conversation_id: str | None = None) -> list[Usage]:
        """In recording order."""
        found = await self._fetch(
            "usage",
            "SELECT * FROM usage WHERE (%(cid)s::text IS NULL OR conversation_id = %(cid)s)"
            " ORDER BY id",
            {"cid": conversation_id},
        )
        return [rows.usage(r, json_text=False) for r in found]

    # -- import drafts (statements shared with SQLite, in rows.py) --------------------------

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
            _INSERT_IMPORT,
            {
                "id": import_id,
                "name": name,
                "source": source,
                "counts": _json(counts),
                "report": _json(report),
                "proposal": None if proposal is None else _json(proposal),
                "options": _json(options or {}),
                "created_by": created_by,
                "now": rows.now(),
            },
        )
        stored = await self.get_import(import_id)
        assert stored is not None  # drafts are never deleted
        return stored

    async def get_import(self, import_id: str) -> ImportDraft | None:
        found = await self._fetch("get_import", _GET_IMPORT, {"id": import_id})
        return rows.import_draft(found[0], json_text=False) if found else None

    async def list_imports(
        self, status: ImportStatus | None = None, limit: int = 50
    ) -> list[ImportDraft]:
        found = await self._fetch("list_imports", _LIST_IMPORTS, {"status": status, "limit": limit})
        return [rows.import_draft(r, json_text=False, full=False) for r in found]

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
            _INSERT_IMPORT_CHANGE,
            {
                "import_id": import_id,
                "operation": operation,
                "field": field,
                "value": _json(value),
                "previous": _json(previous),
                "by": changed_by,
                "now": rows.now(),
                "confirmed": confirmed,
            },
        )
        if not found:
            raise rows.change_refused(import_id, await self.get_import(import_id))
        return rows.import_change(found[0], json_text=False)

    async def import_changes(self, import_id: str) -> list[ImportChange]:
        found = await self._fetch("import_changes", _LIST_IMPORT_CHANGES, {"import_id": import_id})
        return [rows.import_change(r, json_text=False) for r in found]

    async def set_import_status(self, import_id: str, status: ImportStatus, by: str) -> ImportDraft:
        rows.check_import_status(status)
        await self._fetch(
            "set_import_status",
            _SET_IMPORT_STATUS,
            {"status": status, "by": by, "now": rows.now(), "id": import_id},
        )
        current = await self.get_import(import_id)
        return rows.status_result(import_id, status, current)

    # -- import jobs (statements shared with SQLite, in rows.py) ----------------------------

    async def create_import_job(
        self, job_id: str, *, request: dict[str, Any], created_by: str
    ) -> ImportJob:
        found = await self._fetch(
            "create_import_job",
            _INSERT_IMPORT_JOB,
            {
                "id": job_id,
                "request": rows.request_text(request),
                "created_by": created_by,
                "now": rows.now(),
            },
        )
        return rows.import_job(found[0], json_text=False)

    async def get_import_job(self, job_id: str) -> ImportJob | None:
        found = await self._fetch("get_import_job", _GET_IMPORT_JOB, {"id": job_id})
        return rows.import_job(found[0], json_text=False) if found else None

    async def list_import_jobs(self, limit: int = 50) -> list[ImportJob]:
        found = await self._fetch("list_import_jobs", _LIST_IMPORT_JOBS, {"limit": limit})
        return [rows.import_job(r, json_text=False) for r in found]

    async def claim_import_job(self) -> ImportJob | None:
        found = await self._fetch("claim_import_job", _CLAIM_IMPORT_JOB, {"now": rows.now()})
        return rows.import_job(found[0], json_text=False, with_request=True) if found else None

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
            _UPDATE_IMPORT_JOB,
            {
                "id": job_id,
                "status": status,
                "stage": stage,
                "done": done,
                "total": total,
                "draft_id": draft_id,
                "error": error,
                "error_code": error_code,
                "now": rows.now(),
            },
        )
        return rows.import_job(found[0], json_text=False) if found else None

    async def recover_import_jobs(self, *, max_attempts: int, error: str) -> list[ImportJob]:
        moment = rows.now()
        failed = await self._fetch(
            "recover_import_jobs",
            _FAIL_INTERRUPTED_JOBS,
            {"error": error, "now": moment, "max_attempts": max_attempts},
        )
        requeued = await self._fetch(
            "recover_import_jobs",
            _REQUEUE_INTERRUPTED_JOBS,
            {"stage": "resumed after a restart", "now": moment},
        )
        return [rows.import_job(r, json_text=False) for r in [*failed, *requeued]]

    # -- concurrency and size ---------------------------------------------------------------

    def conversation_lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """One turn at a time per conversation, across processes (session advisory lock)."""
        return self._conversation_lock(conversation_id)

    @asynccontextmanager
    async def _conversation_lock(self, conversation_id: str) -> AsyncIterator[None]:
        # The in-process lock is essential, not an optimisation: advisory locks are reentrant
        # within a session, so two turns of this process would both "get" the lock on the
        # shared session.
        async with self._locks.hold(conversation_id):
            try:
                await self._open()
            except UNAVAILABLE as exc:
                raise self._unavailable("conversation_lock", exc) from exc
            async with self._advisory.hold(conversation_id):
                yield

    @asynccontextmanager
    async def advisory_lock(self, name: str, *, poll: float | None = None) -> AsyncIterator[None]:
        """Hold the advisory lock `name` on a connection of its own (see AdvisoryLocks.dedicated).

        Args:
            name: What to exclude on.
            poll: Seconds between ``pg_try_advisory_lock`` attempts instead of one blocking wait
                (use it around DDL that runs ``CREATE INDEX CONCURRENTLY``).
        """
        try:
            await self._open()
        except UNAVAILABLE as exc:
            raise self._unavailable("advisory_lock", exc) from exc
        async with self._advisory.dedicated(name, poll=poll):
            yield

    @property
    def locks_in_use(self) -> int:
        """Conversation locks held or awaited in this process (diagnostics; 0 when idle)."""
        return len(self._locks)

    def stored_bytes(self) -> int | None:
        """Sum of pg_total_relation_size (data, indexes, TOAST) of our and the checkpoint tables.

        Not pg_database_size, which also counts the system catalogs (several MB of noise).
        Blocking: it opens a short synchronous connection; meant for benchmarks.
        """
        tables = [*OUR_TABLES, *CHECKPOINT_TABLES]
        try:
            with psycopg.connect(self.url, autocommit=True, connect_timeout=5) as conn:
                row = conn.execute(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
                    " AND c.relname = ANY(%s)",
                    (tables,),
                ).fetchone()
        except UNAVAILABLE as exc:
            raise self._unavailable("stored_bytes", exc) from exc
        return int(row[0]) if row else 0


__all__ = ["CHECKPOINT_TABLES", "UNAVAILABLE", "PostgresStore", "make_pool", "normalize_url"]

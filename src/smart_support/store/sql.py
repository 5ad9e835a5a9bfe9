"""Every method of the Store port, written once for both adapters.

`SqlStore` holds each statement and each method's control flow once, in `:name` placeholder style;
the adapters (sqlite.py, postgres.py) supply only what truly differs: how a statement reaches the
database (`_fetch`), how several run in one transaction (`_transaction`), locks, migrations and
size, and their `rows.Dialect` (placeholder style, how JSON and instants are bound and read, and
the one statement, `append_event`, whose SQL differs).

A statement here uses only SQL both dialects read alike: `CAST(x AS TEXT)` rather than `::`, TRUE
rather than 1, no `%`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from smart_support.errors import ConversationNotFound
from smart_support.store import retention, rollups, rows
from smart_support.store.listing import ListingQueries
from smart_support.store.outbox import OutboxQueries
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
    OutboxMessage,
    Usage,
)
from smart_support.store.sql_base import SqlBase

# -- conversations ------------------------------------------------------------------------------

CREATE_CONVERSATION = (
    "INSERT INTO conversations (id, token_hash, created_at) VALUES (:id, :token_hash, :now)"
    " ON CONFLICT (id) DO NOTHING"
)
GET_CONVERSATION = "SELECT * FROM conversations WHERE id = :id"
LIST_CONVERSATIONS = (
    "SELECT * FROM conversations ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
)
SET_ACTIVE_AGENT = (
    "UPDATE conversations SET active_agent = CAST(:agent AS TEXT) WHERE id = :id RETURNING id"
)
MARK_ESCALATED = "UPDATE conversations SET escalated = TRUE WHERE id = :id RETURNING id"
SET_IDENTITY = "UPDATE conversations SET identity = :identity WHERE id = :id RETURNING id"
COUNT_FAILED_VERIFICATION = (
    "UPDATE conversations SET verify_failures = verify_failures + 1 WHERE id = :id"
    " RETURNING verify_failures"
)

#: Compare-and-set: only a conversation nobody holds is taken over.
HOLD_CONVERSATION = (
    "UPDATE conversations SET held_by = :person, held_since = :now"
    " WHERE id = :id AND held_by IS NULL RETURNING id"
)
RELEASE_CONVERSATION = (
    "UPDATE conversations SET held_by = NULL, held_since = NULL"
    " WHERE id = :id AND held_by IS NOT NULL RETURNING id"
)

# -- events -------------------------------------------------------------------------------------

EVENTS = (
    "SELECT * FROM events WHERE conversation_id = :cid AND seq > :after ORDER BY seq"
    " LIMIT CAST(:limit AS BIGINT)"
)

# -- approvals ----------------------------------------------------------------------------------

CREATE_APPROVAL = (
    "INSERT INTO approvals (id, conversation_id, agent, tool, tool_call_id, args, args_hash,"
    " summary, status, created_at, expires_at, decided_at, decided_by) VALUES (:id, :cid, :agent,"
    " :tool, :tool_call_id, :args, :args_hash, :summary, :status, :created_at, :expires_at,"
    " :decided_at, :decided_by) ON CONFLICT (id) DO NOTHING"
)
GET_APPROVAL = "SELECT * FROM approvals WHERE id = :id"
LIST_APPROVALS = (
    "SELECT * FROM approvals WHERE (CAST(:cid AS TEXT) IS NULL OR conversation_id = :cid)"
    " AND (CAST(:status AS TEXT) IS NULL OR status = :status) ORDER BY created_at, id"
)
#: Decided approvals whose paused step may not have been resumed: approved ones whose call did
#: not run to an end (never started, or started and not finished: the process died in it), and
#: rejected or expired ones created since :since (nothing records their resume but the
#: checkpoint, so the age bounds how many are looked at).
UNFINISHED_APPROVALS = (
    "SELECT a.* FROM approvals a LEFT JOIN actions x ON x.approval_id = a.id"
    " WHERE (a.status = 'approved' AND (x.idempotency_key IS NULL OR x.status = 'started'))"
    " OR (a.status IN ('rejected', 'expired') AND a.created_at >= :since)"
    " ORDER BY a.created_at, a.id"
)
#: Compare-and-set from pending; approved/rejected at or after expires_at become expired.
#: `{elapsed}`: the dialect's seconds from created_at to :now (`Dialect.elapsed`).
DECIDE_APPROVAL = (
    "UPDATE approvals SET status = CASE WHEN CAST(:status AS TEXT) IN ('approved', 'rejected')"
    " AND expires_at <= :now THEN 'expired' ELSE CAST(:status AS TEXT) END,"
    " decided_at = :now, decided_by = :by, decision_seconds = {elapsed}"
    " WHERE id = :id AND status = 'pending' RETURNING *"
)
DUE_APPROVALS = (
    "SELECT * FROM approvals WHERE status = 'pending' AND expires_at <= :now"
    " ORDER BY expires_at, id"
)

# -- action ledger ------------------------------------------------------------------------------

BEGIN_ACTION = (
    "INSERT INTO actions (idempotency_key, approval_id, conversation_id, tool, args, status,"
    " started_at) VALUES (:key, :approval_id, :cid, :tool, :args, 'started', :now)"
    " ON CONFLICT (idempotency_key) DO NOTHING RETURNING *"
)
FINISH_ACTION = (
    "UPDATE actions SET status = :status, result = :result, finished_at = :now"
    " WHERE idempotency_key = :key RETURNING *"
)
LIST_ACTIONS = (
    "SELECT * FROM actions WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)"
    " ORDER BY started_at DESC LIMIT :limit"
)
GET_ACTION = "SELECT * FROM actions WHERE idempotency_key = :key"

# -- usage --------------------------------------------------------------------------------------

RECORD_USAGE = (
    "INSERT INTO usage (conversation_id, agent, model, input_tokens, output_tokens, cost_usd,"
    " created_at, extra) VALUES (:cid, :agent, :model, :input_tokens, :output_tokens, :cost_usd,"
    " :created_at, :extra)"
)
USAGE = (
    "SELECT * FROM usage WHERE (CAST(:cid AS TEXT) IS NULL OR conversation_id = :cid) ORDER BY id"
)


class SqlStore(ListingQueries, OutboxQueries, SqlBase):
    """The Store port's methods over an adapter's `_fetch` and `_transaction` (`SqlBase`); a
    concept with many statements has its own query class (the webhook outbox: outbox.py)."""

    # -- conversations ------------------------------------------------------------------------

    @asynccontextmanager
    async def singleton(self, name: str) -> AsyncIterator[bool]:
        """One process per database file (SQLite): it always holds it. PostgreSQL overrides."""
        yield True

    async def create_conversation(self, conversation_id: str, token_hash: str) -> Conversation:
        """Insert; an existing id is returned unchanged (the caller compares token_hash)."""
        await self._run(
            "create_conversation",
            CREATE_CONVERSATION,
            id=conversation_id,
            token_hash=token_hash,
            now=self._now(),
        )
        found = await self.get_conversation(conversation_id)
        assert found is not None  # only retention deletes conversations, and only closed ones
        return found

    async def get_conversation(self, conversation_id: str) -> Conversation | None:
        found = await self._run("get_conversation", GET_CONVERSATION, id=conversation_id)
        return rows.conversation(found[0]) if found else None

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        """Newest first."""
        found = await self._run(
            "list_conversations", LIST_CONVERSATIONS, limit=limit, offset=offset
        )
        return [rows.conversation(r) for r in found]

    async def _update_conversation(self, what: str, statement: str, **params: Any) -> list[Any]:
        found = await self._run(what, statement, **params)
        if not found:
            raise ConversationNotFound(f"conversation {params['id']} not found")
        return found

    async def set_active_agent(self, conversation_id: str, agent: str | None) -> None:
        await self._update_conversation(
            "set_active_agent", SET_ACTIVE_AGENT, id=conversation_id, agent=agent
        )

    async def mark_escalated(self, conversation_id: str) -> None:
        await self._update_conversation("mark_escalated", MARK_ESCALATED, id=conversation_id)

    async def set_identity(self, conversation_id: str, identity: dict[str, Any]) -> None:
        await self._update_conversation(
            "set_identity", SET_IDENTITY, id=conversation_id, identity=self._sql.json(identity)
        )

    async def hold_conversation(self, conversation_id: str, person: str, now: datetime) -> bool:
        """A person takes the conversation over (compare-and-set: of two operators, one gets
        it); False when someone holds it already. Raises ConversationNotFound."""
        found = await self._run(
            "hold_conversation",
            HOLD_CONVERSATION,
            id=conversation_id,
            person=person,
            now=self._sql.moment(now),
        )
        if not found:
            if await self.get_conversation(conversation_id) is None:
                raise ConversationNotFound(f"conversation {conversation_id} not found")
            return False
        return True

    async def release_conversation(self, conversation_id: str) -> bool:
        """The person hands the conversation back to the agents; False when nobody held it."""
        return bool(
            await self._run("release_conversation", RELEASE_CONVERSATION, id=conversation_id)
        )

    async def count_failed_verification(self, conversation_id: str) -> int:
        found = await self._update_conversation(
            "count_failed_verification", COUNT_FAILED_VERIFICATION, id=conversation_id
        )
        return int(found[0]["verify_failures"])

    async def close_conversation(
        self,
        conversation_id: str,
        outcome: str,
        version: int,
        now: datetime,
        outbox: Sequence[OutboxMessage] = (),
    ) -> bool:
        """Close with its outcome and roll its analytics facts up, in one transaction (with the
        `outbox` webhooks, written only when this call closed it)."""
        async with self._transaction("close_conversation") as fetch:
            closed = await fetch(
                self._sql.sql(rows.CLOSE_CONVERSATION),
                {
                    "id": conversation_id,
                    "outcome": outcome,
                    "version": version,
                    "now": self._sql.moment(now),
                },
            )
            if closed:
                await rollups.roll_up(fetch, self._sql, conversation_id, now)
                await self._insert_outbox(fetch, outbox)
        return bool(closed)

    async def reopen_conversation(self, conversation_id: str) -> bool:
        """Reopen and take its facts back out of the rollup, in one transaction."""
        async with self._transaction("reopen_conversation") as fetch:
            reopened = await fetch(self._sql.sql(rows.REOPEN_CONVERSATION), {"id": conversation_id})
            if reopened:
                await rollups.take_back(fetch, self._sql, conversation_id)
        return bool(reopened)

    async def refresh_facts(self, conversation_id: str) -> bool:
        """Roll a closed conversation up again after something was added to it that does not
        reopen it (a customer's rating); False when it is open (nothing is rolled up)."""
        async with self._transaction("refresh_facts") as fetch:
            unrolled = await fetch(self._sql.sql(rollups.UNMARK_ROLLED_UP), {"id": conversation_id})
            if unrolled:
                await rollups.take_back(fetch, self._sql, conversation_id)
                await rollups.roll_up(fetch, self._sql, conversation_id, rows.now())
        return bool(unrolled)

    async def roll_up_closed(self, limit: int = 500) -> int:
        """Roll up conversations closed without their facts (before migration 6); returns how
        many. Run at setup until it answers 0."""
        found = await self._run("roll_up_closed", rollups.NOT_ROLLED_UP, limit=limit)
        for row in found:
            async with self._transaction("roll_up_closed") as fetch:
                await rollups.roll_up(fetch, self._sql, str(row["id"]), rows.now())
        return len(found)

    async def idle_conversations(self, before: datetime, limit: int = 100) -> list[str]:
        return await rows.idle_conversations(
            self._fetcher("idle_conversations"), self._sql, before, limit
        )

    async def delete_closed_before(self, before: datetime, batch: int) -> retention.RetentionBatch:
        return await retention.delete_closed_before(self._transaction, self._sql, before, batch)

    async def count_closed_before(self, before: datetime) -> dict[str, int]:
        return await retention.count_closed_before(
            self._fetcher("count_closed_before"), self._sql, before
        )

    # -- events -------------------------------------------------------------------------------

    async def append_event(
        self, conversation_id: str, kind: str, agent: str | None, data: dict[str, Any]
    ) -> EventRecord:
        """Append with the next seq, in one statement (see `Dialect.append_event`)."""
        found = await self._run(
            "append_event",
            self._sql.append_event,
            cid=conversation_id,
            kind=kind,
            agent=agent,
            data=self._sql.json(data),
            now=self._now(),
        )
        if not found:
            raise ConversationNotFound(f"conversation {conversation_id} not found")
        return rows.event(found[0], json_text=self._sql.json_text)

    async def events(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRecord]:
        found = await self._run(
            "events",
            EVENTS,
            cid=conversation_id,
            after=after_seq,
            limit=self._sql.no_limit if limit is None else limit,
        )
        return [rows.event(r, json_text=self._sql.json_text) for r in found]

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
            self._sql.sql(rows.events_page_sql(len(wanted))),
            rows.events_page_params(conversation_id, after_seq, limit, wanted),
        )
        return [rows.event(r, json_text=self._sql.json_text) for r in found]

    async def analytics_rows(
        self, since: datetime, until: datetime, vocabulary: rollups.EventVocabulary
    ) -> rollups.AnalyticsRows:
        return await rollups.analytics_rows(
            self._fetcher("analytics"), self._sql, since, until, vocabulary
        )

    # -- approvals ----------------------------------------------------------------------------

    async def create_approval(
        self, approval: Approval, outbox: Sequence[OutboxMessage] = ()
    ) -> Approval:
        a = approval
        async with self._transaction("create_approval") as fetch:
            await fetch(self._sql.sql(CREATE_APPROVAL), self._approval_row(a))
            await self._insert_outbox(fetch, outbox)
        stored = await self.get_approval(a.id)
        assert stored is not None  # only retention deletes approvals, with their conversation
        return stored

    def _approval_row(self, a: Approval) -> dict[str, Any]:
        return dict(
            id=a.id,
            cid=a.conversation_id,
            agent=a.agent,
            tool=a.tool,
            tool_call_id=a.tool_call_id,
            args=self._sql.json(a.args),
            args_hash=a.args_hash,
            summary=a.summary,
            status=a.status,
            created_at=self._sql.moment(a.created_at),
            expires_at=self._sql.moment(a.expires_at),
            decided_at=self._maybe_moment(a.decided_at),
            decided_by=a.decided_by,
        )

    async def get_approval(self, approval_id: str) -> Approval | None:
        found = await self._run("get_approval", GET_APPROVAL, id=approval_id)
        return rows.approval(found[0], json_text=self._sql.json_text) if found else None

    async def list_approvals(
        self, conversation_id: str | None = None, status: ApprovalStatus | None = "pending"
    ) -> list[Approval]:
        """Oldest first, filtered by conversation and status when given."""
        found = await self._run(
            "list_approvals", LIST_APPROVALS, cid=conversation_id, status=status
        )
        return [rows.approval(r, json_text=self._sql.json_text) for r in found]

    async def unfinished_approvals(self, since: datetime) -> list[Approval]:
        found = await self._run(
            "unfinished_approvals", UNFINISHED_APPROVALS, since=self._sql.moment(since)
        )
        return [rows.approval(r, json_text=self._sql.json_text) for r in found]

    async def decide_approval(
        self,
        approval_id: str,
        status: ApprovalStatus,
        decided_by: str,
        now: datetime,
        outbox: Callable[[Approval], Sequence[OutboxMessage]] | None = None,
        logged: Callable[[Approval], tuple[str, dict[str, Any]]] | None = None,
    ) -> Approval:
        """Compare-and-set from pending; approved/rejected at or after expires_at become expired.
        `outbox` makes the webhooks of the decision and `logged` its event-log row (kind,
        data), both written in its transaction."""
        rows.check_decision(status)
        params = {
            "status": status,
            "now": self._sql.moment(now),
            "by": decided_by,
            "id": approval_id,
        }
        async with self._transaction("decide_approval") as fetch:
            statement = DECIDE_APPROVAL.format(elapsed=self._sql.elapsed)
            found = await fetch(self._sql.sql(statement), params)
            updated = rows.approval(found[0], json_text=self._sql.json_text) if found else None
            if updated is not None and outbox is not None:
                await self._insert_outbox(fetch, outbox(updated))
            if updated is not None and logged is not None:
                kind, data = logged(updated)
                event = {"cid": updated.conversation_id, "kind": kind, "agent": None}
                event |= {"data": self._sql.json(data), "now": params["now"]}
                await fetch(self._sql.sql(self._sql.append_event), event)
        current = None if updated else await self.get_approval(approval_id)
        return rows.decision_result(approval_id, status, updated, current)

    async def due_approvals(self, now: datetime) -> list[Approval]:
        """Pending approvals whose expires_at is at or before `now`, soonest expiry first."""
        found = await self._run("due_approvals", DUE_APPROVALS, now=self._sql.moment(now))
        return [rows.approval(r, json_text=self._sql.json_text) for r in found]

    # -- action ledger ------------------------------------------------------------------------

    async def begin_action(
        self,
        idempotency_key: str,
        approval_id: str,
        conversation_id: str,
        tool: str,
        args: dict[str, Any],
        now: datetime,
    ) -> tuple[Action, bool]:
        inserted = await self._run(
            "begin_action",
            BEGIN_ACTION,
            key=idempotency_key,
            approval_id=approval_id,
            cid=conversation_id,
            tool=tool,
            args=self._sql.json(args),
            now=self._sql.moment(now),
        )
        if inserted:
            return rows.action(inserted[0], json_text=self._sql.json_text), True
        stored = await self.get_action(idempotency_key)
        assert stored is not None  # the conflict says it is there
        return stored, False

    async def finish_action(
        self, idempotency_key: str, status: ActionStatus, result: Any, now: datetime
    ) -> Action:
        """Record the outcome. Raises LookupError for a key begin_action never recorded."""
        found = await self._run(
            "finish_action",
            FINISH_ACTION,
            status=status,
            result=self._sql.json(result),
            now=self._sql.moment(now),
            key=idempotency_key,
        )
        if not found:
            raise LookupError(f"no action with idempotency key {idempotency_key}")
        return rows.action(found[0], json_text=self._sql.json_text)

    async def list_actions(
        self, status: ActionStatus | None = None, limit: int = 100
    ) -> list[Action]:
        """Newest first; `status="unknown"` lists what a person must check."""
        found = await self._run("list_actions", LIST_ACTIONS, status=status, limit=limit)
        return [rows.action(r, json_text=self._sql.json_text) for r in found]

    async def get_action(self, idempotency_key: str) -> Action | None:
        found = await self._run("get_action", GET_ACTION, key=idempotency_key)
        return rows.action(found[0], json_text=self._sql.json_text) if found else None

    # -- usage --------------------------------------------------------------------------------

    async def record_usage(self, usage: Usage) -> None:
        u = usage
        await self._run(
            "record_usage",
            RECORD_USAGE,
            cid=u.conversation_id,
            agent=u.agent,
            model=u.model,
            input_tokens=u.input_tokens,
            output_tokens=u.output_tokens,
            cost_usd=u.cost_usd,
            created_at=self._sql.moment(u.created_at or rows.now()),
            extra=self._sql.json(u.extra),
        )

    async def usage(self, conversation_id: str | None = None) -> list[Usage]:
        """In recording order."""
        found = await self._run("usage", USAGE, cid=conversation_id)
        return [rows.usage(r, json_text=self._sql.json_text) for r in found]

    # -- import drafts ------------------------------------------------------------------------

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
        json = self._sql.json
        await self._run(
            "create_import",
            rows.INSERT_IMPORT,
            id=import_id,
            name=name,
            source=source,
            counts=json(counts),
            report=json(report),
            proposal=None if proposal is None else json(proposal),
            options=json(options or {}),
            created_by=created_by,
            now=self._now(),
        )
        stored = await self.get_import(import_id)
        assert stored is not None  # drafts are never deleted
        return stored

    async def get_import(self, import_id: str) -> ImportDraft | None:
        found = await self._run("get_import", rows.GET_IMPORT, id=import_id)
        return rows.import_draft(found[0], json_text=self._sql.json_text) if found else None

    async def list_imports(
        self, status: ImportStatus | None = None, limit: int = 50
    ) -> list[ImportDraft]:
        found = await self._run("list_imports", rows.LIST_IMPORTS, status=status, limit=limit)
        return [rows.import_draft(r, json_text=self._sql.json_text, full=False) for r in found]

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
        found = await self._run(
            "record_import_change",
            rows.INSERT_IMPORT_CHANGE,
            import_id=import_id,
            operation=operation,
            field=field,
            value=self._sql.json(value),
            previous=self._sql.json(previous),
            by=changed_by,
            now=self._now(),
            confirmed=confirmed,
        )
        if not found:
            raise rows.change_refused(import_id, await self.get_import(import_id))
        return rows.import_change(found[0], json_text=self._sql.json_text)

    async def import_changes(self, import_id: str) -> list[ImportChange]:
        found = await self._run("import_changes", rows.LIST_IMPORT_CHANGES, import_id=import_id)
        return [rows.import_change(r, json_text=self._sql.json_text) for r in found]

    async def set_import_status(self, import_id: str, status: ImportStatus, by: str) -> ImportDraft:
        rows.check_import_status(status)
        await self._run(
            "set_import_status",
            rows.SET_IMPORT_STATUS,
            status=status,
            by=by,
            now=self._now(),
            id=import_id,
        )
        current = await self.get_import(import_id)
        return rows.status_result(import_id, status, current)

    # -- import jobs --------------------------------------------------------------------------

    async def create_import_job(
        self, job_id: str, *, request: dict[str, Any], created_by: str
    ) -> ImportJob:
        found = await self._run(
            "create_import_job",
            rows.INSERT_IMPORT_JOB,
            id=job_id,
            request=rows.request_text(request),
            created_by=created_by,
            now=self._now(),
        )
        return rows.import_job(found[0], json_text=self._sql.json_text)

    async def get_import_job(self, job_id: str) -> ImportJob | None:
        found = await self._run("get_import_job", rows.GET_IMPORT_JOB, id=job_id)
        return rows.import_job(found[0], json_text=self._sql.json_text) if found else None

    async def list_import_jobs(self, limit: int = 50) -> list[ImportJob]:
        found = await self._run("list_import_jobs", rows.LIST_IMPORT_JOBS, limit=limit)
        return [rows.import_job(r, json_text=self._sql.json_text) for r in found]

    async def claim_import_job(self) -> ImportJob | None:
        found = await self._run("claim_import_job", rows.CLAIM_IMPORT_JOB, now=self._now())
        if not found:
            return None
        return rows.import_job(found[0], json_text=self._sql.json_text, with_request=True)

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
        found = await self._run(
            "update_import_job",
            rows.UPDATE_IMPORT_JOB,
            id=job_id,
            status=status,
            stage=stage,
            done=done,
            total=total,
            draft_id=draft_id,
            error=error,
            error_code=error_code,
            now=self._now(),
        )
        return rows.import_job(found[0], json_text=self._sql.json_text) if found else None

    async def recover_import_jobs(
        self, *, max_attempts: int, error: str, stale_before: datetime | None = None
    ) -> list[ImportJob]:
        moment = self._now()
        stale = moment if stale_before is None else self._sql.moment(stale_before)
        failed = await self._run(
            "recover_import_jobs",
            rows.FAIL_INTERRUPTED_JOBS,
            error=error,
            now=moment,
            max_attempts=max_attempts,
            stale_before=stale,
        )
        requeued = await self._run(
            "recover_import_jobs",
            rows.REQUEUE_INTERRUPTED_JOBS,
            stage="resumed after a restart",
            now=moment,
            stale_before=stale,
        )
        return [rows.import_job(r, json_text=self._sql.json_text) for r in [*failed, *requeued]]

    async def touch_import_job(self, job_id: str) -> None:
        await self._run("touch_import_job", rows.TOUCH_IMPORT_JOB, id=job_id, now=self._now())


__all__ = ["SqlStore"]

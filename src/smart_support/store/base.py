"""The storage port. SQLite and PostgreSQL adapters implement it and pass one shared test module."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Protocol

from smart_support.store.listing import ConversationFilter
from smart_support.store.records import (
    Action,
    ActionStatus,
    Approval,
    ApprovalStatus,
    Conversation,
    DeliveryStatus,
    DisabledEndpoint,
    EventRecord,
    ImportChange,
    ImportDraft,
    ImportJob,
    ImportJobStatus,
    ImportStatus,
    OutboxMessage,
    Usage,
    WebhookDelivery,
)
from smart_support.store.retention import RetentionBatch
from smart_support.store.rollups import AnalyticsRows, EventVocabulary


class Store(Protocol):
    """What the runtime needs from storage. Every method raises StoreUnavailable when the
    database cannot be reached (never a driver exception), and recovers by itself once it is back.
    """

    async def setup(self) -> None:
        """Apply pending migrations (idempotent, safe to run from several processes)."""

    async def close(self) -> None: ...

    # conversations and their event log
    async def create_conversation(self, conversation_id: str, token_hash: str) -> Conversation: ...
    async def get_conversation(self, conversation_id: str) -> Conversation | None: ...
    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]: ...
    async def waiting_for_people(self, limit: int = 100) -> list[Conversation]:
        """Conversations held by a person, or escalated and still open, newest first (from
        an index of their own: the console's escalations list)."""

    async def list_conversations_page(
        self,
        filters: ConversationFilter,
        limit: int = 50,
        before: tuple[datetime, str] | None = None,
    ) -> list[Conversation]:
        """Filtered, newest first, keyset-paged after `before` (`(created_at, id)` of the
        previous page's last row)."""

    async def set_active_agent(self, conversation_id: str, agent: str | None) -> None: ...
    async def mark_escalated(self, conversation_id: str) -> None: ...
    async def set_identity(self, conversation_id: str, identity: dict[str, Any]) -> None:
        """Store the verified customer of a conversation (replaces an earlier one)."""

    async def hold_conversation(self, conversation_id: str, person: str, now: datetime) -> bool:
        """A person takes the conversation over; False when someone holds it already."""

    async def release_conversation(self, conversation_id: str) -> bool:
        """Hand a held conversation back to the agents; False when nobody held it."""

    async def count_failed_verification(self, conversation_id: str) -> int:
        """Count one more failed verification attempt; returns the new count."""

    async def close_conversation(
        self,
        conversation_id: str,
        outcome: str,
        version: int,
        now: datetime,
        outbox: Sequence[OutboxMessage] = (),
    ) -> bool:
        """Close an open conversation with its outcome and the outcome definition's version,
        and write the `outbox` webhooks in the same transaction. Returns False (and changes
        nothing) when it was already closed or does not exist."""

    async def reopen_conversation(self, conversation_id: str) -> bool:
        """Clear a closed conversation's closed_at and outcome; False when it was open."""

    async def refresh_facts(self, conversation_id: str) -> bool:
        """Roll a closed conversation's analytics up again after an event that does not reopen
        it (a rating); False when it is open."""

    async def roll_up_closed(self, limit: int = 500) -> int:
        """Roll up closed conversations that have no analytics facts yet; returns how many."""

    async def idle_conversations(self, before: datetime, limit: int = 100) -> list[str]:
        """Ids of open conversations whose last event (or creation, without events) is older
        than `before`, oldest conversation first."""

    async def delete_closed_before(self, before: datetime, batch: int) -> RetentionBatch:
        """Delete up to `batch` conversations closed before `before` (the oldest close first)
        with their events, approvals, actions, usage and analytics facts, in one short
        transaction; the analytics rollup keeps their figures. Open conversations are never
        deleted, nor closed ones not yet rolled up. The checkpoints are the caller's to delete
        (a conversation's thread id is its id); see runtime/retention.py."""

    async def count_closed_before(self, before: datetime) -> dict[str, int]:
        """Rows per table (`store.retention.TABLES`) that deleting every conversation due before
        `before` would remove; nothing changes (a dry run)."""

    async def append_event(
        self, conversation_id: str, kind: str, agent: str | None, data: dict[str, Any]
    ) -> EventRecord:
        """Append with the next seq (1, 2, ...) of that conversation."""

    async def events(
        self, conversation_id: str, after_seq: int = 0, limit: int | None = None
    ) -> list[EventRecord]: ...

    async def events_page(
        self,
        conversation_id: str,
        after_seq: int = 0,
        limit: int = 100,
        kinds: Sequence[str] = (),
    ) -> list[EventRecord]:
        """Up to `limit` events with seq > `after_seq`, oldest first, only of `kinds` when given
        (at most `rows.MAX_PAGE_KINDS`). Keyset on (conversation_id, seq): any depth costs the
        same as the first page."""

    async def analytics_rows(
        self, since: datetime, until: datetime, vocabulary: EventVocabulary
    ) -> AnalyticsRows:
        """Aggregates over the conversations created in [since, until): per day, per event
        kind, agent and status (of `vocabulary.counted`), per usage day, agent and model, per
        approval status, the median time to decide, and how many escalated. Grouped in the
        database (`rows.analytics_rows`), a few rows whatever the number of events."""

    # approvals
    async def create_approval(
        self, approval: Approval, outbox: Sequence[OutboxMessage] = ()
    ) -> Approval:
        """Insert, with the `outbox` webhooks of the request in the same transaction; if an
        approval with that id exists, return the stored one unchanged (and the webhooks, whose
        ids derive from its id, are not written twice)."""

    async def get_approval(self, approval_id: str) -> Approval | None: ...
    async def list_approvals(
        self, conversation_id: str | None = None, status: ApprovalStatus | None = "pending"
    ) -> list[Approval]: ...
    async def unfinished_approvals(self, since: datetime) -> list[Approval]:
        """Decided approvals whose paused step a restart may have to resume (`Engine.recover`),
        oldest first: approved ones whose call never ran to an end (not started, or started and
        not finished), and rejected or expired ones created since `since`."""

    async def decide_approval(
        self,
        approval_id: str,
        status: ApprovalStatus,
        decided_by: str,
        now: datetime,
        outbox: Callable[[Approval], Sequence[OutboxMessage]] | None = None,
        logged: Callable[[Approval], tuple[str, dict[str, Any]]] | None = None,
    ) -> Approval:
        """Move a pending approval to approved/rejected/expired/cancelled atomically (with the
        webhooks `outbox` makes of the decided approval and the event-log row `logged` makes
        of it, kind and data, in the same transaction).

        Raises ApprovalError if it is unknown or no longer pending. Deciding approved or
        rejected after expires_at stores `expired` instead and raises ApprovalError.
        """

    async def due_approvals(self, now: datetime) -> list[Approval]:
        """Pending approvals whose expires_at has passed."""

    # action ledger (at-most-once execution)
    async def begin_action(
        self,
        idempotency_key: str,
        approval_id: str,
        conversation_id: str,
        tool: str,
        args: dict[str, Any],
        now: datetime,
    ) -> tuple[Action, bool]:
        """Record the intent before calling. Returns (action, created); created is False when
        the key was already there (a resume after a crash or a repeat), with the stored action."""

    async def finish_action(
        self, idempotency_key: str, status: ActionStatus, result: Any, now: datetime
    ) -> Action: ...

    async def get_action(self, idempotency_key: str) -> Action | None: ...
    async def list_actions(
        self, status: ActionStatus | None = None, limit: int = 100
    ) -> list[Action]:
        """Ledger entries, newest first; `unknown` ones are what an operator must check."""

    # usage
    async def record_usage(self, usage: Usage) -> None: ...
    async def usage(self, conversation_id: str | None = None) -> list[Usage]: ...

    # import drafts (their report and proposal are JSON documents the store does not read)
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
        """Store a new draft (`options`: see ImportDraft.options, {} when None). Raises
        StoreUnavailable; an id already used is an error."""

    async def get_import(self, import_id: str) -> ImportDraft | None:
        """The whole draft (report and proposal included), None when unknown."""

    async def list_imports(
        self, status: ImportStatus | None = None, limit: int = 50
    ) -> list[ImportDraft]:
        """Newest first, without report nor proposal (None in the records)."""

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
        """Append one change to a draft's log, atomically with checking it is still a draft.

        The proposal is never rewritten: the current decisions are the proposal with the
        changes applied in order. Raises ImportNotFound, or ImportClosed for an accepted or
        discarded draft.
        """

    async def import_changes(self, import_id: str) -> list[ImportChange]:
        """A draft's changes in the order they were made."""

    async def set_import_status(self, import_id: str, status: ImportStatus, by: str) -> ImportDraft:
        """Accept or discard a draft atomically, recording who and when.

        Asking again for the status it has returns it unchanged; accepting a discarded draft or
        discarding an accepted one raises ImportClosed; an unknown id raises ImportNotFound.
        """

    # import jobs (imports running in the background; `request` is the POST body)
    async def create_import_job(
        self, job_id: str, *, request: dict[str, Any], created_by: str
    ) -> ImportJob:
        """Store a new job, `queued`."""

    async def get_import_job(self, job_id: str) -> ImportJob | None:
        """The job without its request, None when unknown."""

    async def list_import_jobs(self, limit: int = 50) -> list[ImportJob]:
        """Newest first, without their requests."""

    async def claim_import_job(self) -> ImportJob | None:
        """Move the oldest queued job to `fetching` (one more attempt) and return it with its
        request; None when nothing is queued or another worker took it first."""

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
        """Record a job's progress or end; None (nothing changed) when it had already ended."""

    async def recover_import_jobs(
        self, *, max_attempts: int, error: str, stale_before: datetime | None = None
    ) -> list[ImportJob]:
        """Jobs left running by a server that stopped run again from the start (`queued`),
        unless they already had `max_attempts`: those fail with `error`. Returns the jobs
        changed. Without `stale_before`, every running job is taken as left behind (one server
        on the store: at its start); with it, only those whose worker last touched them
        (`touch_import_job`) before then (several servers: a live one keeps its jobs fresh)."""

    async def touch_import_job(self, job_id: str) -> None:
        """The worker running the job is alive (a heartbeat; see `recover_import_jobs`)."""

    # the webhook outbox (store/outbox.py)
    async def enqueue_webhooks(self, messages: Sequence[OutboxMessage]) -> None:
        """Write outbox rows in one transaction (an id already there is left as it is); a row
        for an endpoint that answered 410 is written `disabled`."""

    async def escalate(
        self,
        conversation_id: str,
        messages: Sequence[OutboxMessage],
        *,
        agent: str | None = None,
        handoff: dict[str, Any] | None = None,
    ) -> bool:
        """The hand-off, in one transaction: mark escalated, append the `handoff` event (when
        `handoff` is given) and write the webhooks. Without `handoff` (the router), they are
        written only by the call that escalates first; with it, they complete a not yet
        attempted escalation webhook of the conversation, or are written anew. Returns whether
        this call escalated first. Raises ConversationNotFound (nothing written)."""

    async def claim_webhooks(
        self, worker: str, lease_until: datetime, now: datetime, limit: int = 10
    ) -> list[WebhookDelivery]:
        """Take due pending deliveries nobody holds (compare-and-set, with a lease until
        `lease_until`), at most the oldest pending one per conversation and endpoint."""

    async def webhook_delivered(self, delivery_id: str, status_code: int, now: datetime) -> bool:
        """Record a 2xx; False when it was no longer pending."""

    async def webhook_failed(
        self,
        delivery_id: str,
        worker: str,
        *,
        status_code: int | None,
        error: str,
        retry_at: datetime | None,
        now: datetime,
    ) -> bool:
        """Record a failed attempt (due again at `retry_at`; `dead` when None); False when
        `worker` no longer holds the row."""

    async def disable_webhook_endpoint(
        self,
        endpoint: str,
        reason: str,
        now: datetime,
        *,
        delivery_id: str | None = None,
        worker: str | None = None,
    ) -> int:
        """Disable an endpoint (410) and its pending deliveries; returns how many."""

    async def enable_webhook_endpoint(self, endpoint: str, now: datetime) -> int:
        """Enable it again; its disabled deliveries are pending again. Returns how many."""

    async def disabled_webhook_endpoints(self) -> list[DisabledEndpoint]: ...
    async def get_webhook_delivery(self, delivery_id: str) -> WebhookDelivery | None: ...
    async def list_webhook_deliveries(
        self,
        status: DeliveryStatus | None = None,
        *,
        conversation_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WebhookDelivery]:
        """Newest first."""

    async def replay_webhook_delivery(
        self, delivery_id: str, now: datetime
    ) -> WebhookDelivery | None:
        """A dead or disabled delivery back to pending with its attempts reset; None when it
        is unknown or neither dead nor disabled."""

    # concurrency
    def conversation_lock(self, conversation_id: str) -> AbstractAsyncContextManager[None]:
        """Held for a whole turn: one turn at a time per conversation. On PostgreSQL it also
        excludes other processes (advisory lock); on SQLite it is per process."""

    def singleton(self, name: str) -> AbstractAsyncContextManager[bool]:
        """For work that must run in one process at a time (the sweeper): yields True when
        this process got `name` (held until the block ends), False at once when another
        process holds it (the caller skips its turn). SQLite has one process: always True."""

    def stored_bytes(self) -> int | None:
        """Bytes on disk for benchmarks (our tables plus checkpoints), None if unknown."""


def hash_args(args: dict[str, Any]) -> str:
    """A stable digest of tool arguments: what an approval is bound to."""
    import hashlib
    import json

    canonical = json.dumps(args, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


__all__: Sequence[str] = ["Store", "hash_args"]

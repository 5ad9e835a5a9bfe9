"""The webhook outbox's statements and methods (migration 7's `webhook_deliveries` and
`webhook_endpoints`), part of `SqlStore`.

A delivery row is written in the transaction of what it reports; a worker claims due rows by
compare-and-set with a lease, so each delivery is attempted by one process at a time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from smart_support.errors import ConversationNotFound
from smart_support.store import rows
from smart_support.store.records import (
    DeliveryStatus,
    DisabledEndpoint,
    OutboxMessage,
    WebhookDelivery,
)
from smart_support.store.sql_base import SqlBase

#: A new row is `disabled` at once when its endpoint answered 410 before.
INSERT_DELIVERY = (
    "INSERT INTO webhook_deliveries (id, endpoint, event_type, conversation_id, payload, status,"
    " attempts, next_attempt_at, created_at, updated_at)"
    " SELECT CAST(:id AS TEXT), CAST(:endpoint AS TEXT), CAST(:event_type AS TEXT),"
    " CAST(:cid AS TEXT), :payload, CASE WHEN EXISTS (SELECT 1 FROM webhook_endpoints"
    " WHERE endpoint = :endpoint AND disabled_at IS NOT NULL) THEN 'disabled' ELSE 'pending' END,"
    " 0, :not_before, :now, :now WHERE TRUE ON CONFLICT (id) DO NOTHING"
)
#: Compare-and-set with a lease: a due pending row nobody holds (or whose holder's lease ran
#: out), and only the oldest pending row of its conversation and endpoint, so that order holds
#: across retries. Of two workers, one gets each row (PostgreSQL re-checks the conditions on
#: the row the other updated first).
CLAIM_DUE = (
    "UPDATE webhook_deliveries SET claimed_by = :worker, claimed_until = :until,"
    " updated_at = :now WHERE id IN (SELECT d.id FROM webhook_deliveries d"
    " WHERE d.status = 'pending' AND d.next_attempt_at <= :now"
    " AND (d.claimed_until IS NULL OR d.claimed_until < :now)"
    " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries o WHERE o.status = 'pending'"
    " AND o.endpoint = d.endpoint AND o.conversation_id = d.conversation_id"
    " AND (o.created_at < d.created_at OR (o.created_at = d.created_at AND o.id < d.id)))"
    " ORDER BY d.next_attempt_at, d.created_at, d.id LIMIT :limit)"
    " AND status = 'pending' AND (claimed_until IS NULL OR claimed_until < :now) RETURNING *"
)
DELIVERED = (
    "UPDATE webhook_deliveries SET status = 'delivered', attempts = attempts + 1,"
    " last_status = :code, last_error = NULL, delivered_at = :now, updated_at = :now,"
    " claimed_by = NULL, claimed_until = NULL WHERE id = :id AND status = 'pending' RETURNING id"
)
#: Only the worker that holds the row records a failed attempt (`pending` again, or `dead`).
FAILED = (
    "UPDATE webhook_deliveries SET status = :status, attempts = attempts + 1,"
    " next_attempt_at = :next, last_status = :code, last_error = :error, updated_at = :now,"
    " claimed_by = NULL, claimed_until = NULL"
    " WHERE id = :id AND status = 'pending' AND claimed_by = :worker RETURNING id"
)
DISABLE_ENDPOINT = (
    "INSERT INTO webhook_endpoints (endpoint, disabled_at, disabled_reason)"
    " VALUES (:endpoint, :now, :reason) ON CONFLICT (endpoint) DO UPDATE"
    " SET disabled_at = excluded.disabled_at, disabled_reason = excluded.disabled_reason"
)
DISABLE_PENDING = (
    "UPDATE webhook_deliveries SET status = 'disabled', updated_at = :now, claimed_by = NULL,"
    " claimed_until = NULL WHERE endpoint = :endpoint AND status = 'pending' RETURNING id"
)
ENABLE_ENDPOINT = "DELETE FROM webhook_endpoints WHERE endpoint = :endpoint RETURNING endpoint"
#: Back to the start of the schedule: a replayed delivery gets every retry again.
REQUEUE = (
    "UPDATE webhook_deliveries SET status = 'pending', attempts = 0, next_attempt_at = :now,"
    " last_error = NULL, claimed_by = NULL, claimed_until = NULL, updated_at = :now"
)
REQUEUE_DISABLED = f"{REQUEUE} WHERE endpoint = :endpoint AND status = 'disabled' RETURNING id"
REPLAY_DELIVERY = f"{REQUEUE} WHERE id = :id AND status IN ('dead', 'disabled') RETURNING *"
DISABLED_ENDPOINTS = (
    "SELECT * FROM webhook_endpoints WHERE disabled_at IS NOT NULL ORDER BY endpoint"
)
GET_DELIVERY = "SELECT * FROM webhook_deliveries WHERE id = :id"
LIST_DELIVERIES = (
    "SELECT * FROM webhook_deliveries WHERE (CAST(:status AS TEXT) IS NULL OR status = :status)"
    " AND (CAST(:cid AS TEXT) IS NULL OR conversation_id = :cid)"
    " ORDER BY created_at DESC, id DESC LIMIT :limit OFFSET :offset"
)

#: Compare-and-set: True only for the call that escalates the conversation first.
FIRST_ESCALATION = (
    "UPDATE conversations SET escalated = TRUE WHERE id = :id AND escalated = FALSE RETURNING id"
)
CONVERSATION_EXISTS = "SELECT id FROM conversations WHERE id = :id"
#: The agent's hand-off completes an escalation webhook the router wrote in the same turn and
#: that no worker has taken yet (one webhook per hand-off, with the agent's reason).
COMPLETE_ESCALATION = (
    "UPDATE webhook_deliveries SET payload = :payload, next_attempt_at = :now, updated_at = :now"
    " WHERE conversation_id = :cid AND event_type = 'conversation.escalated'"
    " AND status = 'pending' AND attempts = 0"
    " AND (claimed_until IS NULL OR claimed_until < :now) RETURNING id"
)


def _when(value: Any) -> datetime:
    return rows.utc(value if isinstance(value, datetime) else datetime.fromisoformat(value))


def _maybe_when(value: Any) -> datetime | None:
    return None if value is None else _when(value)


def delivery(row: rows.Row, *, json_text: bool) -> WebhookDelivery:
    payload = row["payload"]
    return WebhookDelivery(
        id=row["id"],
        endpoint=row["endpoint"],
        event_type=row["event_type"],
        conversation_id=row["conversation_id"],
        payload=json.loads(payload) if json_text else payload,
        status=row["status"],
        attempts=int(row["attempts"]),
        next_attempt_at=_when(row["next_attempt_at"]),
        created_at=_when(row["created_at"]),
        updated_at=_when(row["updated_at"]),
        claimed_by=row["claimed_by"],
        claimed_until=_maybe_when(row["claimed_until"]),
        last_status=None if row["last_status"] is None else int(row["last_status"]),
        last_error=row["last_error"],
        delivered_at=_maybe_when(row["delivered_at"]),
    )


class OutboxQueries(SqlBase):
    """Outbox methods of the store (written once for both adapters)."""

    async def _insert_outbox(self, fetch: rows.Fetch, messages: Sequence[OutboxMessage]) -> None:
        """Insert outbox rows inside a caller's transaction (`_transaction`'s fetch)."""
        now = self._now()
        for m in messages:
            await fetch(
                self._sql.sql(INSERT_DELIVERY),
                {
                    "id": m.id,
                    "endpoint": m.endpoint,
                    "event_type": m.event_type,
                    "cid": m.conversation_id,
                    "payload": self._sql.json(m.payload),
                    "not_before": self._sql.moment(m.not_before),
                    "now": now,
                },
            )

    async def enqueue_webhooks(self, messages: Sequence[OutboxMessage]) -> None:
        """Write outbox rows in one transaction (an id already there is left as it is)."""
        if not messages:
            return
        async with self._transaction("enqueue_webhooks") as fetch:
            await self._insert_outbox(fetch, messages)

    async def escalate(
        self,
        conversation_id: str,
        messages: Sequence[OutboxMessage],
        *,
        agent: str | None = None,
        handoff: dict[str, Any] | None = None,
    ) -> bool:
        """Mark the conversation escalated and write its webhooks, in one transaction.

        Without `handoff` (the router chose the escalation agent), the webhooks are written
        only when this call escalates the conversation first. With `handoff` (the agent's
        `hand_off_to_human`), the `handoff` event is appended too, and the webhooks complete
        an escalation webhook still waiting for its first attempt, or are written anew.

        Returns:
            Whether this call escalated the conversation (it was not escalated before).

        Raises:
            ConversationNotFound: There is no such conversation (nothing is written).
        """
        sql = self._sql.sql
        now = self._now()
        async with self._transaction("escalate") as fetch:
            first = bool(await fetch(sql(FIRST_ESCALATION), {"id": conversation_id}))
            if not first and not await fetch(sql(CONVERSATION_EXISTS), {"id": conversation_id}):
                raise ConversationNotFound(f"conversation {conversation_id} not found")
            if handoff is None:
                if first:
                    await self._insert_outbox(fetch, messages)
                return first
            await fetch(
                sql(self._sql.append_event),
                {
                    "cid": conversation_id,
                    "kind": "handoff",
                    "agent": agent,
                    "data": self._sql.json(handoff),
                    "now": now,
                },
            )
            completed = messages and await fetch(
                sql(COMPLETE_ESCALATION),
                {
                    "cid": conversation_id,
                    "payload": self._sql.json(messages[0].payload),
                    "now": now,
                },
            )
            if not completed:
                await self._insert_outbox(fetch, messages)
        return first

    async def claim_webhooks(
        self, worker: str, lease_until: datetime, now: datetime, limit: int = 10
    ) -> list[WebhookDelivery]:
        """Take up to `limit` due deliveries for `worker` until `lease_until` (see CLAIM_DUE)."""
        found = await self._run(
            "claim_webhooks",
            CLAIM_DUE,
            worker=worker,
            until=self._sql.moment(lease_until),
            now=self._sql.moment(now),
            limit=limit,
        )
        claimed = [delivery(r, json_text=self._sql.json_text) for r in found]
        return sorted(claimed, key=lambda d: (d.next_attempt_at, d.created_at, d.id))

    async def webhook_delivered(self, delivery_id: str, status_code: int, now: datetime) -> bool:
        """Record a 2xx; False when the row was no longer pending."""
        return bool(
            await self._run(
                "webhook_delivered",
                DELIVERED,
                id=delivery_id,
                code=status_code,
                now=self._sql.moment(now),
            )
        )

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
        """Record a failed attempt: due again at `retry_at`, or `dead` when it is None. False
        when `worker` no longer holds the row (its lease ran out and another took it)."""
        status: DeliveryStatus = "pending" if retry_at is not None else "dead"
        moment = self._sql.moment(now)
        return bool(
            await self._run(
                "webhook_failed",
                FAILED,
                id=delivery_id,
                worker=worker,
                status=status,
                next=moment if retry_at is None else self._sql.moment(retry_at),
                code=status_code,
                error=error[:500],
                now=moment,
            )
        )

    async def disable_webhook_endpoint(
        self,
        endpoint: str,
        reason: str,
        now: datetime,
        *,
        delivery_id: str | None = None,
        worker: str | None = None,
    ) -> int:
        """Disable an endpoint (it answered 410 to `delivery_id`): its pending deliveries
        become `disabled`, in one transaction (`worker` holds `delivery_id`, whose 410 is
        recorded). Returns how many."""
        sql, moment = self._sql.sql, self._sql.moment(now)
        async with self._transaction("disable_webhook_endpoint") as fetch:
            if delivery_id is not None:
                await fetch(
                    sql(FAILED),
                    {
                        "id": delivery_id,
                        "worker": worker,
                        "status": "pending",
                        "next": moment,
                        "code": 410,
                        "error": reason[:500],
                        "now": moment,
                    },
                )
            await fetch(
                sql(DISABLE_ENDPOINT), {"endpoint": endpoint, "now": moment, "reason": reason}
            )
            disabled = await fetch(sql(DISABLE_PENDING), {"endpoint": endpoint, "now": moment})
        return len(disabled)

    async def enable_webhook_endpoint(self, endpoint: str, now: datetime) -> int:
        """Enable an endpoint again; its disabled deliveries go back to pending from the start
        of the schedule. Returns how many were requeued."""
        sql, moment = self._sql.sql, self._sql.moment(now)
        async with self._transaction("enable_webhook_endpoint") as fetch:
            await fetch(sql(ENABLE_ENDPOINT), {"endpoint": endpoint})
            requeued = await fetch(sql(REQUEUE_DISABLED), {"endpoint": endpoint, "now": moment})
        return len(requeued)

    async def disabled_webhook_endpoints(self) -> list[DisabledEndpoint]:
        found = await self._run("disabled_webhook_endpoints", DISABLED_ENDPOINTS)
        return [
            DisabledEndpoint(r["endpoint"], _when(r["disabled_at"]), r["disabled_reason"])
            for r in found
        ]

    async def get_webhook_delivery(self, delivery_id: str) -> WebhookDelivery | None:
        found = await self._run("get_webhook_delivery", GET_DELIVERY, id=delivery_id)
        return delivery(found[0], json_text=self._sql.json_text) if found else None

    async def list_webhook_deliveries(
        self,
        status: DeliveryStatus | None = None,
        *,
        conversation_id: str | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[WebhookDelivery]:
        """Newest first, filtered by status and conversation when given."""
        found = await self._run(
            "list_webhook_deliveries",
            LIST_DELIVERIES,
            status=status,
            cid=conversation_id,
            limit=limit,
            offset=offset,
        )
        return [delivery(r, json_text=self._sql.json_text) for r in found]

    async def replay_webhook_delivery(
        self, delivery_id: str, now: datetime
    ) -> WebhookDelivery | None:
        """A dead or disabled delivery back to pending, its attempts reset; None when it is
        unknown or not dead nor disabled."""
        found = await self._run(
            "replay_webhook_delivery", REPLAY_DELIVERY, id=delivery_id, now=self._sql.moment(now)
        )
        return delivery(found[0], json_text=self._sql.json_text) if found else None


__all__ = ["OutboxQueries", "delivery"]

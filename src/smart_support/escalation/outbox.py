"""What a webhook says: the outbox messages of a hand-off, an approval and a close.

A message is `{type, timestamp, data}` (Standard Webhooks' recommended shape), one per endpoint
in WEBHOOK_URLS, and only for the event types listed in WEBHOOK_EVENTS. The store writes them in
the transaction of what they report (`Store.escalate`, `close_conversation(outbox=...)`, ...).
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from smart_support.errors import SmartSupportError
from smart_support.redaction import Redactor
from smart_support.replay.summary import summarize
from smart_support.settings import Settings
from smart_support.store.base import Store
from smart_support.store.records import Approval, Conversation, OutboxMessage, WebhookDelivery

ESCALATED = "conversation.escalated"
APPROVAL_REQUESTED = "approval.requested"
APPROVAL_DECIDED = "approval.decided"
CLOSED = "conversation.closed"
EVENT_TYPES = (ESCALATED, APPROVAL_REQUESTED, APPROVAL_DECIDED, CLOSED)

#: How many of the customer's last messages a hand-off carries.
LAST_MESSAGES = 5
#: The router's escalation waits this long for the agent's `hand_off_to_human` of the same turn,
#: which then completes it with its reason (one webhook per hand-off, not two).
ROUTED_GRACE_SECONDS = 3.0
_REPLY_CHARS = 1000


def new_id() -> str:
    """A `webhook-id`: `msg_` + time-ordered hex + randomness."""
    return f"msg_{time.time_ns():016x}{secrets.token_hex(6)}"


def stable_id(key: str, endpoint: str) -> str:
    """A `webhook-id` for an event that happens once, per endpoint."""
    return "msg_" + hashlib.sha256(f"{key}\n{endpoint}".encode()).hexdigest()[:28]


def wanted(settings: Settings, event_type: str) -> bool:
    """Whether this event type is sent at all (an endpoint is configured and it is opted in)."""
    return bool(settings.webhook_urls) and event_type in settings.webhook_events


def operator_links(settings: Settings, conversation_id: str) -> dict[str, str]:
    """Where an operator reads the conversation (PUBLIC_URL + the operator API)."""
    base = settings.public_url.rstrip("/")
    path = f"/api/v1/operator/conversations/{conversation_id}"
    return {
        "replay_url": f"{base}{path}/events",
        "summary_url": f"{base}{path}/summary",
        "transcript_path": f"{path}/export",
    }


def messages(
    settings: Settings,
    event_type: str,
    conversation_id: str | None,
    data: dict[str, Any],
    *,
    delay_seconds: float = 0.0,
    key: str | None = None,
) -> list[OutboxMessage]:
    """The outbox rows of one event: one per configured endpoint, none when not opted in.
    With `key` (an event that happens once, such as an approval's decision), the ids derive
    from it, so writing the same event twice stores it once."""
    if not wanted(settings, event_type):
        return []
    now = datetime.now(UTC)
    payload = {
        "type": event_type,
        "timestamp": now.isoformat().replace("+00:00", "Z"),
        "data": data,
    }
    return [
        OutboxMessage(
            id=new_id() if key is None else stable_id(key, url),
            endpoint=url,
            event_type=event_type,
            conversation_id=conversation_id,
            payload=payload,
            not_before=now + timedelta(seconds=delay_seconds),
        )
        for url in dict.fromkeys(settings.webhook_urls)
    ]


async def escalation_data(
    store: Store, settings: Settings, conversation_id: str, reason: str, agent: str | None
) -> dict[str, Any]:
    """`data` of a `conversation.escalated` webhook: why, the case in short (the reason, the
    agents' last reply and the replay summary's figures) and the customer's last messages (text
    only, masked as the operator API masks them under REDACT_PERSONAL_DATA)."""
    redactor = Redactor.from_settings(settings)
    events = await store.events(conversation_id)
    said = [e for e in events if e.kind == "customer_message"][-LAST_MESSAGES:]
    replies = [e for e in events if e.kind == "reply_end"]
    last_reply = str(replies[-1].data.get("text", ""))[:_REPLY_CHARS] if replies else None
    figures = await summarize(store, conversation_id)
    text = f"Handed to a person: {reason}"
    if last_reply:
        text += f"\nLast reply of the agents: {redactor.text(last_reply)}"
    return {
        "conversation_id": conversation_id,
        "reason": reason,
        "agent": agent,
        "summary": text,
        "figures": None
        if figures is None
        else {
            "turns": figures.turns,
            "replies": figures.replies,
            "agents": figures.agents,
            "tools": {name: calls.calls for name, calls in figures.tools.items()},
            "approvals_requested": figures.approvals.requested,
            "errors": figures.errors,
            "created_at": figures.created_at.isoformat(),
        },
        "last_messages": [
            {"text": redactor.text(str(e.data.get("text", ""))), "at": e.created_at.isoformat()}
            for e in said
        ],
        **operator_links(settings, conversation_id),
    }


async def escalation_messages(
    store: Store,
    settings: Settings,
    conversation_id: str,
    reason: str,
    agent: str | None,
    *,
    delay_seconds: float = 0.0,
) -> list[OutboxMessage]:
    """The outbox rows of a hand-off (none when `conversation.escalated` is not sent)."""
    if not wanted(settings, ESCALATED):
        return []
    data = await escalation_data(store, settings, conversation_id, reason, agent)
    return messages(settings, ESCALATED, conversation_id, data, delay_seconds=delay_seconds)


def approval_data(settings: Settings, approval: Approval) -> dict[str, Any]:
    """`data` of the approval webhooks (the arguments are left out: they may hold personal
    data; the approval's summary says what it does)."""
    return {
        "conversation_id": approval.conversation_id,
        "approval_id": approval.id,
        "agent": approval.agent,
        "tool": approval.tool,
        "summary": approval.summary,
        "status": approval.status,
        "expires_at": approval.expires_at.isoformat(),
        "decided_at": approval.decided_at.isoformat() if approval.decided_at else None,
        "decided_by": approval.decided_by,
        **operator_links(settings, approval.conversation_id),
    }


def approval_messages(
    settings: Settings, event_type: str, approval: Approval
) -> list[OutboxMessage]:
    return messages(
        settings,
        event_type,
        approval.conversation_id,
        approval_data(settings, approval),
        key=f"{event_type}:{approval.id}",
    )


def closed_messages(
    settings: Settings, conversation: Conversation, outcome: str, closed_at: datetime
) -> list[OutboxMessage]:
    data = {
        "conversation_id": conversation.id,
        "outcome": outcome,
        "escalated": conversation.escalated,
        "closed_at": closed_at.isoformat(),
        **operator_links(settings, conversation.id),
    }
    return messages(settings, CLOSED, conversation.id, data)


__all__ = [
    "APPROVAL_DECIDED",
    "APPROVAL_REQUESTED",
    "CLOSED",
    "ESCALATED",
    "EVENT_TYPES",
    "LAST_MESSAGES",
    "ROUTED_GRACE_SECONDS",
    "WebhookRequestError",
    "approval_data",
    "approval_messages",
    "closed_messages",
    "decided_webhooks",
    "escalation_data",
    "escalation_messages",
    "messages",
    "new_id",
    "operator_links",
    "replay",
    "routed_escalation",
    "wanted",
]


class WebhookRequestError(SmartSupportError):
    """An operator's request on the outbox that cannot be done (the message says why)."""

    code = "bad_request"

    def __init__(self, message: str, code: str | None = None) -> None:
        self.public_message = message
        if code is not None:
            self.code = code
        super().__init__(message)


async def replay(store: Store, delivery_id: str) -> WebhookDelivery:
    """Send a dead (or disabled) delivery again, from the start of the retry schedule.

    Raises:
        WebhookRequestError: It is unknown (`not_found`), not dead nor disabled, or its
            endpoint is disabled (enable it first: that requeues its disabled deliveries).
    """
    found = await store.get_webhook_delivery(delivery_id)
    if found is None:
        raise WebhookRequestError(f"There is no webhook delivery {delivery_id}.", "not_found")
    if found.status not in ("dead", "disabled"):
        raise WebhookRequestError(
            f"Delivery {delivery_id} is {found.status}; only dead or disabled ones are replayed."
        )
    if found.endpoint in {e.endpoint for e in await store.disabled_webhook_endpoints()}:
        raise WebhookRequestError(
            f"The endpoint of {delivery_id} is disabled (it answered 410 Gone); enable it first."
        )
    replayed = await store.replay_webhook_delivery(delivery_id, datetime.now(UTC))
    if replayed is None:  # another operator was quicker
        raise WebhookRequestError(f"Delivery {delivery_id} was replayed already.")
    return replayed


ROUTED_REASON = "the customer was routed to the escalation agent"


async def routed_escalation(
    store: Store, settings: Settings, conversation_id: str, agent: str
) -> None:
    """The router chose the escalation agent: mark the conversation escalated and, the first
    time, write its webhooks (delayed by ROUTED_GRACE_SECONDS, so the agent's own hand-off in
    the same turn completes them with its reason). Raises ConversationNotFound."""
    conversation = await store.get_conversation(conversation_id)
    webhooks = []
    if conversation is not None and not conversation.escalated:
        webhooks = await escalation_messages(
            store,
            settings,
            conversation_id,
            ROUTED_REASON,
            agent,
            delay_seconds=ROUTED_GRACE_SECONDS,
        )
    await store.escalate(conversation_id, webhooks)


def decided_webhooks(settings: Settings) -> Callable[[Approval], list[OutboxMessage]]:
    """What `Store.decide_approval(outbox=...)` takes: the `approval.decided` webhooks of the
    approval as decided (its final status known only in the transaction)."""

    def make(approval: Approval) -> list[OutboxMessage]:
        return approval_messages(settings, APPROVAL_DECIDED, approval)

    return make

"""Escalation: the webhooks a hand-off (and, opted in, an approval or a close) sends to a
helpdesk, signed per Standard Webhooks, retried, and replayable from a dead-letter list.

A receiver checks a webhook with `verify(body, headers, secrets)` (docs/webhooks.md).

The names below load on first use, so that the command line (which imports `escalation.cli`
at start-up) does not pay for the HTTP client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smart_support.escalation.delivery import DeliveryWorker, running
    from smart_support.escalation.outbox import EVENT_TYPES, WebhookRequestError, replay
    from smart_support.escalation.signing import WebhookVerificationError, sign, verify


def __getattr__(name: str) -> Any:
    if name in ("DeliveryWorker", "running"):
        from smart_support.escalation import delivery

        return getattr(delivery, name)
    if name in ("EVENT_TYPES", "WebhookRequestError", "replay"):
        from smart_support.escalation import outbox

        return getattr(outbox, name)
    if name in ("WebhookVerificationError", "sign", "verify"):
        from smart_support.escalation import signing

        return getattr(signing, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "EVENT_TYPES",
    "DeliveryWorker",
    "WebhookRequestError",
    "WebhookVerificationError",
    "replay",
    "running",
    "sign",
    "verify",
]

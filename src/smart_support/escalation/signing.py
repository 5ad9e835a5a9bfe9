"""Standard Webhooks signatures (https://www.standardwebhooks.com/): sign what we send, and the
verifier we document for receivers.

The signed content is `{webhook-id}.{webhook-timestamp}.{body}`; the signature is
base64(HMAC-SHA256(key, content)) where the key is the base64 after `whsec_` in the secret;
`webhook-signature` carries `v1,<signature>` once per secret, space-separated (several during a
rotation: the receiver accepts a match with any secret it knows).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Iterable, Mapping, Sequence

from pydantic import SecretStr

from smart_support.errors import SmartSupportError

SECRET_PREFIX = "whsec_"
#: Seconds a signature's timestamp may be away from the receiver's clock, either way.
TOLERANCE_SECONDS = 300


class WebhookVerificationError(SmartSupportError):
    """A webhook whose signature does not hold: answer it 400 or 401 and do not act on it."""

    code = "webhook_unverified"

    def __init__(self, message: str) -> None:
        self.public_message = message
        super().__init__(message)


def _key(secret: str | SecretStr) -> bytes:
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    if text.startswith(SECRET_PREFIX):
        try:
            return base64.b64decode(text[len(SECRET_PREFIX) :], validate=True)
        except (binascii.Error, ValueError):
            raise WebhookVerificationError(
                "a webhook secret is not `whsec_` followed by base64"
            ) from None
    return text.encode()


def signature(secret: str | SecretStr, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<base64>` entry of `webhook-signature`."""
    content = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(_key(secret), content, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign(
    msg_id: str,
    body: bytes,
    secrets: Sequence[str | SecretStr],
    timestamp: int | None = None,
) -> dict[str, str]:
    """The three Standard Webhooks headers of one request (no signature without a secret)."""
    moment = int(time.time()) if timestamp is None else timestamp
    headers = {"webhook-id": msg_id, "webhook-timestamp": str(moment)}
    if secrets:
        headers["webhook-signature"] = " ".join(signature(s, msg_id, moment, body) for s in secrets)
    return headers


def verify(
    payload: bytes | str,
    headers: Mapping[str, str],
    secrets: str | SecretStr | Iterable[str | SecretStr],
    tolerance: int = TOLERANCE_SECONDS,
    *,
    now: float | None = None,
) -> None:
    """Check a received webhook, as a receiver should before acting on it.

    Args:
        payload: The raw request body, exactly as received (not parsed and dumped again).
        headers: The request headers (any case); `webhook-id`, `webhook-timestamp` and
            `webhook-signature` are needed.
        secrets: The secret (`whsec_...`) or secrets the receiver accepts (during a rotation,
            the old and the new one).
        tolerance: Seconds the timestamp may be off the receiver's clock, in the past or the
            future (a replayed old request is refused).
        now: The receiver's clock (Unix seconds); the system's when None.

    Raises:
        WebhookVerificationError: A header is missing, the timestamp is stale or in the
            future, or no signature matches any secret (a tampered body, a wrong secret).
    """
    lower = {k.lower(): v for k, v in headers.items()}
    missing = [
        h for h in ("webhook-id", "webhook-timestamp", "webhook-signature") if h not in lower
    ]
    if missing:
        raise WebhookVerificationError(f"missing header(s): {', '.join(missing)}")
    try:
        timestamp = int(lower["webhook-timestamp"])
    except ValueError:
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds") from None
    clock = time.time() if now is None else now
    if timestamp < clock - tolerance:
        raise WebhookVerificationError("webhook-timestamp is too old (a replayed request?)")
    if timestamp > clock + tolerance:
        raise WebhookVerificationError("webhook-timestamp is in the future")
    body = payload.encode() if isinstance(payload, str) else payload
    accepted = [secrets] if isinstance(secrets, str | SecretStr) else list(secrets)
    if not accepted:
        raise WebhookVerificationError("no secret to verify with")
    presented = [
        entry.partition(",")[2]
        for entry in lower["webhook-signature"].split()
        if entry.startswith("v1,")
    ]
    for secret in accepted:
        expected = signature(secret, lower["webhook-id"], timestamp, body).partition(",")[2]
        if any(hmac.compare_digest(expected.encode(), sig.encode()) for sig in presented):
            return
    raise WebhookVerificationError("no signature matches (a changed body or another secret)")


__all__ = [
    "SECRET_PREFIX",
    "TOLERANCE_SECONDS",
    "WebhookVerificationError",
    "sign",
    "signature",
    "verify",
]

"""What the demo APIs (the shop, the templates' APIs) share: a refusal with a stable code, and
the Idempotency-Key memory their writes run through."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger("smart_support.demo")


class Refusal(Exception):
    """A request the API refuses: an HTTP status, a stable code and a readable reason."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason

    def body(self) -> dict[str, str]:
        return {"error": self.error, "reason": self.reason}


@dataclass(frozen=True)
class _Remembered:
    fingerprint: str
    request: str
    status: int
    body: dict[str, Any]


class IdempotencyMemory:
    """The first answer to each Idempotency-Key, kept in memory (one lock: writes run one at a
    time)."""

    def __init__(self) -> None:
        self._answers: dict[str, _Remembered] = {}
        self._lock = threading.Lock()

    def once(
        self, key: str | None, request: str, payload: Any, action: Callable[[], dict[str, Any]]
    ) -> tuple[int, dict[str, Any], bool]:
        """Run `action` once per Idempotency-Key; a repeated key replays the first answer.

        Business refusals (409) are remembered too: the first answer is the answer. Requests that
        never reached the rules (404, 422) are not, so a corrected retry can reuse its key.

        Returns:
            The status code, the JSON body, and whether it was a replay.

        Raises:
            Refusal: 422 when the key was used before for a different request.
        """
        fingerprint = hashlib.sha256(
            json.dumps([request, payload], sort_keys=True, default=str).encode()
        ).hexdigest()
        with self._lock:
            seen = self._answers.get(key) if key is not None else None
            if seen is not None:
                if seen.fingerprint != fingerprint:
                    raise Refusal(
                        422,
                        "idempotency_key_reused",
                        f"the Idempotency-Key {key!r} was already used for a different request "
                        f"({seen.request}); send a new key for a new request",
                    )
                logger.info("idempotent replay of %s (key %s)", request, key)
                return seen.status, seen.body, True
            try:
                status, body = 200, action()
            except Refusal as refusal:
                if refusal.status != 409:
                    raise
                status, body = refusal.status, refusal.body()
            if key is not None:
                self._answers[key] = _Remembered(fingerprint, request, status, body)
            return status, body, False


__all__ = ["IdempotencyMemory", "Refusal"]

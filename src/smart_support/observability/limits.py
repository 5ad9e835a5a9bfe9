"""Abuse limits of a public chat: sliding windows keyed by IP or conversation, a cap on open
sockets per IP, in memory and per process.

Per process: with several server processes (or hosts) each counts on its own, so the effective
limit is the setting times the number of processes; a restart forgets every count. That is
enough against a script hammering one server; a shared limit belongs at the proxy.

Hand-written rather than the `limits` package: its in-memory storage expires keys from a
background timer that rescans every key every 10 ms while hits arrive (a thread hop per key in
its asyncio flavour), a cost every turn would pay under load. A deque of hit times per key,
trimmed on each hit, costs about a microsecond and no thread.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from smart_support.settings import Settings

#: How often (in hits) keys whose window has passed are forgotten.
_SWEEP_EVERY = 1024


class SlidingWindow:
    """At most `limit` hits per `window` seconds for each key; a limit of 0 allows everything.

    Args:
        limit: Hits allowed in any `window` seconds.
        window: The window's length in seconds.
        clock: Monotonic seconds (tests pass their own).
    """

    def __init__(
        self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._until_sweep = _SWEEP_EVERY

    def hit(self, key: str) -> bool:
        """Count a hit of `key`; False (and not counted) when the limit is reached."""
        if self.limit <= 0:
            return True
        now = self._clock()
        self._until_sweep -= 1
        if self._until_sweep <= 0:
            self._sweep(now)
        hits = self._hits.get(key)
        if hits is None:
            hits = self._hits[key] = deque()
        start = now - self.window
        while hits and hits[0] <= start:
            hits.popleft()
        if len(hits) >= self.limit:
            return False
        hits.append(now)
        return True

    def retry_after(self, key: str) -> float:
        """Seconds until `key` may hit again (0 when it may now)."""
        hits = self._hits.get(key)
        if not hits or len(hits) < self.limit:
            return 0.0
        return max(0.0, hits[0] + self.window - self._clock())

    def __len__(self) -> int:
        return len(self._hits)

    def _sweep(self, now: float) -> None:
        self._until_sweep = _SWEEP_EVERY
        start = now - self.window
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= start]:
            del self._hits[key]


class SocketCount:
    """Open sockets per IP, at most `limit` each (0: no cap)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def acquire(self, ip: str) -> bool:
        """Count one more socket of `ip`; False (not counted) when it has `limit` open."""
        current = self._open.get(ip, 0)
        if self.limit > 0 and current >= self.limit:
            return False
        self._open[ip] = current + 1
        return True

    def release(self, ip: str) -> None:
        current = self._open.get(ip, 0) - 1
        if current > 0:
            self._open[ip] = current
        else:
            self._open.pop(ip, None)

    def open(self, ip: str) -> int:
        return self._open.get(ip, 0)


@dataclass
class Limits:
    """The limits of one server process (`app.state.limits`), from the settings."""

    messages: SlidingWindow
    """Customer messages per conversation (RATE_LIMIT_MESSAGES_PER_MINUTE)."""
    conversations: SlidingWindow
    """New conversations per client IP (RATE_LIMIT_CONVERSATIONS_PER_MINUTE)."""
    sockets: SocketCount
    """Open chat sockets per client IP (MAX_SOCKETS_PER_IP)."""
    max_turns: int = 0
    """Customer messages one conversation may have (MAX_CONVERSATION_TURNS); 0: no cap."""
    window: float = field(default=60.0)

    @classmethod
    def from_settings(cls, settings: Settings, *, window: float = 60.0) -> Limits:
        """The limits of `settings`; `window` (seconds) shortens the minute in tests."""
        return cls(
            messages=SlidingWindow(settings.rate_limit_messages_per_minute, window),
            conversations=SlidingWindow(settings.rate_limit_conversations_per_minute, window),
            sockets=SocketCount(settings.max_sockets_per_ip),
            max_turns=settings.max_conversation_turns,
            window=window,
        )


#: What the customer reads when a limit refuses them (error code `rate_limited`).
RATE_LIMITED_MESSAGES = {
    "messages": "You're sending messages faster than we can answer; please wait a moment"
    " and try again.",
    "conversations": "Too many new conversations from your network; please wait a minute"
    " and try again.",
}
#: Error code `conversation_too_long`.
TOO_LONG_MESSAGE = (
    "This conversation has reached its length limit. Please start a new conversation to carry on."
)

__all__ = [
    "RATE_LIMITED_MESSAGES",
    "TOO_LONG_MESSAGE",
    "Limits",
    "SlidingWindow",
    "SocketCount",
]

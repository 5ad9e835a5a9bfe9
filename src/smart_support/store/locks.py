"""In-process locks keyed by name (a conversation id), dropped as soon as nobody needs them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # holders plus waiters


class KeyedLocks:
    """One asyncio lock per key, created on first use and forgotten when its last user leaves.

    A long-running server sees millions of conversations; keeping a lock for each would leak
    memory, so an entry lives only while someone holds or waits for it.
    """

    def __init__(self) -> None:
        self._entries: dict[Hashable, _Entry] = {}

    def __len__(self) -> int:
        """How many keys are held or waited for right now."""
        return len(self._entries)

    @asynccontextmanager
    async def hold(self, key: Hashable) -> AsyncIterator[None]:
        """Hold the lock of `key` for the body; one holder at a time per key.

        Args:
            key: What to exclude on, e.g. a conversation id.
        """
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0 and self._entries.get(key) is entry:
                del self._entries[key]


__all__ = ["KeyedLocks"]

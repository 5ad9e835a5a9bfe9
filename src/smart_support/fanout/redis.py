"""Live events across processes by Redis pub/sub, when REDIS_URL is set (see the package
docstring): for a deployment that runs Redis already, or whose database should not carry the
notifications of every token.

A process publishes each batch on the channel with one ``PUBLISH`` (a message may be far larger
than a batch gets, so there are no parts) and hears the channel on a subscription of its own.
Redis delivers a channel's messages to every subscriber in the order it received them, and one
sender per process publishes in order, so the order of a conversation's events holds as it does
with PostgreSQL. A message is ``origin number json``. Redis keeps nothing: a process that is not
subscribed when a batch is published never hears it (its sockets read the transcript when they
resume, as after any outage).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import redis.asyncio as aioredis

from smart_support.fanout.channel import CHANNEL, Channel

#: Seconds to connect, and to wait for an answer to a command.
TIMEOUT_SECONDS = 5.0


class RedisFanout(Channel):
    """`Channel` over Redis pub/sub (`url`: REDIS_URL, ``redis://host:port/db``; `channel`:
    REDIS_CHANNEL)."""

    carrier = "Redis"

    def __init__(
        self,
        url: str,
        deliver: Callable[[Any], None],
        *,
        wants: Callable[[str], bool] | None = None,
        origin: str | None = None,
        channel: str = CHANNEL,
    ) -> None:
        super().__init__(deliver, wants=wants, origin=origin, channel=channel)
        self.url = url
        self._client: aioredis.Redis = aioredis.from_url(
            url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            socket_timeout=TIMEOUT_SECONDS,
            client_name="smart-support-fanout",
        )

    async def _send_batch(self, number: int, text: str) -> None:
        await self._client.publish(self.channel, f"{self.origin} {number} {text}")

    async def _hear(self) -> None:
        # No socket timeout on the subscription: it waits for messages as long as it must.
        listener: aioredis.Redis = aioredis.from_url(
            self.url,
            socket_connect_timeout=TIMEOUT_SECONDS,
            client_name=f"smart-support-listen-{self.origin}",
        )
        pubsub = listener.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(self.channel)
            self._hearing_again()
            async for message in pubsub.listen():
                data = message.get("data")
                if not isinstance(data, bytes):
                    continue
                origin, _, rest = data.decode("utf-8", "replace").partition(" ")
                _number, _, text = rest.partition(" ")
                self._heard(origin, text)
        finally:
            with contextlib.suppress(Exception):
                await pubsub.aclose()
            with contextlib.suppress(Exception):
                await listener.aclose()

    async def _close(self) -> None:
        await self._client.aclose()


__all__ = ["RedisFanout"]

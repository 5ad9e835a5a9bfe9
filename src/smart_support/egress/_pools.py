"""Connection pools that the guarded clients of one event loop share while a server runs.

Tools make a guarded client per call (`async with async_client(...)`: each call has its own
headers, such as the idempotency key), and each client used to bring its own pools: a new TCP
connection for every tool call and, for each host, a new SSL context (`create_ssl_context`
loads the CA bundle; httpx builds one even for plain http). Inside `shared_connections()`
(the toolkit holds it open for the server's lifetime) the clients of that event loop take their
per-host pools from one place instead, so keep-alive connections and SSL contexts outlive a call.

Only the sockets are shared. Every request still goes through its own client's
`GuardedTransport`, which checks and resolves the URL (its client's policy), pins the checked
address and bounds the body; every redirect hop is checked by its client's hook. A pooled
connection is to an address some request was allowed to reach, and httpcore reuses it only for
a request pinned to that same address: pools are keyed by scheme, host name and port (a TLS
connection verified for one name never serves another name on the same IP) and by the TLS and
HTTP options, so a client with its own CA bundle or client certificate never gets a connection
made under other ones.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import weakref
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from typing import Any

import httpx

logger = logging.getLogger("smart_support.egress")

#: Pool limits of a client's own per-host pool.
DEFAULT_LIMITS = httpx.Limits(max_connections=20, max_keepalive_connections=5)
#: Pool limits of a shared per-host pool: it serves every client of the process, which had a
#: pool of 20 each before, so concurrent tool calls to one slow API must not queue behind 20.
SHARED_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=20)


class SharedPools:
    """The per-host pools of one event loop, closed together when the last user leaves."""

    def __init__(self) -> None:
        self._pools: dict[Hashable, httpx.AsyncHTTPTransport] = {}
        self._contexts: dict[Hashable, ssl.SSLContext] = {}
        self.users = 0

    def pool(
        self, key: Hashable, make: Any, context_key: Hashable, make_context: Any
    ) -> httpx.AsyncHTTPTransport:
        """The pool for `key`, made with `make(ssl_context)` the first time."""
        pool = self._pools.get(key)
        if pool is None:
            context = self._contexts.get(context_key)
            if context is None:
                context = self._contexts[context_key] = make_context()
            pool = self._pools[key] = make(context)
        return pool

    async def aclose(self) -> None:
        pools, self._pools = list(self._pools.values()), {}
        self._contexts = {}
        for pool in pools:
            await pool.aclose()


_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, SharedPools] = (
    weakref.WeakKeyDictionary()
)


def shared_pools() -> SharedPools | None:
    """The running loop's shared pools, or None outside `shared_connections()` (or a loop)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return _by_loop.get(loop)


@asynccontextmanager
async def shared_connections() -> AsyncIterator[None]:
    """Let the guarded clients made in this event loop share connections until exit.

    Nested or concurrent uses in one loop share one set of pools, closed when the last exits.
    """
    loop = asyncio.get_running_loop()
    pools = _by_loop.get(loop)
    if pools is None:
        pools = _by_loop[loop] = SharedPools()
    pools.users += 1
    try:
        yield
    finally:
        pools.users -= 1
        if pools.users == 0:
            if _by_loop.get(loop) is pools:
                del _by_loop[loop]
            await pools.aclose()

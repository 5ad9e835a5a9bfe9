"""The webhook outbox's statements and methods (migration 7's `webhook_deliveries` and
`webhook_endpoints`), part of `SqlStore`.

A delivery row is written in the transaction of what it reports; a worker claims due rows by
compare-and-set with a lease, so each delivery is attempted by one process at a time.
"""

from __future__ import annotations

from smart_support.store.sql_base import SqlBase


class OutboxQueries(SqlBase):
    """Outbox methods of the store (written once for both adapters)."""


__all__ = ["OutboxQueries"]

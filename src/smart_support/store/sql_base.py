"""What every query class of the store stands on: an adapter's statement runner and dialect.

`SqlStore` (sql.py) and the per-concept query classes it is made of (outbox.py, ...) derive from
`SqlBase`; the adapters (sqlite.py, postgres.py) implement `_fetch` and `_transaction`.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any

from smart_support.store import rows


class SqlBase:
    """An adapter's statement runner and dialect, and helpers over them."""

    _sql: rows.Dialect
    """The adapter's dialect (a class attribute of each adapter)."""

    # -- what an adapter supplies -------------------------------------------------------------

    async def _fetch(self, what: str, sql: str, params: dict[str, Any]) -> list[Any]:
        """Run one statement (already in the adapter's placeholder style) and read its rows."""
        raise NotImplementedError

    def _transaction(self, what: str) -> AbstractAsyncContextManager[rows.Fetch]:
        """Several statements in one transaction: the context yields a fetch (SQL in `:name`
        style is translated by it) whose statements commit together, or none on an error."""
        raise NotImplementedError

    # -- plumbing -----------------------------------------------------------------------------

    async def _run(self, what: str, statement: str, **params: Any) -> list[Any]:
        return await self._fetch(what, self._sql.sql(statement), params)

    def _fetcher(self, what: str) -> rows.Fetch:
        async def fetch(sql: str, params: dict[str, Any]) -> list[Any]:
            return await self._fetch(what, sql, params)

        return fetch

    def _now(self) -> Any:
        return self._sql.moment(rows.now())

    def _maybe_moment(self, moment: datetime | None) -> Any:
        return None if moment is None else self._sql.moment(moment)


__all__ = ["SqlBase"]

"""Readiness (`/readyz`): the database answers, its schema is at this code's newest migration,
and the MCP sessions are up.

The database is checked on a short connection of its own (at most `TIMEOUT_SECONDS`), not
through the store's: a SQLite file replaced or removed under a running server, or a PostgreSQL
that stopped accepting connections, shows here even while an old connection still works.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from typing import Any

import psycopg

from smart_support.settings import Settings
from smart_support.store.migrations import POSTGRES_MIGRATIONS, SQLITE_MIGRATIONS

#: A check slower than this counts as failed (a probe must not hang).
TIMEOUT_SECONDS = 2.0

_VERSION_SQL = "SELECT version FROM schema_migrations"


def _sqlite_versions(path: str) -> set[int]:
    # Read-only, never creating the file: a missing database is not ready, not a new one.
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=TIMEOUT_SECONDS)
    try:
        return {row[0] for row in conn.execute(_VERSION_SQL)}
    finally:
        conn.close()


async def _postgres_versions(url: str) -> set[int]:
    conn = await psycopg.AsyncConnection.connect(
        url, connect_timeout=max(1, int(TIMEOUT_SECONDS)), autocommit=True
    )
    try:
        cur = await conn.execute(_VERSION_SQL)
        return {row[0] for row in await cur.fetchall()}
    finally:
        await conn.close()


async def check_database(settings: Settings) -> dict[str, Any]:
    """`{"ready": bool, "database": "ok" | "down", "migrations": "ok" | "behind" | ...}`:
    `behind` names the versions missing; nothing here says why a connection failed (the
    answer may be public), the server's log does."""
    latest = len(POSTGRES_MIGRATIONS if settings.is_postgres else SQLITE_MIGRATIONS)
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS + 1):
            if settings.is_postgres:
                versions = await _postgres_versions(settings.database_url)
            else:
                versions = await asyncio.to_thread(_sqlite_versions, str(settings.sqlite_path))
    except (TimeoutError, sqlite3.Error, psycopg.Error, OSError):
        return {"ready": False, "database": "down", "migrations": "unknown"}
    missing = sorted(set(range(1, latest + 1)) - versions)
    if missing:
        return {
            "ready": False,
            "database": "ok",
            "migrations": "behind",
            "missing_migrations": missing,
        }
    return {"ready": True, "database": "ok", "migrations": "ok"}


async def _session_up(server: Any) -> bool:
    """Whether the server's session is open and answers a ping (a stdio server that died
    leaves its session looking open until something is sent)."""
    ping = getattr(server, "ping", None)
    if ping is not None:
        return bool(await ping())
    state = getattr(server, "_session", None)  # until McpServer has a public `ping`
    if state is None or not state.alive or state.session is None:
        return False
    try:
        async with asyncio.timeout(TIMEOUT_SECONDS):
            await state.session.send_ping()
    except Exception:  # whatever the transport raises: the session does not answer
        return False
    return True


async def check_mcp(servers: Mapping[str, Any]) -> dict[str, Any]:
    """`{"ready": bool, "mcp": {name: "up" | "down"}}` for the toolkit's MCP servers, pinged
    together."""
    names = list(servers)
    answers = await asyncio.gather(*(_session_up(servers[name]) for name in names))
    states = {name: "up" if up else "down" for name, up in zip(names, answers, strict=True)}
    return {"ready": all(s == "up" for s in states.values()), "mcp": states}


async def readiness(settings: Settings, mcp_servers: Mapping[str, Any]) -> dict[str, Any]:
    """Everything `/readyz` answers: `status` is `ready` or `not_ready`, `not_ready` lists the
    parts that are not (database, migrations, mcp:<name>)."""
    database, mcp = await asyncio.gather(check_database(settings), check_mcp(mcp_servers))
    not_ready = []
    if database["database"] != "ok":
        not_ready.append("database")
    elif database["migrations"] != "ok":
        not_ready.append("migrations")
    not_ready += [f"mcp:{name}" for name, state in mcp["mcp"].items() if state != "up"]
    answer = {k: v for k, v in database.items() if k != "ready"} | {"mcp": mcp["mcp"]}
    return {"status": "not_ready" if not_ready else "ready", "not_ready": not_ready, **answer}


__all__ = ["TIMEOUT_SECONDS", "check_database", "check_mcp", "readiness"]

"""A small real MCP server for the tests: run as a script for stdio, or import `mcp` for HTTP."""

from __future__ import annotations

import os
import sys

from fastmcp import Context, FastMCP
from fastmcp.exceptions import ToolError
from mcp.types import ToolAnnotations

mcp = FastMCP("test-shop")
_sessions: list[int] = []


@mcp.tool
def get_tracking(order_id: str) -> dict[str, str]:
    """Tracking number and carrier of an order."""
    return {"order_id": order_id, "carrier": "DHL", "tracking": f"TRK-{order_id}"}


@mcp.tool(annotations=ToolAnnotations(readOnlyHint=True))
def cancel_order(order_id: str, ctx: Context) -> str:
    """Cancel an order (the server calls itself read-only; the registry must not believe it)."""
    meta = ctx.request_context.meta if ctx.request_context else None
    key = (meta.model_extra or {}).get("idempotency_key") if meta is not None else None
    return f"order {order_id} cancelled" + (f" (idempotency key {key})" if key else "")


@mcp.tool
def whoami(ctx: Context) -> dict[str, int]:
    """Which process and which session answered, and how many sessions this process has seen."""
    session = id(ctx.session)
    if session not in _sessions:
        _sessions.append(session)
    return {"pid": os.getpid(), "session": session, "sessions_seen": len(_sessions)}


@mcp.tool
def refuse(reason: str) -> str:
    """Always fails with the given reason."""
    raise ToolError(f"refused: {reason}")


if __name__ == "__main__":
    # SHOP_SERVER_ONCE=<file>: serve the first time only, so a restart fails.
    once = os.environ.get("SHOP_SERVER_ONCE")
    if once:
        if os.path.exists(once):
            sys.exit(3)
        open(once, "w").close()
    mcp.run(transport="stdio", show_banner=False)

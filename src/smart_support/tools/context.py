"""What a tool call knows about where it runs: settings, conversation, customer, idempotency key.

The tool guard sets it around every tool call; HTTP tools send `idempotency_key` downstream as the
`Idempotency-Key` header (MCP tools as request metadata) so a repeated call changes nothing, and
may send the verified customer downstream so the business's API enforces ownership itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from smart_support.errors import ToolError
from smart_support.settings import Settings

if TYPE_CHECKING:
    from smart_support.identity.model import Identity


@dataclass(frozen=True)
class ToolContext:
    settings: Settings
    conversation_id: str | None = None
    idempotency_key: str | None = None
    #: The conversation's verified customer: set for tools that declare customer data
    #: (`needs_customer`, `bind`, `owner`, the verification tool); None while anonymous.
    identity: Identity | None = None


_current: ContextVar[ToolContext | None] = ContextVar("smart_support_tool_context", default=None)


def current_tool_context() -> ToolContext:
    """The context of the running tool call.

    Raises:
        ToolError: Called outside a tool call run by the runtime (or `tool_context`): a tool
            needs the runtime's settings and never guesses them from the environment.
    """
    ctx = _current.get()
    if ctx is None:
        raise ToolError(
            "this tool runs only inside the Smart Support runtime (or under "
            "smart_support.tools.tool_context(ToolContext(settings)) in your own code)"
        )
    return ctx


def tool_context_or_none() -> ToolContext | None:
    """The context of the running tool call, or None outside one (for tool sources that work
    either way, such as MCP servers)."""
    return _current.get()


@contextmanager
def tool_context(ctx: ToolContext) -> Iterator[ToolContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)

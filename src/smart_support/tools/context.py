"""What a tool call knows about where it runs: settings, conversation, idempotency key.

The runtime sets it around every tool call; HTTP tools send `idempotency_key` downstream as the
`Idempotency-Key` header so a repeated call changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from smart_support.settings import Settings, load_settings


@dataclass(frozen=True)
class ToolContext:
    settings: Settings
    conversation_id: str | None = None
    idempotency_key: str | None = None


_current: ContextVar[ToolContext | None] = ContextVar("smart_support_tool_context", default=None)


def current_tool_context() -> ToolContext:
    """The context of the running tool call; outside the runtime, settings from the environment."""
    ctx = _current.get()
    return ctx if ctx is not None else ToolContext(settings=load_settings())


@contextmanager
def tool_context(ctx: ToolContext) -> Iterator[ToolContext]:
    token = _current.set(ctx)
    try:
        yield ctx
    finally:
        _current.reset(token)

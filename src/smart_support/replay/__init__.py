"""Replay: a conversation's event log page by page at any depth, its summary, and its export."""

from smart_support.replay.export import export_lines
from smart_support.replay.pages import (
    DEFAULT_LIMIT,
    KIND_PATTERN,
    MAX_LIMIT,
    EventPage,
    LoggedEvent,
    all_events,
    read_page,
)
from smart_support.replay.summary import (
    ApprovalCounts,
    ConversationSummary,
    ToolCalls,
    UsageTotals,
    summarize,
)

__all__ = [
    "DEFAULT_LIMIT",
    "KIND_PATTERN",
    "MAX_LIMIT",
    "ApprovalCounts",
    "ConversationSummary",
    "EventPage",
    "LoggedEvent",
    "ToolCalls",
    "UsageTotals",
    "all_events",
    "export_lines",
    "read_page",
    "summarize",
]

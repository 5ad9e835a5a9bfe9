"""Analytics: the figures of a window of conversations (counts, approvals, tokens and cost)."""

from smart_support.analytics.figures import (
    DEFAULT_DAYS,
    AgentFigures,
    Analytics,
    ApprovalFigures,
    Bucket,
    SeriesPoint,
    compute,
    csv_rows,
    window,
)

__all__ = [
    "DEFAULT_DAYS",
    "AgentFigures",
    "Analytics",
    "ApprovalFigures",
    "Bucket",
    "SeriesPoint",
    "compute",
    "csv_rows",
    "window",
]

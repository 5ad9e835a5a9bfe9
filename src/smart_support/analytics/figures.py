"""The numbers a support lead runs the team on, over the conversations created in a window.

The store groups in the database (`Store.analytics_rows`); this module names the figures and
folds the few grouped rows, using the replay summary's vocabulary of event kinds. Resolution
figures come from the outcomes of the window's closed conversations (`analytics.outcomes`);
while none has closed they answer null, never a guess.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, Field

from smart_support.replay.summary import (
    ESCALATION_REASON,
    HANDOFF_KIND,
    UsageTotals,
    current_kind,
    stored_kinds,
)
from smart_support.store.base import Store
from smart_support.store.rollups import EventVocabulary, UsageGroup

#: The window when none is given: the last 30 days.
DEFAULT_DAYS = 30
Bucket = Literal["day"]

VOCABULARY = EventVocabulary(
    counted=stored_kinds("customer_message", "agent_selected", "tool_activity"),
    escalations=stored_kinds(HANDOFF_KIND),
    selected="agent_selected",
    escalation_reason=ESCALATION_REASON,
)


class AgentFigures(BaseModel):
    """One agent's work in the window."""

    turns: int = Field(default=0, description="Turns routed to the agent (`agent_selected`).")
    tool_calls: int = Field(default=0, description="Tool calls started.")
    tool_failures: int = Field(default=0, description="Tool calls that failed.")
    usage: UsageTotals = Field(default_factory=UsageTotals)


class ApprovalFigures(BaseModel):
    """Approvals asked for in the window's conversations, by how they stand now."""

    requested: int = 0
    approved: int = 0
    rejected: int = 0
    expired: int = 0
    cancelled: int = 0
    pending: int = 0
    median_seconds_to_decide: float | None = Field(
        default=None,
        description="From request to a person's approve or reject, over the approvals asked in"
        " the window; null when none was decided.",
    )


class FeedbackFigures(BaseModel):
    """The customers' thumbs on replies (the latest rating of each reply counts)."""

    up: int = 0
    down: int = 0
    satisfaction: float | None = Field(
        default=None, description="up / (up + down); null when no reply was rated."
    )


class SeriesPoint(BaseModel):
    """One bucket: the conversations created in it and what their model calls cost."""

    bucket: str = Field(description="The bucket's first day, `YYYY-MM-DD` (UTC).")
    conversations: int = 0
    cost_usd: float = 0.0


class Analytics(BaseModel):
    """The figures of one window. Every count is over conversations created in it."""

    since: datetime
    until: datetime
    bucket: Bucket = "day"
    conversations: int = 0
    turns: int = Field(default=0, description="Customer messages.")
    escalations: int = Field(
        default=0, description="Conversations handed to the escalation agent or a person."
    )
    escalation_share: float = Field(
        default=0.0, description="escalations / conversations (0 when there are none)."
    )
    resolved: int | None = Field(
        default=None,
        description="Closed conversations whose outcome is `resolved`; null while none closed.",
    )
    resolution_rate: float | None = Field(
        default=None, description="resolved / closed conversations; null while none closed."
    )
    cost_per_resolution_usd: float | None = Field(
        default=None,
        description="LLM cost of the resolved conversations / resolved; null without any.",
    )
    outcomes: dict[str, int] = Field(
        default_factory=dict,
        description="Closed conversations by outcome (resolved, escalated, abandoned, unresolved).",
    )
    abandoned: int | None = Field(
        default=None,
        description="Closed conversations whose outcome is `abandoned`; null while none closed.",
    )
    abandonment_rate: float | None = Field(
        default=None, description="abandoned / closed conversations; null while none closed."
    )
    feedback: FeedbackFigures = Field(default_factory=lambda: FeedbackFigures())
    agents: dict[str, AgentFigures] = Field(default_factory=dict)
    approvals: ApprovalFigures = Field(default_factory=ApprovalFigures)
    usage: UsageTotals = Field(default_factory=UsageTotals)
    usage_by_agent: dict[str, UsageTotals] = Field(default_factory=dict)
    usage_by_model: dict[str, UsageTotals] = Field(default_factory=dict)
    series: list[SeriesPoint] = Field(
        default_factory=list, description="Buckets with conversations, oldest first."
    )


def window(
    since: datetime | None, until: datetime | None, *, now: datetime | None = None
) -> tuple[datetime, datetime]:
    """The window asked for, in UTC: until defaults to now, since to DEFAULT_DAYS before until."""
    end = _utc(until) if until else (now or datetime.now(UTC))
    start = _utc(since) if since else end - timedelta(days=DEFAULT_DAYS)
    return start, end


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _add(totals: UsageTotals, group: UsageGroup) -> None:
    totals.model_calls += group.model_calls
    totals.input_tokens += group.input_tokens
    totals.output_tokens += group.output_tokens
    totals.cost_usd = round(totals.cost_usd + group.cost_usd, 10)


async def compute(
    store: Store, since: datetime, until: datetime, bucket: Bucket = "day"
) -> Analytics:
    """The figures of [since, until) (UTC datetimes)."""
    rows = await store.analytics_rows(since, until, VOCABULARY)
    figures = Analytics(since=since, until=until, bucket=bucket)
    figures.conversations = sum(rows.conversations_by_day.values())
    figures.escalations = rows.escalated
    if figures.conversations:
        figures.escalation_share = round(figures.escalations / figures.conversations, 6)
    for group in rows.events:
        kind = current_kind(group.kind)
        if kind == "customer_message":
            figures.turns += group.events
            continue
        if group.agent is None:
            continue
        agent = figures.agents.setdefault(group.agent, AgentFigures())
        if kind == "agent_selected":
            agent.turns += group.events
        elif group.status == "started":
            agent.tool_calls += group.events
        elif group.status == "failed":
            agent.tool_failures += group.events
    days = {
        day: SeriesPoint(bucket=day, conversations=n)
        for day, n in sorted(rows.conversations_by_day.items())
    }
    for used in rows.usage:
        _add(figures.usage, used)
        _add(figures.usage_by_agent.setdefault(used.agent, UsageTotals()), used)
        _add(figures.usage_by_model.setdefault(used.model, UsageTotals()), used)
        _add(figures.agents.setdefault(used.agent, AgentFigures()).usage, used)
        point = days.setdefault(used.day, SeriesPoint(bucket=used.day))
        point.cost_usd = round(point.cost_usd + used.cost_usd, 10)
    figures.series = [days[day] for day in sorted(days)]
    approvals = figures.approvals
    for status, n in rows.approvals_by_status.items():
        approvals.requested += n
        if status in ("approved", "rejected", "expired", "cancelled", "pending"):
            setattr(approvals, status, n)
    approvals.median_seconds_to_decide = rows.median_decision_seconds
    figures.outcomes = dict(sorted(rows.outcomes.items()))
    closed = sum(rows.outcomes.values())
    if closed:
        resolved = rows.outcomes.get("resolved", 0)
        figures.resolved = resolved
        figures.resolution_rate = round(resolved / closed, 6)
        figures.abandoned = rows.outcomes.get("abandoned", 0)
        figures.abandonment_rate = round(figures.abandoned / closed, 6)
        if resolved:
            figures.cost_per_resolution_usd = round(rows.resolved_cost_usd / resolved, 10)
    up, down = rows.feedback.get("up", 0), rows.feedback.get("down", 0)
    figures.feedback = FeedbackFigures(
        up=up, down=down, satisfaction=round(up / (up + down), 6) if up + down else None
    )
    return figures


def csv_rows(figures: Analytics) -> list[tuple[str, str, str, str]]:
    """The figures as (section, name, metric, value) rows; the header row first."""
    out: list[tuple[str, str, str, str]] = [("section", "name", "metric", "value")]

    def put(section: str, name: str, metric: str, value: object) -> None:
        out.append((section, name, metric, "" if value is None else str(value)))

    for metric in ("since", "until"):
        put("window", "", metric, getattr(figures, metric).isoformat())
    put("window", "", "bucket", figures.bucket)
    for metric in (
        "conversations",
        "turns",
        "escalations",
        "escalation_share",
        "resolved",
        "resolution_rate",
        "cost_per_resolution_usd",
        "abandoned",
        "abandonment_rate",
    ):
        put("totals", "", metric, getattr(figures, metric))
    for name, n in figures.outcomes.items():
        put("outcome", name, "conversations", n)
    for metric, value in figures.feedback.model_dump().items():
        put("feedback", "", metric, value)
    for metric, value in figures.approvals.model_dump().items():
        put("approvals", "", metric, value)
    for metric, value in figures.usage.model_dump().items():
        put("usage", "", metric, value)
    for name, agent in figures.agents.items():
        for metric in ("turns", "tool_calls", "tool_failures"):
            put("agent", name, metric, getattr(agent, metric))
    for section, table in (
        ("agent_usage", figures.usage_by_agent),
        ("model", figures.usage_by_model),
    ):
        for name, totals in table.items():
            for metric, value in totals.model_dump().items():
                put(section, name, metric, value)
    for point in figures.series:
        put("series", point.bucket, "conversations", point.conversations)
        put("series", point.bucket, "cost_usd", point.cost_usd)
    return out

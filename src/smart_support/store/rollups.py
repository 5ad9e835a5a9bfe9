"""Analytics that cost the same at 1,000 or 100,000 conversations: facts, rollups, a live edge.

When a conversation closes, its *facts* (how many conversations, escalations, events by kind,
agent and status, model calls by agent and model, approvals by status, its outcome, what a
resolved one cost, the customer's latest rating of each reply) are computed by one grouped
statement and stored in `conversation_facts`, and added to `analytics_rollup`, keyed by the
conversation's creation hour: all in the transaction that closes it. Reopening subtracts them
again. Analytics over a window then reads:

- the day rollup for the window's whole days and the hour rollup for its other whole hours
  (a few dozen rows per day or hour, however many conversations);
- the same facts statement, run live over the conversations the rollup does not hold: open ones
  (an index over them only) and those of the partial first and last hour of the window.

Both halves are the *same* SELECT (`facts_sql`), once over one conversation and once over the
live set, so the rollup can never count differently from a live computation. The median time to
decide an approval is the one figure that does not add up: it is read from the approvals asked in
the window, by an index of the decided ones in order of their stored `decision_seconds`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smart_support.store.rows import Dialect, Fetch, Row

_COLUMNS = "hour, metric, k1, k2, k3, n, input_tokens, output_tokens, cost_usd"
#: The sums of fact rows by day and key (the day is the hour's first ten characters).
_SUMS = (
    "substr(hour, 1, 10) AS day, metric, k1, k2, k3, SUM(n) AS n, SUM(input_tokens) AS"
    " input_tokens, SUM(output_tokens) AS output_tokens, SUM(cost_usd) AS cost_usd"
)
_BY_DAY = "GROUP BY substr(hour, 1, 10), metric, k1, k2, k3"


@dataclass(frozen=True)
class EventGroup:
    """How many events of one kind, agent and `data.status` (None when it has none)."""

    kind: str
    agent: str | None
    status: str | None
    events: int


@dataclass(frozen=True)
class UsageGroup:
    """Model calls of one conversation day, agent and model."""

    day: str
    agent: str
    model: str
    model_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True)
class EventVocabulary:
    """The event kinds that escalate a conversation that is still open (the runtime's, passed
    in; a closed conversation's escalation is its outcome, computed from the same kinds)."""

    counted: tuple[str, ...]
    """Kinds the figures read by agent and status (all kinds are grouped; kept for callers)."""
    escalations: tuple[str, ...]
    """Kinds that escalate a conversation."""
    selected: str
    """The routing kind, which escalates when its `data.reason` is `escalation_reason`."""
    escalation_reason: str


@dataclass(frozen=True)
class AnalyticsRows:
    """What the analytics statements answer for one window."""

    conversations_by_day: dict[str, int]
    escalated: int
    events: list[EventGroup]
    usage: list[UsageGroup]
    approvals_by_status: dict[str, int]
    median_decision_seconds: float | None
    """Over approvals a person approved or rejected; None when there is none."""
    outcomes: dict[str, int] = field(default_factory=dict)
    """Closed conversations by outcome (open ones have none)."""
    resolved_cost_usd: float = 0.0
    """What the model calls of the resolved conversations cost."""
    feedback: dict[str, int] = field(default_factory=dict)
    """Replies by the customer's latest rating of each (`up`, `down`)."""


def _kinds(prefix: str, kinds: Sequence[str]) -> tuple[str, dict[str, str]]:
    # Letters, not digits: `pg` reads placeholder names as [a-z_]+.
    if len(kinds) > 26:
        raise ValueError(f"at most 26 kinds, not {len(kinds)}")
    names = [f"{prefix}_{chr(97 + i)}" for i in range(len(kinds))]
    return ", ".join(f":{n}" for n in names) or "NULL", dict(zip(names, kinds, strict=True))


def facts_sql(dialect: Dialect, which: str, escalated: str) -> str:
    """The facts of the conversations `c` that `which` selects, one row per fact.

    Columns: conversation_id, then `_COLUMNS`. `which` is a condition on alias `c`;
    `escalated` a condition on `c` saying it escalated.
    """
    hour = dialect.hour
    status = dialect.field.format(column="e.data", name="status")
    rating = dialect.field.format(column="e.data", name="rating")
    reply = dialect.field.format(column="e.data", name="reply_id")
    later_rating = dialect.field.format(column="l.data", name="rating")
    later_reply = dialect.field.format(column="l.data", name="reply_id")
    zero = "0, 0, 0.0"
    return " UNION ALL ".join(
        (
            f"SELECT c.id AS conversation_id, {hour} AS hour, 'conversations' AS metric, '' AS k1,"
            " '' AS k2, '' AS k3, 1 AS n, 0 AS input_tokens, 0 AS output_tokens,"
            f" 0.0 AS cost_usd FROM conversations c WHERE {which}",
            f"SELECT c.id, {hour}, 'escalated', '', '', '', 1, {zero}"
            f" FROM conversations c WHERE {which} AND {escalated}",
            f"SELECT c.id, {hour}, 'outcomes', c.outcome, '', '', 1, {zero}"
            f" FROM conversations c WHERE {which} AND c.outcome IS NOT NULL",
            f"SELECT c.id, {hour}, 'events', e.kind, COALESCE(e.agent, ''),"
            f" COALESCE({status}, ''), COUNT(*), {zero} FROM conversations c JOIN events e"
            f" ON e.conversation_id = c.id WHERE {which} GROUP BY c.id, 2, e.kind, 5, 6",
            f"SELECT c.id, {hour}, 'usage', u.agent, u.model, '', COUNT(*),"
            " SUM(u.input_tokens), SUM(u.output_tokens), SUM(u.cost_usd) FROM conversations c"
            f" JOIN usage u ON u.conversation_id = c.id WHERE {which}"
            " GROUP BY c.id, 2, u.agent, u.model",
            f"SELECT c.id, {hour}, 'resolved_cost', '', '', '', COUNT(*), 0, 0, SUM(u.cost_usd)"
            " FROM conversations c JOIN usage u ON u.conversation_id = c.id"
            f" WHERE {which} AND c.outcome = 'resolved' GROUP BY c.id, 2",
            f"SELECT c.id, {hour}, 'approvals', a.status, '', '', COUNT(*), {zero}"
            " FROM conversations c JOIN approvals a ON a.conversation_id = c.id"
            f" WHERE {which} GROUP BY c.id, 2, a.status",
            # The latest rating of each reply: a changed mind counts once, as it ended.
            f"SELECT c.id, {hour}, 'feedback', {rating}, '', '', COUNT(*), {zero}"
            " FROM conversations c JOIN events e ON e.conversation_id = c.id"
            f" WHERE {which} AND {rating} IS NOT NULL AND {reply} IS NOT NULL"
            " AND NOT EXISTS (SELECT 1 FROM events l WHERE l.conversation_id = e.conversation_id"
            f" AND l.seq > e.seq AND {later_rating} IS NOT NULL AND {later_reply} = {reply})"
            " GROUP BY c.id, 2, 4",
        )
    )


#: Closed conversations: their outcome says whether they escalated (it is computed from the
#: same event kinds, and escalation comes first).
_CLOSED_ESCALATED = "({escalated} OR c.outcome = 'escalated')"

#: Facts of one conversation, at close.
INSERT_FACTS = "INSERT INTO conversation_facts (conversation_id, " + _COLUMNS + ") {facts}"

#: Add (`:sign` 1) or take back (-1) one conversation's facts in the rollup.
APPLY_FACTS = (
    f"INSERT INTO analytics_rollup ({_COLUMNS}) SELECT hour, metric, k1, k2, k3, :sign * n,"
    " :sign * input_tokens, :sign * output_tokens, :sign * cost_usd FROM conversation_facts"
    " WHERE conversation_id = :id ON CONFLICT (hour, metric, k1, k2, k3) DO UPDATE SET"
    " n = analytics_rollup.n + excluded.n,"
    " input_tokens = analytics_rollup.input_tokens + excluded.input_tokens,"
    " output_tokens = analytics_rollup.output_tokens + excluded.output_tokens,"
    " cost_usd = analytics_rollup.cost_usd + excluded.cost_usd"
)
UNMARK_ROLLED_UP = (
    "UPDATE conversations SET rolled_up_at = NULL WHERE id = :id AND rolled_up_at IS NOT NULL"
    " RETURNING id"
)
#: The same, into the day rollup.
APPLY_FACTS_DAILY = (
    "INSERT INTO analytics_rollup_daily (day, metric, k1, k2, k3, n, input_tokens,"
    " output_tokens, cost_usd) SELECT substr(hour, 1, 10), metric, k1, k2, k3, :sign * n,"
    " :sign * input_tokens, :sign * output_tokens, :sign * cost_usd FROM conversation_facts"
    " WHERE conversation_id = :id ON CONFLICT (day, metric, k1, k2, k3) DO UPDATE SET"
    " n = analytics_rollup_daily.n + excluded.n,"
    " input_tokens = analytics_rollup_daily.input_tokens + excluded.input_tokens,"
    " output_tokens = analytics_rollup_daily.output_tokens + excluded.output_tokens,"
    " cost_usd = analytics_rollup_daily.cost_usd + excluded.cost_usd"
)
DELETE_FACTS = "DELETE FROM conversation_facts WHERE conversation_id = :id"
#: Compare-and-set: of two processes rolling one conversation up, one does.
MARK_ROLLED_UP = (
    "UPDATE conversations SET rolled_up_at = :now WHERE id = :id AND rolled_up_at IS NULL"
    " AND closed_at IS NOT NULL RETURNING id"
)
#: Closed before rollups existed (migration 6), or by an older version: rolled up at setup.
NOT_ROLLED_UP = (
    "SELECT id FROM conversations WHERE closed_at IS NOT NULL AND rolled_up_at IS NULL"
    " ORDER BY created_at, id LIMIT :limit"
)

#: Whole hours of a window, in at most two ranges (around its whole days).
READ_ROLLUP = (
    f"SELECT {_SUMS} FROM analytics_rollup WHERE (hour >= :first_a AND hour < :end_a)"
    f" OR (hour >= :first_b AND hour < :end_b) {_BY_DAY}"
)
#: Whole days of a window.
READ_ROLLUP_DAILY = (
    "SELECT day, metric, k1, k2, k3, n, input_tokens, output_tokens, cost_usd"
    " FROM analytics_rollup_daily WHERE day >= :first_day AND day < :end_day"
)

#: The conversations a window's rollup does not hold: open ones of its whole days (their own
#: index) and every one of its partial first and last hour.
_LIVE = (
    "c.id IN (SELECT id FROM conversations WHERE rolled_up_at IS NULL"
    " AND created_at >= :full_since AND created_at < :full_until"
    " UNION ALL SELECT id FROM conversations WHERE created_at >= :since"
    " AND created_at < :full_since"
    " UNION ALL SELECT id FROM conversations WHERE created_at >= :full_until"
    " AND created_at < :until)"
)


async def roll_up(fetch: Fetch, dialect: Dialect, conversation_id: str, now: datetime) -> None:
    """Store one conversation's facts and add them to the rollup (inside the closing
    transaction: `fetch` is the transaction's)."""
    escalated = _CLOSED_ESCALATED.format(escalated=dialect.escalated)
    facts = facts_sql(dialect, "c.id = :id", escalated)
    params = {"id": conversation_id}
    if not await fetch(dialect.sql(MARK_ROLLED_UP), {**params, "now": dialect.moment(now)}):
        return  # rolled up already (by another process at setup)
    await fetch(dialect.sql(INSERT_FACTS.format(facts=facts)), params)
    await fetch(dialect.sql(APPLY_FACTS), {**params, "sign": 1})
    await fetch(dialect.sql(APPLY_FACTS_DAILY), {**params, "sign": 1})


async def take_back(fetch: Fetch, dialect: Dialect, conversation_id: str) -> None:
    """Subtract a reopened conversation's facts from the rollup and forget them."""
    params = {"id": conversation_id}
    await fetch(dialect.sql(APPLY_FACTS), {**params, "sign": -1})
    await fetch(dialect.sql(APPLY_FACTS_DAILY), {**params, "sign": -1})
    await fetch(dialect.sql(DELETE_FACTS), params)


def _hour(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def hour_key(moment: datetime) -> str:
    """The rollup's key of the UTC hour starting at `moment`: `YYYY-MM-DDTHH`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H")


def whole_days(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days [day_since, day_until) inside [since, until); equal when none."""
    start = since.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if start < since:
        start += timedelta(days=1)
    end = until.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if end <= start:
        return until, until
    return start, end


def whole_hours(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """The window's whole UTC hours [full_since, full_until); equal bounds when there is none."""
    start = _hour(since)
    if start < since:
        start += timedelta(hours=1)
    end = _hour(until)
    if end <= start:
        return until, until
    return start, end


async def analytics_rows(
    fetch: Fetch,
    dialect: Dialect,
    since: datetime,
    until: datetime,
    vocabulary: EventVocabulary,
) -> AnalyticsRows:
    """The figures' rows of [since, until): the rollup's whole days plus the live rest."""
    full_since, full_until = whole_hours(since, until)
    moment = dialect.moment
    window = {
        "since": moment(since),
        "until": moment(until),
        "full_since": moment(full_since),
        "full_until": moment(full_until),
    }
    escalating, escalating_params = _kinds("esc", vocabulary.escalations)
    reason = dialect.field.format(column="x.data", name="reason")
    live_escalated = (
        f"({dialect.escalated} OR c.outcome = 'escalated' OR EXISTS (SELECT 1 FROM events x"
        f" WHERE x.conversation_id = c.id AND (x.kind IN ({escalating})"
        f" OR (x.kind = :selected AND {reason} = :reason))))"
    )
    live = await fetch(
        dialect.sql(
            f"SELECT {_SUMS} FROM (" + facts_sql(dialect, _LIVE, live_escalated) + f") f {_BY_DAY}"
        ),
        {
            **window,
            **escalating_params,
            "selected": vocabulary.selected,
            "reason": vocabulary.escalation_reason,
        },
    )
    rolled: list[Row] = []
    if full_since < full_until:
        day_since, day_until = whole_days(full_since, full_until)
        hours = (
            [(full_since, day_since), (day_until, full_until)]
            if day_since < day_until
            else [(full_since, full_until), (full_until, full_until)]
        )
        (first_a, end_a), (first_b, end_b) = hours
        rolled += await fetch(
            dialect.sql(READ_ROLLUP),
            {
                "first_a": hour_key(first_a),
                "end_a": hour_key(end_a),
                "first_b": hour_key(first_b),
                "end_b": hour_key(end_b),
            },
        )
        if day_since < day_until:
            rolled += await fetch(
                dialect.sql(READ_ROLLUP_DAILY),
                {
                    "first_day": day_since.date().isoformat(),
                    "end_day": day_until.date().isoformat(),
                },
            )
    median = await _median(fetch, dialect, window, await _decided(fetch, dialect, window))
    return _fold([*rolled, *live], median)


async def _median(
    fetch: Fetch, dialect: Dialect, window: dict[str, Any], count: int
) -> float | None:
    """The median seconds to decide of the approvals asked in the window that a person approved
    or rejected (`count` of them): their stored `decision_seconds`, read in order from an index
    of decided approvals, so the database reads half of them at most and sorts nothing."""
    if not count:
        return None
    middle = await fetch(
        dialect.sql(
            "SELECT decision_seconds AS seconds FROM approvals WHERE status IN"
            " ('approved', 'rejected') AND created_at >= :since AND created_at < :until"
            " AND decision_seconds IS NOT NULL ORDER BY decision_seconds, created_at"
            " LIMIT :take OFFSET :skip"
        ),
        {**window, "take": 2 - count % 2, "skip": (count - 1) // 2},
    )
    if not middle:
        return None
    return sum(float(r["seconds"]) for r in middle) / len(middle)


async def _decided(fetch: Fetch, dialect: Dialect, window: dict[str, Any]) -> int:
    found = await fetch(
        dialect.sql(
            "SELECT COUNT(*) AS n FROM approvals WHERE status IN ('approved', 'rejected')"
            " AND created_at >= :since AND created_at < :until AND decision_seconds IS NOT NULL"
        ),
        window,
    )
    return int(found[0]["n"])


def _fold(found: Sequence[Row], median: float | None) -> AnalyticsRows:
    """Add up fact rows (from the rollup and live) into the figures' rows."""
    days: dict[str, int] = {}
    escalated = 0
    events: dict[tuple[str, str, str], int] = {}
    usage: dict[tuple[str, str, str], list[float]] = {}
    approvals: dict[str, int] = {}
    outcomes: dict[str, int] = {}
    feedback: dict[str, int] = {}
    resolved_cost = 0.0
    for r in found:
        metric, day, n = r["metric"], str(r["day"]), int(r["n"])
        k1, k2, k3 = r["k1"], r["k2"], r["k3"]
        if metric == "conversations":
            days[day] = days.get(day, 0) + n
        elif metric == "escalated":
            escalated += n
        elif metric == "events":
            events[(k1, k2, k3)] = events.get((k1, k2, k3), 0) + n
        elif metric == "usage":
            totals = usage.setdefault((day, k1, k2), [0, 0, 0, 0.0])
            for i, value in enumerate(
                (n, r["input_tokens"], r["output_tokens"], float(r["cost_usd"]))
            ):
                totals[i] += value
        elif metric == "approvals":
            approvals[k1] = approvals.get(k1, 0) + n
        elif metric == "outcomes":
            outcomes[k1] = outcomes.get(k1, 0) + n
        elif metric == "feedback":
            feedback[k1] = feedback.get(k1, 0) + n
        elif metric == "resolved_cost":
            resolved_cost += float(r["cost_usd"])
    return AnalyticsRows(
        conversations_by_day={d: n for d, n in sorted(days.items()) if n},
        escalated=escalated,
        events=[
            EventGroup(kind, agent or None, status or None, n)
            for (kind, agent, status), n in sorted(events.items())
            if n
        ],
        usage=[
            UsageGroup(
                day=day,
                agent=agent,
                model=model,
                model_calls=int(t[0]),
                input_tokens=int(t[1]),
                output_tokens=int(t[2]),
                cost_usd=round(float(t[3]), 10),
            )
            for (day, agent, model), t in sorted(usage.items())
            if t[0]
        ],
        approvals_by_status={k: n for k, n in approvals.items() if n},
        median_decision_seconds=median,
        outcomes={k: n for k, n in outcomes.items() if n},
        resolved_cost_usd=round(resolved_cost, 10),
        feedback={k: n for k, n in feedback.items() if n},
    )


__all__ = [
    "AnalyticsRows",
    "EventGroup",
    "EventVocabulary",
    "UsageGroup",
    "analytics_rows",
    "facts_sql",
    "hour_key",
    "roll_up",
    "take_back",
    "whole_days",
    "whole_hours",
]

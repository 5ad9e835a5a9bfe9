"""Analytics rollups, on SQLite and PostgreSQL: a closed conversation's figures come from the
rollup of its day and are exactly what the live computation says; reopening takes them back; a
rating given after the close is rolled up again; the customers' thumbs count once per reply."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from smart_support.analytics import compute
from smart_support.analytics.outcomes import OUTCOME_VERSION, outcome
from smart_support.store import Store
from smart_support.store.rollups import whole_hours
from test_analytics import DAY_A, DAY_B, SINCE, UNTIL, log, seeded, store  # noqa: F401

CLOSED_AT = DAY_B + timedelta(hours=2)
#: Figures only the outcomes change (null before any conversation closed).
OUTCOME_FIGURES = {"resolved", "resolution_rate", "cost_per_resolution_usd", "abandoned"}


def comparable(figures: Any, *ignored: str) -> dict[str, Any]:
    """The figures without their window (and without `ignored`)."""
    dumped = figures.model_dump(mode="json")
    for name in ("since", "until", *ignored):
        dumped.pop(name)
    return dumped


async def close_all(opened: Store, *cids: str) -> None:
    """Close each conversation with the outcome its own event log gives."""
    for cid in cids:
        conversation = await opened.get_conversation(cid)
        assert conversation is not None
        result = outcome(await opened.events(cid), escalated=conversation.escalated)
        assert await opened.close_conversation(cid, result, OUTCOME_VERSION, CLOSED_AT)


def partial_window() -> tuple[Any, Any]:
    """The same conversations as [SINCE, UNTIL), with a partial first and last hour."""
    since, until = SINCE + timedelta(seconds=1), UNTIL - timedelta(seconds=1)
    assert whole_hours(since, until) == (SINCE + timedelta(hours=1), UNTIL - timedelta(hours=1))
    return since, until


async def test_the_rollup_of_closed_conversations_answers_what_the_live_figures_said(
    seeded: Store,  # noqa: F811
) -> None:
    live = await compute(seeded, SINCE, UNTIL)
    assert live.resolved is None and live.conversations == 3
    await close_all(seeded, "c1", "c2", "c3", "old")
    assert whole_hours(SINCE, UNTIL) == (SINCE, UNTIL)  # whole hours only: from the rollup
    rolled = await compute(seeded, SINCE, UNTIL)
    ignored = (*OUTCOME_FIGURES, "outcomes", "abandonment_rate")
    assert comparable(rolled, *ignored) == comparable(live, *ignored)
    assert rolled.outcomes == {"escalated": 2, "resolved": 1}
    assert (rolled.resolved, rolled.resolution_rate) == (1, pytest.approx(1 / 3, abs=1e-6))
    assert rolled.cost_per_resolution_usd == pytest.approx(0.011)
    assert comparable(await compute(seeded, *partial_window())) == comparable(rolled)


async def test_the_whole_hours_are_read_from_the_rollup_and_the_edges_live(
    seeded: Store,  # noqa: F811
) -> None:
    await close_all(seeded, "c1", "c2", "c3")
    before = await compute(seeded, SINCE, UNTIL)
    # Appended to a closed conversation without reopening it: the rollup does not know yet.
    await log(seeded, "c1", ("customer_message", None, {"text": "one more thing"}))
    assert (await compute(seeded, SINCE, UNTIL)).turns == before.turns
    # c1 began at DAY_A 09:00: a window ending at 09:30 has only part of that hour, read live.
    edge = (SINCE, DAY_A + timedelta(minutes=30))
    assert whole_hours(*edge) == (SINCE, DAY_A)
    assert (await compute(seeded, *edge)).turns == 3  # c1's two turns and the new one
    assert await seeded.refresh_facts("c1")
    assert (await compute(seeded, SINCE, UNTIL)).turns == before.turns + 1
    assert not await seeded.refresh_facts("nobody")


async def test_reopening_takes_a_conversation_back_out_of_the_rollup(
    seeded: Store,  # noqa: F811
) -> None:
    live = await compute(seeded, SINCE, UNTIL)
    await close_all(seeded, "c1", "c2", "c3")
    assert await seeded.reopen_conversation("c1")
    figures = await compute(seeded, SINCE, UNTIL)
    assert figures.outcomes == {"escalated": 2}  # c1 is open again: no outcome
    ignored = (*OUTCOME_FIGURES, "outcomes", "abandonment_rate")
    assert comparable(figures, *ignored) == comparable(live, *ignored)
    await close_all(seeded, "c1")  # closed twice, counted once
    again = await compute(seeded, SINCE, UNTIL)
    assert again.conversations == 3 and again.outcomes == {"escalated": 2, "resolved": 1}
    assert comparable(again, *ignored) == comparable(live, *ignored)


async def test_the_latest_rating_of_each_reply_counts_once_live_and_rolled_up(
    seeded: Store,  # noqa: F811
) -> None:
    def rating(reply: str, value: str) -> tuple[str, str, dict[str, Any]]:
        return ("feedback", "orders", {"reply_id": reply, "rating": value, "comment": None})

    await log(seeded, "c1", rating("r1", "down"), rating("r1", "up"), rating("r2", "down"))
    await log(seeded, "c2", rating("r3", "up"))
    live = await compute(seeded, SINCE, UNTIL)
    assert (live.feedback.up, live.feedback.down) == (2, 1)
    assert live.feedback.satisfaction == pytest.approx(2 / 3, abs=1e-6)
    await close_all(seeded, "c1", "c2")
    await log(seeded, "c2", rating("r3", "down"))  # a change of mind after the close
    assert await seeded.refresh_facts("c2")
    rolled = await compute(seeded, SINCE, UNTIL)
    assert (rolled.feedback.up, rolled.feedback.down) == (1, 2)


async def test_an_empty_window_of_whole_hours_answers_zeros(store: Store) -> None:  # noqa: F811
    figures = await compute(store, SINCE, UNTIL)
    assert (figures.conversations, figures.outcomes, figures.series) == (0, {}, [])
    assert figures.feedback.satisfaction is None and figures.abandonment_rate is None
    assert DAY_A < UNTIL

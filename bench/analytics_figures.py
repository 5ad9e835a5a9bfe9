"""Benchmark: `smart_support.analytics.compute` over 1k, 10k and 100k synthetic conversations, on
SQLite (a temporary file) and PostgreSQL (a fresh database).

The conversations are written through the store's own methods (create_conversation,
append_event, create_approval / decide_approval, record_usage, mark_escalated), never by
hand-made SQL, and spread over 30 days. The mix: agents orders, returns and knowledge; 1-8 turns;
each turn a customer message, the routing, a tool call (about 10% fail), a reply and two model
calls (router and agent, two models); about 20% of conversations ask for an approval (mostly
approved, some rejected, expired or still pending); about 5% escalate to a person.

Conversations begun more than two hours before the window's end are closed (outcome computed from
their events, as the idle sweeper does), so their facts are in the rollup; about one reply in ten
is rated. Sizes grow in one database (1k, then 9k more, then 90k more) and `compute` is timed
after each (median of --repeat runs, after one warm run) over two windows: the 30 days to
midnight (whole hours: the rollup, plus the open conversations live) and the last 30 days to
23:47 (its partial first and last hour read live too). A size whose writing
would take the database past --budget seconds (at the rate so far) is skipped, with the sizes
after it, and reported as not reached.

    python bench/analytics_figures.py [--sizes 1000,10000,100000] [--repeat 5] [--budget 1800]
        [--concurrency 8] [--pg postgresql://...] [--only sqlite|postgres]

Target: analytics at 100k conversations at most 300 ms on both databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from smart_support.analytics import compute
from smart_support.analytics.outcomes import OUTCOME_VERSION, outcome
from smart_support.settings import Settings
from smart_support.store import Store, open_persistence, rows
from smart_support.store.base import hash_args
from smart_support.store.records import Approval, Usage

sys.path.insert(0, str(Path(__file__).parent))

from engine_turns import _drop_pg_database, _fresh_pg_database

TARGET_MS = 300.0
DAYS = 30
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
SINCE = UNTIL - timedelta(days=DAYS)
#: Conversations begun in the window's last two hours are still open (about 0.3%); the others
#: closed 30 minutes after their last message, as the idle sweeper closes them.
OPEN_AFTER = UNTIL - timedelta(hours=2)
#: The API's default window (the last 30 days from a moment that is not a round hour): its first
#: and last hour are partial, so they are read live.
OFFSET = (SINCE + timedelta(minutes=17, seconds=33), UNTIL - timedelta(minutes=13))
AGENTS: dict[str, list[str]] = {
    "orders": ["order_status", "cancel_order", "change_address"],
    "returns": ["start_return", "return_status"],
    "knowledge": ["search_policy"],
}
#: Tools that ask a person first (the approvals in the mix).
GUARDED = {"orders": "cancel_order", "returns": "start_return", "knowledge": "search_policy"}
MODELS = ("gpt-4o-mini", "gpt-4o")

#: The moment the store stamps rows with (`rows.now`), one per writing task: conversations are
#: written concurrently, so a patched global would leak between them.
_moment: contextvars.ContextVar[datetime] = contextvars.ContextVar("moment")


def _stamp() -> datetime:
    return _moment.get(datetime.now(UTC))


async def _conversation(store: Store, n: int, rng: random.Random) -> None:
    """Write conversation number `n` through the store, at a random moment of the window."""
    start = SINCE + timedelta(seconds=rng.uniform(0, DAYS * 86400 - 3600))
    _moment.set(start)
    cid = f"bench-{n:07d}"
    await store.create_conversation(cid, "hash")
    agent = rng.choices(list(AGENTS), weights=(5, 3, 2))[0]
    turns = rng.randint(1, 8)
    escalate_at = rng.randint(1, turns) if rng.random() < 0.05 else 0
    approve_at = rng.randint(1, turns) if rng.random() < 0.20 else 0
    clock = start
    for turn in range(1, turns + 1):
        clock += timedelta(seconds=rng.uniform(5, 60))
        _moment.set(clock)
        await store.append_event(cid, "customer_message", None, {"text": f"question {turn}"})
        reason = "routed" if turn == 1 else "kept"
        await store.append_event(cid, "agent_selected", agent, {"agent": agent, "reason": reason})
        await _usage(store, cid, "router", MODELS[0], clock, rng)
        if turn == escalate_at:
            await store.append_event(
                cid, "handoff", "escalation", {"reason": "the customer asked for a person"}
            )
            await store.mark_escalated(cid)
            break
        tool = GUARDED[agent] if turn == approve_at else rng.choice(AGENTS[agent])
        args = {"order_id": 1000 + n % 9000}
        if turn == approve_at:
            await _approval(store, cid, agent, tool, args, clock, rng)
        status = "failed" if rng.random() < 0.10 else "succeeded"
        call = {"tool": tool, "call_id": f"call-{n}-{turn}", "args": args}
        await store.append_event(cid, "tool_activity", agent, {**call, "status": "started"})
        await store.append_event(
            cid,
            "tool_activity",
            agent,
            {**call, "status": status, "duration_ms": rng.randint(20, 900), "result": "ok"},
        )
        await _usage(store, cid, agent, rng.choice(MODELS), clock, rng)
        reply = f"r-{n}-{turn}"
        await store.append_event(
            cid, "reply_end", agent, {"text": f"answer {turn}", "reply_id": reply}
        )
        if rng.random() < 0.10:  # a customer rates about one reply in ten
            rating = rng.choices(("up", "down"), (80, 20))[0]
            data = {"reply_id": reply, "rating": rating, "comment": None}
            await store.append_event(cid, "feedback", agent, data)
    if start < OPEN_AFTER:  # the rest is still going on at the end of the window: open
        conversation = await store.get_conversation(cid)
        assert conversation is not None
        result = outcome(await store.events(cid), escalated=conversation.escalated)
        closed_at = clock + timedelta(minutes=30)
        _moment.set(closed_at)
        await store.close_conversation(cid, result, OUTCOME_VERSION, closed_at)


async def _usage(
    store: Store, cid: str, agent: str, model: str, when: datetime, rng: random.Random
) -> None:
    tokens_in, tokens_out = rng.randint(300, 3000), rng.randint(20, 400)
    price = 0.15e-6 if model == MODELS[0] else 2.5e-6
    cost = round((tokens_in + 4 * tokens_out) * price, 8)
    await store.record_usage(Usage(cid, agent, model, tokens_in, tokens_out, cost, when))


async def _approval(
    store: Store,
    cid: str,
    agent: str,
    tool: str,
    args: dict[str, Any],
    when: datetime,
    rng: random.Random,
) -> None:
    approval_id = f"appr-{cid}"
    await store.create_approval(
        Approval(
            id=approval_id,
            conversation_id=cid,
            agent=agent,
            tool=tool,
            tool_call_id=f"call-{approval_id}",
            args=args,
            args_hash=hash_args(args),
            summary=f"{tool} {args}",
            status="pending",
            created_at=when,
            expires_at=when + timedelta(hours=1),
        )
    )
    outcome = rng.choices(("approved", "rejected", "expired", "pending"), (70, 15, 10, 5))[0]
    if outcome == "pending":
        return
    after = timedelta(hours=2) if outcome == "expired" else timedelta(seconds=rng.uniform(5, 1800))
    await store.decide_approval(approval_id, outcome, "operator:bench", when + after)  # type: ignore[arg-type]


async def _generate(store: Store, first: int, last: int, concurrency: int) -> None:
    """Conversations number first..last-1, `concurrency` written at a time."""
    numbers = iter(range(first, last))

    async def worker() -> None:
        for n in numbers:
            await _conversation(store, n, random.Random(n))

    await asyncio.gather(*(worker() for _ in range(concurrency)))


async def _median_ms(
    store: Store, repeat: int, window: tuple[datetime, datetime] = (SINCE, UNTIL)
) -> tuple[float, int]:
    figures = await compute(store, *window)  # warm
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await compute(store, *window)
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, figures.conversations


Result = tuple[float, float, float]
"""(median ms over the whole-hours window, over the offset window, seconds spent writing)."""


async def run(
    name: str, database_url: str, sizes: list[int], repeat: int, budget: float, concurrency: int
) -> dict[int, Result | None]:
    """{size: Result, or None when not reached}."""
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    result: dict[int, Result | None] = dict.fromkeys(sizes)
    stamp = rows.now
    rows.now = _stamp
    try:
        async with open_persistence(settings) as opened:
            store, written, spent = opened.store, 0, 0.0
            for size in sizes:
                expected = spent + (size - written) * spent / written if written else 0.0
                if expected > budget:
                    print(
                        f"{name}: {size} not written (about {expected:.0f} s of writing at"
                        f" the rate so far, over the {budget:.0f} s budget)"
                    )
                    break
                started = time.perf_counter()
                await _generate(store, written, size, concurrency)
                spent += time.perf_counter() - started
                written = size
                if opened.dialect == "postgres":
                    # What autovacuum does by itself within a minute of this much writing: the
                    # planner needs table statistics to use the indexes over open conversations.
                    with psycopg.connect(database_url, autocommit=True) as conn:
                        conn.execute("ANALYZE")
                whole, counted = await _median_ms(store, repeat)
                assert counted == size, (counted, size)
                offset, _ = await _median_ms(store, repeat, OFFSET)
                result[size] = (whole, offset, spent)
                print(
                    f"{name}: {size} conversations (written in {spent:.0f} s): {whole:.1f} ms,"
                    f" offset window {offset:.1f} ms"
                )
    finally:
        rows.now = stamp  # type: ignore[assignment]
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--budget", type=float, default=1800.0, help="seconds of writing per db")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--only", choices=("sqlite", "postgres"))
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    args = parser.parse_args()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    results: dict[str, dict[int, Result | None]] = {}
    if args.only != "postgres":
        with tempfile.TemporaryDirectory() as tmp:
            url = f"sqlite:///{tmp}/analytics.db"
            results["SQLite"] = await run(
                "SQLite", url, sizes, args.repeat, args.budget, args.concurrency
            )
    if args.only != "sqlite":
        url, name = _fresh_pg_database(args.pg)
        try:
            results["PostgreSQL"] = await run(
                "PostgreSQL", url, sizes, args.repeat, args.budget, args.concurrency
            )
        finally:
            _drop_pg_database(args.pg, name)
    print(
        f"\n`compute` median of {args.repeat}: the 30 days to midnight | the last 30 days to"
        " 23:47 (partial first and last hour); x = ratio to the smallest size, same run;"
        " writing time in brackets\n"
    )
    print("| database | " + " | ".join(f"{s:,} conversations" for s in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    for db, row in results.items():
        base = row.get(sizes[0])
        cells = []
        for r in row.values():
            if r is None or base is None:
                cells.append("not reached")
                continue
            cells.append(
                f"{r[0]:.1f} ms ({r[0] / base[0]:.2f}x) / {r[1]:.1f} ms ({r[1] / base[1]:.2f}x)"
                f" [{r[2]:.0f} s]"
            )
        print(f"| {db} | " + " | ".join(cells) + " |")
    top = max(sizes)
    for db, row in results.items():
        got = row.get(top)
        if got is None:
            verdict = "not measured"
        else:
            worst = max(got[0], got[1])
            verdict = ("met" if worst <= TARGET_MS else "NOT met") + f" ({worst:.1f} ms)"
        print(f"{db}: target <= {TARGET_MS:.0f} ms at {top:,}: {verdict}")


if __name__ == "__main__":
    asyncio.run(main())

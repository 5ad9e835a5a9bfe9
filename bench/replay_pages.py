"""Benchmark: replay pages at depths 1, 500 and 1,000 of a 1,000-turn conversation, against
LangGraph's `aget_state_history` on the same thread in the same run.

The conversation is written through the engine (a zero-latency scripted model: route -> agent
-> tool -> agent per turn), so the store holds its event log and usage records and LangGraph's
checkpointer holds the thread's checkpoints, as in production. On SQLite and on PostgreSQL.

A page holds the same 20 turns on both sides: the 20 turns ending at turn max(depth, 20).
Ours is `smart_support.replay.read_page` (the REST endpoint's query and models: 100 events
after a seq); LangGraph's is `graph.aget_state_history(config, before=<checkpoint after that
turn>, limit=<checkpoints of 20 turns>)`, the way to page through its history.

    python bench/replay_pages.py [--turns 1000] [--repeat 30] [--pg postgresql://...]

Targets: our page at depth 1,000 at most 50 ms and within 1.5x of the first page.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from smart_support.replay import read_page, summarize
from smart_support.replay.export import export_lines
from smart_support.runtime.engine import Engine
from smart_support.settings import Settings
from smart_support.testing import ScriptedChatModel, call

sys.path.insert(0, str(Path(__file__).parent))

from engine_turns import (
    AGENTS_YAML,
    _agent_step,
    _drop_pg_database,
    _fresh_pg_database,
)

#: Turns per page (both sides show the same turns).
PAGE_TURNS = 20


async def _median_ms(read: Callable[[], Awaitable[Any]], repeat: int) -> float:
    await read()  # warm: the first read of a page may pay for a cold cache once
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await read()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


async def run(
    database_url: str, agents: Path, turns: int, repeat: int, name: str
) -> dict[str, Any]:
    settings = Settings(  # type: ignore[call-arg]
        database_url=database_url, agents_file=agents, llm_provider="offline"
    )
    model = ScriptedChatModel(default=_agent_step)
    router = ScriptedChatModel(default=call("transfer_to_orders"))
    depths = [1, turns // 2, turns]
    ends = sorted({max(d, PAGE_TURNS) for d in depths})
    async with Engine.open(settings, model=model, router_model=router) as engine:
        cid, _ = await engine.start_conversation()
        thread = {"configurable": {"thread_id": cid}}
        after_turn: dict[int, Any] = {}  # turn -> the checkpoint config right after it
        started = time.perf_counter()
        for turn in range(1, turns + 1):
            async for event in engine.send(cid, f"Where is order 1042? ({turn})"):
                if event.type == "turn_error":
                    raise RuntimeError(event.message)
            if turn in ends:
                after_turn[turn] = (await engine.graph.aget_state(thread)).config
        written = time.perf_counter() - started
        store = engine.store
        asked = await store.events_page(cid, 0, turns + 1, ["customer_message"])
        message_seq = [e.seq for e in asked]  # turn n's customer message: message_seq[n - 1]
        last = await store.events_page(cid, message_seq[-1], 1000)
        total_events = last[-1].seq
        per_turn = message_seq[1] - message_seq[0]
        page_events = PAGE_TURNS * per_turn
        first_page = [
            s async for s in engine.graph.aget_state_history(thread, before=after_turn[ends[0]])
        ]
        # checkpoints of the first PAGE_TURNS turns: those before the one after turn 20, + it
        page_checkpoints = len(first_page) + 1
        print(
            f"\n{name}: {turns} turns written through the engine in {written:.1f} s;"
            f" {total_events} events ({per_turn} per turn),"
            f" {page_checkpoints / PAGE_TURNS:.1f} checkpoints per turn"
        )
        result: dict[str, Any] = {"ours": {}, "langgraph": {}}
        for depth in depths:
            end = max(depth, PAGE_TURNS)
            after = message_seq[end - PAGE_TURNS] - 1

            async def read_ours(after: int = after) -> None:
                page = await read_page(store, cid, after=after, limit=page_events)
                assert len(page.events) == page_events

            async def read_theirs(end: int = end) -> None:
                history = engine.graph.aget_state_history(
                    thread, before=after_turn[end], limit=page_checkpoints
                )
                got = [s async for s in history]
                # the first page has nothing before turn 1: one checkpoint fewer than a limit
                assert len(got) == (len(first_page) if end == ends[0] else page_checkpoints)

            result["ours"][depth] = await _median_ms(read_ours, repeat)
            result["langgraph"][depth] = await _median_ms(read_theirs, max(3, repeat // 5))
        result["summary"] = await _median_ms(lambda: summarize(store, cid), 5)

        async def export() -> None:
            summary = await summarize(store, cid)
            assert summary is not None
            async for _ in export_lines(store, summary):
                pass

        result["export"] = await _median_ms(export, 3)
    ours, theirs = result["ours"], result["langgraph"]
    print(f"  page = {PAGE_TURNS} turns: {page_events} events / {page_checkpoints} checkpoints")
    print(f"  {'depth':>6} {'replay page':>12} {'aget_state_history':>19} {'LangGraph/ours':>15}")
    for depth in depths:
        print(
            f"  {depth:>6} {ours[depth]:>9.2f} ms {theirs[depth]:>16.1f} ms"
            f" {theirs[depth] / ours[depth]:>14.0f}x"
        )
    print(
        f"  depth {turns} / depth 1: ours {ours[turns] / ours[1]:.2f}x,"
        f" LangGraph {theirs[turns] / theirs[1]:.2f}x"
    )
    print(
        f"  whole-conversation summary {result['summary']:.1f} ms,"
        f" JSON Lines export {result['export']:.1f} ms"
    )
    ok = ours[turns] <= 50 and ours[turns] <= 1.5 * ours[1]
    print(
        f"  target: depth {turns} {ours[turns]:.2f} ms <= 50 ms and"
        f" <= 1.5x first page: {'met' if ok else 'NOT met'}"
    )
    return result


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--skip-pg", action="store_true")
    args = parser.parse_args()
    if args.turns < 2 * PAGE_TURNS:
        parser.error(f"--turns must be at least {2 * PAGE_TURNS}")
    with tempfile.TemporaryDirectory() as tmp:
        agents = Path(tmp) / "agents.yaml"
        agents.write_text(AGENTS_YAML)
        await run(f"sqlite:///{tmp}/bench.db", agents, args.turns, args.repeat, "SQLite")
        if args.skip_pg:
            return
        url, name = _fresh_pg_database(args.pg)
        try:
            await run(url, agents, args.turns, args.repeat, "PostgreSQL")
        finally:
            _drop_pg_database(args.pg, name)


if __name__ == "__main__":
    asyncio.run(main())

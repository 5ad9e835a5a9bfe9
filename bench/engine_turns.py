"""Benchmark: one 200-turn conversation through the engine, against langgraph-supervisor.

Each turn is a customer question answered with one tool call (route -> agent -> tool -> agent),
with a zero-latency scripted model, so what is measured is the engine and its storage. The
baseline is the same conversation through `langgraph-supervisor` (supervisor -> worker -> tool
-> worker -> supervisor) on the same database in the same run.

    python bench/engine_turns.py [--turns 200] [--pg postgresql://postgres@127.0.0.1:5432/test]

Prints the median per-turn time of the first and last 20 turns, bytes stored per turn, and the
ratios to the baseline. Targets: last-20/first-20 <= 1.3; median <= 25 ms on PostgreSQL;
storage <= 1/20 of the baseline's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path
from typing import Any

import psycopg
from langchain_core.messages import HumanMessage, ToolMessage

from smart_support.runtime.engine import Engine
from smart_support.settings import Settings
from smart_support.testing import ScriptedChatModel, call

sys.path.insert(0, str(Path(__file__).parent))

AGENTS_YAML = """
version: 1
agents:
  - name: orders
    description: Order status and tracking.
    personality: You are the orders specialist.
    examples: ["Where is order 1042?"]
    tools:
      - python: _bench_tools:lookup_order
        access: read
  - name: general
    role: fallback
    description: Anything else.
    personality: You help with anything else.
    tools: []
"""


def _agent_step(messages: list[Any]) -> Any:
    if isinstance(messages[-1], ToolMessage):
        return "Order 1042 has shipped with DHL and arrives on 2026-12-01."
    return call("lookup_order", {"order_id": 1042})


def _summary(name: str, times: list[float], stored: int | None, turns: int) -> dict[str, Any]:
    first = statistics.median(times[:20]) * 1000
    last = statistics.median(times[-20:]) * 1000
    per_turn = (stored or 0) / turns
    print(
        f"{name:<34} first20 {first:7.1f} ms  last20 {last:7.1f} ms  "
        f"growth {last / first:5.2f}x  median {statistics.median(times) * 1000:7.1f} ms  "
        f"stored/turn {per_turn / 1024:9.1f} KiB"
    )
    return {
        "first": first,
        "last": last,
        "median": statistics.median(times) * 1000,
        "per_turn": per_turn,
    }


async def run_engine(database_url: str, turns: int, agents: Path) -> tuple[list[float], int | None]:
    settings = Settings(database_url=database_url, agents_file=agents, llm_provider="offline")
    model = ScriptedChatModel(default=_agent_step)
    router = ScriptedChatModel(default=call("transfer_to_orders"))
    times: list[float] = []
    async with Engine.open(settings, model=model, router_model=router) as engine:
        conversation, _ = await engine.start_conversation()
        for turn in range(turns):
            started = time.perf_counter()
            async for event in engine.send(conversation, f"Where is order 1042? ({turn})"):
                if event.type == "error":
                    raise RuntimeError(event.message)
            times.append(time.perf_counter() - started)
        stored = engine.store.stored_bytes()
        if asyncio.iscoroutine(stored):
            stored = await stored
    return times, stored


async def run_baseline(database_url: str, turns: int) -> tuple[list[float], int]:
    """The same conversation through langgraph-supervisor on PostgreSQL."""
    from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
    from langgraph.prebuilt import create_react_agent
    from langgraph_supervisor import create_supervisor
    from psycopg.rows import dict_row
    from psycopg_pool import AsyncConnectionPool

    sys.path.insert(0, str(Path(__file__).parent))
    from _bench_tools import lookup_order

    def supervisor_step(messages: list[Any]) -> Any:
        last = messages[-1]
        if isinstance(last, HumanMessage):
            return call("transfer_to_orders")
        return "Order 1042 has shipped with DHL and arrives on 2026-12-01."

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        worker = create_react_agent(
            ScriptedChatModel(default=_agent_step),
            [lookup_order],
            name="orders",
            prompt="You are the orders specialist.",
        )
        workflow = create_supervisor(
            [worker], model=ScriptedChatModel(default=supervisor_step), prompt="Route to orders."
        )
    times: list[float] = []
    async with AsyncConnectionPool(
        database_url,
        max_size=4,
        open=False,
        kwargs={"autocommit": True, "prepare_threshold": 0, "row_factory": dict_row},
    ) as pool:
        saver = AsyncPostgresSaver(pool)  # type: ignore[arg-type]
        await saver.setup()
        graph = workflow.compile(checkpointer=saver)
        config = {"configurable": {"thread_id": "bench"}}
        for turn in range(turns):
            started = time.perf_counter()
            await graph.ainvoke(
                {"messages": [HumanMessage(f"Where is order 1042? ({turn})")]}, config
            )
            times.append(time.perf_counter() - started)
        async with pool.connection() as conn:
            row = await (
                await conn.execute("SELECT pg_database_size(current_database()) AS s")
            ).fetchone()
    return times, int(row["s"])  # type: ignore[index]


def _fresh_pg_database(admin_url: str) -> tuple[str, str]:
    name = f"ss_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + f"/{name}", name


def _drop_pg_database(admin_url: str, name: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _empty_database_size(admin_url: str) -> int:
    url, name = _fresh_pg_database(admin_url)
    try:
        with psycopg.connect(url) as conn:
            return int(conn.execute("SELECT pg_database_size(current_database())").fetchone()[0])
    finally:
        _drop_pg_database(admin_url, name)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=200)
    parser.add_argument(
        "--pg", default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--skip-baseline", action="store_true")
    args = parser.parse_args()
    turns = args.turns
    empty = _empty_database_size(args.pg)
    print(
        f"{turns} turns, zero-latency scripted model; empty PostgreSQL database = "
        f"{empty / 1024:.0f} KiB (subtracted)"
    )
    with tempfile.TemporaryDirectory() as tmp:
        agents = Path(tmp) / "agents.yaml"
        agents.write_text(AGENTS_YAML)
        results: dict[str, dict[str, Any]] = {}
        times, stored = await run_engine(f"sqlite:///{tmp}/bench.db", turns, agents)
        results["sqlite"] = _summary("smart-support engine, SQLite", times, stored, turns)
        url, name = _fresh_pg_database(args.pg)
        try:
            times, _ = await run_engine(url, turns, agents)
            with psycopg.connect(url) as conn:
                size = int(
                    conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
                )
            results["pg"] = _summary("smart-support engine, PostgreSQL", times, size - empty, turns)
        finally:
            _drop_pg_database(args.pg, name)
        if args.skip_baseline:
            return
        url, name = _fresh_pg_database(args.pg)
        try:
            times, size = await run_baseline(url, turns)
            results["base"] = _summary(
                "langgraph-supervisor, PostgreSQL", times, size - empty, turns
            )
        finally:
            _drop_pg_database(args.pg, name)
    ours, base = results["pg"], results["base"]
    print("\nratios on PostgreSQL (engine / baseline):")
    print(f"  median per-turn time  {ours['median'] / base['median']:.2f}")
    print(f"  last-20 per-turn time {ours['last'] / base['last']:.2f}")
    print(
        f"  bytes stored per turn {ours['per_turn'] / base['per_turn']:.3f} "
        f"(1/{base['per_turn'] / max(ours['per_turn'], 1):.0f})"
    )
    print(
        f"targets: growth {ours['last'] / ours['first']:.2f} <= 1.3; "
        f"median {ours['median']:.1f} ms <= 25 ms; "
        f"storage 1/{base['per_turn'] / max(ours['per_turn'], 1):.0f} >= 1/20"
    )


if __name__ == "__main__":
    asyncio.run(main())

"""Benchmark: what the cross-process event fan-out adds (`smart_support.fanout`, PostgreSQL
LISTEN/NOTIFY), against in-process delivery measured in the same run.

A second process listens (a `PostgresFanout`, as every server process has); this process
publishes events the way a turn does: a burst of tokens, a `reply_end`, then the flush a turn
waits for before it releases its conversation lock. Each event carries the moment it was
published (CLOCK_MONOTONIC, which both processes share); the listener records when it delivered
it. Reported:

* delivery latency to the other process (p50/p99/max), the figure a socket connected elsewhere
  sees on top of the turn;
* the flush a turn waits for once, at its end (p50/p99): what the fan-out adds to the critical
  path of every turn, even with a single process;
* the baseline: the same events handed to an in-process subscriber queue.

    python bench/fanout_latency.py [--turns 400] [--tokens 20] [--rate 50] [--pg URL]
        [--redis redis://127.0.0.1:6379/0]

`--rate` is turns per second offered (spread evenly), like the load of many conversations.
Target (issue 15): the fan-out adds at most 5 ms p99.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import time
import uuid
from typing import Any

import psycopg

from smart_support.fanout import PostgresFanout, RedisFanout
from smart_support.runtime.events import ReplyEnd, Token

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"

LISTENER = r"""
import asyncio, json, sys, time
from smart_support.fanout import PostgresFanout, RedisFanout

async def main():
    url, expected, channel = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    latencies, done = [], asyncio.Event()
    def deliver(event):
        sent = int(event.text.split()[-1] if event.type == "reply_end" else event.text)
        latencies.append((event.type, time.monotonic_ns() - sent))
        if len(latencies) >= expected:
            done.set()
    if url.startswith("redis"):
        fanout = RedisFanout(url, deliver, channel=channel)
    else:
        fanout = PostgresFanout(url, deliver)
    await fanout.start()
    print("listening", flush=True)
    await asyncio.wait_for(done.wait(), 600)
    await fanout.stop()
    print(json.dumps(latencies), flush=True)

asyncio.run(main())
"""


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _ms(ns: list[int] | list[float]) -> list[float]:
    return [v / 1e6 for v in ns]


async def _baseline(turns: int, tokens: int) -> list[float]:
    """In-process delivery: a subscriber queue read by another task (what Engine.deliver does)."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    latencies: list[float] = []

    async def read() -> None:
        for _ in range(turns * (tokens + 1)):
            event = await queue.get()
            latencies.append(time.monotonic_ns() - int(event.text.split()[-1]))

    reader = asyncio.create_task(read())
    for _ in range(turns):
        for _ in range(tokens):
            queue.put_nowait(Token(conversation_id="c", agent="a", text=str(time.monotonic_ns())))
        queue.put_nowait(ReplyEnd(conversation_id="c", agent="a", text=str(time.monotonic_ns())))
        await asyncio.sleep(0)
    await reader
    return _ms(latencies)


def _listener(url: str, expected: int, channel: str) -> subprocess.Popen[str]:
    """The other process, once it listens."""
    child = subprocess.Popen(
        [sys.executable, "-c", LISTENER, url, str(expected), channel],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "listening"
    return child


async def run(url: str, turns: int, tokens: int, rate: float) -> dict[str, Any]:
    """`url`: a PostgreSQL database, or a Redis server (the fan-out over its pub/sub)."""
    expected = turns * (tokens + 1)
    channel = f"smart-support-bench:{uuid.uuid4().hex}"
    child = await asyncio.to_thread(_listener, url, expected, channel)
    fanout: PostgresFanout | RedisFanout
    if url.startswith("redis"):
        fanout = RedisFanout(url, lambda _: None, channel=channel)
    else:
        fanout = PostgresFanout(url, lambda _: None)
    await fanout.start()
    waits: list[float] = []
    interval = 1.0 / rate if rate else 0.0
    started = time.perf_counter()
    for n in range(turns):
        for _ in range(tokens):
            now = str(time.monotonic_ns())
            fanout.publish(Token(conversation_id="c", agent="a", text=now))
        begun = time.perf_counter_ns()
        end = ReplyEnd(conversation_id="c", agent="a", text=f"done {time.monotonic_ns()}")
        fanout.publish(end)
        await fanout.flush()  # what a turn does once, before it releases its lock
        waits.append(time.perf_counter_ns() - begun)
        if interval:
            await asyncio.sleep(max(0.0, started + (n + 1) * interval - time.perf_counter()))
    elapsed = time.perf_counter() - started
    out, _ = await asyncio.to_thread(child.communicate, timeout=600)
    await fanout.stop()
    received = json.loads(out.strip().splitlines()[-1])
    delivery = _ms([ns for _, ns in received])
    ends = _ms([ns for kind, ns in received if kind == "reply_end"])
    baseline = await _baseline(turns, tokens)
    return {
        "turns": turns,
        "events": len(received),
        "turns_per_s": round(turns / elapsed, 1),
        "delivery_ms": {q: round(_pct(delivery, v), 2) for q, v in (("p50", 0.5), ("p99", 0.99))}
        | {"max": round(max(delivery), 2)},
        "reply_end_delivery_ms": {
            q: round(_pct(ends, v), 2) for q, v in (("p50", 0.5), ("p99", 0.99))
        },
        "flush_wait_ms": {
            q: round(_pct(_ms(waits), v), 2) for q, v in (("p50", 0.5), ("p99", 0.99))
        },
        "baseline_in_process_ms": {
            q: round(_pct(baseline, v), 3) for q, v in (("p50", 0.5), ("p99", 0.99))
        },
        "flush_median_over_baseline": round(
            statistics.median(_ms(waits)) / max(statistics.median(baseline), 1e-6), 1
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=400)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--rate", type=float, default=50.0, help="turns/s offered; 0: saturate")
    parser.add_argument("--pg", help="a database URL (default: a scratch database)")
    parser.add_argument("--redis", help="also through this Redis, e.g. redis://127.0.0.1:6379/0")
    args = parser.parse_args()
    name = None
    url = args.pg
    if url is None:
        name = f"ss_bench_fanout_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        url = ADMIN.rsplit("/", 1)[0] + f"/{name}"
    try:
        for carrier, target in (("PostgreSQL", url), ("Redis", args.redis)):
            if target is None:
                continue
            for rate in (args.rate, 0.0) if args.rate else (0.0,):
                result = asyncio.run(run(target, args.turns, args.tokens, rate))
                offered = rate or "saturated"
                print(json.dumps({"carrier": carrier, "offered_turns_per_s": offered, **result}))
    finally:
        if name is not None:
            with psycopg.connect(ADMIN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

"""Do more server processes on one PostgreSQL database answer more turns?

1, 2 and 4 `serve`-like processes (`bench/real_turns.py --serve`: the real app, the demo agents,
the offline model), each on its own port, on one PostgreSQL database, with the demo shop in a
process of its own; this process is the client. Customers are spread over the processes round
robin, and a customer stays on its process (as a sticky load balancer would keep a socket).

Two loads, the same for every process count:

* saturation: `--customers` signed-in customers back to back (no think time), each running
  `--conversations` demo conversations (order status, return policy, a cancellation approved at
  once, a help-center question; see real_turns.py). Reported: turns/s.
* think time: `--think-conversations` conversations (500) at once, `--think` seconds (20)
  between turns, arrivals spread over one think time. Reported: turn latency p50/p99 and the
  p99 *added* to what a lone customer on an idle process sees (measured first, same run). Each
  of 500 conversations asks to cancel an order, but only 83 demo orders can be cancelled: here
  the customer rejects the approval, so the order stays cancellable for the next one (the
  pre-check, the approval and the decision run; the shop's POST does not).

    .venv/bin/python bench/processes.py                          # 1, 2, 4 processes
    .venv/bin/python bench/processes.py --processes 1,2,1,2,4,1 --skip-think   # interleaved

"vs 1 process" is against the latest 1-process run above it: interleave the counts when the
machine's load moves (it changes the figures more than a process does on 2 cores).

Target (issue 15): 2 processes >= 1.7x the turns/s of one. On a 2-core machine the processes,
PostgreSQL, the shop and this client share two cores, which bounds what more processes can add.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).parent))
from real_turns import (
    KB_QUESTIONS,
    PG_DEFAULT,
    Result,
    Slot,
    child,
    cpu_seconds,
    slots,
)
from ws_concurrency import free_port, fresh_database, percentile


async def turn(ws: Any, text: str, result: Result, kind: str, decision: str) -> bool:
    """One message to its reply_end, deciding any approval at once; False on an error."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "text": text}))
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 300))
        if frame["type"] == "error":
            result.errors.append(f"{kind}: {frame['code']}: {frame['message']}")
            return False
        if frame["type"] == "approval_requested":
            answer = {"type": "decision", "approval_id": frame["approval_id"]}
            await ws.send(json.dumps({**answer, "decision": decision}))
        elif frame["type"] == "reply_end":
            break
    result.latencies.setdefault(kind, []).append(time.perf_counter() - started)
    return True


async def customer(
    url: str,
    shop: httpx.AsyncClient,
    slot: Slot,
    conversations: int,
    result: Result,
    think: float,
    decision: str,
) -> None:
    if think:
        await asyncio.sleep(random.uniform(0, think))
    for index in range(conversations):
        script = [
            ("status", f"What's the status of order {slot.status_order}?"),
            ("policy", "What is your return policy?"),
            ("cancel", f"Please cancel order {slot.cancel_order}."),
            ("kb", KB_QUESTIONS[index % len(KB_QUESTIONS)]),
        ]
        try:
            async with websockets.connect(url, open_timeout=120, close_timeout=10) as ws:
                await ws.send(json.dumps({"type": "start", "identity": slot.token}))
                frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                if frame["type"] != "conversation":
                    result.errors.append(f"start: {frame}")
                    return
                for number, (kind, text) in enumerate(script):
                    if number and think:
                        await asyncio.sleep(think)
                    if not await turn(ws, text, result, kind, decision):
                        return
        except Exception as exc:
            result.errors.append(f"{type(exc).__name__}: {exc}")
            return
        if decision == "approve":
            await shop.post(f"/bench/restore/{slot.cancel_order}")


async def drive(
    ports: list[int],
    shop_url: str,
    chosen: list[Slot],
    conversations: int,
    result: Result,
    think: float,
    decision: str,
) -> None:
    urls = [f"ws://127.0.0.1:{port}/ws/v1" for port in ports]
    limits = httpx.Limits(max_connections=50)
    async with httpx.AsyncClient(base_url=shop_url, limits=limits, timeout=60) as shop:
        started = time.perf_counter()
        await asyncio.gather(
            *(
                customer(urls[n % len(urls)], shop, slot, conversations, result, think, decision)
                for n, slot in enumerate(chosen)
            )
        )
        result.wall = time.perf_counter() - started


def measure(
    count: int, pg_admin_url: str, runs: list[tuple[str, int, int, float, str]]
) -> list[Result]:
    """Start `count` server processes on one fresh database and run each load on them."""
    results = []
    shop_port = free_port()
    shop_url = f"http://127.0.0.1:{shop_port}"
    with ExitStack() as stack:
        database_url = stack.enter_context(fresh_database(pg_admin_url))
        stack.enter_context(child(["--shop"], shop_port))
        ports = [free_port() for _ in range(count)]
        servers = [
            stack.enter_context(child(["--serve", database_url, shop_url, "offline"], port))
            for port in ports
        ]
        for label, customers, conversations, think, decision in runs:
            result = Result(label, customers)
            chosen = slots(min(customers, 83))
            chosen = [chosen[n % len(chosen)] for n in range(customers)]
            before = sum(cpu_seconds(s.pid) for s in servers)
            asyncio.run(drive(ports, shop_url, chosen, conversations, result, think, decision))
            result.server_cpu = sum(cpu_seconds(s.pid) for s in servers) - before
            results.append(result)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--customers", type=int, default=32, help="saturation: back to back")
    parser.add_argument("--conversations", type=int, default=3, help="saturation: per customer")
    parser.add_argument("--think-conversations", type=int, default=500)
    parser.add_argument("--think", type=float, default=20.0)
    parser.add_argument("--skip-think", action="store_true")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL admin URL")
    args = parser.parse_args()
    if args.customers > 83:
        raise SystemExit("at most 83 customers back to back: one cancellable order each")
    print(
        f"PostgreSQL; saturation: {args.customers} customers x {args.conversations} "
        f"conversations back to back; think: {args.think_conversations} conversations, "
        f"{args.think:g} s between turns; latencies in ms\n"
    )
    print(
        "| processes | load | turns | turns/s | vs 1 process | p50 | p99 | added p99 "
        "| server CPU ms/turn | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    single: float | None = None
    failed = False
    for count in [int(n) for n in args.processes.split(",")]:
        runs = [
            ("alone", 1, 2, 0.0, "approve"),
            ("saturation", args.customers, args.conversations, 0.0, "approve"),
        ]
        if not args.skip_think:
            runs.append(("think", args.think_conversations, 1, args.think, "reject"))
        alone, *loads = measure(count, args.pg, runs)
        lone = percentile(alone.all_latencies(), 0.5)
        for result in loads:
            every = result.all_latencies()
            rate = result.turns / result.wall if result.wall else 0.0
            if result.label == "saturation" and count == 1:
                single = rate
            ratio = f"{rate / single:.2f}x" if single and result.label == "saturation" else "-"
            p99 = percentile(every, 0.99)
            print(
                f"| {count} | {result.label} | {result.turns} | {rate:.1f} | {ratio} | "
                f"{percentile(every, 0.5) * 1000:.0f} | {p99 * 1000:.0f} | "
                f"{(p99 - lone) * 1000:.0f} | "
                f"{result.server_cpu / result.turns * 1000 if result.turns else 0:.1f} | "
                f"{len(result.errors)} |",
                flush=True,
            )
            for error in sorted(set(result.errors))[:5]:
                print(f"    {error}", file=sys.stderr)
            failed |= bool(result.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

"""Benchmark: 1, 2 and 4 server processes on one PostgreSQL database, the same client load, in
one run (issue 15).

Each server process is `bench/ws_concurrency.py`'s server (the real app, engine and WebSocket
layer under uvicorn, a scripted model that waits `--latency` per call, the abuse limits off),
all on one fresh database, so they share its locks, its live-event fan-out (LISTEN/NOTIFY) and
its sweeper lock as `serve --workers N` processes do; each listens on its own port, and the
clients are spread over the ports round robin (a load balancer's job). Two loads per process
count:

* saturation: `--conversations` conversations (200) that send their next message as soon as
  the reply ends: turns/s is the servers' throughput;
* customers who read and type: 500 conversations, 20 s between turns, arrivals spread over one
  think time: the added latency (time to `reply_end` minus the model's own time) at p50/p99.

    python bench/scale_out.py [--processes 1,2,4] [--conversations 200] [--pg ADMIN_URL]

Targets: 2 processes give at least 1.7x the turns/s of one; p99 added latency at 500
conversations under 100 ms. On a 2-core machine the client and the database share the cores
with the servers; the ratio, not the absolute figure, is what carries to bigger machines.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ws_concurrency import (  # the same server and client as the one-process benchmark
    Result,
    conversation,
    free_port,
    fresh_database,
    percentile,
    wait_healthy,
)

SERVER = str(Path(__file__).parent / "ws_concurrency.py")


def _start(port: int, database_url: str, latency: float) -> subprocess.Popen[str]:
    command = [sys.executable, SERVER, "--serve", "--port", str(port)]
    return subprocess.Popen(
        [*command, "--database-url", database_url, "--latency", str(latency)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "LLM_PROVIDER": "offline"},
    )


async def run(
    processes: int,
    conversations: int,
    turns: int,
    latency: float,
    think: float,
    pg_admin_url: str,
) -> Result:
    result = Result(conversations)
    with fresh_database(pg_admin_url) as database_url:
        ports = [free_port() for _ in range(processes)]
        servers = []
        for port in ports:  # one after the other: the first applies the migrations
            server = await asyncio.to_thread(_start, port, database_url, latency)
            servers.append(server)
            await wait_healthy(f"http://127.0.0.1:{port}", server)
        try:
            go = asyncio.Event()
            tasks = [
                asyncio.create_task(
                    conversation(
                        f"ws://127.0.0.1:{ports[n % processes]}/ws/v1", turns, think, result, go
                    )
                )
                for n in range(conversations)
            ]
            await asyncio.sleep(1.0)  # let the sockets connect before the clock starts
            started = time.perf_counter()
            go.set()
            await asyncio.gather(*tasks)
            result.wall = time.perf_counter() - started
        finally:
            for server in servers:
                server.send_signal(signal.SIGINT)
            for server in servers:
                out, _ = await asyncio.to_thread(server.communicate, timeout=120)
                for line in out.splitlines():
                    if line.startswith("MODEL_CALLS"):
                        result.model_calls += int(line.split()[1])
    return result


def summary(result: Result, latency: float) -> dict[str, float | int]:
    calls = result.model_calls / result.turns if result.turns else 0.0
    added = [(t - calls * latency) * 1000 for t in result.latencies]
    return {
        "turns": result.turns,
        "turns_per_s": round(result.turns / result.wall, 1) if result.wall else 0.0,
        "added_p50_ms": round(percentile(added, 0.5), 1),
        "added_p99_ms": round(percentile(added, 0.99), 1),
        "errors": len(result.errors),
    }


async def main(args: argparse.Namespace) -> int:
    counts = [int(n) for n in args.processes.split(",")]
    saturated: dict[int, dict[str, float | int]] = {}
    paced: dict[int, dict[str, float | int]] = {}
    for count in counts:
        result = await run(count, args.conversations, 3, args.latency, 0.0, args.pg)
        saturated[count] = summary(result, args.latency)
        print(json.dumps({"processes": count, "load": "saturation", **saturated[count]}))
        for error in sorted(set(result.errors))[:3]:
            print(f"    error: {error}", file=sys.stderr)
    for count in counts:
        result = await run(count, 500, 2, args.latency, args.think, args.pg)
        paced[count] = summary(result, args.latency)
        print(json.dumps({"processes": count, "load": "500 paced", **paced[count]}))
        for error in sorted(set(result.errors))[:3]:
            print(f"    error: {error}", file=sys.stderr)
    base = float(saturated[counts[0]]["turns_per_s"]) or 1.0
    print("\n| processes | turns/s (saturation) | vs 1 | added p50 / p99 at 500 paced | errors |")
    print("|---|---|---|---|---|")
    for count in counts:
        s, p = saturated[count], paced[count]
        errors = int(s["errors"]) + int(p["errors"])
        print(
            f"| {count} | {s['turns_per_s']} | {float(s['turns_per_s']) / base:.2f}x | "
            f"{p['added_p50_ms']} / {p['added_p99_ms']} ms | {errors} |"
        )
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--processes", default="1,2,4")
    parser.add_argument("--conversations", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--think", type=float, default=20.0)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    sys.exit(asyncio.run(main(parser.parse_args())))

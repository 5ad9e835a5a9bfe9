"""How much latency does the chat server add under many concurrent WebSocket conversations?

One server process (uvicorn, the real app and engine, SQLite) answers with a scripted model that
waits `--latency` seconds per call (a stand-in for an LLM provider); the routing model answers at
once, so every turn costs exactly one slow model call. This process opens N conversations at the
same time over real WebSockets, sends `--turns` messages in each, and measures the time from
sending a message to its `reply_end`. Added latency = that time minus the model's own time.

    .venv/bin/python bench/ws_concurrency.py                # 50, 200 and 500 conversations
    .venv/bin/python bench/ws_concurrency.py --levels 500 --turns 2
    .venv/bin/python bench/ws_concurrency.py --pg postgresql://postgres@127.0.0.1:5432/test

Target: at 500 concurrent conversations, p99 added latency under 100 ms and zero errors.
With `--think 0` every conversation sends its next message as soon as the reply ends (a stress
test: throughput-bound); `--think 20` spreads arrivals as customers who read and type would.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

REPLY = "Thanks for waiting. Here is everything you asked about, in one short answer."


def serve(port: int, database_url: str, latency: float) -> None:
    """Server mode: the real app with a slow scripted model; prints the model's call count."""
    import logging

    from smart_support.server.app import create_app
    from smart_support.settings import Settings
    from smart_support.testing import ScriptedChatModel

    logging.basicConfig(level=logging.WARNING)
    model = ScriptedChatModel(default=REPLY, latency=latency)
    router = ScriptedChatModel(default="none")  # no transfer call: the fallback agent answers
    # 500 sockets from one address, as fast as they go: the abuse limits would refuse them.
    settings = Settings(
        database_url=database_url,
        llm_provider="offline",
        max_sockets_per_ip=0,
        rate_limit_conversations_per_minute=0,
        rate_limit_messages_per_minute=0,
    )
    app = create_app(settings, model=model, router_model=router, tune_gc=True)  # as `serve`
    try:
        run_app(app, port, os.environ.get("WS_BENCH_PROFILE"))
    finally:
        print(f"MODEL_CALLS {len(model.seen)} ROUTER_CALLS {len(router.seen)}", flush=True)


def run_app(app: object, port: int, profile: str | None) -> None:
    """Serve `app` on 127.0.0.1:`port` under uvicorn until SIGINT (as the benchmarks' server
    processes do); with `profile`, under cProfile, its stats written to that file at the end."""
    import uvicorn

    config = uvicorn.Config(
        app,  # type: ignore[arg-type]
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws_max_size=1 << 20,
        ws_per_message_deflate=False,
        backlog=4096,
        timeout_graceful_shutdown=30,
    )
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:  # uvicorn re-raises the SIGINT it stopped on
        pass
    finally:
        if profiler is not None and profile:
            profiler.disable()
            profiler.dump_stats(profile)


@dataclass
class Result:
    level: int
    turns: int = 0
    latencies: list[float] = field(default_factory=list)
    first_tokens: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    model_calls: int = 0
    wall: float = 0.0


async def conversation(
    url: str, turns: int, think: float, result: Result, go: asyncio.Event
) -> None:
    try:
        async with websockets.connect(url, open_timeout=120, close_timeout=10) as ws:
            await go.wait()
            await ws.send(json.dumps({"type": "start"}))
            frame = json.loads(await ws.recv())
            if frame["type"] != "conversation":
                result.errors.append(f"start: {frame}")
                return
            if think:  # arrivals spread over one think time, as real customers do
                await asyncio.sleep(random.uniform(0, think))
            for turn in range(turns):
                if turn and think:
                    await asyncio.sleep(think)
                started = time.perf_counter()
                first: float | None = None
                await ws.send(json.dumps({"type": "message", "text": f"question {turn}"}))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
                    if frame["type"] == "token" and first is None:
                        first = time.perf_counter() - started
                    if frame["type"] == "error":
                        result.errors.append(f"{frame['code']}: {frame['message']}")
                        return
                    if frame["type"] == "reply_end":
                        break
                result.latencies.append(time.perf_counter() - started)
                if first is not None:
                    result.first_tokens.append(first)
                result.turns += 1
    except Exception as exc:
        result.errors.append(f"{type(exc).__name__}: {exc}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_healthy(base: str, process: subprocess.Popen[str]) -> None:
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(600):
            if process.poll() is not None:
                raise RuntimeError("the server exited during start-up")
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("the server did not become healthy")


@contextmanager
def fresh_database(pg_admin_url: str | None) -> Iterator[str]:
    """A new SQLite file, or a new PostgreSQL database created and dropped with `pg_admin_url`."""
    if pg_admin_url is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    import psycopg

    name = f"ss_wsbench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_admin_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg_admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def run_level(
    level: int, turns: int, latency: float, think: float, pg_admin_url: str | None
) -> Result:
    result = Result(level)
    port = free_port()
    with fresh_database(pg_admin_url) as database_url:
        process = subprocess.Popen(  # noqa: ASYNC220 - started once, before the clock runs
            [
                sys.executable,
                __file__,
                "--serve",
                "--port",
                str(port),
                "--database-url",
                database_url,
                "--latency",
                str(latency),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "LLM_PROVIDER": "offline"},
        )
        try:
            await wait_healthy(f"http://127.0.0.1:{port}", process)
            go = asyncio.Event()
            url = f"ws://127.0.0.1:{port}/ws/v1"
            tasks = [
                asyncio.create_task(conversation(url, turns, think, result, go))
                for _ in range(level)
            ]
            await asyncio.sleep(0.5)  # let the sockets connect before the clock starts
            started = time.perf_counter()
            go.set()
            await asyncio.gather(*tasks)
            result.wall = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGINT)
            out, _ = process.communicate(timeout=120)
        for line in out.splitlines():
            if line.startswith("MODEL_CALLS"):
                result.model_calls = int(line.split()[1])
    return result


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def report(result: Result, latency: float) -> str:
    calls_per_turn = result.model_calls / result.turns if result.turns else 0.0
    model_time = calls_per_turn * latency
    added = [(t - model_time) * 1000 for t in result.latencies]
    first_token = statistics.median(result.first_tokens) if result.first_tokens else float("nan")
    return (
        f"| {result.level} | {result.turns} | {calls_per_turn:.2f} | "
        f"{percentile(added, 0.5):.1f} | {percentile(added, 0.99):.1f} | "
        f"{max(added) if added else float('nan'):.1f} | "
        f"{first_token * 1000:.0f} | "
        f"{result.turns / result.wall if result.wall else 0:.0f} | {len(result.errors)} |"
    )


async def main(
    levels: list[int], turns: int, latency: float, think: float, pg_admin_url: str | None
) -> int:
    store = "PostgreSQL" if pg_admin_url else "SQLite"
    print(
        f"model latency {latency * 1000:.0f} ms per call, {turns} turns per conversation, "
        f"{think:g} s between turns, {store}\n"
    )
    print(
        "| conversations | turns | model calls/turn | added p50 ms | added p99 ms | added max ms "
        "| first token p50 ms | turns/s | errors |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    failed = False
    for level in levels:
        result = await run_level(level, turns, latency, think, pg_admin_url)
        print(report(result, latency), flush=True)
        for error in sorted(set(result.errors))[:5]:
            print(f"    error: {error}", file=sys.stderr)
        failed |= bool(result.errors)
    return 1 if failed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="50,200,500")
    parser.add_argument("--turns", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.3)
    parser.add_argument("--think", type=float, default=0.0, help="seconds between turns")
    parser.add_argument(
        "--pg", default=None, help="PostgreSQL admin URL: each level gets a fresh database there"
    )
    parser.add_argument("--database-url", default="", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, args.database_url, args.latency)
        sys.exit(0)
    levels = [int(n) for n in args.levels.split(",")]
    sys.exit(asyncio.run(main(levels, args.turns, args.latency, args.think, args.pg)))

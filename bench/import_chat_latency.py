"""Does the chat keep answering while the server imports a big spec?

One chat server process (uvicorn, the real app and engine, SQLite, the offline model and the
demo agents, the demo shop in this process) and this process as its client: one customer over a
real WebSocket sends message after message (an order question, which calls the shop, and a
policy question, in turn) and measures each from sending to its `reply_end`. First with nothing
else running, then while the server imports `adobe-commerce-admin-2.4.9.yaml` (614 operations,
sent as a document) as a background job, again and again until `--turns` turns ran during
imports, then alone again. Only turns that started and ended while a job was running count as
"during"; the two "alone" phases make the baseline. Reported: the latency of both, their ratio
(same run, same machine), and how long each import took.

    .venv/bin/python bench/import_chat_latency.py [--turns 60] [--think 0.05]
    .venv/bin/python bench/import_chat_latency.py --pg postgresql://postgres@127.0.0.1:5432/test

The offline model answers in microseconds, so a turn's time is the server's own work (routing,
the graph, the shop call, checkpoints): the worst case for an import's share of the CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "tests" / "data" / "openapi" / "adobe-commerce-admin-2.4.9.yaml"
OPERATOR = "bench-operator-token"
QUESTIONS = ("What's the status of order 1042?", "What is your return policy?")


def serve(port: int, database_url: str, shop_url: str) -> None:
    """Server mode: the real app as `serve` runs it (GC tuned), offline model, demo agents."""
    import logging

    import uvicorn

    from smart_support.server.app import create_app
    from smart_support.settings import Settings

    logging.basicConfig(level=logging.WARNING)
    parts = urlsplit(shop_url)
    settings = Settings(
        database_url=database_url,
        llm_provider="offline",
        shop_url=shop_url,
        egress_allowlist=[f"{parts.hostname}:{parts.port}"],
        operator_token=OPERATOR,
    )
    app = create_app(settings, tune_gc=True)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    with suppress(KeyboardInterrupt):
        uvicorn.Server(config).run()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def shop() -> Iterator[str]:
    """The demo shop in a thread of this process."""
    import uvicorn

    from smart_support.demo.shop import create_app

    port = free_port()
    config = uvicorn.Config(create_app(), port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join()


@contextmanager
def chat_server(database_url: str, shop_url: str) -> Iterator[str]:
    port = free_port()
    command = [sys.executable, __file__, "--serve", str(port), database_url, shop_url]
    child = subprocess.Popen(command, cwd=ROOT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise RuntimeError("the chat server did not start")
        yield url
    finally:
        child.send_signal(signal.SIGINT)
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()


class Customer:
    """One conversation over the chat socket; `turn` times one message to its reply_end."""

    def __init__(self, socket: Any) -> None:
        self.ws = socket
        self.count = 0
        self.errors = 0

    async def start(self) -> None:
        await self.ws.send(json.dumps({"type": "start"}))
        while json.loads(await self.ws.recv())["type"] != "conversation":
            pass

    async def turn(self) -> float:
        text = QUESTIONS[self.count % len(QUESTIONS)]
        self.count += 1
        began = time.perf_counter()
        await self.ws.send(json.dumps({"type": "message", "text": text}))
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), 60))
            if frame["type"] == "error":
                self.errors += 1
            if frame["type"] in ("reply_end", "error"):
                return time.perf_counter() - began


async def run_turns(customer: Customer, turns: int, think: float) -> list[float]:
    times = []
    for _ in range(turns):
        times.append(await customer.turn())
        await asyncio.sleep(think)
    return times


async def import_once(client: httpx.AsyncClient, document: str) -> str:
    response = await client.post(
        "/api/v1/operator/imports", json={"document": document, "remote_refs": False}
    )
    response.raise_for_status()
    job_id: str = response.json()["id"]
    return job_id


async def job_status(client: httpx.AsyncClient, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = (await client.get(f"/api/v1/operator/import-jobs/{job_id}")).json()
    return job


async def during_imports(
    customer: Customer, client: httpx.AsyncClient, turns: int, think: float
) -> tuple[list[float], list[float], int]:
    """Turns while a job runs, until `turns` of them; returns them, import times, operations."""
    document = SPEC.read_text(encoding="utf-8")
    times: list[float] = []
    durations: list[float] = []
    operations = 0
    while len(times) < turns:
        submitted = time.perf_counter()
        job_id = await import_once(client, document)
        while True:
            before = await job_status(client, job_id)
            took = await customer.turn()
            after = await job_status(client, job_id)
            running = ("fetching", "validating", "parsing", "classifying")
            if before["status"] in running and after["status"] in running:
                times.append(took)
            if after["status"] in ("ready", "failed"):
                break
            await asyncio.sleep(think)
        if after["status"] != "ready":
            raise RuntimeError(f"the import failed: {after['error']}")
        durations.append(time.perf_counter() - submitted)
        operations = after["total"]
    return times, durations, operations


async def alone_import(client: httpx.AsyncClient) -> float:
    """One import with no chat, for its own duration (the first also starts the workers)."""
    began = time.perf_counter()
    response = await client.post(
        "/api/v1/operator/imports",
        params={"wait": "true"},
        json={"document": SPEC.read_text(encoding="utf-8"), "remote_refs": False},
    )
    response.raise_for_status()
    return time.perf_counter() - began


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def measure(url: str, turns: int, think: float) -> dict[str, Any]:
    ws_url = url.replace("http://", "ws://") + "/ws/v1"
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    async with (
        httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client,
        websockets.connect(ws_url) as socket,
    ):
        customer = Customer(socket)
        await customer.start()
        await run_turns(customer, 10, think)  # warm-up: caches, first checkpoints
        await alone_import(client)  # starts the worker processes
        import_alone = await alone_import(client)
        before = await run_turns(customer, turns // 2, think)
        during, durations, operations = await during_imports(customer, client, turns, think)
        after = await run_turns(customer, turns - turns // 2, think)
    alone = before + after
    return {
        "alone": alone,
        "during": during,
        "durations": durations,
        "import_alone": import_alone,
        "operations": operations,
        "errors": customer.errors,
    }


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def report(result: dict[str, Any]) -> None:
    alone, during = result["alone"], result["during"]
    rows = []
    for name, values in (("alone", alone), ("during an import", during)):
        rows.append(
            f"| {name} | {len(values)} | {ms(statistics.median(values))} |"
            f" {ms(quantile(values, 0.95))} | {ms(max(values))} |"
        )
    durations = result["durations"]
    print("| chat turns | turns | p50 | p95 | max |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    p50 = statistics.median(during) / statistics.median(alone)
    p95 = quantile(during, 0.95) / quantile(alone, 0.95)
    print(
        f"\nratio during/alone: p50 {p50:.2f}, p95 {p95:.2f};"
        f" added p50 {ms(statistics.median(during) - statistics.median(alone))}"
    )
    print(
        f"import of {result['operations']} operations: {result['import_alone']:.1f} s alone,"
        f" {statistics.median(durations):.1f} s (median of {len(durations)}) with the chat;"
        f" chat errors: {result['errors']}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--turns", type=int, default=60, help="turns alone, and during imports")
    parser.add_argument("--think", type=float, default=0.05, help="seconds between turns")
    parser.add_argument("--pg", help="a PostgreSQL URL (a fresh database is made in it)")
    parser.add_argument("--serve", nargs=3, metavar=("PORT", "DATABASE_URL", "SHOP_URL"))
    args = parser.parse_args()
    if args.serve:
        serve(int(args.serve[0]), args.serve[1], args.serve[2])
        return
    with (
        tempfile.TemporaryDirectory() as folder,
        fresh_database(args.pg, folder) as database,
        shop() as shop_url,
        chat_server(database, shop_url) as url,
    ):
        result = asyncio.run(measure(url, args.turns, args.think))
    print(f"{SPEC.name}, {os.cpu_count()} cores, {'PostgreSQL' if args.pg else 'SQLite'}\n")
    report(result)


@contextmanager
def fresh_database(pg: str | None, folder: str) -> Iterator[str]:
    if not pg:
        yield f"sqlite:///{folder}/bench.db"
        return
    import psycopg

    name = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(pg, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()

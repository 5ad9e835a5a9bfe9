"""How many real demo turns does one server process answer per second?

One chat server process (uvicorn, the real app and engine as `serve` runs it: GC tuned, the demo
agents, the offline model) and the demo shop API in a process of its own; this process is the
client: N signed-in demo customers at once over real WebSockets, each running conversations
back to back. A conversation is four customer turns: an order's status (the orders agent calls
the shop through the egress guard, the owner rule checks the answer), the return policy (the
help-center search), a cancellation (the pre-check re-reads the order, an approval is asked,
the customer approves at once, the shop cancels it with the ledger's Idempotency-Key) and a
question on refunds or shipping. A turn is timed from sending the message to its `reply_end`
(for the cancellation: message, `approval_requested`, decision, `reply_end`).

Baseline, same harness and run: a zero-latency scripted model that routes nowhere and answers
at once (the fallback agent, no tools), as `bench/ws_concurrency.py` uses. What it runs is the
engine, the store and the socket layer; the ratio shows what the demo's tools, checks, approvals
and the offline model add on top.

    .venv/bin/python bench/real_turns.py                       # SQLite and PostgreSQL
    .venv/bin/python bench/real_turns.py --stores sqlite --levels 16 --conversations 4
    .venv/bin/python bench/real_turns.py --py-spy /tmp/turns.txt  # py-spy --gil, collapsed stacks
    REAL_TURNS_SWITCH=-egress,-sqlite .venv/bin/python bench/real_turns.py   # see `_switch`

Reported per run: turns/s, p50/p95 turn latency, the server process's CPU (user + system, all
threads) per turn, which other work on the machine moves less than turns/s, token frames per
turn and the p50 of each kind of turn. Target (issue 15): at least 50 turns/s per process at
saturation. Results and how they were taken: docs/benchmarks.md.

Each customer cancels one order of their own in every conversation; between two of its
conversations the bench puts that order back as it was through `POST /bench/restore/{id}`, an
endpoint only the bench's shop process has (it is not part of the demo shop), so every
conversation runs the same approval path instead of meeting an order already cancelled.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

sys.path.insert(0, str(Path(__file__).parent))
from ws_concurrency import REPLY, free_port, fresh_database, percentile, run_app, wait_healthy

ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-identity-secret-that-is-long-enough-for-hs256"
PG_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
KB_QUESTIONS = ("How long do refunds take?", "How much does shipping cost?")


# --- the processes ------------------------------------------------------------------------


def serve(port: int, database_url: str, shop_url: str, model_kind: str) -> None:
    """Server mode: the real app as `serve` builds it; `scripted` swaps in the baseline model."""
    import logging
    from urllib.parse import urlsplit

    from smart_support.server.app import create_app
    from smart_support.settings import Settings
    from smart_support.testing import ScriptedChatModel

    logging.basicConfig(level=logging.WARNING)
    _switch(os.environ.get("REAL_TURNS_SWITCH", ""))
    parts = urlsplit(shop_url)
    settings = Settings(
        database_url=database_url,
        llm_provider="offline",
        shop_url=shop_url,
        egress_allowlist=[f"{parts.hostname}:{parts.port}"],
        identity_secret=SECRET,
        # Many sockets from one address, as fast as they go: the abuse limits would refuse them.
        max_sockets_per_ip=0,
        rate_limit_conversations_per_minute=0,
        rate_limit_messages_per_minute=0,
    )
    model = router = None
    if model_kind == "scripted":
        model = ScriptedChatModel(default=REPLY)
        router = ScriptedChatModel(default="none")  # no transfer call: the fallback answers
    app = create_app(settings, model=model, router_model=router, tune_gc=True)
    run_app(app, port, os.environ.get("REAL_TURNS_PROFILE"))


def _switch(names: str) -> None:
    """Measure one change at a time (REAL_TURNS_SWITCH=a,b): `-egress`, `-sqlite`, `-ws` undo
    the shared connections, the SQLite loop-thread statements, the token coalescing;
    `+inline-tracing` runs langsmith's per-call setup inline when tracing is off; `+chunks`
    makes the offline model stream up to six words per chunk instead of one."""
    wanted = {n.strip() for n in names.split(",") if n.strip()}
    if "-egress" in wanted:
        import smart_support.tools.toolkit as toolkit

        toolkit.shared_connections = contextlib.nullcontext  # type: ignore[assignment]
    if "-sqlite" in wanted:
        import smart_support.store.sqlite as sqlite_store

        sqlite_store.DIRECT = frozenset()  # type: ignore[misc]
    if "-ws" in wanted:
        from smart_support.server import ws
        from smart_support.server.protocol import to_frame

        async def pump(self: Any, events: Any) -> None:
            async for event in events:
                self.send(to_frame(event))

        ws.ChatConnection._pump = pump  # type: ignore[method-assign]
    if "+chunks" in wanted:
        import re

        import smart_support.models.offline as offline

        offline._PIECES = re.compile(r"(?:\S+\s*){1,6}|\s+")
    if "+inline-tracing" in wanted:
        import langsmith
        from langsmith.utils import tracing_is_enabled

        async def inline(default: Any, ctx: Any, func: Any, /, *args: Any, **kw: Any) -> Any:
            if tracing_is_enabled():
                return await default(ctx, func, *args, **kw)
            return ctx.run(func, *args, **kw)

        langsmith.set_runtime_overrides(aio_to_thread=inline)


def shop(port: int) -> None:
    """Shop mode: the demo shop API, plus the bench's own `POST /bench/restore/{order_id}`."""
    import uvicorn

    from smart_support.demo.shop import create_app

    app = create_app()
    state = app.state.shop
    original = copy.deepcopy(state.data.orders)

    @app.post("/bench/restore/{order_id}", include_in_schema=False)
    def restore(order_id: int) -> dict[str, bool]:
        state.data.orders[order_id] = copy.deepcopy(original[order_id])
        return {"ok": True}

    with suppress(KeyboardInterrupt):
        uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def child(args: list[str], port: int, env: dict[str, str] | None = None) -> Iterator[Any]:
    """A process of this script in another mode, healthy before the `with` body runs."""
    process = subprocess.Popen(
        [sys.executable, __file__, *args, "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "LLM_PROVIDER": "offline", **(env or {})},
    )
    try:
        path = "/health" if args[0] == "--shop" else "/healthz"
        asyncio.run(_healthy(f"http://127.0.0.1:{port}", path, process))
        yield process
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()


async def _healthy(base: str, path: str, process: subprocess.Popen[bytes]) -> None:
    if path == "/healthz":
        await wait_healthy(base, process)  # type: ignore[arg-type]
        return
    async with httpx.AsyncClient(base_url=base) as client:
        for _ in range(600):
            with suppress(httpx.TransportError):
                if (await client.get(path)).status_code == 200:
                    return
            await asyncio.sleep(0.1)
    raise RuntimeError("the shop did not start")


# --- the customers --------------------------------------------------------------------------


@dataclass(frozen=True)
class Slot:
    """One simulated customer: who they are, an order to ask about and one to cancel."""

    email: str
    token: str
    status_order: int
    cancel_order: int


def slots(count: int) -> list[Slot]:
    """Demo customers with an order still cancellable, one slot per such order (83 of them)."""
    from smart_support.demo.shop.data import DEFAULT_SEED, build_dataset
    from smart_support.identity.tokens import issue_identity_token
    from smart_support.settings import Settings

    settings = Settings(identity_secret=SECRET)
    data = build_dataset(seed=DEFAULT_SEED)
    found: list[Slot] = []
    for order in sorted(data.orders.values(), key=lambda o: o.id):
        if order.status not in ("pending", "processing"):
            continue
        customer = data.customers[order.customer_id]
        own = sorted(o.id for o in data.orders.values() if o.customer_id == customer.id)
        other = next((o for o in own if o != order.id), order.id)
        claims = {"sub": str(customer.id), "email": customer.email, "name": customer.name}
        token = issue_identity_token(claims, settings, ttl_seconds=3600)
        found.append(Slot(customer.email, token, other, order.id))
    if count > len(found):
        raise SystemExit(f"at most {len(found)} customers: one cancellable order each")
    return found[:count]


@dataclass
class Result:
    label: str
    customers: int
    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Turns that ended otherwise than the workload expects (a cancellation without approval).
    off_script: list[str] = field(default_factory=list)
    wall: float = 0.0
    #: CPU seconds (user + system, all threads) the server process spent during the run.
    server_cpu: float = 0.0
    #: `token` frames received, over every turn.
    token_frames: int = 0

    @property
    def turns(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_latencies(self) -> list[float]:
        return [t for v in self.latencies.values() for t in v]


async def turn(ws: Any, text: str, result: Result, kind: str, expect_approval: bool) -> bool:
    """One customer message to its reply_end, approving an approval at once; False on error."""
    started = time.perf_counter()
    await ws.send(json.dumps({"type": "message", "text": text}))
    approved = False
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 120))
        kind_of = frame["type"]
        if kind_of == "token":
            result.token_frames += 1
        elif kind_of == "error":
            result.errors.append(f"{kind}: {frame['code']}: {frame['message']}")
            return False
        if kind_of == "approval_requested":
            approved = True
            decision = {"type": "decision", "approval_id": frame["approval_id"]}
            await ws.send(json.dumps({**decision, "decision": "approve"}))
        elif kind_of == "reply_end":
            break
    result.latencies.setdefault(kind, []).append(time.perf_counter() - started)
    if expect_approval and not approved:
        result.off_script.append(f"{kind}: no approval ({frame.get('text', '')[:60]!r})")
    return True


async def customer(
    url: str, shop_url: str, slot: Slot, conversations: int, result: Result, scripted: bool
) -> None:
    async with httpx.AsyncClient(base_url=shop_url) as shop_api:
        for index in range(conversations):
            try:
                async with websockets.connect(url, open_timeout=60, close_timeout=10) as ws:
                    await ws.send(json.dumps({"type": "start", "identity": slot.token}))
                    frame = json.loads(await ws.recv())
                    if frame["type"] != "conversation":
                        result.errors.append(f"start: {frame}")
                        return
                    script = [
                        ("status", f"What's the status of order {slot.status_order}?", False),
                        ("policy", "What is your return policy?", False),
                        ("cancel", f"Please cancel order {slot.cancel_order}.", not scripted),
                        ("kb", KB_QUESTIONS[index % len(KB_QUESTIONS)], False),
                    ]
                    for kind, text, approval in script:
                        if not await turn(ws, text, result, kind, approval):
                            return
            except Exception as exc:
                result.errors.append(f"{type(exc).__name__}: {exc}")
                return
            await shop_api.post(f"/bench/restore/{slot.cancel_order}")


async def drive(
    port: int, shop_url: str, result: Result, conversations: int, scripted: bool
) -> None:
    url = f"ws://127.0.0.1:{port}/ws/v1"
    chosen = slots(result.customers)
    started = time.perf_counter()
    await asyncio.gather(
        *(customer(url, shop_url, slot, conversations, result, scripted) for slot in chosen)
    )
    result.wall = time.perf_counter() - started


def run_level(
    label: str,
    customers: int,
    conversations: int,
    pg_admin_url: str | None,
    model_kind: str,
    py_spy: str | None,
) -> Result:
    """One measurement: a fresh database, a fresh shop, a fresh server."""
    result = Result(label, customers)
    shop_port, port = free_port(), free_port()
    shop_url = f"http://127.0.0.1:{shop_port}"
    with (
        fresh_database(pg_admin_url) as database_url,
        child(["--shop"], shop_port),
        child(["--serve", database_url, shop_url, model_kind], port) as server,
    ):
        spy = None
        if py_spy:
            spy = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "-o",
                    py_spy,
                    "-p",
                    str(server.pid),
                    "-r",
                    "100",
                    "-f",
                    "raw",
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        before = cpu_seconds(server.pid)
        asyncio.run(drive(port, shop_url, result, conversations, model_kind == "scripted"))
        result.server_cpu = cpu_seconds(server.pid) - before
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
    return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far (Linux): less moved by other work on the machine
    than turns/s, since a process waiting for a core does not count."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def row(result: Result) -> str:
    every = result.all_latencies()
    per_kind = " ".join(
        f"{kind} {statistics.median(v) * 1000:.0f}" for kind, v in sorted(result.latencies.items())
    )
    return (
        f"| {result.label} | {result.customers} | {result.turns} | "
        f"{result.turns / result.wall if result.wall else 0:.1f} | "
        f"{percentile(every, 0.5) * 1000:.0f} | {percentile(every, 0.95) * 1000:.0f} | "
        f"{result.server_cpu / result.turns * 1000 if result.turns else 0:.1f} | "
        f"{result.token_frames / result.turns if result.turns else 0:.1f} | {per_kind} | "
        f"{len(result.errors)} | {len(result.off_script)} |"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--levels", default="8,24", help="concurrent customers, comma-separated")
    parser.add_argument("--conversations", type=int, default=3, help="per customer")
    parser.add_argument("--pg", default=PG_DEFAULT, help="PostgreSQL admin URL")
    parser.add_argument("--models", default="offline,scripted")
    parser.add_argument("--py-spy", default=None, help="record the offline runs' server to FILE")
    parser.add_argument("--serve", nargs=3, metavar=("DB", "SHOP", "MODEL"), help=argparse.SUPPRESS)
    parser.add_argument("--shop", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.port, *args.serve)
        return 0
    if args.shop:
        shop(args.port)
        return 0
    levels = [int(n) for n in args.levels.split(",")]
    print(
        f"{args.conversations} conversations of 4 turns per customer, no think time; "
        "latencies in ms\n"
    )
    print(
        "| store, model | customers | turns | turns/s | p50 | p95 | server CPU ms/turn "
        "| token frames/turn | p50 by turn | errors "
        "| off script |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    failed = False
    best: dict[tuple[str, str], float] = {}
    for store in args.stores.split(","):
        pg = args.pg if store == "postgres" else None
        for model_kind in args.models.split(","):
            for level in levels:
                label = f"{'PostgreSQL' if pg else 'SQLite'}, {model_kind}"
                spy = args.py_spy if model_kind == "offline" else None
                if spy:
                    spy = spy.replace(".", f"-{store}-{level}.", 1)
                result = run_level(label, level, args.conversations, pg, model_kind, spy)
                print(row(result), flush=True)
                for error in sorted(set(result.errors + result.off_script))[:5]:
                    print(f"    {error}", file=sys.stderr)
                failed |= bool(result.errors or result.off_script)
                rate = result.turns / result.wall if result.wall else 0.0
                key = (store, model_kind)
                best[key] = max(best.get(key, 0.0), rate)
    print()
    for store in args.stores.split(","):
        offline, scripted = best.get((store, "offline")), best.get((store, "scripted"))
        if offline and scripted:
            print(
                f"{store}: saturation {offline:.1f} turns/s with the demo agents, "
                f"{scripted:.1f} with the scripted model: ratio {offline / scripted:.2f}"
            )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

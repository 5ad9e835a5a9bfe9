"""Benchmark: what OpenTelemetry tracing adds to a turn, as a ratio of turns with it on to off.

One conversation through the engine on SQLite with a zero-latency scripted model (route ->
agent -> tool -> agent, as bench/engine_turns.py), each turn drained through
`metrics.observed` as the chat server drains it. Blocks of turns alternate between tracing off
and on in ABBA order (spans exported over OTLP/HTTP to a receiver on loopback that decodes
them); each round's ratio compares two adjacent blocks, so drift of a shared machine falls on
both alike, and the median of the rounds' ratios is the figure.

    python bench/tracing_overhead.py [--rounds 20] [--turns 20]

Prints the median per-turn time off and on, the median (and range) of the rounds' ratios, and
the spans the receiver decoded (four a traced turn here: the turn, two model calls, the tool;
the router's follow-up match makes no model call).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from smart_support.observability import metrics, tracing
from smart_support.runtime.engine import Engine
from smart_support.settings import Settings
from smart_support.testing import ScriptedChatModel, call

sys.path.insert(0, str(Path(__file__).parent))

from engine_turns import AGENTS_YAML, _agent_step


class _Receiver(BaseHTTPRequestHandler):
    spans = 0

    def do_POST(self) -> None:
        request = ExportTraceServiceRequest()
        request.ParseFromString(self.rfile.read(int(self.headers["Content-Length"])))
        _Receiver.spans += sum(
            len(scope.spans) for rs in request.resource_spans for scope in rs.scope_spans
        )
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


async def _turns(engine: Engine, conversation: str, count: int) -> list[float]:
    times = []
    for turn in range(count):
        started = time.perf_counter()
        async for event in metrics.observed(
            engine.send(conversation, f"Order 1042? ({turn})"), turn=True
        ):
            if event.type == "turn_error":
                raise RuntimeError(event.message)
        times.append(time.perf_counter() - started)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--turns", type=int, default=20, help="turns per block")
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    collector = f"http://127.0.0.1:{server.server_address[1]}"
    off: list[float] = []
    on: list[float] = []
    ratios: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        agents = Path(tmp) / "agents.yaml"
        agents.write_text(AGENTS_YAML)
        settings = Settings(
            _env_file=None,
            database_url=f"sqlite:///{tmp}/bench.db",
            agents_file=agents,
            llm_provider="offline",
        )
        traced = settings.model_copy(update={"otel_exporter_otlp_endpoint": collector})
        model = ScriptedChatModel(default=_agent_step)
        router = ScriptedChatModel(default=call("transfer_to_orders"))
        async with Engine.open(settings, model=model, router_model=router) as engine:
            conversation, _ = await engine.start_conversation()
            await _turns(engine, conversation, 10)  # warm-up
            for round_ in range(args.rounds):  # off-on, then on-off: ABBA
                if round_ % 2 == 0:
                    block_off = await _turns(engine, conversation, args.turns)
                async with tracing.running(traced):
                    block_on = await _turns(engine, conversation, args.turns)
                if round_ % 2 == 1:
                    block_off = await _turns(engine, conversation, args.turns)
                off += block_off
                on += block_on
                ratios.append(statistics.median(block_on) / statistics.median(block_off))
    server.shutdown()
    median_off, median_on = statistics.median(off) * 1000, statistics.median(on) * 1000
    print(f"{len(off)} turns off, {len(on)} on, zero-latency scripted model, SQLite")
    print(f"median per-turn time: off {median_off:.2f} ms, on {median_on:.2f} ms")
    print(
        f"ratio on/off: median of {len(ratios)} rounds {statistics.median(ratios):.3f} "
        f"(range {min(ratios):.3f} to {max(ratios):.3f})"
    )
    print(
        f"spans decoded by the receiver: {_Receiver.spans} ({_Receiver.spans / len(on):.1f} a turn)"
    )


if __name__ == "__main__":
    asyncio.run(main())

"""The Prometheus metrics, all in one place, on a registry of our own (`REGISTRY`).

Most are observed from what already flows: `observed` wraps the event stream of a turn or a
decision where the server drains it (server/ws.py, server/rest.py), so a turn costs a few
counter increments and no extra I/O. The registry is per process; `serve --workers N` turns on
prometheus-client's multiprocess mode (`MULTIPROCESS_ENV`), so one scrape of the shared port
reads every worker's values. Separate `serve` processes are scraped each.
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client import generate_latest as _generate

from smart_support.observability import tracing
from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    Event,
    ModelCall,
    ReplyEnd,
    ToolActivity,
    TurnError,
)

REGISTRY = CollectorRegistry(auto_describe=True)

#: Seconds: a turn spans tool calls and model calls, so the buckets reach minutes.
_TURN_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0, 120.0)
_MODEL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0)

TURNS = Counter(
    "smart_support_turns",
    "Customer turns run to their end, by outcome (ok: answered or paused for an approval).",
    ["outcome"],
    registry=REGISTRY,
)
TURN_SECONDS = Histogram(
    "smart_support_turn_duration_seconds",
    "From the customer's message to the turn's last event.",
    buckets=_TURN_BUCKETS,
    registry=REGISTRY,
)
MODEL_CALL_SECONDS = Histogram(
    "smart_support_model_call_duration_seconds",
    "Chat-model calls, from request to last token, by model and purpose (routing, reply).",
    ["model", "purpose"],
    buckets=_MODEL_BUCKETS,
    registry=REGISTRY,
)
MODEL_TOKENS = Counter(
    "smart_support_model_tokens",
    "Tokens of chat-model calls, by model and direction (input, output).",
    ["model", "direction"],
    registry=REGISTRY,
)
TOOL_CALLS = Counter(
    "smart_support_tool_calls",
    "Tool calls that ended, by tool and result (succeeded, failed).",
    ["tool", "result"],
    registry=REGISTRY,
)
APPROVALS = Counter(
    "smart_support_approvals",
    "Approvals by outcome: requested, approved, rejected, expired, cancelled.",
    ["outcome"],
    registry=REGISTRY,
)
ESCALATIONS = Counter(
    "smart_support_escalations",
    "Conversations routed to the escalation agent (a hand-off to a person).",
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "smart_support_webhook_deliveries",
    "Webhook delivery attempts by result (delivered, failed, dead, disabled).",
    ["result"],
    registry=REGISTRY,
)
OPEN_SOCKETS = Gauge(
    "smart_support_open_sockets",
    "Chat WebSockets open now.",
    registry=REGISTRY,
    multiprocess_mode="livesum",  # `serve --workers N`: the sum over the workers alive
)
DATABASE_ERRORS = Counter(
    "smart_support_database_errors",
    "Store operations that failed because the database was unavailable, by operation.",
    ["operation"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "smart_support_rate_limited",
    "Requests refused by an abuse limit, by limit (messages, conversations, sockets, turns).",
    ["limit"],
    registry=REGISTRY,
)


#: Set (by `serve --workers N`, or by whoever runs several workers behind one port) to a folder
#: the workers share: prometheus-client's multiprocess mode. Each worker then writes its values
#: there and a scrape, whichever worker answers it, reads every worker's.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def render() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, with their content type: this process's, or
    in multiprocess mode every worker's, summed."""
    if os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return _generate(registry), CONTENT_TYPE_LATEST
    return _generate(REGISTRY), CONTENT_TYPE_LATEST


def database_error(operation: str) -> None:
    """Count one StoreUnavailable of `operation` (for the store adapters to call)."""
    DATABASE_ERRORS.labels(operation).inc()


def webhook_delivery(result: str) -> None:
    """Count one webhook delivery attempt: delivered, failed, dead or disabled."""
    WEBHOOK_DELIVERIES.labels(result).inc()


def _model_calls(calls: list[ModelCall]) -> None:
    for call in calls:
        MODEL_TOKENS.labels(call.model, "input").inc(call.input_tokens)
        MODEL_TOKENS.labels(call.model, "output").inc(call.output_tokens)
        if call.duration_ms is not None:
            MODEL_CALL_SECONDS.labels(call.model, call.purpose).observe(call.duration_ms / 1000)


def observe(event: Event) -> None:
    """Count what one event of a turn says (tokens and the customer's message count nothing)."""
    if isinstance(event, ToolActivity):
        if event.status != "started":
            TOOL_CALLS.labels(event.tool, event.status).inc()
        _model_calls(event.model_calls)
    elif isinstance(event, ReplyEnd):
        _model_calls(event.model_calls)
    elif isinstance(event, AgentSelected):
        if event.reason == "escalation":
            ESCALATIONS.inc()
        _model_calls(event.model_calls)
    elif isinstance(event, ApprovalRequested):
        APPROVALS.labels("requested").inc()
        _model_calls(event.model_calls)
    elif isinstance(event, ApprovalResolved):
        APPROVALS.labels(event.status).inc()


async def observed(events: AsyncIterator[Event], *, turn: bool) -> AsyncIterator[Event]:
    """`events` as they are, counted on the way (`observe`); a turn (`turn=True`, a customer
    message rather than a decision) is also counted and timed once its stream ends. With
    tracing on, the stream is also a `smart_support.turn` span (`tracing.turn`)."""
    started = time.perf_counter()
    failed = False
    with tracing.turn("message" if turn else "decision") as span:  # None: tracing off
        async for event in events:
            if isinstance(event, TurnError):
                failed = True
            else:
                observe(event)
            if span is not None:
                span.see(event)
            yield event
    if turn:
        TURNS.labels("error" if failed else "ok").inc()
        TURN_SECONDS.observe(time.perf_counter() - started)


__all__ = [
    "APPROVALS",
    "DATABASE_ERRORS",
    "ESCALATIONS",
    "MODEL_CALL_SECONDS",
    "MODEL_TOKENS",
    "OPEN_SOCKETS",
    "RATE_LIMITED",
    "REGISTRY",
    "TOOL_CALLS",
    "TURNS",
    "TURN_SECONDS",
    "WEBHOOK_DELIVERIES",
    "database_error",
    "observe",
    "observed",
    "render",
    "webhook_delivery",
]

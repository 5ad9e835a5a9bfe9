"""OpenTelemetry tracing: a span per turn, per model call and per tool call, sent over OTLP/HTTP
to the operator's collector when one is configured, and nothing at all when none is.

Three spans, all in the turn's trace, none holding what a customer wrote or a tool's argument
values (support transcripts are personal data; a trace backend is rarely held to the same rules
as the database):

- `smart_support.turn`: one customer message or one approval decision, from its first event to
  its last (`metrics.observed`, the one place turns are drained): conversation id, kind, agent,
  outcome, the error's code.
- `smart_support.model`: one chat-model call (a LangChain callback handler the turn attaches to
  every LangChain run under it): model, provider, purpose (routing, reply), agent, tokens.
- `smart_support.tool`: one tool call the guard runs (`ToolGuard._run`): tool, access, agent,
  status, the guard's outcome, duration.

Why a provider of our own and not OpenTelemetry's global one: the global provider can be set
once per process, and a host application (or `opentelemetry-instrument`) may already own it;
tests run several servers, with tracing on and off, in one process. So `running` builds an SDK
`TracerProvider` (a `BatchSpanProcessor` and the OTLP/HTTP protobuf exporter) for the app's
lifetime and shuts it down, flushed, when the app stops; everything here uses that tracer.
With tracing off nothing is built: a turn costs one `None` check, a tool call another, and
LangChain finds no handler in the turn's context (`register_configure_hook`).

The exporter sends with its own HTTP client (requests), not through the egress guard: it only
ever reaches the collector's address, which the operator configured, so `EGRESS_ALLOWLIST`
does not apply to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar, Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import ToolMessage
from langchain_core.outputs import LLMResult
from langchain_core.tracers.context import register_configure_hook
from langgraph.errors import GraphBubbleUp
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace import sampling as _sampling
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.util.re import parse_env_headers

from smart_support.errors import EgressRefused, ToolError
from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    Event,
    ReplyEnd,
    TurnError,
)
from smart_support.runtime.usage import call_names

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage
    from langgraph.types import Command

    from smart_support.settings import Settings

log = logging.getLogger("smart_support.tracing")

#: The instrumentation scope of every span.
SCOPE = "smart_support"

#: Attribute names: OpenTelemetry's GenAI conventions where there is one, ours otherwise.
CONVERSATION_ID = "smart_support.conversation_id"
AGENT = "smart_support.agent"
TURN_KIND = "smart_support.turn.kind"
TURN_OUTCOME = "smart_support.turn.outcome"
ERROR_CODE = "smart_support.error.code"
MODEL_PURPOSE = "smart_support.model.purpose"
TOOL_NAME = "gen_ai.tool.name"
TOOL_ACCESS = "smart_support.tool.access"
TOOL_STATUS = "smart_support.tool.status"
TOOL_DURATION_MS = "smart_support.tool.duration_ms"
GUARD_OUTCOME = "smart_support.guard.outcome"

_SAMPLERS: dict[str, _sampling.Sampler] = {
    "always_on": _sampling.ALWAYS_ON,
    "always_off": _sampling.ALWAYS_OFF,
    "parentbased_always_on": _sampling.ParentBased(_sampling.ALWAYS_ON),
    "parentbased_always_off": _sampling.ParentBased(_sampling.ALWAYS_OFF),
}


@dataclass(frozen=True)
class _Tracing:
    provider: TracerProvider
    tracer: trace.Tracer


#: This process's tracing while an app runs with a collector configured; None: tracing off.
_active: _Tracing | None = None


def traces_endpoint(settings: Settings) -> str | None:
    """Where spans are POSTed, as OpenTelemetry specifies: the traces endpoint as it is, else
    the base endpoint with `/v1/traces`; None (tracing off) when neither is set."""
    if settings.otel_exporter_otlp_traces_endpoint:
        return settings.otel_exporter_otlp_traces_endpoint
    if settings.otel_exporter_otlp_endpoint:
        return settings.otel_exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
    return None


def _sampler(settings: Settings) -> _sampling.Sampler:
    name = settings.otel_traces_sampler
    if name == "traceidratio":
        return _sampling.TraceIdRatioBased(settings.otel_traces_sampler_arg)
    if name == "parentbased_traceidratio":
        return _sampling.ParentBasedTraceIdRatio(settings.otel_traces_sampler_arg)
    return _SAMPLERS[name]


def provider_for(settings: Settings) -> TracerProvider | None:
    """An SDK provider exporting to the configured collector; None when none is configured."""
    endpoint = traces_endpoint(settings)
    if endpoint is None:
        return None
    headers = settings.otel_exporter_otlp_headers
    exporter = OTLPSpanExporter(
        endpoint=endpoint,
        # None: the exporter reads OTEL_EXPORTER_OTLP_(TRACES_)HEADERS itself.
        headers=parse_env_headers(headers.get_secret_value(), liberal=True) if headers else None,
    )
    provider = TracerProvider(
        sampler=_sampler(settings),
        resource=Resource.create({SERVICE_NAME: settings.otel_service_name}),
        shutdown_on_exit=False,  # `running` flushes it when the app stops
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


@asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[None]:
    """Tracing for an app's lifetime (its lifespan): on when a collector is configured, and on
    exit the spans still queued are sent before the provider shuts down."""
    global _active
    provider = provider_for(settings)
    if provider is None:
        yield
        return
    if _active is not None:
        # One process, one tracing: an app started while another traces takes it over.
        log.warning("tracing was on for another app in this process: its spans now go here too")
    _active = _Tracing(provider, provider.get_tracer(SCOPE))
    log.info("tracing on: spans go to %s", traces_endpoint(settings))
    try:
        yield
    finally:
        if _active is not None and _active.provider is provider:
            _active = None
        # A blocking flush (HTTP, with the exporter's timeout): off the event loop.
        await asyncio.to_thread(provider.shutdown)


def enabled() -> bool:
    """Whether spans are being recorded in this process now."""
    return _active is not None


# turns -------------------------------------------------------------------------------------


class TurnSpan:
    """The span of one turn or decision; `see` reads its events as they pass (ids, agent,
    outcome, error code: never a message's text)."""

    def __init__(self, tracer: trace.Tracer, kind: str) -> None:
        self.span: Span = tracer.start_span(
            "smart_support.turn", kind=SpanKind.SERVER, attributes={TURN_KIND: kind}
        )
        self.context: Context = trace.set_span_in_context(self.span)
        self.conversation_id: str | None = None
        self.models = _ModelSpans(tracer, self)
        self._outcome: str | None = None

    def see(self, event: Event) -> None:
        if self.conversation_id is None and event.conversation_id:
            self.conversation_id = event.conversation_id
            self.span.set_attribute(CONVERSATION_ID, event.conversation_id)
        if isinstance(event, AgentSelected | ReplyEnd):
            self.span.set_attribute(AGENT, event.agent)
        if isinstance(event, ReplyEnd):
            self._outcome = "answered"
        elif isinstance(event, ApprovalRequested):
            self._outcome = "approval_pending"
        elif isinstance(event, ApprovalResolved) and self._outcome is None:
            self._outcome = event.status
        elif isinstance(event, TurnError):
            self._outcome = "error"
            self.span.set_attribute(ERROR_CODE, event.code)
            self.span.set_status(Status(StatusCode.ERROR, event.code))

    def end(self, outcome: str | None = None) -> None:
        self.models.abandon()
        self.span.set_attribute(TURN_OUTCOME, outcome or self._outcome or "no_reply")
        self.span.end()


#: The turn running in this context: the parent of its model and tool spans.
_turn: ContextVar[TurnSpan | None] = ContextVar("smart_support_turn_span", default=None)
#: The model-call handler LangChain adds to every run in this context (`register_configure_hook`).
_model_spans: ContextVar[_ModelSpans | None] = ContextVar("smart_support_model_spans", default=None)


@contextmanager
def turn(kind: str) -> Iterator[TurnSpan | None]:
    """The span of a turn (`kind` "message") or decision ("decision") while the block runs;
    None, and nothing recorded, with tracing off. Model and tool calls made inside the block
    (in this context and the tasks it starts) are its children."""
    tracing = _active
    if tracing is None:
        yield None
        return
    span = TurnSpan(tracing.tracer, kind)
    turn_token, models_token = _turn.set(span), _model_spans.set(span.models)
    outcome = None
    try:
        yield span
    except (GeneratorExit, asyncio.CancelledError):
        outcome = "cancelled"
        raise
    except BaseException as exc:  # the engine turns failures into events: this is a bug
        outcome = "error"
        span.span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
        raise
    finally:
        _reset(_turn, turn_token)
        _reset(_model_spans, models_token)
        span.end(outcome)


def _reset(var: ContextVar[Any], token: Token[Any]) -> None:
    # An abandoned stream closed from another context (its finalizer): nothing to undo there.
    with contextlib.suppress(ValueError):
        var.reset(token)


def _parent() -> Context | None:
    current = _turn.get()
    return current.context if current is not None else None


# model calls -------------------------------------------------------------------------------


class _ModelSpans(AsyncCallbackHandler):
    """One `smart_support.model` span per chat-model call of a turn: what `runtime.usage`
    records (model, purpose, agent, tokens), none of the messages."""

    def __init__(self, tracer: trace.Tracer, turn: TurnSpan) -> None:
        self.tracer = tracer
        self.turn = turn
        self._spans: dict[UUID, Span] = {}

    async def on_chat_model_start(
        self,
        serialized: dict[str, Any],
        messages: list[list[BaseMessage]],
        *,
        run_id: UUID,
        parent_run_id: UUID | None = None,
        tags: list[str] | None = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        meta = metadata or {}
        agent, model = call_names(serialized, tags, metadata)  # as the usage rows name it
        attributes: dict[str, str] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": model,
            MODEL_PURPOSE: "routing" if agent == "router" else "reply",
            AGENT: agent,
        }
        conversation_id = meta.get("thread_id") or self.turn.conversation_id
        if conversation_id:
            attributes[CONVERSATION_ID] = str(conversation_id)
        if meta.get("ls_provider"):
            attributes["gen_ai.provider.name"] = str(meta["ls_provider"])
        self._spans[run_id] = self.tracer.start_span(
            "smart_support.model",
            context=self.turn.context,
            kind=SpanKind.CLIENT,
            attributes=attributes,
        )

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.pop(run_id, None)
        if span is None:
            return
        tokens_in = tokens_out = 0
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None) or {}
                tokens_in += int(usage.get("input_tokens", 0))
                tokens_out += int(usage.get("output_tokens", 0))
                name = (getattr(message, "response_metadata", None) or {}).get("model_name")
                if name:
                    span.set_attribute("gen_ai.response.model", str(name))
        span.set_attribute("gen_ai.usage.input_tokens", tokens_in)
        span.set_attribute("gen_ai.usage.output_tokens", tokens_out)
        span.end()

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        span = self._spans.pop(run_id, None)
        if span is not None:
            span.set_attribute("error.type", type(error).__name__)
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
            span.end()

    def abandon(self) -> None:
        """End the spans of calls the turn stopped waiting for (cancelled mid-call)."""
        for span in self._spans.values():
            span.set_status(Status(StatusCode.ERROR, "cancelled"))
            span.end()
        self._spans.clear()


register_configure_hook(_model_spans, inheritable=True)


# tool calls --------------------------------------------------------------------------------


@contextmanager
def tool(name: str, access: str, agent: str, conversation_id: str | None) -> Iterator[Span | None]:
    """The span of one tool call the guard runs, as a child of the turn; None with tracing off.
    Its outcome comes from how the block ends: `ran`, or the failure the guard turns into a
    plain answer (`egress_refused`, `system_down`, `system_failed`; the exception's class,
    never its message, which may quote a URL or an argument)."""
    tracing = _active
    if tracing is None:
        yield None
        return
    attributes = {
        "gen_ai.operation.name": "execute_tool",
        TOOL_NAME: name,
        TOOL_ACCESS: access,
        AGENT: agent,
    }
    if conversation_id:
        attributes[CONVERSATION_ID] = conversation_id
    started = time.perf_counter()
    span = tracing.tracer.start_span(
        "smart_support.tool", context=_parent(), kind=SpanKind.INTERNAL, attributes=attributes
    )
    outcome = "ran"
    try:
        with trace.use_span(span, end_on_exit=False, record_exception=False):
            yield span
    except BaseException as exc:
        outcome = _outcome_of(exc)
        if outcome != "interrupted":
            span.set_attribute(TOOL_STATUS, "failed")
            span.set_attribute("error.type", type(exc).__name__)
            span.set_status(Status(StatusCode.ERROR, outcome))
        raise
    finally:
        span.set_attribute(GUARD_OUTCOME, outcome)
        span.set_attribute(TOOL_DURATION_MS, round((time.perf_counter() - started) * 1000))
        span.end()


def ran(span: Span | None, result: ToolMessage | Command[Any]) -> None:
    """The tool's own answer, on its span: `failed` when it answered with an error (an API's
    refusal, a 404), else `succeeded`."""
    if span is not None:
        failed = isinstance(result, ToolMessage) and result.status == "error"
        span.set_attribute(TOOL_STATUS, "failed" if failed else "succeeded")


def _outcome_of(exc: BaseException) -> str:
    # The guard's own mapping of failures to answers (runtime/guard.py `_run`).
    if isinstance(exc, GraphBubbleUp | asyncio.CancelledError | GeneratorExit):
        return "interrupted"
    if isinstance(exc, EgressRefused):
        return "egress_refused"
    if isinstance(exc, ToolError):
        return "system_down"
    return "system_failed"


__all__ = [
    "TurnSpan",
    "enabled",
    "provider_for",
    "ran",
    "running",
    "tool",
    "traces_endpoint",
    "turn",
]

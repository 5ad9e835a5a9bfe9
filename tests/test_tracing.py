"""OpenTelemetry tracing, end to end: the real chat server (SQLite, the offline model, the demo
shop) exports its spans over OTLP/HTTP to a real receiver on loopback, which decodes them with
opentelemetry-proto as a collector would. The spans leave when the server stops (the batch
processor is flushed at shutdown), so every assertion reads what was sent, with no waiting."""

from __future__ import annotations

import gzip
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from chat_client import (
    Chat,
    ServerFactory,
    anonymous_agents_file,
    cancel_order_1042,
    connect,
    of_type,
)
from smart_support.errors import ConfigError
from smart_support.observability import tracing
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings, load_settings
from smart_support.testing import ScriptedChatModel

pytest_plugins = ["server_fixture"]

ORDER_QUESTION = "What's the status of order 1042?"
#: What the customer wrote and the value the model passed the tool: never in a span.
PRIVATE = ("status of order", "1042")

OTEL_VARIABLES = (
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_SERVICE_NAME",
    "OTEL_TRACES_SAMPLER",
    "OTEL_TRACES_SAMPLER_ARG",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@dataclass
class Span:
    name: str
    trace_id: str
    span_id: str
    parent_id: str
    attributes: dict[str, Any]
    resource: dict[str, Any]


@dataclass
class Collector:
    """An OTLP/HTTP receiver: what it was sent, decoded."""

    url: str
    requests: list[dict[str, str]] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)

    def named(self, name: str) -> list[Span]:
        return [s for s in self.spans if s.name == name]


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind) if kind else None


def _decode(body: bytes, into: Collector) -> None:
    request = ExportTraceServiceRequest()
    request.ParseFromString(body)
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                into.spans.append(
                    Span(
                        name=span.name,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_id=span.parent_span_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                        resource=resource,
                    )
                )


@pytest.fixture
def collector() -> Iterator[Collector]:
    """A receiver of POST /v1/traces (and /custom/traces) on a free loopback port."""
    received = Collector(url="")

    class Receiver(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.requests.append(
                {"path": self.path, **{k.lower(): v for k, v in self.headers.items()}}
            )
            if self.path not in ("/v1/traces", "/custom/traces"):
                self.send_response(404)
                self.end_headers()
                return
            _decode(body, received)
            answer = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="otlp-receiver", daemon=True)
    thread.start()
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture(autouse=True)
def no_otel_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only what a test sets configures tracing."""
    for name in OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


async def _order_question(url: str) -> str:
    """One customer turn that calls get_order_status(order_id=1042); the conversation id."""
    async with connect(url) as ws:
        chat = Chat(ws)
        started = await chat.start()
        frames = await chat.say(ORDER_QUESTION)
        assert frames[-1]["type"] == "reply_end", frames
        assert of_type(frames, "tool_activity"), "the turn called a tool"
    return str(started["conversation_id"])


def _private_values(spans: list[Span], conversation_id: str) -> list[tuple[str, str, Any]]:
    found = []
    for span in spans:
        for key, value in {**span.attributes, **span.resource}.items():
            text = str(value)
            if text != conversation_id and any(p in text for p in PRIVATE):
                found.append((span.name, key, value))
    return found


# the spans of a turn ---------------------------------------------------------------------------


async def test_a_turn_with_a_tool_call_is_one_trace_of_a_turn_its_model_calls_and_its_tool(
    start_server: ServerFactory, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.url)
    with start_server() as url:
        assert tracing.enabled()
        conversation_id = await _order_question(url)
    assert not tracing.enabled(), "tracing ends with the server"
    assert {r["path"] for r in collector.requests} == {"/v1/traces"}
    assert all(r["content-type"] == "application/x-protobuf" for r in collector.requests)

    [turn] = collector.named("smart_support.turn")
    assert turn.resource["service.name"] == "smart-support"
    assert turn.parent_id == "", "a turn is the root of its trace"
    assert turn.attributes["smart_support.conversation_id"] == conversation_id
    assert turn.attributes["smart_support.turn.kind"] == "message"
    assert turn.attributes["smart_support.turn.outcome"] == "answered"
    assert turn.attributes["smart_support.agent"] == "orders"
    assert "smart_support.error.code" not in turn.attributes

    [tool] = collector.named("smart_support.tool")
    assert (tool.trace_id, tool.parent_id) == (turn.trace_id, turn.span_id)
    assert tool.attributes["gen_ai.tool.name"] == "get_order_status"
    assert tool.attributes["smart_support.tool.access"] == "read"
    assert tool.attributes["smart_support.tool.status"] == "succeeded"
    assert tool.attributes["smart_support.guard.outcome"] == "ran"
    assert tool.attributes["smart_support.agent"] == "orders"
    assert tool.attributes["smart_support.conversation_id"] == conversation_id
    assert isinstance(tool.attributes["smart_support.tool.duration_ms"], int)

    models = collector.named("smart_support.model")
    assert models, "the model calls have spans"
    for model in models:
        assert (model.trace_id, model.parent_id) == (turn.trace_id, turn.span_id)
        assert model.attributes["smart_support.conversation_id"] == conversation_id
        assert model.attributes["gen_ai.request.model"]
        assert model.attributes["smart_support.model.purpose"] in ("routing", "reply")
    replies = [m for m in models if m.attributes["smart_support.model.purpose"] == "reply"]
    assert replies and all(m.attributes["smart_support.agent"] == "orders" for m in replies)
    assert sum(m.attributes["gen_ai.usage.output_tokens"] for m in models) > 0

    assert _private_values(collector.spans, conversation_id) == []


async def test_an_approved_write_is_a_decision_trace_with_the_write_tool_in_it(
    start_server: ServerFactory, collector: Collector
) -> None:
    with start_server(otel_exporter_otlp_endpoint=collector.url) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            request = await cancel_order_1042(chat)
            await chat.send(type="decision", approval_id=request["approval_id"], decision="approve")
            frames = await chat.until("reply_end", "error")
            assert frames[-1]["type"] == "reply_end", frames
    conversation_id = str(started["conversation_id"])

    turns = {
        s.attributes["smart_support.turn.kind"]: s for s in collector.named("smart_support.turn")
    }
    assert turns["message"].attributes["smart_support.turn.outcome"] == "approval_pending"
    decision = turns["decision"]
    assert decision.attributes["smart_support.turn.outcome"] == "answered"
    assert decision.attributes["smart_support.conversation_id"] == conversation_id
    writes = [
        s
        for s in collector.named("smart_support.tool")
        if s.attributes["smart_support.tool.access"] == "write"
    ]
    assert [w.attributes["gen_ai.tool.name"] for w in writes] == ["cancel_order"]
    assert (writes[0].trace_id, writes[0].parent_id) == (decision.trace_id, decision.span_id)
    assert writes[0].attributes["smart_support.guard.outcome"] == "ran"
    assert _private_values(collector.spans, conversation_id) == []


async def test_a_tool_whose_api_is_down_is_a_failed_span_without_the_error_message(
    sqlite_url: str, collector: Collector
) -> None:
    with socket.socket() as probe:  # a loopback port nothing listens on: the shop is down
        probe.bind(("127.0.0.1", 0))
        down = f"127.0.0.1:{probe.getsockname()[1]}"
    settings = Settings(
        _env_file=None,
        database_url=sqlite_url,
        llm_provider="offline",
        agents_file=anonymous_agents_file(),
        shop_url=f"http://{down}",
        egress_allowlist=[down],
        otel_exporter_otlp_endpoint=collector.url,
    )
    with serve_in_thread(settings) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            frames = await chat.say(ORDER_QUESTION)
            assert of_type(frames, "tool_activity")[-1]["status"] == "failed", frames

    [tool] = collector.named("smart_support.tool")
    assert tool.attributes["smart_support.guard.outcome"] == "system_down"
    assert tool.attributes["smart_support.tool.status"] == "failed"
    assert tool.attributes["error.type"] == "ToolError"
    assert _private_values(collector.spans, str(started["conversation_id"])) == []
    assert not [s for s in collector.spans if down in str(s.attributes)], "no host in a span"


def _provider_times_out(messages: list[Any]) -> Any:
    raise TimeoutError("the provider at llm.internal:443 timed out on order 1042")


async def test_a_failed_turn_carries_its_error_code_and_the_model_call_its_error_class_only(
    start_server: ServerFactory, collector: Collector
) -> None:
    model = ScriptedChatModel(default=_provider_times_out)
    with start_server(
        otel_exporter_otlp_endpoint=collector.url, app_options={"model": model}
    ) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            frames = await chat.say(ORDER_QUESTION)
    [error] = of_type(frames, "error")

    [turn] = collector.named("smart_support.turn")
    assert turn.attributes["smart_support.turn.outcome"] == "error"
    assert turn.attributes["smart_support.error.code"] == error["code"]
    failed = [s for s in collector.named("smart_support.model") if "error.type" in s.attributes]
    assert failed and {s.attributes["error.type"] for s in failed} == {"TimeoutError"}
    assert all(s.parent_id == turn.span_id for s in failed)
    assert _private_values(collector.spans, str(started["conversation_id"])) == []
    assert not [s for s in collector.spans if "llm.internal" in str(s.attributes)]


# when nothing is sent --------------------------------------------------------------------------


async def test_no_collector_configured_means_no_tracing_and_nothing_sent(
    start_server: ServerFactory, collector: Collector
) -> None:
    with start_server() as url:
        assert not tracing.enabled()
        await _order_question(url)
    assert collector.requests == []


async def test_the_always_off_sampler_sends_no_span(
    start_server: ServerFactory, collector: Collector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", collector.url + "/custom/traces")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    with start_server() as url:
        assert tracing.enabled()
        await _order_question(url)
    assert collector.spans == []


# settings --------------------------------------------------------------------------------------


def test_the_traces_endpoint_wins_and_the_base_endpoint_gets_the_traces_path() -> None:
    base = Settings(_env_file=None, otel_exporter_otlp_endpoint="http://collector:4318/")
    assert tracing.traces_endpoint(base) == "http://collector:4318/v1/traces"
    both = Settings(
        _env_file=None,
        otel_exporter_otlp_endpoint="http://collector:4318",
        otel_exporter_otlp_traces_endpoint="https://traces.example/in",
    )
    assert tracing.traces_endpoint(both) == "https://traces.example/in"
    assert tracing.traces_endpoint(Settings(_env_file=None)) is None
    assert tracing.traces_endpoint(Settings(_env_file=None, otel_exporter_otlp_endpoint="")) is None


def test_a_collector_address_without_scheme_stops_the_start_with_the_setting_named() -> None:
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_ENDPOINT: .*collector URL"):
        load_settings(_env_file=None, otel_exporter_otlp_endpoint="collector:4318")
    with pytest.raises(ConfigError, match="OTEL_TRACES_SAMPLER"):
        load_settings(_env_file=None, otel_traces_sampler="sometimes")


async def test_the_export_headers_reach_the_collector(
    start_server: ServerFactory, collector: Collector
) -> None:
    with start_server(
        otel_exporter_otlp_endpoint=collector.url,
        otel_exporter_otlp_headers="x-api-key=s3cret%20key",
        otel_service_name="support-eu",
    ) as url:
        await _order_question(url)
    assert collector.requests and all(
        r.get("x-api-key") == "s3cret key" for r in collector.requests
    )
    assert {s.resource["service.name"] for s in collector.spans} == {"support-eu"}

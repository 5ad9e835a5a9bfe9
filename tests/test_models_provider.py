"""Provider models through init_chat_model, against a local OpenAI-compatible server."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, StreamingResponse

from smart_support.errors import ConfigError
from smart_support.models.offline import OfflineChatModel
from smart_support.models.provider import build_chat_model, model_label
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import AgentSelected, ReplyEnd, TurnError
from smart_support.settings import Settings
from test_engine_approvals import AGENTS, collect, only


class FakeOpenAI:
    """An OpenAI-compatible /v1/chat/completions on loopback that answers like a router and an
    agent would, and can be told to fail the next N requests with a status code."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.fail_next: list[int] = []
        self.app = FastAPI()
        self.app.post("/v1/chat/completions")(self.complete)

    async def complete(self, request: Request) -> JSONResponse:
        body = await request.json()
        self.requests.append(body)
        if self.fail_next:
            status = self.fail_next.pop(0)
            return JSONResponse(
                {"error": {"message": "slow down", "type": "rate_limit"}},
                status_code=status,
                headers={"retry-after-ms": "10"},
            )
        tools = [t["function"]["name"] for t in body.get("tools", [])]
        if "transfer_to_orders" in tools:
            message = {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_r1",
                        "type": "function",
                        "function": {"name": "transfer_to_orders", "arguments": "{}"},
                    }
                ],
            }
        else:
            message = {"role": "assistant", "content": "Your order 1042 is pending."}
        usage = {"prompt_tokens": 42, "completion_tokens": 7, "total_tokens": 49}
        if not body.get("stream"):
            return JSONResponse(
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body["model"],
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": usage,
                }
            )
        return StreamingResponse(
            self._sse(body["model"], message, usage), media_type="text/event-stream"
        )

    @staticmethod
    def _sse(model: str, message: dict, usage: dict) -> Iterator[str]:
        """The same answer as server-sent chunks: text word by word, tool calls whole."""

        def chunk(delta: dict, finish: str | None = None, **extra) -> str:
            payload = {
                "id": "chatcmpl-1",
                "object": "chat.completion.chunk",
                "created": 0,
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
                **extra,
            }
            return f"data: {json.dumps(payload)}\n\n"

        yield chunk({"role": "assistant", "content": ""})
        if message.get("tool_calls"):
            calls = [{**c, "index": i} for i, c in enumerate(message["tool_calls"])]
            yield chunk({"tool_calls": calls})
        else:
            for word in message["content"].split(" "):
                yield chunk({"content": word + " "})
        yield chunk({}, "tool_calls" if message.get("tool_calls") else "stop")
        final = {
            "id": "chatcmpl-1",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": model,
            "choices": [],
            "usage": usage,
        }
        yield f"data: {json.dumps(final)}\n\n"
        yield "data: [DONE]\n\n"


@pytest.fixture
def fake_openai(monkeypatch) -> Iterator[tuple[FakeOpenAI, str]]:
    server_app = FakeOpenAI()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(server_app.app, log_level="warning", lifespan="off", loop="asyncio")
    server = uvicorn.Server(config)
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-test")
    try:
        yield server_app, f"http://127.0.0.1:{port}/v1"
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


def openai_settings(base_url: str, database_url: str, **extra) -> Settings:
    return Settings(
        llm_provider="openai",
        llm_model="gpt-4.1-mini",
        llm_base_url=base_url,
        database_url=database_url,
        agents_file=AGENTS,
        llm_max_retries=2,
        **extra,
    )


async def test_a_turn_runs_through_an_openai_compatible_provider(fake_openai, sqlite_url, book):
    server, base_url = fake_openai
    settings = openai_settings(base_url, sqlite_url)
    assert model_label(settings) == "openai:gpt-4.1-mini"
    async with Engine.open(settings) as engine:
        assert not engine.is_offline and engine.model_label == "openai:gpt-4.1-mini"
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "What's the status of order 1042?"))
        assert only(events, AgentSelected)[0].agent == "orders"
        assert only(events, ReplyEnd)[0].text.strip() == "Your order 1042 is pending."
        usage = await engine.store.usage(conversation)
        assert {u.agent for u in usage} == {"router", "orders"}
        assert all(u.input_tokens == 42 and u.output_tokens == 7 for u in usage)
        assert all(u.cost_usd == pytest.approx((42 * 0.4 + 7 * 1.6) / 1e6) for u in usage)
    assert all(r["model"] == "gpt-4.1-mini" for r in server.requests)


async def test_a_rate_limited_provider_is_retried_with_backoff(fake_openai, sqlite_url, book):
    server, base_url = fake_openai
    server.fail_next = [429]
    async with Engine.open(openai_settings(base_url, sqlite_url)) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "What's the status of order 1042?"))
        assert only(events, ReplyEnd), "the retry succeeded"
    assert len(server.requests) == 3  # 429, then router and agent


async def test_a_provider_that_keeps_failing_gives_the_customer_a_clear_error(
    fake_openai, sqlite_url, book
):
    server, base_url = fake_openai
    server.fail_next = [503] * 10
    async with Engine.open(openai_settings(base_url, sqlite_url)) as engine:
        conversation, _ = await engine.start_conversation()
        events = await collect(engine.send(conversation, "What's the status of order 1042?"))
        [error] = only(events, TurnError)
        assert error.code == "model_unavailable"
        assert "not available" in error.message and "503" not in error.message
    assert len(server.requests) == 3  # one try and two retries


def test_building_a_real_provider_model_in_a_test_fails_at_the_model_layer(
    monkeypatch, network_refusals
):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-not-real")
    with pytest.raises(
        pytest.fail.Exception, match=r"real ChatAnthropic for https://api\.anthropic"
    ):
        build_chat_model(Settings(llm_provider="anthropic", llm_max_retries=0))
    [refusal] = network_refusals.take()
    assert "offline model" in refusal


async def test_invoking_a_provider_model_pointed_off_this_machine_fails_before_any_request(
    fake_openai, network_refusals
):
    server, base_url = fake_openai
    model = build_chat_model(openai_settings(base_url, "sqlite:///unused.db"))
    assert (await model.ainvoke("hello")).content.strip() == "Your order 1042 is pending."
    moved = model.model_copy(update={"openai_api_base": "https://api.openai.com/v1"})
    with pytest.raises(pytest.fail.Exception, match="invoked a real ChatOpenAI"):
        await moved.ainvoke("hello")
    with pytest.raises(pytest.fail.Exception, match="invoked a real ChatOpenAI"):
        async for _ in moved.astream("hello"):
            pass
    assert len(server.requests) == 1
    assert len(network_refusals.take()) == 2


def test_the_offline_provider_builds_the_offline_model_and_says_so():
    settings = Settings(llm_provider="offline")
    assert isinstance(build_chat_model(settings), OfflineChatModel)
    assert model_label(settings) == "offline model"


def test_an_unknown_provider_is_a_config_error():
    with pytest.raises(ConfigError, match="LLM_PROVIDER"):
        build_chat_model(Settings(llm_provider="no-such-provider", llm_model="x"))


def test_a_provider_without_a_default_model_needs_llm_model():
    with pytest.raises(ConfigError, match="LLM_MODEL"):
        build_chat_model(Settings(llm_provider="ollama"))

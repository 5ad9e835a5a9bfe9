"""Token and cost tracking: a LangChain callback that records every LLM call of a turn."""

from __future__ import annotations

import logging
import time
from typing import Any, Literal
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import BaseMessage
from langchain_core.outputs import LLMResult

from smart_support.runtime.events import ModelCall
from smart_support.store.base import Store
from smart_support.store.records import Usage

log = logging.getLogger("smart_support.usage")


_UNPRICED: set[str] = set()


def cost_usd(
    model: str, input_tokens: int, output_tokens: int, prices: dict[str, tuple[float, float]]
) -> float:
    """Cost from a per-million-token price table; unknown models cost 0 and are logged once."""
    price = prices.get(model)
    if price is None:
        # Providers report dated names (claude-sonnet-4-6-20260101): match the longest prefix.
        candidates = [name for name in prices if model.startswith(name)]
        price = prices[max(candidates, key=len)] if candidates else None
    if price is None:
        if model not in _UNPRICED:
            _UNPRICED.add(model)
            log.warning("no price for model %r; its cost is recorded as 0", model)
        return 0.0
    return (input_tokens * price[0] + output_tokens * price[1]) / 1_000_000


def call_names(
    serialized: dict[str, Any] | None, tags: list[str] | None, metadata: dict[str, Any] | None
) -> tuple[str, str]:
    """(agent, model) of a chat-model call, from what LangChain hands its callbacks: the agent
    that made it (`router` for the router's calls, which are tagged so) and the model's name.
    The usage rows and the tracing spans name a call alike through this."""
    meta = metadata or {}
    agent = str(meta.get("lc_agent_name") or meta.get("langgraph_node") or "unknown")
    if tags and "router" in tags:
        agent = "router"
    model = str(meta.get("ls_model_name") or (serialized or {}).get("name") or "unknown")
    return agent, model


class UsageRecorder(AsyncCallbackHandler):
    """Records input and output tokens and cost of each chat-model call, per agent.

    One recorder serves one run of one conversation. The agent comes from the metadata LangGraph
    passes to `on_chat_model_start` (`lc_agent_name`, else the graph node). Each call is one
    usage row (its `extra` holds the call's `purpose` and `duration_ms`) and waits in `take()`
    for the engine to put it on the event of its step (`events.ModelCall` says why there and
    not in an event of its own): no write besides the usage row.
    """

    def __init__(
        self, store: Store, conversation_id: str, prices: dict[str, tuple[float, float]]
    ) -> None:
        self.store = store
        self.conversation_id = conversation_id
        self.prices = prices
        self._runs: dict[UUID, tuple[str, str, float]] = {}
        self.records: list[Usage] = []
        self._calls: list[ModelCall] = []

    def take(self) -> list[ModelCall]:
        """The calls that ended since the last `take`, oldest first."""
        calls, self._calls = self._calls, []
        return calls

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
        agent, model = call_names(serialized, tags, metadata)
        self._runs[run_id] = (agent, model, time.perf_counter())

    async def on_llm_end(self, response: LLMResult, *, run_id: UUID, **kwargs: Any) -> None:
        agent, model, started = self._runs.pop(run_id, ("unknown", "unknown", None))
        duration_ms = round((time.perf_counter() - started) * 1000) if started is not None else None
        purpose: Literal["routing", "reply"] = "routing" if agent == "router" else "reply"
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None)
                if not usage:
                    continue
                name = (getattr(message, "response_metadata", {}) or {}).get("model_name") or model
                tokens_in = int(usage.get("input_tokens", 0))
                tokens_out = int(usage.get("output_tokens", 0))
                record = Usage(
                    conversation_id=self.conversation_id,
                    agent=agent,
                    model=str(name),
                    input_tokens=tokens_in,
                    output_tokens=tokens_out,
                    cost_usd=cost_usd(str(name), tokens_in, tokens_out, self.prices),
                    extra={"purpose": purpose, "duration_ms": duration_ms},
                )
                self.records.append(record)
                await self.store.record_usage(record)
                self._calls.append(
                    ModelCall(
                        purpose=purpose,
                        agent=agent,
                        model=record.model,
                        input_tokens=tokens_in,
                        output_tokens=tokens_out,
                        cost_usd=record.cost_usd,
                        duration_ms=duration_ms,
                    )
                )

    async def on_llm_error(self, error: BaseException, *, run_id: UUID, **kwargs: Any) -> None:
        self._runs.pop(run_id, None)

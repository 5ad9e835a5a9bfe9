"""Test helpers that ship with the package, so users can test their own agents without an LLM.

`ScriptedChatModel` answers from a script: each call pops the next step. A step is an AIMessage,
a string (plain text reply), or a callable that receives the messages and returns either. It
supports `bind_tools`, streams token by token, keeps tool calls when streamed, and reports
usage metadata, so it exercises the same code paths as a real model (`with_structured_output`
included: it is tool calling). `echo_classification()` is a step that answers the OpenAPI
classifier's request with the rules' own decisions, optionally edited.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForLLMRun,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.messages.tool import tool_call_chunk
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import ConfigDict, Field, PrivateAttr

Step = AIMessage | str | Callable[[Sequence[BaseMessage]], "AIMessage | str"]

_ids = itertools.count(1)


def call(name: str, args: dict[str, Any] | None = None, text: str = "") -> AIMessage:
    """An AIMessage that calls one tool."""
    return calls([(name, args or {})], text=text)


def calls(pairs: Sequence[tuple[str, dict[str, Any]]], text: str = "") -> AIMessage:
    """An AIMessage that calls several tools in one step (parallel tool calls)."""
    return AIMessage(
        content=text,
        tool_calls=[
            {"name": n, "args": a, "id": f"call_{next(_ids)}", "type": "tool_call"}
            for n, a in pairs
        ],
    )


def echo_classification(
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Callable[[Sequence[BaseMessage]], AIMessage]:
    """A step that answers a classification request (`smart_support.openapi.classify.refine`)
    with the rules' own decisions, as a `ClassifiedOperations` tool call.

    Args:
        edit: Called with each operation's answer (a dict: name, access, relevance,
            parameters, agent, summary, confidence and reasons) to change it before it is sent.
    """

    def step(messages: Sequence[BaseMessage]) -> AIMessage:
        request = json.loads(str(messages[-1].content))
        answers = []
        for op in request["operations"]:
            rules = op["rules"]
            answer: dict[str, Any] = {
                "name": op["name"],
                "access": rules["access"].split(" ", 1)[0],
                "access_reason": "as the rules say",
                "relevance": rules["relevance"].split(" ", 1)[0],
                "relevance_reason": "as the rules say",
                "parameters": [{"name": p["name"], "role": p["role"]} for p in op["parameters"]],
                "agent": rules.get("agent"),
                "summary": rules.get("summary"),
                "confidence": 0.8,
            }
            if edit is not None:
                edit(answer)
            answers.append(answer)
        return call("ClassifiedOperations", {"operations": answers})

    return step


def _count_tokens(text: str) -> int:
    return max(1, (len(text.split()) * 4 + 2) // 3) if text else 0


class ScriptedChatModel(BaseChatModel):
    """A chat model that replays a script. Raises when the script runs out.

    Args:
        script: the steps, consumed in order (shared by every bound copy).
        latency: seconds to wait per call (benchmarks use 0.3 to stand in for a provider).
        default: a step used when the script is empty (for long benchmark conversations);
            without it an empty script raises.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    script: list[Any] = Field(default_factory=list)
    latency: float = 0.0
    default: Any = None
    model_name: str = "scripted"
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)
    #: Every list of messages the model was called with, in order.
    seen: list[list[BaseMessage]] = Field(default_factory=list)
    #: The tool schemas (OpenAI format) of every call, in order: what the model was shown.
    seen_tools: list[list[dict[str, Any]]] = Field(default_factory=list)

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> Any:
        # Bound as JSON schemas, as real chat models do (some callers inspect them).
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **kwargs)

    def _next(self, messages: Sequence[BaseMessage], tools: Any = None) -> AIMessage:
        with self._lock:
            self.seen.append(list(messages))
            self.seen_tools.append(list(tools or []))
            if self.script:
                step = self.script.pop(0)
            elif self.default is not None:
                step = self.default
            else:
                raise RuntimeError("ScriptedChatModel: the script ran out")
        if callable(step) and not isinstance(step, AIMessage):
            step = step(messages)
        message = AIMessage(content=step) if isinstance(step, str) else step.model_copy(deep=True)
        prompt = " ".join(str(m.content) for m in messages)
        out = _count_tokens(str(message.content)) + 8 * len(message.tool_calls)
        message.usage_metadata = {
            "input_tokens": _count_tokens(prompt),
            "output_tokens": out,
            "total_tokens": _count_tokens(prompt) + out,
        }
        message.response_metadata = {"model_name": self.model_name}
        return message

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            time.sleep(self.latency)
        return ChatResult(
            generations=[ChatGeneration(message=self._next(messages, kwargs.get("tools")))]
        )

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        if self.latency:
            await asyncio.sleep(self.latency)
        return ChatResult(
            generations=[ChatGeneration(message=self._next(messages, kwargs.get("tools")))]
        )

    def _chunks(self, message: AIMessage) -> Iterator[AIMessageChunk]:
        text = str(message.content)
        pieces = [p + " " for p in text.split(" ")] if text else []
        if pieces:
            pieces[-1] = pieces[-1][:-1]
        for piece in pieces:
            yield AIMessageChunk(content=piece, id=message.id)
        yield AIMessageChunk(
            content="",
            id=message.id,
            tool_call_chunks=[
                tool_call_chunk(name=c["name"], args=json.dumps(c["args"]), id=c["id"], index=i)
                for i, c in enumerate(message.tool_calls)
            ],
            usage_metadata=message.usage_metadata,
            response_metadata=message.response_metadata,
            chunk_position="last",
        )

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self.latency:
            time.sleep(self.latency)
        for chunk in self._chunks(self._next(messages, kwargs.get("tools"))):
            if run_manager and chunk.content:
                run_manager.on_llm_new_token(
                    str(chunk.content), chunk=ChatGenerationChunk(message=chunk)
                )
            yield ChatGenerationChunk(message=chunk)

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self.latency:
            await asyncio.sleep(self.latency)
        for chunk in self._chunks(self._next(messages, kwargs.get("tools"))):
            if run_manager and chunk.content:
                await run_manager.on_llm_new_token(
                    str(chunk.content), chunk=ChatGenerationChunk(message=chunk)
                )
            yield ChatGenerationChunk(message=chunk)


__all__ = ["ScriptedChatModel", "call", "calls", "echo_classification"]

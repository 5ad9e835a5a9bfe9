"""The offline model: a deterministic LangChain chat model that needs no network and no weights.

It is not a language model. It reads the bound tools and the recent messages and does what a
careful model would do with them, by lexical matching (`smart_support.models.matching`):

* **Choose a tool** (`_choice`). The tool whose name and description best match the customer's
  last message is called; earlier messages count only for a follow-up or a message that matches
  nothing alone. An action (any tool whose name does not start with a read verb: cancel, change,
  start a return...) is only proposed when the message asks for it, so a question never becomes
  an approval request. Routing is the same thing: the runtime binds one `transfer_to_<agent>`
  tool per agent whose description lists examples; there the phrasing of each agent's examples
  (function words, numbers) counts too.
* **Fill arguments** (`_arguments`, `_address`) from the message that asked for the action, or
  from the customer's answer to our own question; references (an order number, an email) may
  come from the recent conversation, free text (a reason, an address) never does. Postal
  addresses in common US, UK and European forms are split into their parts.
* **Ask** a clarifying question naming a required argument it cannot find.
* **Answer** after a tool result (`_answers`, `_records`, `_passages`, `_render`): the answer to
  the question asked (the status and next step, where, when, how much, a field it names), money
  with its currency and dates as people write them; from knowledge-base passages the sentences
  that answer, the yes or no first. Errors and refused approvals are relayed as they are, never as
  success.
* **Verify the customer** (`_identity`) from the tool guard's marks alone
  (`additional_kwargs["smart_support"]["kind"]`): a marked result is quoted as it is; after a
  `verification_needed` refusal, a message with an email and one more detail calls the tool whose
  arguments it fills best (an email parameter plus another; no tool is known by name); after
  `verified`, the request that was refused is carried out and answered; after `not_verified`,
  the attempts left are quoted and the details asked for again.
* **Reply generically** when nothing fits: what the whole assistant can do (every agent's
  description, remembered from the last routing call), else this agent's tools or system prompt.
  In routing (every tool is a `transfer_to_` tool) it returns no tool call, so the runtime picks
  the fallback agent.

Nothing here knows about any particular business: it works with any agents.yaml and tools. It
streams word by word, reports approximate token usage, and gives the same output for the same
input every time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, ClassVar

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import (
    AIMessage,
    AIMessageChunk,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import PrivateAttr

from smart_support.models._answers import compose_answer, generic_reply
from smart_support.models._arguments import (
    _name,
    fill_arguments,
    question_for,
)
from smart_support.models._choice import (
    QUESTION,
    allowed_tools,
    asked_again,
    matcher_for,
    searches_anything,
    tool_texts,
)
from smart_support.models._identity import (
    awaiting_verification,
    guard_kind,
    refused_request,
    verification_call,
)
from smart_support.models._text import ROUTING_PREFIX, text_of
from smart_support.models.matching import split_identifier

__all__ = ["OFFLINE_LABEL", "OfflineChatModel", "approx_tokens", "text_of"]

logger = logging.getLogger("smart_support.models")

OFFLINE_LABEL = "offline model"
#: How many recent messages are read for context and arguments; keeps every call O(1) in history.
WINDOW = 12
#: How many earlier customer messages lift tool scores as context.
CONTEXT_MESSAGES = 2
#: What the model says once the customer is verified, when nothing they asked is left to do.
THANKS_VERIFIED = "Thank you, that's confirmed."

_PIECES = re.compile(r"\S+\s*|\s+")
#: Tool schemas the model keeps converted (see `OfflineChatModel._formatted`).
_MAX_FORMATTED = 512


def approx_tokens(text: str) -> int:
    """A deterministic token estimate: four tokens for every three words."""
    return math.ceil(len(text.split()) * 4 / 3)


class OfflineChatModel(BaseChatModel):
    """A deterministic chat model for running Smart Support without any provider.

    It takes no arguments; `model_name` ("offline") is what usage tracking sees, and `label`
    ("offline model") is how the CLI and UI name it.

    Example:
        >>> @tool
        ... def get_invoice(invoice_id: int) -> dict:
        ...     "Look up an invoice: amount, due date and payment state."
        >>> model = OfflineChatModel().bind_tools([get_invoice])
        >>> model.invoke("is invoice 12 paid?").tool_calls[0]["args"]
        {'invoice_id': 12}
    """

    #: How the CLI and UI name this model.
    label: ClassVar[str] = OFFLINE_LABEL
    model_name: str = "offline"
    #: The agents' descriptions from the last routing call (transfer tools), so an agent that
    #: cannot help can say what the whole assistant can do, not only its own tools.
    _team: dict[str, str] = PrivateAttr(default_factory=dict)
    #: OpenAI-format schemas of the tools bound so far, by tool object: the agent graph binds
    #: an agent's tools before every model call, and the conversion was a tenth of the model's
    #: time. The tool is kept alongside so that a recycled id never finds another's schema.
    _formatted: dict[int, tuple[Any, dict[str, Any]]] = PrivateAttr(default_factory=dict)

    @property
    def _llm_type(self) -> str:
        return "offline"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def bind_tools(
        self,
        tools: Sequence[Any],
        *,
        tool_choice: str | dict[str, Any] | bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """Bind tools (LangChain tools, functions, pydantic models or OpenAI tool dicts).

        Args:
            tools: The tools the model may call.
            tool_choice: None/"auto" to decide, "any"/"required"/True to always call the best
                tool, or a tool name (or OpenAI dict) to always call that tool.
            **kwargs: Passed on to `bind` and ignored by the model.
        """
        formatted = [self._openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

    def _openai_tool(self, tool: Any) -> dict[str, Any]:
        if not isinstance(tool, BaseTool):
            return convert_to_openai_tool(tool)
        known = self._formatted.get(id(tool))
        if known is not None and known[0] is tool:
            return known[1]
        if len(self._formatted) >= _MAX_FORMATTED:  # tools rebuilt again and again (reloads)
            self._formatted.clear()
        schema = convert_to_openai_tool(tool)
        self._formatted[id(tool)] = (tool, schema)
        return schema

    # -- generation ------------------------------------------------------------------------------

    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        message = self._respond(messages, kwargs)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        return self._generate(messages, stop, None, **kwargs)

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._respond(messages, kwargs)):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        for chunk in self._chunks(self._respond(messages, kwargs)):
            if run_manager and isinstance(chunk.message.content, str) and chunk.message.content:
                await run_manager.on_llm_new_token(chunk.message.content, chunk=chunk)
            yield chunk

    @staticmethod
    def _chunks(message: AIMessage) -> Iterator[ChatGenerationChunk]:
        """The message as stream pieces: words, then any tool call, then usage on the last."""
        content = text_of(message.content)
        for piece in _PIECES.findall(content):
            yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        for index, call in enumerate(message.tool_calls):
            yield ChatGenerationChunk(
                message=AIMessageChunk(
                    content="",
                    tool_call_chunks=[
                        {
                            "name": call["name"],
                            "args": json.dumps(call["args"]),
                            "id": call["id"],
                            "index": index,
                            "type": "tool_call_chunk",
                        }
                    ],
                )
            )
        yield ChatGenerationChunk(
            message=AIMessageChunk(
                content="",
                usage_metadata=message.usage_metadata,
                response_metadata=dict(message.response_metadata),
                chunk_position="last",
            )
        )

    # -- deciding --------------------------------------------------------------------------------

    def _respond(self, messages: list[BaseMessage], kwargs: dict[str, Any]) -> AIMessage:
        tools: list[dict[str, Any]] = list(kwargs.get("tools") or [])
        if kwargs.get("tool_choice") == "none":
            tools = []
        recent = messages[-WINDOW:]
        system = next((text_of(m.content) for m in messages if isinstance(m, SystemMessage)), "")
        content, call = "", None
        routing = bool(tools) and all(_name(t).startswith(ROUTING_PREFIX) for t in tools)
        if routing:
            self._team = {
                _name(t)[len(ROUTING_PREFIX) :]: str(t.get("function", t).get("description") or "")
                for t in tools
            }
        origin = refused_request(messages)
        kind = guard_kind(recent[-1]) if recent else None
        if kind == "verified":
            content, call = self._carry_on(messages, origin, system, tools, recent[-1])
        elif kind == "verification_needed" and origin is not None and not routing:
            # The refused request may carry the details itself ("I'm ann@example.com, order
            # 1042: where is it?"): verify with them at once rather than ask for them.
            call = verification_call(tools, text_of(messages[origin].content))
            tried = {
                c["name"]
                for m in messages[origin:]
                if isinstance(m, AIMessage)
                for c in m.tool_calls
            }
            if call is None or call[0] in tried:  # never the same refused call twice
                content, call = compose_answer(recent), None
        elif recent and isinstance(recent[-1], ToolMessage):
            content = compose_answer(recent, self._question(messages, origin))
        else:
            awaiting = not routing and awaiting_verification(messages)
            content, call = self._decide(
                recent, system, tools, kwargs.get("tool_choice"), awaiting=awaiting
            )
        calls = []
        if call is not None:
            name, args = call
            digest = hashlib.sha1(
                json.dumps(
                    [name, args, [text_of(m.content) for m in recent]], sort_keys=True
                ).encode()
            ).hexdigest()
            calls.append(
                {"name": name, "args": args, "id": f"call_{digest[:24]}", "type": "tool_call"}
            )
            logger.debug("offline model calls %s", name)
        in_tokens = sum(approx_tokens(text_of(m.content)) for m in messages)
        in_tokens += sum(approx_tokens(json.dumps(t)) for t in tools)
        out_tokens = max(1, approx_tokens(content + "".join(json.dumps(c["args"]) for c in calls)))
        usage = UsageMetadata(
            input_tokens=in_tokens, output_tokens=out_tokens, total_tokens=in_tokens + out_tokens
        )
        return AIMessage(
            content=content,
            tool_calls=calls,
            usage_metadata=usage,
            response_metadata={"model_name": self.model_name},
        )

    def _carry_on(
        self,
        messages: list[BaseMessage],
        origin: int | None,
        system: str,
        tools: list[dict[str, Any]],
        verified: BaseMessage,
    ) -> tuple[str, tuple[str, dict[str, Any]] | None]:
        """After the customer was verified: the request that needed it, decided again."""
        if origin is not None and tools:
            earlier = messages[: origin + 1][-WINDOW:]
            content, call = self._decide(earlier, system, tools, None)
            if call is not None and call[0] != getattr(verified, "name", None):
                return "", call
            if call is None and content.rstrip().endswith("?"):
                return f"{THANKS_VERIFIED} {content}", None
        return f"{THANKS_VERIFIED} What can I do for you?", None

    @staticmethod
    def _question(messages: list[BaseMessage], origin: int | None) -> str | None:
        """The question the tool results at the end answer: the customer's last message, or,
        when a verification came between it and them, the request that needed the verification."""
        last_human = max(
            (i for i, m in enumerate(messages) if isinstance(m, HumanMessage)), default=None
        )
        if origin is None or last_human is None or origin == last_human:
            return None
        if any(guard_kind(m) == "verified" for m in messages[last_human:]):
            return text_of(messages[origin].content)
        return None

    def _decide(
        self,
        recent: list[BaseMessage],
        system: str,
        tools: list[dict[str, Any]],
        tool_choice: Any,
        *,
        awaiting: bool = False,
    ) -> tuple[str, tuple[str, dict[str, Any]] | None]:
        """Either a tool call (name, args) or a plain-text reply."""
        last_human = max(
            (i for i, m in enumerate(recent) if isinstance(m, HumanMessage)), default=None
        )
        text = text_of(recent[last_human].content) if last_human is not None else ""
        history = recent[:last_human] if last_human is not None else recent
        routing = bool(tools) and all(_name(t).startswith(ROUTING_PREFIX) for t in tools)
        if awaiting and tools and not routing:
            # The guard asked who the customer is: details in this message verify them.
            verify = verification_call(tools, text)
            if verify is not None:
                return "", verify
        if tools:
            context = [text_of(m.content) for m in history if isinstance(m, HumanMessage)]
            context = context[-CONTEXT_MESSAGES:]
            context += [
                split_identifier(c["name"])
                for m in history[-4:]
                if isinstance(m, AIMessage)
                for c in m.tool_calls
            ]
            chosen, sure = self._choose(text, context, tools, tool_choice)
            if chosen is None and not routing:
                chosen = asked_again(text, history, tools)
            request, asked = None, None
            pending = None if routing else self._pending(history, tools)
            if pending is not None and (
                chosen is None
                or _name(chosen) == _name(pending[0])
                or not self._choose(text, [], tools, None)[1]  # no clear new request alone
            ):
                # The customer answers our question: that request goes on.
                chosen, request, asked = pending
                sure = True
            if chosen is not None:
                schema = chosen.get("function", chosen).get("parameters") or {}
                args, missing = fill_arguments(
                    schema, text, history, tool=_name(chosen), request=request, asked=asked
                )
                if not missing:
                    return "", (_name(chosen), args)
                # A vague match that would need everything asked for is more likely a question
                # this agent cannot answer than a request for this tool.
                if sure or len(missing) < len(schema.get("required") or ()):
                    return question_for(missing, schema), None
        if routing:
            return "", None
        if tools and not routing and searches_anything(tools) and QUESTION.search(text):
            # An agent whose one tool searches free text (a help center) looks any question up.
            tool = tools[0]
            schema = tool.get("function", tool).get("parameters") or {}
            args, missing = fill_arguments(schema, text, history, tool=_name(tool))
            if not missing:
                return "", (_name(tool), args)
        return generic_reply(text, system, tools, list(self._team.values())), None

    def _pending(
        self, history: list[BaseMessage], tools: list[dict[str, Any]]
    ) -> tuple[dict[str, Any], str, list[str]] | None:
        """The tool whose missing arguments our last reply asked for, the customer's request
        that needed it, and what was asked; None when the last reply was no such question."""
        if len(history) < 2 or not isinstance(history[-1], AIMessage) or history[-1].tool_calls:
            return None
        question = text_of(history[-1].content).strip()
        index = next(
            (i for i in range(len(history) - 2, -1, -1) if isinstance(history[i], HumanMessage)),
            None,
        )
        if not question or index is None:
            return None
        request, earlier = text_of(history[index].content), history[:index]
        tool, _ = self._choose(request, [], tools, None)
        if tool is None:
            return None
        schema = tool.get("function", tool).get("parameters") or {}
        _, missing = fill_arguments(schema, request, earlier, tool=_name(tool))
        if missing and question_for(missing, schema) == question:
            return tool, request, missing
        return None

    @staticmethod
    def _choose(
        text: str, context: list[str], tools: list[dict[str, Any]], tool_choice: Any
    ) -> tuple[dict[str, Any] | None, bool]:
        """The tool to call (or None), and whether the choice is clear (forced or confident)."""
        by_name = {_name(t): t for t in tools}
        forced = tool_choice
        if isinstance(forced, dict):
            forced = (forced.get("function") or forced).get("name")
        if isinstance(forced, str) and forced in by_name:
            return by_name[forced], True
        routing = all(_name(t).startswith(ROUTING_PREFIX) for t in tools)
        matcher = matcher_for(tuple((_name(t), tool_texts(t)) for t in tools), routing)
        # An action (cancel, change, book...) is only proposed when the message asks for it:
        # "when will order 1110 be delivered?" must not match "start a return for a delivered
        # order", nor may an earlier "cancel" in the context carry over.
        words = matcher.tokens(text)
        allowed, by_address = allowed_tools(by_name, text, words)
        if len(by_address) == 1:
            return by_name[by_address[0]], True
        match = matcher.best(text, context, among=allowed)
        if match is not None:
            return by_name[match.key], match.confident
        if forced in ("any", "required", True):
            scores = matcher.scores(text, context)
            return by_name[max(scores, key=lambda k: scores[k])], True
        return None, False

"""The offline model: a deterministic LangChain chat model that needs no network and no weights.

It is not a language model. It reads the bound tools and the recent messages and does what a
careful model would do with them, by lexical matching (`smart_support.models.matching`):

* **Choose a tool.** The tool whose name and description best match the customer's last message
  (earlier messages count as weaker context) is called, with arguments filled from the message
  and the recent conversation according to the tool's JSON schema. Routing is the same thing:
  the runtime binds one `transfer_to_<agent>` tool per agent whose description lists examples.
* **Ask** a clarifying question naming a required argument it cannot find.
* **Answer** after a tool result (the last message is a `ToolMessage`): the facts of the result
  as a readable reply; errors and refused approvals are relayed as they are, never as success.
* **Reply generically** when nothing fits: what it can help with, from the tools' descriptions or
  the system prompt. In routing (every tool is a `transfer_to_` tool) it returns no tool call,
  so the runtime picks the fallback agent.

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
from functools import lru_cache
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
from langchain_core.utils.function_calling import convert_to_openai_tool

from smart_support.models.matching import Matcher, split_identifier, tokenize

__all__ = ["OFFLINE_LABEL", "OfflineChatModel", "approx_tokens", "text_of"]

logger = logging.getLogger("smart_support.models")

OFFLINE_LABEL = "offline model"
#: How many recent messages are read for context and arguments; keeps every call O(1) in history.
WINDOW = 12
#: How many earlier customer messages lift tool scores as context.
CONTEXT_MESSAGES = 2
ROUTING_PREFIX = "transfer_to_"

_GREETING = re.compile(r"^\W*(hi|hello|hey|good (morning|afternoon|evening|day)|greetings)\b", re.I)
_THANKS = re.compile(r"\b(thanks|thank you|thx|cheers|much appreciated)\b", re.I)
_BYE = re.compile(r"\b(bye|goodbye|see you|that's all|that is all|that's everything)\b", re.I)
_ABOUT_YOU = re.compile(
    r"\b(what (can|do) you( do)?|how can you help|what are you (able|good)|who are you|"
    r"are you an? (bot|robot|human|person|ai))\b",
    re.I,
)
_HUMAN_WORDS = re.compile(r"\b(human|person|colleague|escalat\w*|staff|team member)\b", re.I)
_PIECES = re.compile(r"\S+\s*|\s+")


def text_of(content: Any) -> str:
    """The text of a message content: a string, or a list of content blocks (MCP, v1 messages)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return "" if content is None else str(content)


def approx_tokens(text: str) -> int:
    """A deterministic token estimate: four tokens for every three words."""
    return math.ceil(len(text.split()) * 4 / 3)


def _tool_texts(tool: dict[str, Any]) -> tuple[str, ...]:
    """What a tool is matched on: its name, its description lines, its parameter names."""
    fn = tool.get("function", tool)
    name = str(fn.get("name", ""))
    shown = name[len(ROUTING_PREFIX) :] if name.startswith(ROUTING_PREFIX) else name
    params = " ".join((fn.get("parameters") or {}).get("properties", {}))
    texts = [split_identifier(shown) + " " + split_identifier(params)]
    for line in str(fn.get("description") or "").splitlines():
        line = line.strip().lstrip("-*• ").strip()
        if line and not (line.endswith(":") and len(line.split()) <= 2):
            texts.append(line)
    return tuple(texts)


@lru_cache(maxsize=64)
def _matcher(tools_key: tuple[tuple[str, tuple[str, ...]], ...]) -> Matcher:
    return Matcher(dict(tools_key))


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
        formatted = [convert_to_openai_tool(t) for t in tools]
        return self.bind(tools=formatted, tool_choice=tool_choice, **kwargs)

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
        if recent and isinstance(recent[-1], ToolMessage):
            content = compose_answer(recent)
        else:
            content, call = self._decide(recent, system, tools, kwargs.get("tool_choice"))
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

    def _decide(
        self,
        recent: list[BaseMessage],
        system: str,
        tools: list[dict[str, Any]],
        tool_choice: Any,
    ) -> tuple[str, tuple[str, dict[str, Any]] | None]:
        """Either a tool call (name, args) or a plain-text reply."""
        last_human = max(
            (i for i, m in enumerate(recent) if isinstance(m, HumanMessage)), default=None
        )
        text = text_of(recent[last_human].content) if last_human is not None else ""
        history = recent[:last_human] if last_human is not None else recent
        routing = bool(tools) and all(_name(t).startswith(ROUTING_PREFIX) for t in tools)
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
            if chosen is not None:
                schema = chosen.get("function", chosen).get("parameters") or {}
                args, missing = fill_arguments(schema, text, history)
                if not missing:
                    return "", (_name(chosen), args)
                # A vague match that would need everything asked for is more likely a question
                # this agent cannot answer than a request for this tool.
                if sure or len(missing) < len(schema.get("required") or ()):
                    return question_for(missing, schema), None
        if routing:
            return "", None
        return generic_reply(text, system, tools), None

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
        matcher = _matcher(tuple((_name(t), _tool_texts(t)) for t in tools))
        match = matcher.best(text, context)
        if match is not None:
            return by_name[match.key], match.confident
        if forced in ("any", "required", True):
            scores = matcher.scores(text, context)
            return by_name[max(scores, key=lambda k: scores[k])], True
        return None, False


def _name(tool: dict[str, Any]) -> str:
    return str(tool.get("function", tool).get("name", ""))


# -- arguments -----------------------------------------------------------------------------------

_ID_WORDS = frozenset({"id", "number", "num", "no", "nr", "ref", "reference", "isbn", "sku"})
_TEXT_PARAMS_TEXT = """
    query q question text message search keywords keyword term terms topic description
    details issue problem summary subject content body request prompt
"""
_TEXT_PARAMS = frozenset(_TEXT_PARAMS_TEXT.split())
_REASON_PARAMS = frozenset(["reason", "note", "notes", "comment", "comments", "explanation", "why"])
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_TOKEN = re.compile(r"#?[\w'-]+(?:\.\d+)?")
_NUMBER = re.compile(r"#?(\d+(?:\.\d+)?)")
_REASON_CLAUSE = re.compile(r"\b(?:because|since|due to|reason is|reason:)\s+(.+)$", re.I)
_PROPER = re.compile(
    r"\b(?:in|to|at|for|from|near|called|named)\s+(?:the\s+)?([A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*)"
)
_CODE = re.compile(r"#?([A-Za-z]*\d[\w-]*)")


def _prop_type(prop: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The JSON type of a schema property (Optional unwrapped) and the effective property."""
    for option in prop.get("anyOf") or prop.get("oneOf") or ():
        if isinstance(option, dict) and option.get("type") not in (None, "null"):
            return _prop_type({**prop, **option, "anyOf": None, "oneOf": None})
    if "enum" in prop:
        return "enum", prop
    kind = prop.get("type", "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    return str(kind), prop


def _name_words(name: str) -> list[str]:
    return split_identifier(name).lower().split()


def _is_id(name: str) -> bool:
    words = _name_words(name)
    return bool(words) and words[-1] in _ID_WORDS


def _subject_stems(name: str) -> set[str]:
    return {t for w in _name_words(name) if w not in _ID_WORDS for t in tokenize(w)}


def _numbers_near(text: str, name: str, pattern: re.Pattern[str]) -> list[tuple[str, int]]:
    """Numbers (or codes) in `text` with a strength: 3 next to the param's words, 2 written #N,
    1 alone."""
    subject = _subject_stems(name)
    tokens = [m.group(0) for m in _TOKEN.finditer(text) if "@" not in m.group(0)]
    found = []
    for i, tok in enumerate(tokens):
        m = pattern.fullmatch(tok)
        if not m or _DATE.fullmatch(tok):
            continue
        before = [t for t in tokens[max(0, i - 3) : i] if t.lower().strip("#") not in _ID_WORDS]
        after = tokens[i + 1 : i + 2]
        near = {s for t in before[-1:] + after for s in tokenize(t)}
        strength = 3 if subject & near else 2 if tok.startswith("#") else 1
        found.append((m.group(1), strength))
    return found


def _structured_value(kind: str, prop: dict[str, Any], name: str, text: str, alone: bool) -> Any:
    """A value for an int/number/id/email/enum/date parameter found in one text, or None."""
    if kind in ("integer", "number") or (kind == "string" and _is_id(name)):
        candidates = _numbers_near(text, name, _NUMBER if kind != "string" else _CODE)
        ranked = sorted(candidates, key=lambda c: -c[1])
        if ranked and (ranked[0][1] >= 2 or (alone and len(candidates) == 1)):
            raw = ranked[0][0]
            if kind == "integer":
                return int(float(raw))
            return float(raw) if kind == "number" else raw
        return None
    if kind == "string" and (prop.get("format") == "email" or "email" in _name_words(name)):
        m = _EMAIL.search(text)
        return m.group(0) if m else None
    if kind == "enum":
        words = set(tokenize(text))
        best = None
        for value in prop.get("enum") or ():
            value_tokens = tokenize(str(value))
            longer = best is None or len(value_tokens) > len(tokenize(str(best)))
            if value_tokens and set(value_tokens) <= words and longer:
                best = value
        return best
    if kind == "string" and (prop.get("format") in ("date", "date-time") or "date" in name):
        m = _DATE.search(text)
        return m.group(0) if m else None
    return None


def _history_value(name: str, kind: str, prop: dict[str, Any], history: list[BaseMessage]) -> Any:
    """The newest value for a parameter in the recent conversation (tool calls, results, texts)."""
    for message in reversed(history):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["args"].get(name) is not None:
                    return call["args"][name]
        if isinstance(message, ToolMessage):
            data = _parse(text_of(message.content))
            if isinstance(data, dict) and data.get(name) is not None:
                return data[name]
            continue
        value = _structured_value(kind, prop, name, text_of(message.content), alone=False)
        if value is not None:
            return value
    return None


def _clean(text: str) -> str:
    return text.strip().rstrip("?!.").strip()


def fill_arguments(
    schema: dict[str, Any], text: str, history: list[BaseMessage]
) -> tuple[dict[str, Any], list[str]]:
    """Fill a tool's arguments from the customer's message, then from the recent conversation.

    Args:
        schema: The tool's JSON schema (`parameters`).
        text: The customer's last message.
        history: Earlier recent messages, oldest first.

    Returns:
        The arguments found, and the names of required parameters still missing.
    """
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    args: dict[str, Any] = {}
    numeric = [n for n in props if _prop_type(props[n])[0] in ("integer", "number") or _is_id(n)]
    free: list[str] = []
    for name, raw_prop in props.items():
        kind, prop = _prop_type(raw_prop)
        words = set(_name_words(name))
        value = _structured_value(kind, prop, name, text, alone=len(numeric) == 1)
        if value is None and kind == "string" and not _is_id(name):
            if words & _TEXT_PARAMS:
                value = _clean(text) or None
            elif words & _REASON_PARAMS:
                clause = _REASON_CLAUSE.search(text)
                value = (
                    _clean(clause.group(1))
                    if clause
                    else (_clean(text) if name in required else None)
                )
            elif prop.get("format") is None and "email" not in words and "date" not in words:
                free.append(name)
                continue
        if value is None and kind not in ("boolean", "object", "array"):
            value = _history_value(name, kind, prop, history)
        if value is None and "default" in prop and name in required:
            value = prop["default"]
        if value is not None:
            args[name] = value
    _fill_free_strings(free, text, args, history)
    missing = [n for n in props if n in required and n not in args]
    return args, missing


def _fill_free_strings(
    names: list[str], text: str, args: dict[str, Any], history: list[BaseMessage]
) -> None:
    """Plain string parameters (city, street, name...): "city is X", a comma list, "in Paris"."""
    todo = []
    for name in names:
        label = r"\s+".join(map(re.escape, _name_words(name)))
        m = re.search(rf"\b{label}\s*(?:is|:|=)\s*([^,;!?\n]+)", text, re.I)
        if m:
            args[name] = _clean(m.group(1))
        else:
            todo.append(name)
    if len(todo) >= 2:
        tail = re.split(r"\bto\b|:", text)[-1]
        parts = [_clean(p) for p in re.split(r"[,;\n]", tail) if _clean(p)]
        if len(parts) == len(todo):
            args.update(zip(todo, parts, strict=True))
            todo = []
    if len(todo) == 1:
        m = _PROPER.search(text)
        if m:
            args[todo.pop()] = m.group(1)
    for name in todo:
        value = _history_value(name, "string", {}, [m for m in history if isinstance(m, AIMessage)])
        if value is not None:
            args[name] = value


def question_for(missing: list[str], schema: dict[str, Any]) -> str:
    """A clarifying question that names what is missing: "Which order number is this about?"."""
    props = schema.get("properties") or {}
    if len(missing) == 1:
        name = missing[0]
        kind, _ = _prop_type(props.get(name) or {})
        subject = " ".join(w for w in _name_words(name) if w not in _ID_WORDS)
        if _is_id(name):
            return f"Which {subject + ' ' if subject else ''}number is this about?"
        if "email" in _name_words(name):
            return "Which email address should I use?"
        if kind in ("integer", "number"):
            return f"How many {subject or 'of them'} would you like?"
        return f"Could you tell me the {subject or split_identifier(name)}?"
    labels = [split_identifier(n).lower() for n in missing]
    return f"Could you tell me the {', '.join(labels[:-1])} and {labels[-1]}?"


# -- answers -------------------------------------------------------------------------------------

_REFUSED = re.compile(
    r"\b(reject\w*|declined|denied|expired|not approved|did not approve|was not (?:performed|"
    r"carried out|done|executed)|not been (?:performed|carried out|done|executed))\b",
    re.I,
)
_READ_VERBS_TEXT = """
    get find search list track lookup look check fetch read show query view describe
"""
_READ_VERBS = frozenset(_READ_VERBS_TEXT.split())
_PASSAGE_KEYS = ("content", "text", "snippet", "passage", "body", "answer", "excerpt", "summary")
_TITLE_KEYS = ("title", "question", "name", "heading", "topic")


def _parse(raw: str) -> Any:
    raw = raw.strip()
    if not raw or raw[0] not in "[{":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None


def compose_answer(recent: list[BaseMessage]) -> str:
    """A reply from the tool results at the end of `recent`, quoting their facts."""
    start = len(recent)
    while start > 0 and isinstance(recent[start - 1], ToolMessage):
        start -= 1
    caller = recent[start - 1] if start > 0 else None
    calls = {c["id"]: c for c in caller.tool_calls} if isinstance(caller, AIMessage) else {}
    parts = []
    for message in recent[start:]:
        assert isinstance(message, ToolMessage)
        call = calls.get(message.tool_call_id)
        name = message.name or (call["name"] if call else "")
        parts.append(_describe(message, name))
    return "\n\n".join(p for p in parts if p)


def _describe(message: ToolMessage, tool_name: str) -> str:
    raw = text_of(message.content).strip()
    data = _parse(raw)
    if data is None:
        if _REFUSED.search(raw):
            return f"That was not done. {raw}"
        if message.status == "error" or raw.lower().startswith("error"):
            detail = re.sub(r"^error:?\s*", "", raw, flags=re.I)
            return f"Sorry, that did not work: {detail}"
        return raw or "There is nothing to report on that."
    if isinstance(data, dict):
        error = data.get("error") or (data.get("message") if data.get("ok") is False else None)
        if data.get("ok") is False or (error and len(data) <= 3):
            return f"Sorry, that did not work: {error or 'no reason was given'}"
        lists = [v for v in data.values() if isinstance(v, list) and v and isinstance(v[0], dict)]
        if (
            len(lists) == 1
            and _passage(lists[0][0])
            and sum(isinstance(v, list) for v in data.values()) == 1
        ):
            return _quote_best(lists[0])
        return _facts(data, tool_name)
    if isinstance(data, list):
        if not data:
            return "I could not find anything matching that."
        if isinstance(data[0], dict) and _passage(data[0]):
            return _quote_best(data)
        return "Here's what I found:\n" + "\n".join(f"- {_value(v)}" for v in data[:10])
    return str(data)


def _passage(item: dict[str, Any]) -> str | None:
    for key in _PASSAGE_KEYS:
        if isinstance(item.get(key), str) and item[key].strip():
            return str(item[key]).strip()
    return None


def _quote_best(items: list[Any]) -> str:
    dicts = [i for i in items if isinstance(i, dict)]
    scored = [i for i in dicts if isinstance(i.get("score", i.get("relevance")), int | float)]
    best = (
        max(scored, key=lambda i: float(i.get("score", i.get("relevance")) or 0.0))
        if scored
        else dicts[0]
    )
    passage = _passage(best) or _value(best)
    title = next((best[k] for k in _TITLE_KEYS if isinstance(best.get(k), str)), None)
    source = next(
        (best[k] for k in ("url", "source", "link") if isinstance(best.get(k), str)), None
    )
    reply = (
        f'Here is what I found in "{title}": {passage}'
        if title
        else f"Here is what I found: {passage}"
    )
    return reply + (f" (source: {source})" if source else "")


def _label(key: str) -> str:
    words = ["ID" if w == "id" else w for w in split_identifier(key).lower().split()]
    text = " ".join(words)
    return text[:1].upper() + text[1:]


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, dict):
        return ", ".join(_value(v) for v in value.values() if v is not None and v != "")
    if isinstance(value, list):
        return "; ".join(_item(v) if isinstance(v, dict) else _value(v) for v in value)
    return str(value)


def _item(item: dict[str, Any]) -> str:
    """One record of a list: its name or title, then its other facts in brackets."""
    title_key = next((k for k in _TITLE_KEYS if isinstance(item.get(k), str)), None)
    rest = [
        f"{_label(k).lower()}: {_value(v)}"
        for k, v in item.items()
        if k != title_key and v is not None and v != "" and not isinstance(v, dict | list)
    ]
    if title_key is None:
        return ", ".join(rest)
    return f"{item[title_key]} ({', '.join(rest)})" if rest else str(item[title_key])


_NOTE_KEYS = frozenset({"note", "message", "detail", "hint"})


def _facts(data: dict[str, Any], tool_name: str) -> str:
    verb = (split_identifier(tool_name).lower().split() or [""])[0]
    lists = [v for v in data.values() if isinstance(v, list)]
    notes = [str(data[k]) for k in data if k in _NOTE_KEYS and isinstance(data[k], str)]
    facts = [
        f"- {_label(k)}: {_value(v)}"
        for k, v in data.items()
        if k not in _NOTE_KEYS and k != "ok" and v is not None and v != "" and v != []
    ]
    if lists and not any(lists) and not facts:
        return " ".join(["I could not find anything matching that.", *notes])
    # A write tool that answered no error (errors are relayed before this) has done its job.
    lead = "Here's what I found:" if verb in _READ_VERBS or not tool_name else "Done."
    if not facts and not notes:
        return "Done." if lead == "Done." else "I could not find anything matching that."
    return "\n".join([lead, *notes, *facts])


def generic_reply(text: str, system: str, tools: list[dict[str, Any]]) -> str:
    """A helpful plain-text reply when no tool fits: what this agent can do."""
    if _THANKS.search(text):
        return "You're welcome! Is there anything else I can help you with?"
    if _BYE.search(text):
        return "Thank you for getting in touch. Goodbye!"
    can_do = []
    for tool in tools:
        fn = tool.get("function", tool)
        if str(fn.get("name", "")).startswith(ROUTING_PREFIX):
            continue
        first = str(fn.get("description") or "").strip().splitlines()
        if first and first[0].strip():
            line = re.split(r"[:;(]| - ", first[0])[0].strip().rstrip(".")
            can_do.append(line[:1].lower() + line[1:])
    if can_do:
        shown = can_do[:4]
        intro = "Here is what I can do: " + "; ".join(shown) + "."
    else:
        who = re.match(r"\s*You are ([^.\n]+)", system)
        intro = f"I'm {who.group(1).strip()}." if who else "I'm here to help."
    offer = (
        " If you'd like, I can connect you with a person from our team."
        if _HUMAN_WORDS.search(system)
        else ""
    )
    if _GREETING.search(text):
        return f"Hello! {intro}{offer} What can I do for you?"
    if _ABOUT_YOU.search(text):
        return f"I'm an automated assistant. {intro}{offer} What can I do for you?"
    return f"I'm sorry, I can't help with that here. {intro}{offer}"

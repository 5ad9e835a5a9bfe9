"""How the offline model picks a tool: lexical matching, and an action only when asked for.

Helpers of `smart_support.models.offline`: what a tool is matched on, the cached matcher per
tool set, which tools a message may call (a read tool for any message it matches; an action such
as `cancel_order` only when the message names it, or carries the full address it takes), and the
follow-ups that name no tool ("when will it arrive?" after a look-up).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage

from smart_support.models._address import address_role, parse_address
from smart_support.models._arguments import _is_free_text, _name, action_words
from smart_support.models._identity import verification_calls
from smart_support.models._text import ROUTING_PREFIX
from smart_support.models.matching import Matcher, split_identifier

__all__ = [
    "QUESTION",
    "ROUTING_STYLE_WEIGHT",
    "action_words_of",
    "allowed_tools",
    "asked_again",
    "matcher_for",
    "searches_anything",
    "tool_texts",
]


def tool_texts(tool: dict[str, Any]) -> tuple[str, ...]:
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


#: How much the phrasing of a message (function words, numbers) counts in routing; see `Matcher`.
#: Chosen on tests/data/routing_cases.yaml (0.0 -> 0.3: holdout not consulted).
ROUTING_STYLE_WEIGHT = 0.3


@lru_cache(maxsize=64)
def matcher_for(
    tools_key: tuple[tuple[str, tuple[str, ...]], ...], routing: bool = False
) -> Matcher:
    return Matcher(dict(tools_key), style_weight=ROUTING_STYLE_WEIGHT if routing else 0.0)


def action_words_of(tool: dict[str, Any]) -> set[str]:
    name = _name(tool)
    return set() if name.startswith(ROUTING_PREFIX) else action_words(name)


def allowed_tools(
    tools: dict[str, dict[str, Any]], text: str, message_tokens: set[str]
) -> tuple[list[str], list[str]]:
    """The tools this message may call: actions only when it asks for them, if a read tool
    could answer instead (an agent whose one tool acts, like a hand-off, keeps it). A message
    that carries a full postal address asks for a tool that takes one ("send it to ..."): those
    are listed second too."""
    needs = {name: action_words_of(tool) for name, tool in tools.items()}
    if all(needs.values()):
        return list(tools), []
    address = None
    allowed, by_address = [], []
    for name, words in needs.items():
        if not words or words & message_tokens:
            allowed.append(name)
            continue
        props = (tools[name].get("function", tools[name]).get("parameters") or {}).get(
            "properties"
        ) or {}
        roles = {address_role(split_identifier(p).lower().split()) for p in props} - {None}
        if len(roles) >= 2:
            address = address or parse_address(text)
            if address is not None:
                allowed.append(name)
                by_address.append(name)
    return allowed, by_address


_REFERS_BACK = re.compile(r"\b(it|its|it's|that|this|they|them|their|those)\b", re.I)
QUESTION = re.compile(r"\?\s*$|^\W*(when|where|what|which|how|who|why|is|are|was|has|did)\b", re.I)


def searches_anything(tools: list[dict[str, Any]]) -> bool:
    """One read tool whose one required parameter is free text (`query`, `question`...)."""
    if len(tools) != 1 or action_words_of(tools[0]):
        return False
    schema = tools[0].get("function", tools[0]).get("parameters") or {}
    required = list(schema.get("required") or ())
    return len(required) == 1 and _is_free_text(required[0])


def asked_again(
    text: str, history: list[BaseMessage], tools: list[dict[str, Any]]
) -> dict[str, Any] | None:
    """The read tool last called, for a question about the same thing that names no tool:
    "when will it arrive?" after a status look-up."""
    if not (QUESTION.search(text) and _REFERS_BACK.search(text)):
        return None
    by_name = {_name(t): t for t in tools}
    verifications = verification_calls(history)
    for message in reversed(history[-8:]):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                tool = by_name.get(call["name"])
                if call.get("id") in verifications:
                    continue  # verifying the customer is no look-up to repeat
                if tool is not None and not action_words_of(tool):
                    return tool
    return None

"""How the offline model turns tool results into a reply, and what it says when no tool fits."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
)

from smart_support.models._arguments import READ_VERBS
from smart_support.models._text import ROUTING_PREFIX, parse_json, text_of
from smart_support.models.matching import split_identifier

__all__ = ["compose_answer", "generic_reply"]


_GREETING = re.compile(r"^\W*(hi|hello|hey|good (morning|afternoon|evening|day)|greetings)\b", re.I)
_THANKS = re.compile(r"\b(thanks|thank you|thx|cheers|much appreciated)\b", re.I)
_BYE = re.compile(r"\b(bye|goodbye|see you|that's all|that is all|that's everything)\b", re.I)
_ABOUT_YOU = re.compile(
    r"\b(what (can|do) you( do)?|how can you help|what are you (able|good)|who are you|"
    r"are you an? (bot|robot|human|person|ai))\b",
    re.I,
)
_HUMAN_WORDS = re.compile(r"\b(human|person|colleague|escalat\w*|staff|team member)\b", re.I)
_SAYS_NOT_DONE = re.compile(r"\s*(not done|not asked|outcome unknown)\b", re.I)
_REFUSED = re.compile(
    r"\b(reject\w*|declined|denied|expired|not approved|did not approve|was not (?:performed|"
    r"carried out|done|executed)|not been (?:performed|carried out|done|executed))\b",
    re.I,
)

_PASSAGE_KEYS = ("content", "text", "snippet", "passage", "body", "answer", "excerpt", "summary")
_TITLE_KEYS = ("title", "question", "name", "heading", "topic")


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
    data = parse_json(raw)
    if data is None:
        if _SAYS_NOT_DONE.match(raw):  # already worded for the customer: quoted as it is
            return raw
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
    lead = "Here's what I found:" if verb in READ_VERBS or not tool_name else "Done."
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

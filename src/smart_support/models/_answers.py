"""How the offline model turns tool results into a reply, and what it says when no tool fits."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from smart_support.models._arguments import READ_VERBS
from smart_support.models._identity import guard_kind, verification_question
from smart_support.models._passages import answer_passages, passage_of
from smart_support.models._records import NOTE_KEYS, answer_record, render_list
from smart_support.models._render import tidy_text
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


def compose_answer(recent: list[BaseMessage], question: str | None = None) -> str:
    """A reply from the tool results at the end of `recent`, answering the customer's question
    (by default their last message).

    A result the tool guard wrote itself (marked with its `kind`) is worded for the customer and
    quoted as it is; after a failed verification its earlier request for details is asked again.
    """
    start = len(recent)
    while start > 0 and isinstance(recent[start - 1], ToolMessage):
        start -= 1
    caller = recent[start - 1] if start > 0 else None
    calls = {c["id"]: c for c in caller.tool_calls} if isinstance(caller, AIMessage) else {}
    if question is None:
        question = next(
            (text_of(m.content) for m in reversed(recent[:start]) if isinstance(m, HumanMessage)),
            "",
        )
    parts = []
    for message in recent[start:]:
        assert isinstance(message, ToolMessage)
        kind = guard_kind(message)
        if kind is not None:
            parts.append(text_of(message.content).strip())
            again = verification_question(recent[:start]) if kind == "not_verified" else None
            if again and again not in parts:
                parts.append(again)
            continue
        call = calls.get(message.tool_call_id)
        name = message.name or (call["name"] if call else "")
        parts.append(_describe(message, name, question))
    return "\n\n".join(p for p in parts if p)


def _describe(message: ToolMessage, tool_name: str, question: str) -> str:
    raw = text_of(message.content).strip()
    data = parse_json(raw)
    if data is None:
        if _SAYS_NOT_DONE.match(raw):  # already worded for the customer: quoted as it is
            return raw
        if _REFUSED.search(raw):
            return f"That was not done. {raw}"
        if message.status == "error" or raw.lower().startswith("error"):
            detail = re.sub(r"^error:?\s*", "", raw, flags=re.I)
            return f"Sorry, that did not work: {tidy_text(detail)}"
        return raw or "There is nothing to report on that."
    if isinstance(data, dict):
        error = data.get("error") or (data.get("message") if data.get("ok") is False else None)
        if data.get("ok") is False or (error and len(data) <= 3):
            return f"Sorry, that did not work: {tidy_text(str(error or 'no reason was given'))}"
        lists = [v for v in data.values() if isinstance(v, list)]
        records = [v for v in lists if v and isinstance(v[0], dict)]
        if len(lists) == 1 and len(records) == 1 and passage_of(records[0][0]):
            return answer_passages(records[0], question)
        if len(lists) == 1 and not lists[0] and not _has_facts(data):
            notes = [tidy_text(str(data[k])) for k in NOTE_KEYS if isinstance(data.get(k), str)]
            return " ".join(["I could not find anything matching that.", *notes])
        verb = (split_identifier(tool_name).lower().split() or [""])[0]
        acted = bool(tool_name) and verb not in READ_VERBS
        return answer_record(data, question, acted=acted)
    if isinstance(data, list):
        if not data:
            return "I could not find anything matching that."
        if isinstance(data[0], dict) and passage_of(data[0]):
            return answer_passages(data, question)
        return "Here's what I found:\n" + render_list("items", data, None)
    return str(data)


def _has_facts(data: dict[str, Any]) -> bool:
    """Whether a result says more than an empty list and a note (`query` echoes don't count)."""
    skip = {"ok", "query", "q", "total", "count", *NOTE_KEYS}
    return any(
        v not in (None, "", [], 0) and not isinstance(v, list)
        for k, v in data.items()
        if k not in skip
    )


#: How a catch-all (fallback) agent is described: it is no skill to list.
_CATCH_ALL = re.compile(
    r"\b(everything|anything|all) else\b|\banything (that )?the other\b|\bnot cover\b|"
    r"\boff-topic\b|\bsmall talk\b",
    re.I,
)


def _skills(team: list[str]) -> list[str]:
    """One line per agent from its description: the list after its colon when it has one
    ("A specific order: status, tracking, ..." -> "Status, tracking, ..."); an agent for people
    becomes an offer to connect one. The catch-all agent ("everything else") is left out."""
    lines = []
    for description in team:
        text = description.split("\nExamples:", 1)[0].strip()
        if not text or _CATCH_ALL.search(text):
            continue
        if _HUMAN_WORDS.search(text) and ":" not in text:
            lines.append("Connecting you with a person from our team")
            continue
        head, _, tail = text.partition(":")
        line = (tail or head).strip().rstrip(".")
        lines.append(line[:1].upper() + line[1:])
    return lines


def generic_reply(
    text: str, system: str, tools: list[dict[str, Any]], team: list[str] | None = None
) -> str:
    """A helpful plain-text reply when no tool fits: what this assistant can do.

    Args:
        text: The customer's message.
        system: The agent's system prompt.
        tools: The agent's tools.
        team: The descriptions of every agent of the assistant, when known (the router's
            transfer tools): the reply lists all of them, so a customer who asked for something
            out of scope learns everything the assistant can do.
    """
    if _THANKS.search(text):
        return "You're welcome! Is there anything else I can help you with?"
    if _BYE.search(text):
        return "Thank you for getting in touch. Goodbye!"
    skills = _skills(team or [])
    if skills:
        intro = "Here is what I can do:\n" + "\n".join(f"- {line}" for line in skills)
        if _GREETING.search(text):
            return f"Hello! {intro}\nWhat can I do for you?"
        if _ABOUT_YOU.search(text):
            return f"I'm an automated assistant. {intro}\nWhat can I do for you?"
        return f"Sorry, that's not something I can help with. {intro}\nWhat can I do for you?"
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
        intro = "Here is what I can do: " + "; ".join(can_do) + "."
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
    return f"Sorry, that's not something I can help with here. {intro}{offer}"

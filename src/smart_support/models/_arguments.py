"""How the offline model fills a tool call's arguments from the conversation, or asks for them."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ToolMessage,
)

from smart_support.models._address import address_role, labelled_postal_code, parse_address
from smart_support.models._text import parse_json, text_of
from smart_support.models.matching import split_identifier, tokenize

__all__ = ["READ_VERBS", "action_words", "fill_arguments", "question_for"]


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
_CODE = re.compile(r"#?((?:[A-Za-z]+-?)?\d[\w-]*)")


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


def _history_value(
    name: str, kind: str, prop: dict[str, Any], history: list[BaseMessage], tool: str = ""
) -> Any:
    """The newest value for a reference parameter (an id, email, date, number) in the recent
    conversation: tool calls, tool results, messages.

    Free text (a reason, a query, a street) is never taken from here: it belongs to the message
    that asked for the action; see `fill_arguments`. Only a call of the same tool (a retry) lends
    its free-text arguments.
    """
    reference = kind != "string" or _is_id(name) or _structured(prop, name)
    for message in reversed(history):
        if isinstance(message, AIMessage):
            for call in message.tool_calls:
                if call["args"].get(name) is not None and (reference or call["name"] == tool):
                    return call["args"][name]
        if not reference:
            continue
        if isinstance(message, ToolMessage):
            data = parse_json(text_of(message.content))
            if isinstance(data, dict) and data.get(name) is not None:
                return data[name]
            continue
        value = _structured_value(kind, prop, name, text_of(message.content), alone=False)
        if value is not None:
            return value
    return None


def _aside(text: str, tool: str) -> str | None:
    """What a request says besides asking for the action: "return order 1060, the jacket is too
    small" -> "the jacket is too small"; None when it says nothing else (then we ask)."""
    action = set(tokenize(split_identifier(tool)))
    parts = [_clean(p) for p in re.split(r"[,;.!?:()]|\s[-–]\s|\b(?:as|but)\b", text)]
    kept = [
        p
        for p in parts
        if len(tokenize(p)) >= 1
        and len(p.split()) >= 2
        and not action & set(tokenize(p))
        and not re.search(r"\d", p)
    ]
    if kept:
        return "; ".join(kept)
    # A message that does not name the action ("get me a person, now" for a hand-off) is itself
    # the customer's explanation; one that only names it ("return order 1060") says no reason.
    return None if action_words(tool) & set(tokenize(text)) else (_clean(text) or None)


#: Verbs that open an action's name without saying what it does ("start_return").
_OPENING_VERBS = frozenset(
    {"start", "make", "create", "submit", "request", "do", "perform", "process", "open"}
    | {"initiate", "add", "set", "issue"}
)
#: Verbs that open a read tool's name: such a tool may be called for any message it matches.
READ_VERBS = frozenset(
    {"get", "find", "search", "list", "track", "lookup", "look", "check", "fetch", "read"}
    | {"show", "query", "view", "describe"}
)


def action_words(tool: str) -> set[str]:
    """The tokens a message must contain to ask for this tool; empty for a read tool.

    A tool whose name starts with a read verb (get, find, track...) reads; any other acts, and
    is asked for by its verb ("cancel_order": cancel) or, after an opening verb
    ("start_return"), the word after it (return).
    """
    words = split_identifier(tool).lower().split()
    if not words or words[0] in READ_VERBS:
        return set()
    head = words[1] if words[0] in _OPENING_VERBS and len(words) > 1 else words[0]
    return set(tokenize(head))


_OBJECT = re.compile(
    r"^\W*(it|that|this|them|these|those|the|my|our|his|her|their|one|both|all)\b", re.I
)


def _points_at_record(text: str, tool: str) -> bool:
    """Whether the action's verb in `text` has an object ("cancel it", "change the address"),
    or the text names no verb at all (a bare answer such as "yes, that one")."""
    needed = action_words(tool)
    hits = [m for m in re.finditer(r"[A-Za-z']+", text) if set(tokenize(m.group(0))) & needed]
    if not hits:
        return True
    return any(_OBJECT.match(text[m.end() :]) for m in hits)


def _is_free_text(name: str) -> bool:
    """A parameter that takes the customer's words as they are (`query`, `question`...)."""
    return bool(set(_name_words(name)) & _TEXT_PARAMS)


def _structured(prop: dict[str, Any], name: str) -> bool:
    """A string parameter with a recognisable shape: an email address or a date."""
    words = _name_words(name)
    return prop.get("format") in ("email", "date", "date-time") or bool(
        {"email", "date"} & set(words)
    )


def _clean(text: str) -> str:
    return text.strip().rstrip("?!.").strip()


def fill_arguments(
    schema: dict[str, Any],
    text: str,
    history: list[BaseMessage],
    *,
    tool: str = "",
    request: str | None = None,
    asked: list[str] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """Fill a tool's arguments from the customer's message, then from the recent conversation.

    Free text (reasons, queries, addresses) comes only from the message that asked for the
    action; references (ids, emails, dates) may also come from the recent conversation, so "and
    when will it arrive?" knows which order. When the message answers the agent's own question
    (`request` is the message that asked for the action, `asked` the parameters the question
    named), the answer fills what was asked and the request the rest.

    Args:
        schema: The tool's JSON schema (`parameters`).
        text: The customer's last message.
        history: Earlier recent messages, oldest first.
        tool: The tool's name: its own earlier calls lend their arguments (a retry).
        request: The message that asked for the action, when `text` answers a question.
        asked: The parameters that question asked for.

    Returns:
        The arguments found, and the names of required parameters still missing.
    """
    props: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    asked_set = set(asked or ())
    args: dict[str, Any] = {}
    numeric = [n for n in props if _prop_type(props[n])[0] in ("integer", "number") or _is_id(n)]
    free: list[str] = []
    # An action takes its record from the conversation only when the request points at it
    # ("cancel it", "return the order"); "can I cancel after it shipped?" does not.
    borrow = not action_words(tool) or _points_at_record(request or text, tool)
    # A postal code the customer labels as one ("my zip is 80225") fills the postal-code
    # parameter and nothing else: it is no order number.
    postal = labelled_postal_code(text)
    if postal is not None:
        start, end = postal[1]
        text = f"{text[:start]} {text[end:]}"
    for name, raw_prop in props.items():
        kind, prop = _prop_type(raw_prop)
        words = set(_name_words(name))
        if postal is not None and address_role(_name_words(name)) == "postal_code":
            args[name] = postal[0]
            continue
        # In an answer to our question, what was asked comes from the answer, the rest from
        # the request ("9 Elm Road, ..." answers for the address, not the order number).
        if request is None:
            sources = [text]
        else:
            sources = [text, request] if name in asked_set else [request, text]
        value = None
        for source in sources:
            value = _structured_value(kind, prop, name, source, alone=len(numeric) == 1)
            if value is not None:
                break
        if value is None and kind == "string" and not _is_id(name):
            # free text: from the answer when it was asked for, else from the request
            own = text if request is None or name in asked_set else request
            if words & _TEXT_PARAMS:
                value = _clean(own) or None
            elif words & _REASON_PARAMS:
                clause = _REASON_CLAUSE.search(own)
                if clause:
                    value = _clean(clause.group(1))
                elif request is not None and name in asked_set:
                    value = _clean(own) or None  # the answer to "why?" is the reason
                elif name in required:
                    value = _aside(own, tool)
            elif not _structured(prop, name):
                free.append(name)
                continue
        if value is None and kind not in ("boolean", "object", "array") and borrow:
            value = _history_value(name, kind, prop, history, tool)
        if value is None and "default" in prop and name in required:
            value = prop["default"]
        if value is not None:
            args[name] = value
    if free:
        asked_free = [n for n in free if n in asked_set]
        own = text if request is None or asked_free else request
        _fill_free_strings(free, own, args, history, tool)
    missing = [n for n in props if n in required and n not in args]
    return args, missing


def _fill_free_strings(
    names: list[str], text: str, args: dict[str, Any], history: list[BaseMessage], tool: str
) -> None:
    """Plain string parameters (city, street, name...): "city is X", an address, "in Paris"."""
    todo = []
    for name in names:
        label = r"\s+".join(map(re.escape, _name_words(name)))
        m = re.search(rf"\b{label}\s*(?:is|:|=)\s*([^,;!?\n]+)", text, re.I)
        if m:
            args[name] = _clean(m.group(1))
        else:
            todo.append(name)
    roles = {n: address_role(_name_words(n)) for n in todo}
    if sum(r is not None for r in roles.values()) >= 2:
        address = parse_address(text)
        if address is not None:
            for name, role in roles.items():
                part = address.part(role) if role else None
                if part:
                    args[name] = part
            todo = [n for n in todo if n not in args]
    elif len(todo) >= 2:
        tail = re.split(r"\bto\b|:", text)[-1]
        parts = [_clean(p) for p in re.split(r"[,;\n]", tail) if _clean(p)]
        if len(parts) == len(todo):
            args.update(zip(todo, parts, strict=True))
            todo = []
    if len(todo) == 1 and roles.get(todo[0]) is None:
        m = _PROPER.search(text)
        if m:
            args[todo.pop()] = m.group(1)
    for name in todo:
        calls: list[BaseMessage] = [m for m in history if isinstance(m, AIMessage)]
        value = _history_value(name, "string", {}, calls, tool)
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

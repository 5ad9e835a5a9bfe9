"""Answering the question asked from one record a tool returned (an order, a booking, a ticket).

The record is a JSON object; the question is the customer's message that led to the tool call.
What is said depends on what was asked:

* a status question ("what's happening with order 1042?"): the status, and the next step the
  record shows (its own note, or the dates it holds);
* "where": carrier, tracking number, latest scan and the expected date;
* "when": the date asked about (delivered on, expected on...) or that there is none yet;
* "how much": the amounts, with their currency;
* a field named in the question ("the tracking number", "the items"): that field;
* "details" / "everything": all of it, as a readable list.

Field roles come from the field names and values, never from one business's schema.
"""

from __future__ import annotations

import re
from typing import Any

from smart_support.models._render import (
    is_date,
    is_money_key,
    label,
    money,
    people_date,
    render_value,
    sentence,
    tidy_text,
)
from smart_support.models.matching import STOP_WORDS, split_identifier, tokenize

__all__ = ["NOTE_KEYS", "answer_record", "render_list"]

NOTE_KEYS = ("message", "note", "detail", "hint")
_HIDDEN = frozenset({"ok", "currency"})
_ID_WORDS = frozenset({"id", "number", "no", "nr", "ref", "reference", "code"})
_TITLE_KEYS = ("name", "title", "product", "product_name", "label", "question", "heading")
_QUANTITY_KEYS = ("quantity", "qty", "count")
_STATUS_KEYS = ("status", "state")

_WHEN = re.compile(r"\b(when|what date|which date|what day|how long|how soon|eta|by when)\b", re.I)
_ARRIVE = re.compile(r"\b(arriv\w*|deliver\w*|get here|get to me|come|coming|receive\w*)\b", re.I)
_WHERE = re.compile(r"\b(where\w*|track\w*|trace|locat\w*|carrier|courier|scan)\b", re.I)
_MONEY = re.compile(
    r"\b(how much|cost\w*|price\w*|total|pay|paid|charg\w*|refund\w*|amount|spend|spent)\b", re.I
)
_DETAILS = re.compile(r"\b(details?|everything|all (the )?info\w*|full|summary|overview)\b", re.I)
_QUESTION_WORDS = re.compile(
    r"\bhow much\b|\bwhere\w*|\btrac(?:k|king|e)\b(?!\s+(?:number|code|id|link|url))|\blocat\w*",
    re.I,
)
#: Fields of a search result that describe the search, not what it found.
_META = frozenset({"query", "q", "total", "count", "page", "limit", "offset", "next", "cursor"})


def _echoed(value: Any, question: str) -> bool:
    """A value the customer gave us themselves (their email address): not news to them."""
    return isinstance(value, str | int) and len(str(value)) >= 4 and str(value) in question


#: Status words of something still being prepared: "it has not shipped yet" fits them.
_OPEN = frozenset({"pending", "processing", "preparing", "placed", "received", "new", "on hold"})
_PLACES = frozenset(tokenize("carrier courier tracking track location latest event scan"))


def _tokens(text: str) -> set[str]:
    return set(tokenize(text))


def _key_tokens(key: str) -> set[str]:
    return {t for t in tokenize(split_identifier(key)) if t not in _ID_WORDS}


def _subject_key(data: dict[str, Any]) -> str | None:
    """The field that names the record: its own `id`, else its first `<thing>_id` / `_number` /
    `_reference` (with an `id`, those name other records: `customer_id` on an order)."""
    if isinstance(data.get("id"), int | str) and not isinstance(data.get("id"), bool):
        return "id"
    for key, value in data.items():
        words = split_identifier(key).lower().split()
        if len(words) >= 2 and words[-1] in _ID_WORDS and isinstance(value, int | str):
            return key
    return None


def _own_id(data: dict[str, Any], question: str) -> str | None:
    """The noun before the record's own `id` in the question: "order" for "status of order 1042"."""
    value = data.get("id")
    if not isinstance(value, int | str) or isinstance(value, bool) or not str(value).strip():
        return None
    found = re.search(rf"([A-Za-z]+)\s*(?:number|no\.?|#)?\s*#?{re.escape(str(value))}\b", question)
    if found is None or found.group(1).lower() in STOP_WORDS:
        return None
    return found.group(1).lower()


def _subject(data: dict[str, Any], question: str = "") -> str:
    """ "Order 1042" from an `order_id` field or an `id` the question calls an order, else "It"."""
    key = _subject_key(data)
    if key == "id":
        noun = _own_id(data, question)
        return f"{noun.capitalize()} {data['id']}" if noun else "It"
    if key is None:
        return "It"
    words = split_identifier(key).lower().split()
    return f"{' '.join(words[:-1]).capitalize()} {data[key]}"


def _status(data: dict[str, Any]) -> str | None:
    for key in _STATUS_KEYS:
        if isinstance(data.get(key), str) and data[key].strip():
            return str(data[key]).replace("_", " ").strip()
    return None


_AHEAD = frozenset({"estimated", "expected", "scheduled", "planned", "due", "eta"})


def _is_past(key: str) -> bool:
    """`delivered_on`, `shipped_at`, `cancelled_date`: something that happened."""
    words = label(key).split()
    return (
        len(words) >= 2
        and words[-1] in ("on", "at", "date")
        and words[0].endswith("ed")
        and words[0] not in _AHEAD
    )


def _is_ahead(key: str) -> bool:
    return bool(_AHEAD & set(label(key).split()))


def _date_sentence(key: str, value: str, subject: str) -> str:
    """`delivered_on` -> "Order 1110 was delivered on October 31, 2026."."""
    words = label(key).split()
    day = people_date(value)
    if _is_past(key):
        return f"{subject} was {' '.join(words[:-1])} on {day}."
    noun = " ".join(words) if words[-1] == "date" else " ".join(words) + " date"
    return f"The {noun} is {day}."


def _event(event: dict[str, Any]) -> str:
    """A scan or log entry: "Latest update: In transit, Louisville, KY (November 15, 2026)."."""
    what = next((str(event[k]) for k in ("description", "status", "event") if event.get(k)), "")
    where = next((str(event[k]) for k in ("location", "place", "city") if event.get(k)), "")
    when = next((people_date(str(v)) for v in event.values() if is_date(v)), "")
    text = ", ".join(p for p in (what, where) if p)
    return f"Latest update: {text}" + (f" ({when})." if when else ".")


def _entity(list_key: str) -> str:
    """`recent_orders` -> "Order": what one record of a list is called."""
    words = split_identifier(list_key).lower().split() or ["item"]
    last = words[-1]
    last = last[:-3] + "y" if last.endswith("ies") else last[:-1] if last.endswith("s") else last
    return last.capitalize()


def _picked(items: list[Any], question: str) -> list[Any]:
    """The records the question names ("size M" of a product's variants), else all of them."""
    asked = set(re.findall(r"[a-z0-9]+", question.lower()))
    named = []
    for item in items:
        if not isinstance(item, dict):
            continue
        title = next((str(item[k]) for k in _TITLE_KEYS if isinstance(item.get(k), str)), "")
        words = set(re.findall(r"[a-z0-9]+", title.lower()))
        if words and words <= asked:
            named.append(item)
    return named or items


def _closest(items: list[Any], question: str) -> list[Any]:
    """The results whose names share the most words with the question (all when none does)."""
    asked = _tokens(question)

    def overlap(item: Any) -> int:
        if not isinstance(item, dict):
            return 0
        title = next((str(item[k]) for k in _TITLE_KEYS if isinstance(item.get(k), str)), "")
        return len(_tokens(title) & asked)

    most = max((overlap(i) for i in items), default=0)
    return [i for i in items if overlap(i) == most] if most else items


def _item_line(key: str, item: dict[str, Any], currency: str | None, question: str) -> str:
    currency = item.get("currency") if isinstance(item.get("currency"), str) else currency
    title_key = next((k for k in _TITLE_KEYS if isinstance(item.get(k), str)), None)
    qty_key = next((k for k in _QUANTITY_KEYS if isinstance(item.get(k), int)), None)
    id_key = next((k for k in ("id", "number", "reference") if k in item), None)
    amounts = [
        money(v, currency)
        for k, v in item.items()
        if is_money_key(k) and isinstance(v, int | float)
    ]
    rest = [
        f"{label(k)}: {render_value(k, v, currency)}"
        if isinstance(v, int | float | bool)
        else render_value(k, v, currency)
        for k, v in item.items()
        if k not in (title_key, qty_key, id_key, "currency", "description")
        and not is_money_key(k)
        and v not in (None, "", [])
        and not isinstance(v, dict | list)
        and not k.endswith(("sku", "url", "_id", "type"))
    ]
    if title_key:
        head = str(item[title_key])
    elif id_key:
        head = f"{_entity(key)} {item[id_key]}"
    else:
        head = ""
    if qty_key:
        head = f"{item[qty_key]} × {head}".strip()
    text = head + (f" ({', '.join(rest)})" if rest and head else ", ".join(rest))
    if amounts:
        text += f": {amounts[-1]}"
    nested = [
        (k, v) for k, v in item.items() if isinstance(v, list) and v and isinstance(v[0], dict)
    ]
    for sub_key, sub in nested[:1]:
        picked = _picked(sub, question)
        text += "\n" + "\n".join(
            "  - " + _item_line(sub_key, s, currency, question)
            for s in picked[:8]
            if isinstance(s, dict)
        )
    return text


def render_list(key: str, items: list[Any], currency: str | None, question: str = "") -> str:
    """A list field as lines: "- 2 × Cast Iron Skillet (size 20cm): $90.00"."""
    lines = []
    for item in items[:10]:
        if isinstance(item, dict):
            lines.append(f"- {_item_line(key, item, currency, question)}")
        else:
            lines.append(f"- {render_value(key, item, currency)}")
    if len(items) > 10:
        lines.append(f"- and {len(items) - 10} more")
    return "\n".join(lines)


def _fact(
    key: str, value: Any, currency: str | None, subject: str = "It", question: str = ""
) -> str:
    """ "The total of order 1042 is $181.00." (a list: its lines under a heading)."""
    if isinstance(value, list) and value:
        return f"{label(key).capitalize()}:\n{render_list(key, value, currency, question)}"
    of = f" of {subject[0].lower()}{subject[1:]}" if subject != "It" else ""
    return sentence(f"The {label(key)}{of} is {render_value(key, value, currency)}")


def _details(facts: dict[str, Any], currency: str | None) -> str:
    lines = []
    for key, value in facts.items():
        if isinstance(value, list) and value:
            lines.append(f"- {label(key).capitalize()}:")
            lines += ["  " + line for line in render_list(key, value, currency).splitlines()]
        else:
            lines.append(f"- {label(key).capitalize()}: {render_value(key, value, currency)}")
    return "\n".join(lines)


def answer_record(data: dict[str, Any], question: str, *, acted: bool) -> str:
    """The reply to `question` from one record; `acted` when the tool changed something.

    Args:
        data: The record (a JSON object) the tool returned.
        question: The customer's message that led to the tool call.
        acted: True for an action tool that succeeded: its own note says what happened.
    """
    currency = data.get("currency") if isinstance(data.get("currency"), str) else None
    notes = [tidy_text(str(data[k]), currency) for k in NOTE_KEYS if isinstance(data.get(k), str)]
    facts = {
        k: v
        for k, v in data.items()
        if k not in _HIDDEN and k not in NOTE_KEYS and v is not None and v != "" and v != []
    }
    subject, status = _subject(data, question), _status(data)
    if acted:
        if notes:
            return " ".join(notes)
        return f"Done. {subject} is {status}." if status else "Done."
    if not facts:
        return " ".join(notes) or "I could not find anything matching that."
    if _DETAILS.search(question):
        return "\n".join([*notes, _details(facts, currency)])

    records = [k for k, v in facts.items() if isinstance(v, list) and v and isinstance(v[0], dict)]
    if len(records) == 1 and all(k in _META or k == records[0] for k in facts):
        found = records[0]  # a search: its results are the answer, the best matches first
        best = _closest(facts[found], question)
        return "Here's what I found:\n" + render_list(found, best, currency, question)
    facts = {k: v for k, v in facts.items() if not _echoed(v, question)}
    # Fields are named by the question's own words, not by its question words: "how much"
    # reads as "cost" and "where"/"track" as tracking, which a field would wrongly answer alone.
    asked = _tokens(_QUESTION_WORDS.sub(" ", question))
    named = [
        k
        for k in facts
        if k not in _STATUS_KEYS
        and k != _subject_key(data)
        and not is_date(facts[k])
        and _key_tokens(k) & asked
    ]
    when = bool(
        _WHEN.search(question) or (_ARRIVE.search(question) and not _WHERE.search(question))
    )
    lines: list[str] = []
    status_line = f"{subject} is {status}." if status else None
    # The record's own note usually says the status in words ("order 1042 is being prepared"):
    # it replaces ours rather than repeating it.
    if notes:
        status_line = " ".join(notes)
    dates = {k: v for k, v in facts.items() if is_date(v)}

    if when:
        return _when(question, facts, dates, subject, status_line)
    money_keys = [k for k, v in facts.items() if is_money_key(k) and isinstance(v, int | float)]
    if named and not any(k in money_keys for k in named):
        return "\n".join(_fact(k, facts[k], currency, subject, question) for k in named)
    if _WHERE.search(question):
        lines.append(status_line or "")
        said = " ".join(notes)
        where = [k for k in facts if _key_tokens(k) & _PLACES and not k.endswith("url")]
        for key in where:
            value = facts[key]
            if isinstance(value, list) or render_value(key, value, currency) in said:
                continue
            lines.append(_event(value) if isinstance(value, dict) else _fact(key, value, currency))
        for key in (k for k in dates if _is_ahead(k)):
            if people_date(dates[key]) not in said:
                lines.append(_date_sentence(key, dates[key], subject))
        return " ".join(line for line in lines if line)
    if _MONEY.search(question) or named:
        totals = [k for k in money_keys if "total" in k and "line" not in k]
        amounts = [k for k in named if k in money_keys] or totals or money_keys
        if amounts:
            return " ".join(_fact(k, facts[k], currency, subject) for k in amounts)
    if status_line:
        return " ".join([status_line, *_next_step(facts, dates, subject, status_line, currency)])
    return _details(facts, currency)


def _when(
    question: str,
    facts: dict[str, Any],
    dates: dict[str, str],
    subject: str,
    status_line: str | None,
) -> str:
    arrive = bool(_ARRIVE.search(question))
    asked = _tokens(question) | ({"deliver"} if arrive else set())
    relevant = {k: v for k, v in dates.items() if _key_tokens(k) & asked}
    if not relevant and (arrive or not dates):
        what = "delivery date" if arrive else "date for that"
        if status_line:
            return f"{status_line} There is no {what} yet."
        return f"{subject} has no {what} yet."
    relevant = relevant or dates
    past = [k for k in relevant if _is_past(k)]
    chosen = past or list(relevant)
    return " ".join(_date_sentence(k, relevant[k], subject) for k in chosen[:2])


def _next_step(
    facts: dict[str, Any],
    dates: dict[str, str],
    subject: str,
    status_line: str,
    currency: str | None,
) -> list[str]:
    """What the record says comes next: a delivery date, or that it has not shipped yet."""
    past = [k for k in dates if _is_past(k) and not k.startswith(("placed", "created"))]
    ahead = [k for k in dates if _is_ahead(k)]
    if past:
        latest = max(past, key=lambda k: dates[k])
        if ahead and dates[ahead[0]] > dates[latest]:
            return [_date_sentence(ahead[0], dates[ahead[0]], "It")]
        return [_date_sentence(latest, dates[latest], "It")]
    if ahead:
        return [_date_sentence(ahead[0], dates[ahead[0]], "It")]
    status = str(facts.get("status") or facts.get("state") or "").lower()
    story = _status_story(facts, status, currency)
    if story:
        return story
    ships = any("ship" in k for k in facts)
    if ships and status in _OPEN and "not shipped" not in status_line.lower():
        return ["It has not shipped yet."]
    return []


def _status_story(facts: dict[str, Any], status: str, currency: str | None) -> list[str]:
    """The dates and amounts of the part of the record its status is about: a cancelled order's
    `cancellation`, a returned one's `return`."""
    stems = set(tokenize(status))
    for key, value in facts.items():
        if isinstance(value, dict) and stems & set(tokenize(split_identifier(key))):
            out = [_date_sentence(k, v, "It") for k, v in value.items() if is_date(v)]
            out += [
                _fact(k, v, currency)
                for k, v in value.items()
                if is_money_key(k) and isinstance(v, int | float)
            ]
            return out
    return []

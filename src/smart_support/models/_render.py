"""How facts read to a customer: money with its currency, dates as people write them, sentences.

Used by the offline model's answers. Nothing here knows a business: a money field is one whose
name says amount, price, cost, total, fee, refund...; a date is an ISO date or timestamp.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from smart_support.models.matching import split_identifier

__all__ = [
    "is_date",
    "is_money_key",
    "label",
    "money",
    "people_date",
    "render_value",
    "sentence",
    "tidy_text",
]

_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩"}
_PREFIXED = {"CAD": "CA$", "AUD": "A$", "NZD": "NZ$", "HKD": "HK$", "SGD": "S$", "MXN": "MX$"}
_MONEY_WORDS = frozenset(
    {"amount", "price", "cost", "total", "subtotal", "fee", "fees", "refund", "balance"}
    | {"charge", "charged", "paid", "due", "tax", "vat", "deposit", "rate", "value"}
)
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ISO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$")
_DATE_IN_TEXT = re.compile(
    r"\b\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:Z|[+-]\d{2}:?\d{2})?)?\b"
)
_AMOUNT_IN_TEXT = re.compile(r"\b(\d+(?:\.\d+)?)\s+([A-Z]{3})\b")


def label(key: str) -> str:
    """`tracking_number` -> "tracking number"; `order_id` -> "order ID"."""
    words = [
        "ID" if w == "id" else "URL" if w == "url" else w
        for w in split_identifier(key).lower().split()
    ]
    return " ".join(words)


def is_money_key(key: str) -> bool:
    return bool(_MONEY_WORDS & set(split_identifier(key).lower().split()))


def money(value: float, currency: str | None) -> str:
    """181.0, "USD" -> "$181.00"; 12, "CHF" -> "12.00 CHF"; no currency -> "12.00"."""
    amount = f"{float(value):,.2f}"
    code = (currency or "").upper()
    if code in _SYMBOLS:
        return f"{_SYMBOLS[code]}{amount}"
    if code in _PREFIXED:
        return f"{_PREFIXED[code]}{amount}"
    return f"{amount} {code}" if code else amount


def is_date(value: Any) -> bool:
    return isinstance(value, str) and bool(_ISO_DATE.match(value) or _ISO_TIME.match(value))


def people_date(value: str) -> str:
    """ "2026-11-15" or "2026-11-15T11:58:00Z" -> "November 15, 2026"."""
    try:
        day = dt.date.fromisoformat(value[:10])
    except ValueError:
        return value
    return f"{day:%B} {day.day}, {day.year}"


def tidy_text(text: str, currency: str | None = None) -> str:
    """A tool's own sentence made customer-ready: dates and amounts as people write them, a
    capital first letter and a full stop."""
    text = _DATE_IN_TEXT.sub(lambda m: people_date(m.group(0)), text.strip())
    text = _AMOUNT_IN_TEXT.sub(lambda m: money(float(m.group(1)), m.group(2)), text)
    return sentence(text)


def sentence(text: str) -> str:
    text = text.strip()
    if not text:
        return text
    text = text[0].upper() + text[1:]
    return text if text[-1] in ".!?" else text + "."


def render_value(key: str, value: Any, currency: str | None = None) -> str:
    """One value as a customer reads it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float) and is_money_key(key):
        return money(value, currency)
    if is_date(value):
        return people_date(str(value))
    if isinstance(value, dict):
        return ", ".join(
            render_value(k, v, currency) for k, v in value.items() if v is not None and v != ""
        )
    if isinstance(value, list):
        return "; ".join(render_value(key, v, currency) for v in value)
    if isinstance(value, str):
        return value.replace("_", " ") if re.fullmatch(r"[a-z]+(_[a-z]+)+", value) else value
    return str(value)

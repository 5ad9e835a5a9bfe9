"""Personal data in free text, found by pattern, and the typed masks that replace it.

Emails, phone numbers, card numbers and street addresses are each found by a regular
expression, then checked in code where a pattern alone would guess (a card passes Luhn, a phone
number has the shape of one). Identifiers and moments are read first and left alone: UUIDs,
ISO dates and timestamps, and dates such as 01/05/2024, so their digits are never taken for a
phone or card number. A bare run of digits is a phone number only when it starts with the
national trunk prefix 0 (07700900123): order ids (1042), seq numbers and amounts stay.
"""

from __future__ import annotations

import re

EMAIL = "[email]"
PHONE = "[phone]"
CARD = "[card]"
ADDRESS = "[address]"
REDACTED = "[redacted]"

#: Starts only where a run of its characters starts: one pass over a long token, not one a
#: character.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}"
)

#: Spans whose digits are not personal: UUIDs, ISO dates and timestamps, day/month/year dates.
_KEEP = re.compile(
    r"\b[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\b"
    r"|(?<![\d.-])\d{4}-\d{2}-\d{2}"
    r"(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?(?![\d.-]?\d)"
    r"|(?<![\d./-])(?:\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}/\d{1,2}/\d{1,2})(?![./-]?\d)"
)

_SUFFIXES = (
    "Street|St|Avenue|Ave|Road|Rd|Lane|Ln|Boulevard|Blvd|Drive|Dr|Court|Ct|Place|Pl|Way|"
    "Terrace|Close|Crescent|Square|Sq|Highway|Hwy|Parkway|Pkwy|Circle|Mews|Row|Grove|Gardens"
)
#: Words that end a sentence's number rather than start a street name ("2 days on the road").
_NOT_A_NAME = (
    r"(?!(?:the|a|an|on|in|of|to|from|at|by|my|your|our|for|and|or|is|are|was|with|"
    r"minutes?|hours?|days?|weeks?|months?|years?|miles?|blocks?|km|items?|times?)\b)"
)
_UNIT = r"(?:,?\s+(?:Apt|Apartment|Suite|Ste|Unit|Flat|#)\.?\s*[\w-]+)?"
#: What may follow a street: a compass point, a city, then a US state and ZIP code or a
#: postcode.
_PLACE = (
    r"(?:\s+(?:[NS][EW]?|[EW])\b)?(?:,\s*[A-Z][A-Za-z'-]+\b(?: [A-Z][A-Za-z'-]+\b)?)?"
    r"(?:,?\s+(?:[A-Z]{2}\s+)?\d{5}(?:-\d{4})?\b|,?\s+[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}\b)?"
)
#: A house number, one to four capitalised name words and a street suffix ("12 Harbour Road",
#: "221B Baker Street", "5th Ave"), in lower case only with a suffix that is no common word,
#: with the unit, city and postcode that follow it.
_ADDRESS = re.compile(
    r"\b(?:\d{1,5}[A-Za-z]?(?:-\d{1,5})?,?\s+(?:" + _NOT_A_NAME + r"[A-Z][A-Za-z'.-]*\s+){1,4}"
    r"(?:" + _SUFFIXES + r")\b\.?"
    r"|\d{1,3}(?:st|nd|rd|th)\s+(?:" + _SUFFIXES + r")\b\.?"
    r"|(?i:\d{1,5}[a-z]?\s+(?:" + _NOT_A_NAME + r"[a-z][a-z'.-]*\s+){1,3}"
    r"(?:street|avenue|boulevard|blvd))\b)" + _UNIT + _PLACE
)

#: Digits with single separators: where phone and card numbers are looked for.
_RUN = re.compile(r"(?<![\w@+])(?:\+ ?)?(?:\(\d{1,5}\) ?|\d)(?:\d|[ .-](?=[\d(])|\(\d{1,5}\) ?)*")
#: The pieces of a run a number may start or end at.
_GROUP = re.compile(r"\+ ?\d+|\(\d+\)|\d+")
#: The most pieces one phone or card number has ("+33 1 23 45 67 89").
_MAX_GROUPS = 7

_CARD = re.compile(r"\d{13,19}|\d{4}(?:[ -]\d{4}){2,3}(?:[ -]\d{1,4})?|\d{4}[ -]\d{6}[ -]\d{4,5}")
_NANP = re.compile(r"(?:\+?1[ .-]?)?(?:\([2-9]\d{2}\) ?|[2-9]\d{2}[ .-])\d{3}[ .-]\d{4}")
_INTERNATIONAL = re.compile(r"\+ ?[1-9][\d ().-]*\d")
_NATIONAL = re.compile(r"(?:\(0\d{1,4}\) ?|0\d{1,4})(?:[ .-]?\d{2,8}){1,4}")


def luhn(digits: str) -> bool:
    """Whether a string of digits passes the Luhn check (every card number does)."""
    total = 0
    for i, char in enumerate(reversed(digits)):
        n = int(char)
        if i % 2:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def number_mask(text: str) -> str | None:
    """CARD or PHONE when all of `text` is a card or phone number, else None."""
    digits = _digits(text)
    if 13 <= len(digits) <= 19 and _CARD.fullmatch(text) and luhn(digits):
        return CARD
    if _INTERNATIONAL.fullmatch(text):
        return PHONE if 8 <= len(digits) <= 15 else None
    if _NANP.fullmatch(text):
        return PHONE
    if _NATIONAL.fullmatch(text) and 9 <= len(digits) <= 12:
        return PHONE
    return None


def _mask_run(run: str) -> str:
    """A run of digits with the card and phone numbers in it masked, leftmost-longest first."""
    groups = list(_GROUP.finditer(run))
    out: list[str] = []
    done = 0  # where the text not yet copied to `out` starts
    i = 0
    while i < len(groups):
        for j in range(min(len(groups), i + _MAX_GROUPS) - 1, i - 1, -1):
            start, end = groups[i].start(), groups[j].end()
            mask = number_mask(run[start:end])
            if mask is not None:
                out += [run[done:start], mask]
                done, i = end, j + 1
                break
        else:
            i += 1
    out.append(run[done:])
    return "".join(out)


def _mask_plain(text: str) -> str:
    """Addresses, then card and phone numbers, in text holding no identifier or date."""
    text = _ADDRESS.sub(ADDRESS, text)
    return _RUN.sub(lambda m: _mask_run(m.group()), text)


def mask_text(text: str) -> str:
    """`text` with its emails, card numbers, phone numbers and street addresses masked."""
    text = _EMAIL.sub(EMAIL, text)
    out: list[str] = []
    done = 0
    for kept in _KEEP.finditer(text):
        out += [_mask_plain(text[done : kept.start()]), kept.group()]
        done = kept.end()
    out.append(_mask_plain(text[done:]))
    return "".join(out)

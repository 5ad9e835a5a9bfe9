"""Postal addresses in a customer's words: "200 Main Street, Denver, CO 80202, US".

The offline model fills a tool's address parameters (street, city, postal code, country, and
state or region when the tool has one) from one line of text. Understood forms, comma-separated:

* US and Canada: ``street, city, ST 80202[, country]`` (the state is split from the ZIP code),
  ``street, city ST 80202``, ``street, city, A1A 1A1``.
* UK: ``street, city POSTCODE[, country]`` or ``street, city, POSTCODE``.
* Continental Europe: ``street, 75001 Paris[, country]`` (code before the city) or
  ``street, Paris 75001``; Dutch ``1012 AB Amsterdam``.
* Labelled: ``street: ..., city: ...`` (handled by the caller).

Anything else gives None, so the model asks instead of guessing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from smart_support.models.matching import STOP_WORDS

__all__ = ["ADDRESS_ROLES", "Address", "address_role", "labelled_postal_code", "parse_address"]

#: Parameter-name words -> the address part they hold.
ADDRESS_ROLES: dict[str, str] = {
    "street": "street",
    "address1": "street",
    "line1": "street",
    "road": "street",
    "city": "city",
    "town": "city",
    "locality": "city",
    "postal": "postal_code",
    "postcode": "postal_code",
    "zip": "postal_code",
    "zipcode": "postal_code",
    "country": "country",
    "state": "region",
    "province": "region",
    "region": "region",
    "county": "region",
}

_US_STATE = (
    r"(?:A[LKZR]|C[AOT]|D[EC]|FL|GA|HI|I[DLNA]|K[SY]|LA|M[EDAINSOT]|N[EVHJMYCD]|O[HKR]|PA|RI|"
    r"S[CD]|T[NX]|UT|V[TA]|W[AVIY])"
)
_CA_PROVINCE = r"(?:AB|BC|MB|NB|NL|NS|NT|NU|ON|PE|QC|SK|YT)"
_REGION_ZIP = re.compile(
    rf"^(?P<city>.*?)[\s,]*\b(?P<region>{_US_STATE}|{_CA_PROVINCE})\s+"
    r"(?P<code>\d{5}(?:-\d{4})?|[A-Z]\d[A-Z]\s?\d[A-Z]\d)$"
)
_CODES = (
    r"[A-Z]\d[A-Z]\s?\d[A-Z]\d",  # Canada
    r"[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}",  # UK
    r"\d{4}\s?[A-Z]{2}",  # Netherlands
    r"\d{5}(?:-\d{4})?",  # US ZIP, France, Germany, Italy, Spain...
    r"\d{2}-\d{3}",  # Poland
    r"\d{3}\s\d{2}",  # Sweden, Czechia
    r"\d{4}",  # Belgium, Austria, Switzerland, Denmark...
)
_CODE = "(?:" + "|".join(_CODES) + ")"
_CODE_AFTER = re.compile(rf"^(?P<city>[^\d].*?)\s+(?P<code>{_CODE})$")
_CODE_BEFORE = re.compile(rf"^(?P<code>{_CODE})\s+(?P<city>[^\d].*)$")
_CODE_ALONE = re.compile(rf"^{_CODE}$")
_COUNTRY_TEXT = """
    us, usa, u.s., u.s.a., america, united states, united states of america, uk, u.k., gb,
    great britain, united kingdom, england, scotland, wales, northern ireland, ireland, canada,
    mexico, france, germany, deutschland, spain, españa, italy, italia, portugal, netherlands,
    the netherlands, holland, belgium, luxembourg, switzerland, austria, denmark, sweden, norway,
    finland, iceland, poland, czechia, czech republic, slovakia, hungary, slovenia, croatia,
    greece, romania, bulgaria, estonia, latvia, lithuania, australia, new zealand, japan
"""
_COUNTRY_NAMES = frozenset(n.strip() for n in _COUNTRY_TEXT.split(",") if n.strip())
_STREET_WORDS = (
    "street|st|road|rd|avenue|ave|lane|ln|way|drive|dr|rue|straße|strasse|via|calle|weg|laan|"
    "plein|place|boulevard|blvd|square|court|ct|close|crescent|terrace"
)
_STREET = re.compile(rf"\d|\b({_STREET_WORDS})\b", re.I)


_POSTAL_LABEL = r"(?:zip(?:\s*code)?|post(?:al)?\s*code|postcode)"
_POSTAL_VALUE = r"(?=[A-Za-z]*\d)([A-Za-z0-9]{2,8}(?:\s\d[A-Za-z]{2}|-\d{3,4})?)\b"
_POSTAL_AFTER_LABEL = re.compile(
    rf"\b{_POSTAL_LABEL}\b\s*(?:is|was|=|:|of)?\s*(?:it'?s\s+)?{_POSTAL_VALUE}", re.I
)
_POSTAL_BEFORE_LABEL = re.compile(
    rf"\b{_POSTAL_VALUE}\s*(?:\(|,)?\s*(?:is\s+)?(?:my|the|our)?\s*{_POSTAL_LABEL}\b", re.I
)


def labelled_postal_code(text: str) -> tuple[str, tuple[int, int]] | None:
    """A postal code the text names as one ("my zip is 80225", "postcode: SW1A 1AA", "80225 is
    my zip code"), and where it stands; None when no code is labelled so. A labelled code is
    never an order number or a quantity, whatever else the tool takes."""
    for pattern in (_POSTAL_AFTER_LABEL, _POSTAL_BEFORE_LABEL):
        m = pattern.search(text)
        if m:
            return m.group(1).upper(), m.span()
    return None


@dataclass(frozen=True)
class Address:
    """The parts of an address; `region` is a US state or Canadian province when given."""

    street: str
    city: str
    postal_code: str
    country: str | None = None
    region: str | None = None

    def part(self, role: str) -> str | None:
        return str(getattr(self, role)) if getattr(self, role, None) else None


def address_role(name_words: list[str]) -> str | None:
    """The address part a parameter holds, from its name words (`postal_code` -> postal_code)."""
    joined = "".join(name_words)
    if joined in ADDRESS_ROLES:
        return ADDRESS_ROLES[joined]
    for word in name_words:
        if word in ADDRESS_ROLES:
            return ADDRESS_ROLES[word]
    return None


def _is_country(part: str) -> bool:
    return part.lower().strip(" .") in _COUNTRY_NAMES or bool(re.fullmatch(r"[A-Z]{2}", part))


def _without_lead_in(street: str) -> str:
    """ "it's 9 Elm Road" -> "9 Elm Road": small words before the house number are not in it."""
    m = re.match(r"^(.*?)\s*(\d.*)$", street)
    if m and m.group(1):
        words = re.findall(r"[a-z]+", m.group(1).lower())
        if all(w in STOP_WORDS or w in ("new", "address") for w in words):
            return m.group(2)
    return street


def parse_address(text: str) -> Address | None:
    """The address in `text` (after "to" or ":" when there is one), or None when unsure.

    Example:
        >>> parse_address("ship it to 12 Rue de Rivoli, 75001 Paris, FR").city
        'Paris'
    """
    tail = text
    for marker in (r"\bto\b", r":", r"\bis\b"):
        pieces = re.split(marker, tail, flags=re.I)
        if len(pieces) > 1 and "," in pieces[-1]:
            tail = pieces[-1]
    parts = [p.strip(" .!?;") for p in re.split(r"[,\n]", tail)]
    parts = [p for p in parts if p]
    if len(parts) < 2:
        return None
    country = None
    if len(parts) >= 3 and _is_country(parts[-1]) and not _CODE_ALONE.match(parts[-1]):
        country = parts.pop()
    street = _without_lead_in(parts[0])
    if not _STREET.search(street):
        return None
    rest = parts[1:]
    if not rest or len(rest) > 3:
        return None
    joined = " ".join(rest) if len(rest) <= 2 else None
    if joined is None:
        return None
    m = _REGION_ZIP.match(joined)
    if m and m.group("city").strip(" ,"):
        region, code = m.group("region"), m.group("code")
        if country is None:  # a state and a ZIP code, or a province and a postal code, say where
            country = "US" if code[0].isdigit() else "Canada"
        return Address(street, m.group("city").strip(" ,"), code, country, region)
    if len(rest) == 2 and _CODE_ALONE.match(rest[1]):
        return Address(street, rest[0], rest[1], country)
    if len(rest) == 2 and _is_country(rest[1]) and country is None:
        country, rest = rest[1], rest[:1]
    if len(rest) != 1:
        return None
    for pattern in (_CODE_BEFORE, _CODE_AFTER):
        m = pattern.match(rest[0])
        if m:
            return Address(street, m.group("city").strip(), m.group("code"), country)
    return None

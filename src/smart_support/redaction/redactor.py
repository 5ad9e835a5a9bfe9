"""The Redactor: a masked copy of any JSON-like value, for operators who must not see personal
data (`REDACT_PERSONAL_DATA`, `REDACT_FIELDS`)."""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable
from typing import Any

from smart_support.redaction.masks import ADDRESS, CARD, EMAIL, PHONE, REDACTED, mask_text
from smart_support.settings import Settings

_PHONE_KEYS = frozenset({"phone", "phonenumber", "mobile", "mobilenumber", "telephone", "tel"})
_CARD_KEYS = frozenset({"card", "cardnumber", "creditcard", "ccnumber", "pan"})
_ADDRESS_KEYS = frozenset({"street", "postcode", "postalcode", "zip", "zipcode", "city"})
#: A `"key": value` pair inside text (a tool result as JSON, possibly cut short, or a repr).
_PAIR = re.compile(
    r"""(["'])([\w -]{1,64})\1(\s*:\s*)("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?|[^\s,{}\[\]]+)"""
)
#: Masked values shorter than this are not looked for in the rest of the value ("US").
_MIN_ECHO = 3


def normal_key(key: str) -> str:
    """A field name as REDACT_FIELDS and the built-in names compare it: lower case, without
    `_`, `-` or spaces (`postal_code`, `postalCode` and `Postal-Code` are one name)."""
    return re.sub(r"[\W_]+", "", key).lower()


def builtin_mask(key: str) -> str | None:
    """The mask of a field that holds personal data by its name alone, None for any other.

    Args:
        key: A field name as `normal_key` gives it.
    """
    if key.endswith("email"):
        return EMAIL
    if key in _PHONE_KEYS or key.endswith(("phone", "phonenumber")):
        return PHONE
    if key in _CARD_KEYS or key.endswith("cardnumber"):
        return CARD
    if "address" in key or key in _ADDRESS_KEYS or key.endswith(("street", "postcode", "zipcode")):
        return ADDRESS
    return None


class Redactor:
    """Masks personal data in copies of JSON-like values; the identity when disabled.

    Strings are masked by pattern (`redaction.masks`). A field whose name is in `fields`
    (compared as `normal_key` does) is masked whole as `[redacted]`, nested dicts and lists
    included; a field named like an email, phone, card or address field (`email`,
    `customer_email`, `phone`, `card_number`, `address`, `street`, `postal_code`, `zip`,
    `city`...) is masked whole with its type's mask. A value masked by its field's name is
    also masked where the same value repeats in the text of the value walked (an approval's
    summary repeats its arguments). A string that holds a JSON object or array (a tool's
    result) is masked as the value it holds; in other text, `"field": value` pairs of those
    names are masked too (a result cut short). Numbers are masked only by their field's name:
    an order id and a timestamp look the same as a phone number stored as a number.

    Args:
        enabled: Mask; when False every method returns its argument as it is.
        fields: Field names whose values are masked whole, whatever they contain.
    """

    def __init__(self, enabled: bool = False, fields: Iterable[str] = ()) -> None:
        self.enabled = enabled
        self.fields = frozenset(filter(None, (normal_key(f) for f in fields)))

    @classmethod
    def from_settings(cls, settings: Settings) -> Redactor:
        """The redactor of REDACT_PERSONAL_DATA and REDACT_FIELDS."""
        return cls(settings.redact_personal_data, settings.redact_fields)

    def key_mask(self, key: str) -> str | None:
        """The mask of a field's whole value by the field's name; None: mask by pattern."""
        name = normal_key(key)
        return REDACTED if name in self.fields else builtin_mask(name)

    def text(self, text: str) -> str:
        """`text` with its personal data masked."""
        return self._text(text) if self.enabled else text

    def value(self, value: Any, *, keep: Collection[str] = ()) -> Any:
        """A masked copy of `value` (dicts, lists, strings, numbers).

        Args:
            value: The value; it is not changed.
            keep: Keys of `value` itself (a dict) whose values are copied as they are: the
                envelope of a record (ids, kinds, statuses), never personal.
        """
        if not self.enabled:
            return value
        echoes: dict[str, str] = {}
        self._collect(value, keep, echoes)
        return self._walk(value, keep, _echo_pattern(echoes), echoes)

    def strings(self, value: Any) -> Any:
        """A copy of `value` with every string masked by pattern, and nothing else changed:
        for a record whose keys are its own fields, not names from a conversation."""
        if not self.enabled:
            return value
        if isinstance(value, str):
            return mask_text(value)
        if isinstance(value, dict):
            return {k: self.strings(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.strings(v) for v in value]
        return value

    # -- internals ------------------------------------------------------------------------------

    def _collect(self, value: Any, keep: Collection[str], echoes: dict[str, str]) -> None:
        """The values of the fields masked by name, as text, with their masks."""
        if isinstance(value, dict):
            for key, item in value.items():
                if key in keep:
                    continue
                mask = self.key_mask(key) if isinstance(key, str) else None
                if mask is None:
                    self._collect(item, (), echoes)
                else:
                    for leaf in _leaves(item):
                        if len(leaf) >= _MIN_ECHO:
                            echoes.setdefault(leaf, mask)
        elif isinstance(value, list | tuple):
            for item in value:
                self._collect(item, (), echoes)

    def _walk(
        self,
        value: Any,
        keep: Collection[str],
        echo: re.Pattern[str] | None,
        echoes: dict[str, str],
    ) -> Any:
        if isinstance(value, str):
            parsed = _json(value)
            if parsed is not None:  # a tool result as JSON: masked as the value it holds
                masked = self._walk(parsed, (), echo, echoes)
                return json.dumps(masked, ensure_ascii=False)
            if echo is not None:
                value = echo.sub(lambda m: echoes[m.group()], value)
            return self._text(value)
        if isinstance(value, dict):
            out: dict[Any, Any] = {}
            for key, item in value.items():
                mask = None if key in keep or not isinstance(key, str) else self.key_mask(key)
                if key in keep:
                    out[key] = item
                elif mask is not None and item not in (None, ""):
                    out[key] = mask
                else:
                    out[key] = self._walk(item, (), echo, echoes)
            return out
        if isinstance(value, list | tuple):
            return [self._walk(item, (), echo, echoes) for item in value]
        return value

    def _text(self, text: str) -> str:
        return mask_text(_PAIR.sub(self._pair, text))

    def _pair(self, match: re.Match[str]) -> str:
        quote, key, colon, _value = match.groups()
        mask = self.key_mask(key)
        if mask is None:
            return match.group()
        return f'{quote}{key}{quote}{colon}"{mask}"'


def _json(text: str) -> dict[str, Any] | list[Any] | None:
    """The object or array `text` holds as JSON, None when it holds none."""
    if not text.lstrip().startswith(("{", "[")):
        return None
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict | list) else None


def _leaves(value: Any) -> Iterable[str]:
    """The strings and numbers in a value, as text."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, str | int | float):
        yield str(value)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _leaves(item)


def _echo_pattern(echoes: dict[str, str]) -> re.Pattern[str] | None:
    if not echoes:
        return None
    longest_first = sorted(echoes, key=len, reverse=True)
    return re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, longest_first)) + r")(?!\w)")

"""When people answer a hand-off (SUPPORT_HOURS), and what the customer is honestly told.

SUPPORT_HOURS is one or more comma-separated spans, each a day or a day range and a time range,
in SUPPORT_TIMEZONE: `mon-fri 09:00-17:30, sat 10:00-14:00`. A span whose end is before its
start runs past midnight (`fri 22:00-02:00` is Friday 22:00 to Saturday 02:00); `24:00` ends a
day. Unset means people answer at any time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from smart_support.errors import ConfigError
from smart_support.settings import Settings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(
    r"^(?P<first>[a-z]{3})(?:\s*-\s*(?P<last>[a-z]{3}))?\s+"
    r"(?P<start>\d{1,2}:\d{2})\s*-\s*(?P<end>\d{1,2}:\d{2})$"
)
_EXAMPLE = "e.g. `mon-fri 09:00-17:30, sat 10:00-14:00`"

IN_HOURS = "A person from our team will reply here."


@dataclass(frozen=True)
class Span:
    """One weekday's opening: minutes since that day's midnight, `end` past 1440 overnight."""

    weekday: int  # Monday is 0, as datetime.weekday()
    start: int
    end: int


@dataclass(frozen=True)
class SupportHours:
    """The parsed SUPPORT_HOURS in SUPPORT_TIMEZONE."""

    spans: tuple[Span, ...]
    zone: ZoneInfo

    def is_open(self, now: datetime) -> bool:
        """Whether `now` (aware; naive is taken as UTC) falls in one of the spans."""
        if now.tzinfo is None:
            now = now.replace(tzinfo=UTC)
        local = now.astimezone(self.zone)
        minute = local.hour * 60 + local.minute
        today, yesterday = local.weekday(), (local.weekday() - 1) % 7
        for span in self.spans:
            if span.weekday == today and span.start <= minute < span.end:
                return True
            # the part of yesterday's overnight span that runs into today
            if span.weekday == yesterday and span.end > 1440 and minute < span.end - 1440:
                return True
        return False


def _minutes(text: str, raw: str) -> int:
    hour, minute = (int(part) for part in text.split(":"))
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ConfigError(
            f"invalid setting SUPPORT_HOURS: {text!r} is not a time in {raw!r} ({_EXAMPLE})"
        )
    return hour * 60 + minute


def _day(text: str, raw: str) -> int:
    if text not in DAYS:
        raise ConfigError(
            f"invalid setting SUPPORT_HOURS: {text!r} is not a day in {raw!r}"
            f" (mon, tue, wed, thu, fri, sat, sun; {_EXAMPLE})"
        )
    return DAYS.index(text)


@lru_cache(maxsize=16)
def parse_hours(text: str | None, timezone: str = "UTC") -> SupportHours | None:
    """Parse SUPPORT_HOURS in SUPPORT_TIMEZONE; None when unset (people answer at any time).

    Raises:
        ConfigError: naming SUPPORT_HOURS or SUPPORT_TIMEZONE, with what is wrong.
    """
    try:
        zone = ZoneInfo(timezone.strip())
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"invalid setting SUPPORT_TIMEZONE: {timezone!r} is not an IANA time zone"
            " (e.g. `Europe/Paris`, `America/New_York`, `UTC`)"
        ) from None
    if text is None or not text.strip():
        return None
    spans: list[Span] = []
    for part in text.lower().split(","):
        raw = part.strip()
        match = _SPAN.match(raw)
        if not match:
            raise ConfigError(
                f"invalid setting SUPPORT_HOURS: cannot read {raw or part!r}: write days and"
                f" hours, {_EXAMPLE}"
            )
        first = _day(match["first"], raw)
        last = _day(match["last"], raw) if match["last"] else first
        start, end = _minutes(match["start"], raw), _minutes(match["end"], raw)
        if start == end:
            raise ConfigError(f"invalid setting SUPPORT_HOURS: {raw!r} opens and closes at once")
        if end < start:
            end += 1440  # overnight: into the next day
        days = range(first, last + 1) if first <= last else [*range(first, 7), *range(last + 1)]
        spans.extend(Span(day, start, end) for day in days)
    return SupportHours(tuple(spans), zone)


def check_hours(settings: Settings) -> None:
    """Fail at start, not at a customer's hand-off, when SUPPORT_HOURS or its zone is wrong."""
    parse_hours(settings.support_hours, settings.support_timezone)


def in_support_hours(settings: Settings, now: datetime | None = None) -> bool:
    """Whether a person answers now; always True when SUPPORT_HOURS is unset."""
    hours = parse_hours(settings.support_hours, settings.support_timezone)
    return hours is None or hours.is_open(now or datetime.now(UTC))


def handoff_promise(settings: Settings, now: datetime | None = None) -> str:
    """What the customer is told when their conversation goes to a person.

    In SUPPORT_HOURS (or when unset): a person replies in this conversation. Outside: the team
    is away and a person replies as OFFLINE_PROMISE says ("by email within one business day").
    """
    if in_support_hours(settings, now):
        return IN_HOURS
    return f"Our team is away right now; a person will reply {settings.offline_promise}."


__all__ = [
    "SupportHours",
    "check_hours",
    "handoff_promise",
    "in_support_hours",
    "parse_hours",
]

"""The customer's own signal on a reply: a thumbs up or down, with an optional short comment.

A rating names a reply by the `reply_id` of its `reply_end` event and is appended to the same
conversation's event log as a `feedback` event (`{reply_id, rating, comment}`, under the agent
that gave the reply), so replay and analytics read it like every other event. Rating a reply
again appends a new event: the latest one counts. Rating does not touch the conversation
otherwise: a rating of a closed conversation is recorded and leaves it closed (only a customer
message reopens one).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, cast

from smart_support.errors import SmartSupportError
from smart_support.store.base import Store
from smart_support.store.records import EventRecord

FEEDBACK_KIND = "feedback"
REPLY_KIND = "reply_end"
Rating = Literal["up", "down"]
RATINGS: tuple[Rating, ...] = ("up", "down")
#: The longest comment a rating may carry (the socket refuses longer ones at the edge).
MAX_COMMENT_CHARS = 500
#: Ratings of one reply kept at most: enough to change one's mind, not a way to fill the log.
MAX_RATINGS_PER_REPLY = 20
#: The lookup reads the conversation's replies and ratings in keyset pages of this size, and
#: no more than `_MAX_PAGES` of them: a reply beyond the first 10,000 of either is not found.
_PAGE = 500
_MAX_PAGES = 20


class FeedbackError(SmartSupportError):
    """A rating that cannot be recorded; nothing was stored."""

    code = "feedback_error"
    public_message = "We couldn't save your feedback. Please try again."


class UnknownReply(FeedbackError):
    """The reply is not one of this conversation's (unknown, another conversation's, or from
    before replies had ids)."""

    code = "unknown_reply"
    public_message = "We couldn't find that reply, so your feedback was not saved."


class TooManyRatings(FeedbackError):
    """This reply has been rated `MAX_RATINGS_PER_REPLY` times already."""

    code = "feedback_limit"
    public_message = "Thanks, we already have your feedback on this reply."


@dataclass(frozen=True)
class _Found:
    reply: EventRecord | None
    ratings: list[EventRecord]


async def _find(store: Store, conversation_id: str, reply_id: str) -> _Found:
    """The reply named `reply_id` in this conversation and the ratings given to it so far."""
    reply: EventRecord | None = None
    ratings: list[EventRecord] = []
    after = 0
    for _ in range(_MAX_PAGES):
        page = await store.events_page(
            conversation_id, after_seq=after, limit=_PAGE, kinds=[REPLY_KIND, FEEDBACK_KIND]
        )
        for record in page:
            if record.data.get("reply_id") != reply_id:
                continue
            if record.kind == REPLY_KIND:
                reply = record
            elif reply is not None:
                ratings.append(record)
        if len(page) < _PAGE:
            break
        after = page[-1].seq
    return _Found(reply, ratings)


async def record_feedback(
    store: Store,
    conversation_id: str,
    reply_id: str,
    rating: Rating,
    comment: str | None = None,
) -> EventRecord:
    """Append the customer's rating of one reply of `conversation_id` to its event log.

    The same rating and comment as the reply's latest one is not stored twice: that stored
    event is returned. The conversation is neither reopened nor otherwise changed.

    Args:
        store: The conversation store.
        conversation_id: The conversation the customer is in (already authorised).
        reply_id: The `reply_id` of one of this conversation's `reply_end` events.
        rating: `up` (helpful) or `down` (not helpful).
        comment: An optional short comment, already checked at the edge
            (`MAX_COMMENT_CHARS`); empty means none.

    Raises:
        UnknownReply: `reply_id` names no reply of this conversation.
        TooManyRatings: the reply was rated `MAX_RATINGS_PER_REPLY` times already.
        StoreUnavailable: the database could not be reached.
    """
    found = await _find(store, conversation_id, reply_id)
    if found.reply is None:
        raise UnknownReply(f"no reply {reply_id!r} in conversation {conversation_id}")
    comment = comment or None
    if found.ratings:
        latest = found.ratings[-1]
        if latest.data.get("rating") == rating and latest.data.get("comment") == comment:
            return latest
    if len(found.ratings) >= MAX_RATINGS_PER_REPLY:
        raise TooManyRatings(f"reply {reply_id!r} rated {len(found.ratings)} times")
    data = {"reply_id": reply_id, "rating": rating, "comment": comment}
    record = await store.append_event(conversation_id, FEEDBACK_KIND, found.reply.agent, data)
    await store.refresh_facts(conversation_id)  # closed already: its analytics count the rating
    return record


def latest_ratings(records: Iterable[EventRecord]) -> dict[str, Rating]:
    """Reply id -> the customer's latest rating, from a conversation's events in order."""
    ratings: dict[str, Rating] = {}
    for record in records:
        if record.kind != FEEDBACK_KIND:
            continue
        reply_id, rating = record.data.get("reply_id"), record.data.get("rating")
        if isinstance(reply_id, str) and rating in RATINGS:
            ratings[reply_id] = cast(Rating, rating)
    return ratings


__all__ = [
    "FEEDBACK_KIND",
    "MAX_COMMENT_CHARS",
    "MAX_RATINGS_PER_REPLY",
    "RATINGS",
    "FeedbackError",
    "Rating",
    "TooManyRatings",
    "UnknownReply",
    "latest_ratings",
    "record_feedback",
]

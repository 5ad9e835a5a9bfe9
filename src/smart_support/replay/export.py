"""A whole conversation as JSON Lines for audits: the summary first, then every event in order."""

from __future__ import annotations

from collections.abc import AsyncIterator

from smart_support.redaction import NO_REDACTION, Redactor
from smart_support.replay.pages import LoggedEvent, all_events
from smart_support.replay.summary import ConversationSummary
from smart_support.store.base import Store


async def export_lines(
    store: Store, summary: ConversationSummary, redactor: Redactor = NO_REDACTION
) -> AsyncIterator[bytes]:
    """Lines of JSON (each ending in a newline): the summary, then one event per line, each
    event masked by `redactor` (the summary is written as given).

    Events are read page by page up to the summary's last seq, so the export and its summary
    describe the same log even while the conversation goes on.
    """
    yield summary.model_dump_json().encode() + b"\n"
    async for record in all_events(store, summary.conversation_id):
        if record.seq > summary.last_seq:
            return
        event = LoggedEvent.from_record(record).redacted(redactor)
        yield event.model_dump_json().encode() + b"\n"

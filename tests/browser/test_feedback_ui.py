"""The customer's thumbs under a reply, in a real browser against the real server, engine
(offline model) and demo shop."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from playwright.sync_api import Page, expect
from ui_helpers import say

UiServer = Callable[..., AbstractContextManager[str]]


def stored_feedback(database_url: str) -> list[dict[str, Any]]:
    """The `feedback` events of the log, with their agent (the SQLite file itself)."""
    path = database_url.split(":///", 1)[1]
    with contextlib.closing(sqlite3.connect(path)) as db:
        rows = db.execute("SELECT agent, data FROM events WHERE kind = 'feedback' ORDER BY seq")
        return [{"agent": agent, **json.loads(data)} for agent, data in rows]


def test_a_thumbs_up_under_a_reply_shows_pressed_is_stored_and_survives_a_reload(
    ui_server: UiServer, page: Page, sqlite_url: str, screenshot: Callable[[str], Path]
) -> None:
    with ui_server() as url:
        page.goto(url)
        say(page, "What's the status of order 1042?")
        reply = page.get_by_test_id("agent-reply").last
        reply_id = reply.get_attribute("data-reply-id")
        assert reply_id
        helpful = reply.get_by_role("button", name="Helpful", exact=True)
        not_helpful = reply.get_by_role("button", name="Not helpful")
        expect(helpful).to_have_attribute("aria-pressed", "false")
        helpful.click()
        expect(helpful).to_have_attribute("aria-pressed", "true")
        expect(not_helpful).to_have_attribute("aria-pressed", "false")
        expect(reply.get_by_test_id("feedback-thanks")).to_be_visible()
        assert stored_feedback(sqlite_url) == [
            {"agent": "orders", "reply_id": reply_id, "rating": "up", "comment": None}
        ]
        screenshot("feedback-helpful")

        # The keyboard changes it: the latest rating counts.
        not_helpful.focus()
        page.keyboard.press("Enter")
        expect(not_helpful).to_have_attribute("aria-pressed", "true")
        expect(helpful).to_have_attribute("aria-pressed", "false")
        assert [f["rating"] for f in stored_feedback(sqlite_url)] == ["up", "down"]

        page.reload()
        reply = page.get_by_test_id("agent-reply").last
        expect(reply).to_have_attribute("data-reply-id", reply_id)
        expect(reply.get_by_role("button", name="Not helpful")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(reply.get_by_role("button", name="Helpful", exact=True)).to_have_attribute(
            "aria-pressed", "false"
        )

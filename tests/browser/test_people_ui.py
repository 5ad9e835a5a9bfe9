"""A person in the conversation, in a real browser against the real server (offline model, demo
agents and shop): the operator takes the escalated chat over by REST, and the customer sees the
person join, their message under their name, and them leave."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, expect
from ui_helpers import ask, replies, say, wait_until_ready

UiServer = Callable[..., AbstractContextManager[str]]
OPERATOR = "op-secret-token-for-people-ui"


def operator_post(url: str, path: str, **body: Any) -> httpx.Response:
    response = httpx.post(
        f"{url}/api/v1/operator{path}",
        json=body or None,
        headers={"Authorization": f"Bearer {OPERATOR}"},
        timeout=30,
    )
    response.raise_for_status()
    return response


def test_a_persons_message_shows_with_their_name_and_survives_a_reload(
    ui_server: UiServer, page: Page, screenshot: Callable[[str], Path]
) -> None:
    with ui_server(operator_token=OPERATOR) as url:
        page.goto(url)
        say(page, "I want to talk to a person")
        waiting = httpx.get(
            f"{url}/api/v1/operator/escalations",
            headers={"Authorization": f"Bearer {OPERATOR}"},
            timeout=30,
        ).json()["escalations"]
        conversation = f"/conversations/{waiting[0]['conversation_id']}"

        operator_post(url, f"{conversation}/takeover", name="Sam")
        expect(page.get_by_test_id("notice").last).to_have_text("Sam joined the conversation")
        expect(page.get_by_test_id("person-here")).to_be_visible()
        operator_post(url, f"{conversation}/messages", text="Hi, I'm Sam. Let me look into it.")
        person = page.get_by_test_id("message-person").last
        expect(person.get_by_test_id("person-name")).to_have_text("Sam (support team)")
        expect(person).to_contain_text("Hi, I'm Sam. Let me look into it.")

        # The customer answers the person: no agent replies, and the chat does not wait for one.
        agents = replies(page)
        ask(page, "Thanks Sam, it is order 1042")
        expect(page.get_by_test_id("message-customer").last).to_have_attribute(
            "data-delivery", "sent"
        )
        wait_until_ready(page)
        assert replies(page) == agents
        screenshot("person-in-the-conversation")

        page.reload()
        person = page.get_by_test_id("message-person").last
        expect(person.get_by_test_id("person-name")).to_have_text("Sam (support team)")
        expect(page.get_by_test_id("person-here")).to_be_visible()

        operator_post(url, f"{conversation}/handback")
        expect(page.get_by_test_id("notice").last).to_have_text("Sam left the conversation")
        expect(page.get_by_test_id("person-here")).to_have_count(0)
        say(page, "What's the status of order 1042?")
        assert replies(page) == agents + 1

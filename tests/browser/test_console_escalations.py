"""The console's Escalations and Webhooks pages and the live approvals inbox, in a real browser
against the real server (offline model, demo agents and shop): a customer asks for a person in
the chat, an operator takes the conversation over in the console, they write to each other, the
operator hands it back; a webhook endpoint that answers 500 fills the dead letters and Retry
sends one again; an approval reaches the open inbox over the operator socket, not by a poll."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect
from test_console import TOKEN, UiServer, shot, sign_in
from ui_helpers import ask, say, wait_until_ready

from chat_client import anonymous_agents_file
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings

SECRET_QUERY = "token=hook-s3cret-in-the-url"


class Receiver:
    """A loopback webhook endpoint answering `answer` after `delay` seconds."""

    def __init__(self) -> None:
        self.answer = 500
        self.delay = 0.0
        self.hits = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(receiver.delay)
                receiver.hits += 1
                self.send_response(receiver.answer)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks?{SECRET_QUERY}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def open_page(console: Page, name: str) -> None:
    console.get_by_role("navigation", name="Console pages").get_by_role("link", name=name).click()
    expect(console.get_by_role("heading", name=name, exact=True)).to_be_visible()


def test_an_operator_takes_over_replies_as_a_person_and_hands_back(
    ui_server: UiServer, page: Page, console: Page
) -> None:
    with ui_server(operator_token=TOKEN) as url:
        page.goto(url)
        say(page, "I want to talk to a person")

        sign_in(console, url)
        open_page(console, "Escalations")
        item = console.get_by_test_id("escalation")
        expect(item).to_have_count(1)
        expect(item.get_by_test_id("escalation-state")).to_have_text("Waiting for a person")
        expect(item.get_by_test_id("escalation-messages")).to_contain_text(
            "Customer: I want to talk to a person"
        )
        expect(item.get_by_test_id("escalation-reason")).to_contain_text("Reason:")
        # The name is asked once, before any take-over, and kept for the session.
        expect(item.get_by_role("button", name="Take over")).to_be_disabled()
        console.get_by_label("Your name, as customers will see it").fill("Sam")
        console.get_by_label("Your name, as customers will see it").press("Enter")
        expect(console.get_by_test_id("operator-name")).to_contain_text("Sam")
        shot(console, "escalations")
        item.get_by_role("button", name="Take over").click()

        thread = console.get_by_test_id("thread")
        expect(thread).to_be_visible()
        expect(item.get_by_test_id("escalation-state")).to_have_text("Held by Sam")
        expect(page.get_by_test_id("notice").last).to_have_text("Sam joined the conversation")

        # The operator's reply, by keyboard: the customer sees the person's name, not an agent's.
        box = console.get_by_label("Reply to the customer")
        expect(box).to_be_focused()
        box.fill("Hi, I'm Sam. Which order is it?")
        box.press("Enter")
        person = page.get_by_test_id("message-person").last
        expect(person.get_by_test_id("person-name")).to_have_text("Sam (support team)")
        expect(person).to_contain_text("Hi, I'm Sam. Which order is it?")
        messages = thread.get_by_test_id("thread-messages")
        expect(messages).to_contain_text("Sam: Hi, I'm Sam. Which order is it?", timeout=3000)

        # The customer answers: it appears in the console's thread as it comes.
        ask(page, "It is order 1042")
        expect(messages).to_contain_text("Customer: It is order 1042")
        shot(console, "escalation-thread")
        shot(page, "customer-with-a-person")

        console.get_by_test_id("hand-back").click()
        expect(thread).to_have_count(0)
        expect(page.get_by_test_id("person-here")).to_have_count(0)
        expect(item.get_by_test_id("escalation-state")).to_have_text("Waiting for a person")
        # The name stays for the session.
        console.reload()
        open_page(console, "Escalations")
        expect(console.get_by_test_id("operator-name")).to_contain_text("Sam")


def test_the_webhook_page_lists_a_dead_letter_and_retry_sends_it_again(
    sqlite_url: str, page: Page, console: Page, running_shop: str, receiver: Receiver
) -> None:
    shop = urlsplit(running_shop)
    settings = Settings(
        database_url=sqlite_url,
        llm_provider="offline",
        shop_url=running_shop,
        agents_file=anonymous_agents_file(),
        operator_token=TOKEN,
        webhook_urls=[receiver.url],
        webhook_retry_schedule=[0.05],
        egress_allowlist=[f"{shop.hostname}:{shop.port}", f"127.0.0.1:{receiver.port}"],
    )
    with serve_in_thread(settings) as url:
        page.goto(url)
        say(page, "I want to talk to a person")

        sign_in(console, url)
        open_page(console, "Webhooks")
        console.get_by_role("button", name="Dead letters").click()
        dead = console.get_by_test_id("delivery").first
        expect(dead).to_have_attribute("data-status", "dead")
        expect(dead).to_contain_text("HTTP 500")
        expect(dead.get_by_test_id("delivery-endpoint")).to_have_text(
            f"http://127.0.0.1:{receiver.port}/hooks"
        )
        assert "s3cret" not in console.content()  # the endpoint's query string is not shown
        shot(console, "webhooks-dead")

        # Retry: pending again (the endpoint now answers, slowly), then delivered.
        delivery_id = dead.get_attribute("data-delivery-id")
        receiver.answer, receiver.delay = 200, 3.0
        dead.get_by_role("button", name="Retry").click()
        console.get_by_role("button", name="All").click()
        row = console.locator(f'[data-testid="delivery"][data-delivery-id="{delivery_id}"]')
        expect(row).to_have_attribute("data-status", "pending")
        expect(row).to_have_attribute("data-status", "delivered", timeout=20_000)
        shot(console, "webhooks")


def test_the_approvals_inbox_shows_a_new_approval_without_waiting_for_a_poll(
    ui_server: UiServer, page: Page, console: Page
) -> None:
    with ui_server(operator_token=TOKEN) as url:
        sign_in(console, url)
        expect(console.get_by_test_id("empty")).to_contain_text("Nothing waits")
        expect(console.get_by_test_id("inbox-live")).to_have_attribute("data-connected", "true")

        page.goto(url)
        wait_until_ready(page)
        ask(page, "Cancel order 1042")
        expect(page.get_by_test_id("approval-card").last).to_have_attribute(
            "data-status", "pending"
        )
        # The inbox's REST refresh is 30 s apart: within a second it can only be the socket.
        item = console.get_by_test_id("inbox-approval")
        expect(item).to_have_count(1, timeout=1_000)
        expect(item.get_by_test_id("inbox-summary")).to_contain_text("1042")
        shot(console, "approvals-live")

        # Decided by the customer: it leaves the inbox as live.
        page.get_by_test_id("approval-card").last.get_by_role("button", name="Approve").click()
        expect(console.get_by_test_id("empty")).to_contain_text("Nothing waits", timeout=5_000)

"""What the browser tests do in the chat: ask, wait for a reply, read the shop. On a page, or on
the chat inside an embedding page's iframe (a FrameLocator answers the same calls)."""

from __future__ import annotations

import httpx
from playwright.sync_api import FrameLocator, Locator, Page, expect

Chat = Page | FrameLocator

expect.set_options(timeout=30_000)  # a hang guard: `expect` waits, it asserts no duration


def order_status(shop_url: str, order_id: int) -> str:
    response = httpx.get(f"{shop_url}/orders/{order_id}")
    response.raise_for_status()
    return str(response.json()["status"])


def wait_until_ready(chat: Chat) -> None:
    expect(chat.get_by_test_id("chat-status")).to_have_attribute("data-status", "ready")


def ask(chat: Chat, text: str) -> None:
    box = chat.get_by_label("Your message")
    box.fill(text)
    box.press("Enter")
    expect(chat.get_by_test_id("message-customer").last).to_have_text(text)


def replies(chat: Chat) -> int:
    return chat.get_by_test_id("message-agent").count()


def next_reply(chat: Chat, before: int) -> Locator:
    """The agent reply after the `before` earlier ones, once it has finished streaming."""
    expect(chat.get_by_test_id("message-agent")).to_have_count(before + 1)
    reply = chat.get_by_test_id("message-agent").nth(before)
    expect(reply).to_have_attribute("data-streaming", "false")
    wait_until_ready(chat)
    return reply


def say(chat: Chat, text: str) -> Locator:
    """Ask and wait for the answer."""
    wait_until_ready(chat)
    before = replies(chat)
    ask(chat, text)
    return next_reply(chat, before)

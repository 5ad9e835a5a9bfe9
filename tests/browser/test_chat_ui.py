"""The web UI in a real browser, against the real server, engine (offline model) and demo shop."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

from playwright.sync_api import Page, expect
from ui_helpers import ask, next_reply, order_status, replies, wait_until_ready

UiServer = Callable[..., AbstractContextManager[str]]


def request_cancellation(page: Page):  # type: ignore[no-untyped-def]
    wait_until_ready(page)
    ask(page, "Cancel order 1042")
    card = page.get_by_test_id("approval-card").last
    expect(card).to_have_attribute("data-status", "pending")
    expect(card.get_by_test_id("approval-summary")).to_contain_text("1042")
    expect(card.get_by_test_id("approval-countdown")).to_contain_text("Expires in")
    args = json.loads(card.get_by_test_id("approval-args").text_content() or "{}")
    assert args == {"order_id": 1042}
    return card


def test_the_status_question_streams_an_answer_from_the_orders_agent(
    ui_server: UiServer, page: Page, screenshot: Callable[[str], Path]
) -> None:
    frames: list[dict] = []  # what the page received over its WebSocket
    page.on(
        "websocket",
        lambda ws: ws.on(
            "framereceived",
            lambda payload: (
                frames.append(json.loads(payload)) if isinstance(payload, str) else None
            ),
        ),
    )
    with ui_server() as url:
        page.goto(url)
        wait_until_ready(page)
        # Not a demo (no DEMO_IDENTITIES): no picker, an anonymous chat straight away.
        expect(page.get_by_test_id("picker")).to_have_count(0)
        expect(page.get_by_test_id("customer")).to_have_text("Not signed in")
        expect(page.get_by_test_id("offline-badge")).to_be_visible()
        ask(page, "What's the status of order 1042?")
        reply = next_reply(page, 0)
        expect(reply).to_contain_text("1042")
        # agents.yaml's display_name, never the agent's id
        expect(reply.get_by_test_id("agent-name")).to_have_text("Orders team")
        expect(page.get_by_test_id("chat-status")).to_have_attribute("data-status", "ready")
        tokens = [f for f in frames if f.get("type") == "token"]
        assert len(tokens) > 3, "the reply arrived token by token"
        assert {t["agent"] for t in tokens} == {"orders"}
        # model text is rendered as elements, never as raw HTML
        assert reply.locator("script, img, iframe").count() == 0
        # The page was told that tools ran, but not which, with what, or what they answered.
        tools = [f for f in frames if f.get("type") == "tool_activity"]
        assert tools and all(
            set(f) == {"type", "conversation_id", "status", "label"} for f in tools
        )
        assert "get_order_status" not in json.dumps(frames)
        screenshot("status-question")


def test_an_approved_cancellation_shows_the_confirmation(
    ui_server: UiServer,
    running_shop: str,
    page: Page,
    screenshot: Callable[[str], Path],
) -> None:
    with ui_server() as url:
        page.goto(url)
        card = request_cancellation(page)
        assert order_status(running_shop, 1042) != "cancelled"
        screenshot("approval-pending")
        before = replies(page)
        card.get_by_test_id("approve-button").click()
        expect(card).to_have_attribute("data-status", "approved")
        expect(card.get_by_test_id("approval-status")).to_have_text("Approved")
        expect(next_reply(page, before)).to_contain_text("1042")
        screenshot("approval-approved")
    assert order_status(running_shop, 1042) == "cancelled"


def test_a_rejected_cancellation_leaves_the_order_open(
    ui_server: UiServer,
    running_shop: str,
    page: Page,
    screenshot: Callable[[str], Path],
) -> None:
    status_before = order_status(running_shop, 1042)
    with ui_server() as url:
        page.goto(url)
        card = request_cancellation(page)
        before = replies(page)
        card.get_by_test_id("reject-button").focus()
        page.keyboard.press("Enter")  # the buttons work from the keyboard
        expect(card).to_have_attribute("data-status", "rejected")
        expect(card.get_by_test_id("approval-status")).to_contain_text("Rejected")
        next_reply(page, before)
        screenshot("approval-rejected")
    assert order_status(running_shop, 1042) == status_before


def test_a_reload_restores_the_conversation_and_its_pending_approval(
    ui_server: UiServer,
    running_shop: str,
    page: Page,
    screenshot: Callable[[str], Path],
) -> None:
    with ui_server() as url:
        page.goto(url)
        wait_until_ready(page)
        ask(page, "What's the status of order 1042?")
        next_reply(page, 0)
        request_cancellation(page)
        page.reload()
        wait_until_ready(page)
        expect(page.get_by_test_id("message-customer").first).to_have_text(
            "What's the status of order 1042?"
        )
        expect(page.get_by_test_id("approval-card")).to_have_count(1)
        card = page.get_by_test_id("approval-card").last
        expect(card).to_have_attribute("data-status", "pending")
        screenshot("reloaded-pending")
        before = replies(page)
        card.get_by_test_id("approve-button").click()
        expect(card).to_have_attribute("data-status", "approved")
        next_reply(page, before)
        screenshot("reloaded-approved")
    assert order_status(running_shop, 1042) == "cancelled"


def test_an_approval_left_to_expire_shows_the_expired_state(
    ui_server: UiServer,
    running_shop: str,
    page: Page,
    screenshot: Callable[[str], Path],
) -> None:
    options = {"sweep_interval_seconds": 0.2}
    with ui_server(approval_ttl_seconds=2, app_options=options) as url:
        page.goto(url)
        wait_until_ready(page)
        ask(page, "Cancel order 1042")
        card = page.get_by_test_id("approval-card").last
        expect(card).to_have_attribute("data-status", "expired")
        expect(card.get_by_test_id("approval-status")).to_contain_text("Expired")
        expect(card.get_by_test_id("approve-button")).to_have_count(0)
        screenshot("approval-expired")
    assert order_status(running_shop, 1042) != "cancelled"


def test_hostile_markup_from_the_customer_is_shown_as_text(ui_server: UiServer, page: Page) -> None:
    with ui_server() as url:
        page.goto(url)
        wait_until_ready(page)
        hostile = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
        ask(page, hostile)
        next_reply(page, 0)
        assert page.evaluate("window.__pwned === undefined")
        assert page.locator("img").count() == 0


def test_a_model_outage_shows_a_clear_error_instead_of_a_hung_reply(
    ui_server: UiServer, page: Page, screenshot: Callable[[str], Path]
) -> None:
    from smart_support.testing import ScriptedChatModel

    def outage(messages: object) -> str:
        raise TimeoutError("provider timed out")

    with ui_server(app_options={"model": ScriptedChatModel(default=outage)}) as url:
        page.goto(url)
        wait_until_ready(page)
        ask(page, "What's the status of order 1042?")
        notice = page.get_by_role("alert")
        expect(notice).to_contain_text("not available right now")
        wait_until_ready(page)
        expect(page.get_by_test_id("thinking")).to_have_count(0)
        screenshot("model-outage")


def test_after_a_server_restart_the_page_reconnects_and_restores_the_approval(
    ui_server: UiServer,
    running_shop: str,
    page: Page,
    screenshot: Callable[[str], Path],
) -> None:
    with ui_server() as url:
        page.goto(url)
        request_cancellation(page)
    expect(page.get_by_test_id("chat-status")).to_have_attribute("data-status", "offline")
    port = int(url.rsplit(":", 1)[1])
    with ui_server(port=port):  # same database, same address: the page finds it by itself
        wait_until_ready(page)
        card = page.get_by_test_id("approval-card").last
        expect(card).to_have_attribute("data-status", "pending")
        before = replies(page)
        card.get_by_test_id("approve-button").click()
        expect(card).to_have_attribute("data-status", "approved")
        next_reply(page, before)
        screenshot("reconnected-approved")
    assert order_status(running_shop, 1042) == "cancelled"


def test_the_welcome_text_comes_from_the_settings(
    ui_server: UiServer, page: Page, screenshot: Callable[[str], Path]
) -> None:
    welcome = "Welcome to Harbour Shoes! Ask about an order, a return or a size."
    with ui_server(welcome_message=welcome) as url:
        page.goto(url)
        wait_until_ready(page)
        expect(page.get_by_test_id("welcome")).to_have_text(welcome)
        screenshot("welcome")
        ask(page, "What's the status of order 1042?")
        expect(page.get_by_test_id("welcome")).to_have_count(0)


def test_while_an_approval_waits_the_box_stays_usable_and_says_what_a_message_does(
    ui_server: UiServer, page: Page
) -> None:
    with ui_server() as url:
        page.goto(url)
        request_cancellation(page)
        box = page.get_by_label("Your message")
        expect(box).to_be_enabled()
        placeholder = box.get_attribute("placeholder") or ""
        assert "the action above waits" in placeholder
        assert "ask something" not in placeholder


def test_a_link_to_another_site_in_a_reply_is_plain_text_and_the_shops_own_is_a_link(
    ui_server: UiServer, page: Page
) -> None:
    from smart_support.testing import ScriptedChatModel

    reply_text = (
        "Your order ships to [Claim your refund here](https://evil.example/login) 5 High St. "
        "Returns: [our returns page](https://help.shop.example/returns)."
    )
    model = ScriptedChatModel(default=lambda messages: reply_text)
    with ui_server(link_domains=["shop.example"], app_options={"model": model}) as url:
        page.goto(url)
        wait_until_ready(page)
        ask(page, "Where does order 1042 ship to?")
        reply = next_reply(page, 0)
        expect(reply).to_contain_text("[Claim your refund here](https://evil.example/login)")
        links = reply.locator("a")
        expect(links).to_have_count(1)
        expect(links.first).to_have_attribute("href", "https://help.shop.example/returns")

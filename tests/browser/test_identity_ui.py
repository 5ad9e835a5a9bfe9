"""Who the customer is, in a real browser: the demo's picker (DEMO_IDENTITIES), an anonymous
visitor asked to verify, agents named by their display names. The real demo agents with their
identity rules, the offline model, the real demo shop."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect
from ui_helpers import ask, next_reply, order_status, replies, say, wait_until_ready

from smart_support.registry.validate import demo_agents_file

UiServer = Callable[..., AbstractContextManager[str]]

SECRET = "browser-identity-test-secret-0123456789"
VERIFY_ASK = "email address on your account"
#: The demo agents' display names (agents.yaml): a customer sees these, never the agents' ids
#: (orders, faq, escalation, general).
DISPLAY_NAMES = {"Orders team", "Help center", "Support team", "Assistant"}


@pytest.fixture
def demo_url(ui_server: UiServer):
    with ui_server(
        agents_file=demo_agents_file(), identity_secret=SECRET, demo_identities=True
    ) as url:
        yield url


def pick(page: Page, email: str) -> None:
    page.get_by_test_id("demo-customer").and_(page.locator(f'[data-email="{email}"]')).click()
    wait_until_ready(page)


def test_the_picker_offers_demo_customers_with_their_orders_and_an_anonymous_chat(
    demo_url: str, page: Page, screenshot: Callable[[str], Path]
) -> None:
    page.goto(demo_url)
    picker = page.get_by_test_id("picker")
    expect(picker).to_be_visible()
    first = page.get_by_test_id("demo-customer").first
    expect(first).to_contain_text("Maya Chen")
    expect(first).to_contain_text("maya.chen@example.com")
    expect(first).to_contain_text("1042")
    expect(page.get_by_test_id("continue-anonymously")).to_be_visible()
    # No conversation yet: the chat starts once the visitor has chosen.
    expect(page.get_by_label("Your message")).to_have_count(0)
    screenshot("demo-picker")


def test_as_maya_chen_cancelling_order_1042_asks_for_approval_and_approving_cancels_it(
    demo_url: str, running_shop: str, page: Page, screenshot: Callable[[str], Path]
) -> None:
    page.goto(demo_url)
    pick(page, "maya.chen@example.com")
    whoami = page.get_by_test_id("customer")
    expect(whoami).to_have_text("Signed in as Maya Chen")
    expect(whoami).to_have_attribute("data-verified", "true")

    ask(page, "Cancel order 1042")
    card = page.get_by_test_id("approval-card").last
    expect(card).to_have_attribute("data-status", "pending")
    expect(card.get_by_test_id("approval-summary")).to_contain_text("1042")
    assert order_status(running_shop, 1042) != "cancelled"
    screenshot("demo-maya-approval")
    before = replies(page)
    card.get_by_test_id("approve-button").click()
    expect(card).to_have_attribute("data-status", "approved")
    expect(next_reply(page, before)).to_contain_text("1042")
    assert order_status(running_shop, 1042) == "cancelled"

    # A reload resumes Maya's conversation (not the picker), still signed in.
    page.reload()
    wait_until_ready(page)
    expect(page.get_by_test_id("picker")).to_have_count(0)
    expect(page.get_by_test_id("customer")).to_have_text("Signed in as Maya Chen")
    expect(page.get_by_test_id("approval-card")).to_have_attribute("data-status", "approved")
    # "New chat" goes back to the picker.
    page.get_by_test_id("new-conversation").click()
    expect(page.get_by_test_id("picker")).to_be_visible()


def test_as_another_demo_customer_order_1042_is_not_found_and_no_card_appears(
    demo_url: str, running_shop: str, page: Page
) -> None:
    page.goto(demo_url)
    pick(page, "chiara.anderson@example.com")
    expect(page.get_by_test_id("customer")).to_have_text("Signed in as Chiara Anderson")
    status = say(page, "What's the status of order 1042?")
    cancel = say(page, "Cancel order 1042")

    for reply in (status, cancel):
        text = (reply.text_content() or "").lower()
        assert "processing" not in text and "maya" not in text
    expect(page.get_by_test_id("approval-card")).to_have_count(0)
    assert order_status(running_shop, 1042) == "processing"


def test_an_anonymous_visitor_is_asked_to_verify_before_anything_personal(
    demo_url: str, page: Page, screenshot: Callable[[str], Path]
) -> None:
    page.goto(demo_url)
    page.get_by_test_id("continue-anonymously").click()
    wait_until_ready(page)
    expect(page.get_by_test_id("customer")).to_have_text("Not signed in")
    expect(page.get_by_test_id("customer")).to_have_attribute("data-verified", "false")

    reply = say(page, "What's the status of order 1042?")
    expect(reply).to_contain_text(VERIFY_ASK)
    text = (reply.text_content() or "").lower()
    assert "processing" not in text and "maya" not in text
    expect(page.get_by_test_id("approval-card")).to_have_count(0)
    screenshot("anonymous-asked-to-verify")


def test_verified_flow_an_anonymous_visitor_who_verifies_is_named_and_can_act(
    demo_url: str, running_shop: str, page: Page, screenshot: Callable[[str], Path]
) -> None:
    """Separate from the ask above: it needs the offline model to call the verification tool
    on the customer's answer (the models/ work of issue 9)."""
    page.goto(demo_url)
    page.get_by_test_id("continue-anonymously").click()
    expect(say(page, "What's the status of order 1042?")).to_contain_text(VERIFY_ASK)

    say(page, "maya.chen@example.com, order 1042")
    expect(page.get_by_test_id("notice").filter(has_text="verified")).to_have_text(
        "Thanks, Maya Chen: you're verified."
    )
    expect(page.get_by_test_id("customer")).to_have_text("Signed in as Maya Chen")
    expect(page.get_by_test_id("customer")).to_have_attribute("data-verified", "true")
    ask(page, "Cancel order 1042")
    expect(page.get_by_test_id("approval-card").last).to_have_attribute("data-status", "pending")
    screenshot("anonymous-verified")
    assert order_status(running_shop, 1042) == "processing"  # nothing happens before approval


def test_agents_and_hand_overs_are_named_by_display_name_never_by_id(
    demo_url: str, page: Page
) -> None:
    page.goto(demo_url)
    pick(page, "maya.chen@example.com")
    say(page, "What's the status of order 1042?")
    say(page, "What is your return policy?")

    names = page.get_by_test_id("agent-name").all_text_contents()
    assert names[0] == "Orders team" and names[-1] == "Help center", names
    expect(page.get_by_test_id("notice").filter(has_text="Handed over")).to_have_text(
        "Handed over to Help center"
    )
    assert set(names) <= DISPLAY_NAMES, names
    handovers = page.get_by_test_id("notice").filter(has_text="Handed over").all_text_contents()
    assert handovers and {h.removeprefix("Handed over to ") for h in handovers} <= DISPLAY_NAMES

"""The operator console (/console) in a real browser, against the real server, engine (offline
model) and demo shop, with data made through the product: chat turns over the real WebSocket and
in the customer's page, approvals the agents ask for, an import of the shop's spec."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from ui_helpers import ask, next_reply, order_status, replies, say, wait_until_ready

from chat_client import Chat, connect
from smart_support.server.app import STATIC_DIR

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
UiServer = Callable[..., AbstractContextManager[str]]
Shot = Callable[[str], Path]

TOKEN = "console-operator-token-for-browser-tests"
#: The long conversation's turns: ~5 events each, 25 pages of the replay.
LONG_TURNS = 1000
HELP_ONLY = """\
version: 1
agents:
  - name: help
    display_name: Help
    description: Greetings, thanks and anything the other agents do not handle.
    role: fallback
    personality: You are a friendly support assistant.
    examples: ["Hello", "Thanks, that's all", "What can you do?", "Hi there", "Goodbye"]
"""


@pytest.fixture(scope="module", autouse=True)
def console_built(browser: Browser) -> None:
    """The browser fixture builds the UI when index.html is missing; a build from before the
    console has no console.html."""
    if not (STATIC_DIR / "console.html").is_file():
        pytest.fail("the console is not built: run `cd web && npm run build`")


def shot(page: Page, name: str, *, whole: bool = True) -> Path:
    """test-artifacts/screenshots/console-NAME.png: the whole page, or what the window shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=whole)
    return path


def sign_in(page: Page, url: str, token: str = TOKEN) -> None:
    page.goto(f"{url}/console")
    page.get_by_label("Operator token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("navigation", name="Console pages")).to_be_visible()


def chat_turns(url: str, texts: list[str]) -> str:
    """One conversation over the real WebSocket, in a thread of its own (Playwright's sync API
    holds this thread's event loop); its id."""
    found: list[str] = []

    async def talk() -> None:
        async with connect(url) as ws:
            chat = Chat(ws)
            found.append((await chat.start())["conversation_id"])
            for text in texts:
                await chat.say(text, "reply_end", "approval_requested", "error")

    worker = threading.Thread(target=lambda: asyncio.run(talk()))
    worker.start()
    worker.join(timeout=600)
    assert found and not worker.is_alive()
    return found[0]


def test_signing_in_refuses_a_wrong_token_then_opens_the_console(
    ui_server: UiServer, console: Page
) -> None:
    with ui_server(operator_token=TOKEN) as url:
        console.goto(f"{url}/console")
        console.get_by_label("Operator token").fill("not-the-token")
        # The form submits once the page has asked the server whether the console is on.
        expect(console.get_by_role("button", name="Sign in")).to_be_enabled()
        console.get_by_label("Operator token").press("Enter")
        expect(console.get_by_test_id("signin-error")).to_contain_text("not the operator token")
        shot(console, "signin-refused")
        console.get_by_label("Operator token").fill(TOKEN)
        console.get_by_label("Operator token").press("Enter")
        expect(console.get_by_role("heading", name="Approvals")).to_be_visible()
        expect(console.get_by_test_id("empty")).to_contain_text("Nothing waits")
        assert TOKEN not in console.content()  # kept, never shown
        # Kept for the session: a reload stays signed in; signing out forgets it.
        console.reload()
        expect(console.get_by_role("heading", name="Approvals")).to_be_visible()
        shot(console, "approvals-empty")
        console.get_by_test_id("sign-out").click()
        expect(console.get_by_test_id("signin")).to_be_visible()


def test_without_an_operator_token_the_console_says_it_is_off_and_how_to_turn_it_on(
    ui_server: UiServer, console: Page
) -> None:
    with ui_server() as url:
        console.goto(f"{url}/console")
        off = console.get_by_test_id("console-off")
        expect(off).to_contain_text("The operator console is off")
        expect(off).to_contain_text("OPERATOR_TOKEN")
        shot(console, "off")


def test_an_approval_decided_in_the_inbox_updates_the_customers_page(
    ui_server: UiServer, page: Page, console: Page, running_shop: str
) -> None:
    with ui_server(operator_token=TOKEN) as url:
        page.goto(url)
        wait_until_ready(page)
        ask(page, "Cancel order 1042")
        card = page.get_by_test_id("approval-card").last
        expect(card).to_have_attribute("data-status", "pending")

        before = replies(page)
        sign_in(console, url)
        item = console.get_by_test_id("inbox-approval")
        expect(item).to_have_count(1)
        expect(item.get_by_test_id("inbox-summary")).to_contain_text("1042")
        expect(item.get_by_test_id("inbox-args")).to_contain_text('"order_id": 1042')
        expect(item.get_by_test_id("inbox-time-left")).to_contain_text("left")
        messages = item.get_by_test_id("inbox-messages")
        expect(messages).to_contain_text("Customer: Cancel order 1042")  # the last messages
        expect(item).to_contain_text("orders")  # the agent
        shot(console, "approvals")
        item.get_by_role("button", name="Approve").click()
        expect(console.get_by_test_id("empty")).to_contain_text("Nothing waits")

        # The customer's page updates at once: approved, and the order is cancelled.
        expect(card).to_have_attribute("data-status", "approved")
        expect(next_reply(page, before)).to_contain_text("1042")
        assert order_status(running_shop, 1042) == "cancelled"
        shot(page, "customer-after-approval")


def test_a_long_conversation_replays_page_by_page_and_jumps_to_its_approval(
    ui_server: UiServer, console: Page
) -> None:
    with ui_server(
        operator_token=TOKEN, rate_limit_messages_per_minute=0, max_conversation_turns=0
    ) as url:
        texts = [f"What's the status of order {1040 + n % 5}?" for n in range(LONG_TURNS)]
        conversation_id = chat_turns(url, [*texts, "Cancel order 1042"])

        sign_in(console, url)
        console.get_by_role("link", name="Conversations").click()
        row = console.get_by_test_id("conversation-row")
        expect(row).to_have_count(1)
        # Filters: the conversation is open and was not escalated.
        console.get_by_label("Outcome").select_option("resolved")
        console.get_by_role("button", name="Filter").click()
        expect(console.get_by_test_id("empty")).to_contain_text("No conversation matches")
        console.get_by_label("Outcome").select_option("open")
        console.get_by_label("Escalated").select_option("false")
        console.get_by_role("button", name="Filter").click()
        expect(row).to_have_count(1)
        shot(console, "conversations")
        row.get_by_role("link", name=conversation_id).click()

        steps = console.get_by_test_id("replay-step")
        expect(console.get_by_test_id("replay-summary")).to_contain_text(str(LONG_TURNS + 1))
        expect(steps.first).to_have_attribute("data-kind", "customer_message")
        first_page = steps.count()
        assert first_page == 200  # one page, not the whole log
        shot(console, "replay", whole=False)
        # Scrolling to the end reads the next pages.
        console.get_by_test_id("replay-end").scroll_into_view_if_needed()
        expect(steps).not_to_have_count(first_page)
        # Jump to the approval at the very end: a window opened on it, not every page before.
        console.get_by_test_id("replay-jumps").get_by_role("button").first.click()
        approval = console.locator('[data-kind="approval_requested"]')
        expect(approval).to_be_focused()
        expect(approval).to_contain_text("cancel_order")
        expect(approval).to_contain_text('{"order_id":1042}')
        expect(console.get_by_test_id("replay-end")).to_have_attribute("data-complete", "true")
        earlier = console.get_by_role("button", name="Show earlier steps")
        expect(earlier).to_be_visible()
        assert steps.count() <= 600  # the page holds a window, never the whole log
        first_step = steps.first.get_attribute("id")
        earlier.click()
        expect(steps.first).not_to_have_attribute("id", first_step or "")  # earlier steps came
        # Earlier pages also load by themselves while the top is in view, and the window slides
        # (it drops steps from its end past 600): the approval may leave it, never twice in it.
        assert approval.count() <= 1 and steps.count() <= 600
        tool = console.locator('[data-kind="tool_activity"]').filter(has_text="succeeded").first
        expect(tool).to_contain_text("duration")  # and its result
        expect(tool).to_contain_text("result")
        shot(console, "replay-approval", whole=False)


def test_the_shops_spec_imported_in_the_wizard_goes_live_with_a_changed_decision(
    ui_server: UiServer, page: Page, console: Page, running_shop: str, tmp_path: Path
) -> None:
    agents = tmp_path / "agents.yaml"
    agents.write_text(HELP_ONLY, encoding="utf-8")
    with ui_server(operator_token=TOKEN, agents_file=agents) as url:
        sign_in(console, url)
        console.get_by_role("link", name="Import").click()
        console.get_by_label("OpenAPI spec URL").fill(f"{running_shop}/openapi.json")
        console.get_by_role("button", name="Import").click()
        review = console.get_by_test_id("import-review")
        expect(review).to_be_visible()
        rows = console.get_by_test_id("review-row")
        expect(rows).to_have_count(9)
        cancel = console.locator('[data-operation="cancel_order"]')
        expect(cancel).to_have_class("row-write ")
        expect(cancel).to_contain_text("changes state")  # the reason of its access
        expect(console.get_by_test_id("generated-agents")).to_contain_text("Order")

        # One decision changed: returns are off. A write marked read asks to confirm first.
        switch = console.get_by_label("start_return is on")
        switch.click()  # saved first, then shown: the box follows the draft
        expect(switch).not_to_be_checked()
        expect(console.locator('[data-operation="start_return"]')).to_contain_text(
            "changed: relevance"
        )
        console.get_by_label("Access of change_shipping_address").select_option("read")
        expect(console.get_by_test_id("confirm-read")).to_be_visible()
        shot(console, "import-confirm")
        console.get_by_role("button", name="Keep it write").click()
        expect(console.get_by_test_id("generated-agents")).not_to_contain_text("start_return")
        shot(console, "import-review")
        console.get_by_test_id("accept-import").click()
        expect(console.get_by_test_id("import-closed")).to_contain_text("Live: ")

        # A new customer conversation is answered by the imported order agent.
        page.goto(url)
        reply = say(page, "What's the status of order 1042?")
        expect(reply).to_contain_text("1042")
        expect(reply.get_by_test_id("agent-name")).to_have_text("Order")


def test_the_dashboard_has_a_zero_state_then_figures_and_charts_once_customers_chat(
    ui_server: UiServer, console: Page
) -> None:
    with ui_server(operator_token=TOKEN) as url:
        sign_in(console, url)
        console.get_by_role("link", name="Dashboard").click()
        expect(console.get_by_test_id("empty")).to_contain_text(
            "No conversations in this range yet"
        )
        shot(console, "dashboard-empty")

        chat_turns(url, ["What's the status of order 1042?", "Where is order 1043?"])
        chat_turns(url, ["Hello"])
        console.get_by_role("button", name="Refresh").click()
        expect(console.get_by_test_id("card-conversations")).to_contain_text("2")
        expect(console.get_by_test_id("card-turns")).to_contain_text("3")
        for chart in ("chart-series", "chart-agents", "chart-models"):
            expect(console.get_by_test_id(chart).get_by_role("application")).to_be_visible()
        today = datetime.now().date()
        console.get_by_label("From day").fill((today - timedelta(days=1)).isoformat())
        console.get_by_label("To day").fill(today.isoformat())
        console.get_by_role("button", name="Apply range").click()
        expect(console.get_by_role("button", name="Apply range")).to_have_attribute(
            "aria-pressed", "true"
        )
        expect(console.get_by_test_id("card-conversations")).to_contain_text("2")
        console.get_by_role("button", name="7 days").click()
        expect(console.get_by_role("button", name="7 days")).to_have_attribute(
            "aria-pressed", "true"
        )
        with console.expect_download() as download:
            console.get_by_test_id("csv-download").click()
        csv = Path(download.value.path()).read_text()
        assert csv.splitlines()[0].startswith("section,") or "conversations" in csv
        shot(console, "dashboard")

"""The chat embedded in another site with the one-line snippet, in a real browser: the example
shop site (`smart_support.demo.site`) on its own port, the chat server on another, and a third
port that is not in ALLOWED_ORIGINS."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import jwt
import pytest
from playwright.sync_api import FrameLocator, Page, expect
from ui_helpers import say, wait_until_ready

from smart_support.demo.site import create_app as create_site
from smart_support.registry.validate import demo_agents_file
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings

UiServer = Callable[..., AbstractContextManager[str]]

SECRET = "browser-embed-test-secret-0123456789abcdef"
HOSTILE_CSS = "* { font-family: monospace !important; color: red !important; }"
RED = "rgb(255, 0, 0)"


@dataclass
class Sites:
    chat: str  # the chat server
    shop: str  # the example shop site, in ALLOWED_ORIGINS
    other: str  # the same site on an origin that is not


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sites(ui_server: UiServer) -> Iterator[Sites]:
    shop_port, other_port = _free_port(), _free_port()
    with ui_server(
        agents_file=demo_agents_file(),
        identity_secret=SECRET,
        allowed_origins=[f"http://127.0.0.1:{shop_port}", f"http://localhost:{shop_port}"],
    ) as chat:
        unused = Settings(_env_file=None)  # the site is its own app: settings are not read
        with (
            serve_in_thread(unused, port=shop_port, app=create_site(chat, SECRET)) as shop,
            serve_in_thread(unused, port=other_port, app=create_site(chat, SECRET)) as other,
        ):
            yield Sites(chat=chat, shop=shop, other=other)


def sign_in(page: Page, site: str, email: str) -> None:
    page.goto(f"{site}/login")
    page.locator(f'[data-testid="shop-customer"][data-email="{email}"]').click()
    expect(page.get_by_test_id("shop-account")).to_contain_text("Signed in as")


def open_chat(page: Page) -> FrameLocator:
    launcher = page.locator("[data-smart-support] button")
    expect(launcher).to_have_attribute("aria-expanded", "false")
    launcher.click()
    expect(launcher).to_have_attribute("aria-expanded", "true")
    expect(page.locator("[data-smart-support] iframe")).to_be_visible()
    return page.frame_locator("[data-smart-support] iframe")


def maya_token() -> str:
    claims = {"sub": "1", "email": "maya.chen@example.com", "name": "Maya Chen"}
    return jwt.encode({**claims, "exp": time.time() + 600}, SECRET, algorithm="HS256")


def test_a_signed_in_shop_visitor_opens_the_launcher_and_chats_verified(
    sites: Sites, page: Page, screenshot: Callable[[str], Path]
) -> None:
    sign_in(page, sites.shop, "maya.chen@example.com")
    # Nothing of the chat loads until the visitor opens it.
    expect(page.locator("[data-smart-support] iframe")).to_have_count(0)
    chat = open_chat(page)
    wait_until_ready(chat)
    expect(chat.get_by_test_id("customer")).to_have_text("Signed in as Maya Chen")
    expect(chat.get_by_test_id("customer")).to_have_attribute("data-verified", "true")
    reply = say(chat, "What's the status of order 1042?")
    expect(reply).to_contain_text("processing")
    screenshot("embed-signed-in")
    # The launcher closes the panel again.
    page.locator("[data-smart-support] button").click()
    expect(page.locator("[data-smart-support] iframe")).to_be_hidden()


def test_on_another_site_than_the_chats_where_the_browser_denies_the_iframe_storage(
    sites: Sites, page: Page
) -> None:
    """localhost and 127.0.0.1 are different sites: headless chromium denies the chat's iframe
    its local storage there (as browsers blocking third-party storage do)."""
    shop = sites.shop.replace("127.0.0.1", "localhost")
    sign_in(page, shop, "maya.chen@example.com")
    chat = open_chat(page)
    wait_until_ready(chat)
    expect(chat.get_by_test_id("customer")).to_have_text("Signed in as Maya Chen")
    expect(say(chat, "What's the status of order 1042?")).to_contain_text("processing")
    frame = next(f for f in page.frames if f.url.startswith(sites.chat))
    denied = frame.evaluate(
        "() => { try { localStorage.length; return false } catch { return true } }"
    )
    assert denied, "the browser let the iframe use its storage: this test no longer tests that"


def test_a_visitor_who_is_not_signed_in_chats_anonymously_and_is_asked_to_verify(
    sites: Sites, page: Page
) -> None:
    page.goto(sites.shop)
    chat = open_chat(page)
    wait_until_ready(chat)
    expect(chat.get_by_test_id("customer")).to_have_attribute("data-verified", "false")
    expect(say(chat, "What's the status of order 1042?")).to_contain_text(
        "email address on your account"
    )


def test_the_host_pages_styles_do_not_reach_the_chat_nor_the_chats_the_host(
    sites: Sites, page: Page, screenshot: Callable[[str], Path]
) -> None:
    sign_in(page, sites.shop, "maya.chen@example.com")
    page.add_style_tag(content=HOSTILE_CSS)
    probe = """() => [...document.querySelectorAll('h1, .lead, .product, body')].map((e) => {
        const s = getComputedStyle(e);
        return [s.fontFamily, s.color, s.boxSizing, s.margin, s.backgroundColor].join('|');
    })"""
    host_before = page.evaluate(probe)
    assert all("monospace" in entry and RED in entry for entry in host_before)
    chat = open_chat(page)
    wait_until_ready(chat)
    say(chat, "What's the status of order 1042?")

    def style(selector: str, name: str) -> str:
        return chat.locator(selector).first.evaluate(f"(e) => getComputedStyle(e).{name}")

    for selector in ("h1", "[data-testid=message-agent]", "[data-testid=customer]"):
        assert "monospace" not in style(selector, "fontFamily"), selector
        assert style(selector, "color") != RED, selector
    # The chat's own rules (`* { box-sizing: border-box }`, `body { margin: 0 }`) stay in it.
    assert page.evaluate(probe) == host_before
    assert page.evaluate("getComputedStyle(document.querySelector('.product')).boxSizing") == (
        "content-box"
    )
    screenshot("embed-hostile-css")


def test_a_page_on_an_origin_not_allowed_cannot_frame_the_chat(sites: Sites, page: Page) -> None:
    refusals: list[str] = []
    page.on("console", lambda message: refusals.append(message.text))
    page.goto(sites.other)
    open_chat(page)
    frame = page.locator("[data-smart-support] iframe").element_handle()
    assert frame is not None
    expect(page.get_by_test_id("shop-account")).to_be_visible()
    deadline = time.monotonic() + 30  # a hang guard
    while not any("frame-ancestors" in text for text in refusals):
        assert time.monotonic() < deadline, refusals
        page.wait_for_timeout(100)
    content = frame.content_frame()
    assert content is None or content.query_selector("[data-testid=chat-log]") is None
    # The same chat, on the allowed shop's page, is framed.
    page.goto(sites.shop)
    wait_until_ready(open_chat(page))


def test_an_identity_posted_by_a_page_not_allowed_is_ignored(sites: Sites, page: Page) -> None:
    """A page of another origin that opens the chat itself (not framed: a pop-up) and posts a
    valid signed identity to it, claiming in the address to be the allowed shop."""
    page.goto(sites.other)
    with page.expect_popup() as opened:
        page.evaluate(
            "([url]) => { window.chat = window.open(url, 'chat'); }",
            [f"{sites.chat}/?embed=1&origin={sites.shop}"],
        )
    popup = opened.value
    message = {"type": "smart-support:identity", "identity": maya_token()}
    for _ in range(20):  # before, while and after the chat decides who it is for
        page.evaluate("([m, o]) => window.chat.postMessage(m, o)", [message, sites.chat])
        page.wait_for_timeout(200)
    wait_until_ready(popup)
    expect(popup.get_by_test_id("customer")).to_have_attribute("data-verified", "false")
    expect(say(popup, "What's the status of order 1042?")).to_contain_text(
        "email address on your account"
    )


def test_a_refused_identity_says_so_and_the_visitor_can_go_on_anonymously(
    sites: Sites, page: Page
) -> None:
    page.goto(sites.shop)
    forged = jwt.encode(
        {"sub": "1", "email": "maya.chen@example.com", "exp": time.time() + 600},
        "not-the-chats-secret-" * 3,
        algorithm="HS256",
    )
    page.wait_for_function("() => window.SmartSupport !== undefined")
    page.evaluate("(token) => window.SmartSupport.identify(token)", forged)
    chat = open_chat(page)
    alert = chat.get_by_role("alert")
    expect(alert).to_contain_text("reload")
    shown = (alert.text_content() or "").lower()
    assert "signature" not in shown and "jwt" not in shown and "token" not in shown, shown
    expect(chat.get_by_test_id("customer")).to_have_count(0)  # no conversation
    chat.get_by_test_id("continue-anonymously").click()
    wait_until_ready(chat)
    expect(chat.get_by_test_id("customer")).to_have_attribute("data-verified", "false")


def test_the_snippet_is_one_line_served_by_the_chat_server(sites: Sites, page: Page) -> None:
    page.goto(sites.shop)
    scripts = page.locator("script[src]")
    expect(scripts).to_have_count(1)
    assert scripts.first.get_attribute("src") == f"{sites.chat}/embed.js"
    assert scripts.first.get_attribute("async") is not None
    assert scripts.first.get_attribute("data-identity") is None  # nobody signed in

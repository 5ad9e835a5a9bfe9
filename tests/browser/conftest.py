"""A real browser (Debian's chromium, headless, driven by Playwright) against the real chat server.

Playwright never downloads a browser here: it launches /usr/bin/chromium (`make system-deps`).
The browser may only resolve loopback (127.0.0.1, and localhost to it), so nothing in the UI can
reach the internet.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from chat_client import server_settings
from shop_fixture import running_shop, shop_process  # noqa: F401
from smart_support.server.app import STATIC_DIR
from smart_support.server.background import serve_in_thread

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    # Only loopback: 127.0.0.1, and localhost as 127.0.0.1 (another site than 127.0.0.1).
    "--host-resolver-rules=MAP localhost 127.0.0.1, MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]


def _ensure_ui_built() -> None:
    """Build the web UI once if it is missing (the test fails if it cannot be built)."""
    if (STATIC_DIR / "index.html").is_file():
        return
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("the web UI is not built and npm is missing: run `make web`")
    web = ROOT / "web"
    if not (web / "node_modules").is_dir():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=web, check=True)
    subprocess.run([npm, "run", "build"], cwd=web, check=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module scope, not session: Playwright's sync API keeps an event loop running in this thread
    # while it is open, which would break every asyncio test collected after the browser tests.
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} not found: run `make system-deps` (apt-get install chromium)")
    _ensure_ui_built()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 520, "height": 820})
    page = context.new_page()
    page.set_default_timeout(30_000)  # a hang guard, not a timed assertion
    yield page
    context.close()


@pytest.fixture
def console(browser: Browser) -> Iterator[Page]:
    """A second, wider browser window for the operator (the customer keeps `page`)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    operator = context.new_page()
    operator.set_default_timeout(30_000)
    yield operator
    context.close()


UiServer = Callable[..., AbstractContextManager[str]]


@pytest.fixture
def ui_server(sqlite_url: str, running_shop: str) -> UiServer:  # noqa: F811
    """Start the chat server (serving the built UI) with extra settings / app options."""

    def start(*, app_options: dict[str, Any] | None = None, port: int = 0, **settings: Any):
        return serve_in_thread(
            server_settings(sqlite_url, running_shop, **settings),
            port=port,
            **(app_options or {}),
        )

    return start


@pytest.fixture
def chat_page(ui_server: UiServer, page: Page) -> Iterator[Page]:
    with ui_server() as url:
        page.goto(url)
        yield page


@pytest.fixture
def screenshot(page: Page) -> Callable[[str], Path]:
    """Save the page as test-artifacts/screenshots/NAME.png (gitignored)."""

    def take(name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take

"""The demo shop for `smart-support chat`: use the running one, or start one for the session.

The demo agents call the shop at SHOP_URL (127.0.0.1:8001 by default), a loopback address the
egress guard refuses unless allowlisted. With the demo agents the chat therefore allowlists the
shop's own host:port (as `smart-support demo` does) and, when nothing answers there, starts the
shop as a child process that stops with the chat.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import sys
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

from smart_support.demo.launcher import demo_settings
from smart_support.egress import EgressRefused, HTTPError, fetch
from smart_support.errors import ConfigError
from smart_support.settings import Settings

log = logging.getLogger("smart_support.demo")

#: Seconds a freshly started shop gets to answer /health.
START_TIMEOUT = 30.0


class ShopNotRunning(ConfigError):
    """The demo shop is not reachable at SHOP_URL and could not be started here."""


async def shop_is_up(settings: Settings) -> bool:
    """Whether the demo shop answers GET /health at SHOP_URL (through the egress guard)."""
    try:
        response = await fetch(settings.shop_url.rstrip("/") + "/health", settings)
    except (EgressRefused, HTTPError, OSError):
        return False
    if response.status_code != 200:
        return False
    try:
        return bool(response.json().get("status") == "ok")
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@asynccontextmanager
async def demo_shop(
    settings: Settings, *, announce: Callable[[str], object] = print
) -> AsyncIterator[Settings]:
    """Yield the settings with the shop allowlisted, the shop answering at SHOP_URL.

    A shop that already runs is used as it is. Otherwise, for a loopback SHOP_URL, one is started
    (`smart-support shop --host H --port P`) and stopped on exit; `announce` gets one line saying
    so.

    Raises:
        ShopNotRunning: Nothing answers at SHOP_URL and no shop could be started there; the
            message is one line saying what to run.
    """
    settings = demo_settings(settings)
    if await shop_is_up(settings):
        yield settings
        return
    parts = urlsplit(settings.shop_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    hint = f"start it with `smart-support shop --host {host} --port {port}` in another terminal"
    if not _is_loopback(host):
        raise ShopNotRunning(f"the demo shop does not answer at {settings.shop_url}: {hint}")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "smart_support.cli",
        "shop",
        "--host",
        host,
        "--port",
        str(port),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        if not await _wait_until_up(settings, process):
            raise ShopNotRunning(
                f"the demo shop is not running at {settings.shop_url} and did not start: {hint}"
            )
        if process.returncode is None:
            announce(f"started the demo shop on {settings.shop_url} (it stops with this chat)")
        yield settings
    finally:
        await _stop(process)


async def _wait_until_up(settings: Settings, process: asyncio.subprocess.Process) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if await shop_is_up(settings):
            return True
        if process.returncode is not None:
            # It could not bind: maybe another chat started a shop there meanwhile.
            return await shop_is_up(settings)
        await asyncio.sleep(0.2)
    return False


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), timeout=10)
    except TimeoutError:
        log.warning("the demo shop did not stop; killing it")
        process.kill()
        await process.wait()

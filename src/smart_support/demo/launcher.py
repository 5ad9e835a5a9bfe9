"""`smart-support demo`: the demo shop API and the chat server in one command.

The shop runs as its own process (it is "the business's API"); the chat server runs here with the
shop's address allowlisted in the egress guard, SQLite and, without an API key, the offline model.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from urllib.parse import urlsplit

from smart_support.settings import Settings

log = logging.getLogger("smart_support.demo")


def _wait_for_port(host: str, port: int, process: subprocess.Popen[bytes], seconds: float) -> bool:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        with socket.socket() as sock:
            sock.settimeout(0.5)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.2)
    return False


def demo_settings(settings: Settings) -> Settings:
    """The settings with the demo shop's host:port allowed through the egress guard."""
    parts = urlsplit(settings.shop_url)
    entry = f"{parts.hostname}:{parts.port or 80}"
    allow = list(dict.fromkeys([*settings.egress_allowlist, entry]))
    return settings.model_copy(update={"egress_allowlist": allow})


def run_demo(settings: Settings) -> int:
    """Start the shop, then serve the chat at http://HOST:PORT until interrupted."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = demo_settings(settings)
    parts = urlsplit(settings.shop_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    shop = subprocess.Popen(
        [sys.executable, "-m", "smart_support.cli", "shop", "--host", host, "--port", str(port)]
    )
    try:
        if not _wait_for_port(host, port, shop, 30):
            print(f"error: the demo shop did not start on {host}:{port}", file=sys.stderr)
            return 1
        print(f"demo shop API on {settings.shop_url} (docs: {settings.shop_url}/docs)")
        print(f"model: {settings.resolved_provider()}; database: {settings.database_url}")
        print(f"chat on http://{settings.host}:{settings.port}")
        from smart_support.server import serve

        serve(settings)
        return 0
    except KeyboardInterrupt:
        return 0
    finally:
        shop.terminate()
        try:
            shop.wait(timeout=10)
        except subprocess.TimeoutExpired:
            shop.kill()

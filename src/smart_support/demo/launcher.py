"""`smart-support demo`: the demo shop API and the chat server in one command.

The shop runs as its own process (it is "the business's API"); the chat server runs here with the
shop's address allowlisted in the egress guard, SQLite and, without an API key, the offline model.
"""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import time
from urllib.parse import urlsplit

from pydantic import SecretStr

from smart_support.errors import ConfigError
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


#: The chat's first words in the demo (WELCOME_MESSAGE overrides them).
DEMO_WELCOME = (
    "Hi! I can check orders, answer questions about shipping and returns, and make changes for"
    " you, always with your approval.\n\nTry \u201cWhat's the status of order 1042?\u201d"
)


def demo_settings(settings: Settings) -> Settings:
    """The settings with the demo shop's host:port allowed through the egress guard, the
    demo's welcome text unless WELCOME_MESSAGE is set, and the customer picker on (signing
    with a random IDENTITY_SECRET unless one is set)."""
    parts = urlsplit(settings.shop_url)
    entry = f"{parts.hostname}:{parts.port or 80}"
    allow = list(dict.fromkeys([*settings.egress_allowlist, entry]))
    update: dict[str, object] = {"egress_allowlist": allow, "demo_identities": True}
    if "welcome_message" not in settings.model_fields_set:
        update["welcome_message"] = DEMO_WELCOME
    if settings.identity_secret is None:  # the picker signs demo identities with it
        update["identity_secret"] = SecretStr(secrets.token_hex(32))
    return settings.model_copy(update=update)


def run_demo(settings: Settings) -> int:
    """Start the shop, then serve the chat at http://HOST:PORT until interrupted."""
    from smart_support.server import bind, serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = demo_settings(settings)
    parts = urlsplit(settings.shop_url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    # Both addresses first: a busy port is one line, before anything starts.
    try:
        chat_socket = bind(settings.host, settings.port)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        bind(host, port).close()
    except ConfigError:
        chat_socket.close()
        print(
            f"error: the demo shop's address {host}:{port} is already in use: stop what runs"
            " there or set SHOP_URL to another address",
            file=sys.stderr,
        )
        return 2
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
        serve(settings, chat_socket)
        return 0
    except KeyboardInterrupt:
        return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        chat_socket.close()
        shop.terminate()
        try:
            shop.wait(timeout=10)
        except subprocess.TimeoutExpired:
            shop.kill()

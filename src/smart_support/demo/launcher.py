"""`smart-support demo`: the demo shop API, the chat server and an example shop site in one command.

The shop runs as its own process (it is "the business's API"); the chat server runs here with the
shop's address allowlisted in the egress guard, SQLite and, without an API key, the offline model.
The example site (`smart_support.demo.site`, port 8002) is a web page on another origin that
embeds the chat with the one-line snippet: its origins are added to ALLOWED_ORIGINS and it signs
its signed-in customers' identities with the chat's IDENTITY_SECRET.
"""

from __future__ import annotations

import logging
import os
import secrets
import subprocess
import sys
import time
from urllib.parse import urlsplit

from pydantic import SecretStr

from smart_support.errors import ConfigError
from smart_support.settings import Settings

#: The example shop site's port unless --site-port says otherwise.
SITE_PORT = 8002

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


def demo_settings(settings: Settings, site_port: int | None = None) -> Settings:
    """The settings with the demo shop's host:port allowed through the egress guard, the
    demo's welcome text unless WELCOME_MESSAGE is set, the customer picker on (signing
    with a random IDENTITY_SECRET unless one is set) and, with `site_port`, the example
    site's origins added to ALLOWED_ORIGINS."""
    parts = urlsplit(settings.shop_url)
    entry = f"{parts.hostname}:{parts.port or 80}"
    allow = list(dict.fromkeys([*settings.egress_allowlist, entry]))
    update: dict[str, object] = {"egress_allowlist": allow, "demo_identities": True}
    if site_port is not None:
        from smart_support.demo.site import site_origins  # the web app only when it is run

        origins = site_origins(settings.host, site_port)
        update["allowed_origins"] = list(dict.fromkeys([*settings.allowed_origins, *origins]))
    if "welcome_message" not in settings.model_fields_set:
        update["welcome_message"] = DEMO_WELCOME
    if settings.identity_secret is None:  # the picker signs demo identities with it
        update["identity_secret"] = SecretStr(secrets.token_hex(32))
    if not settings.operator_token:  # the operator console (/console) needs one
        update["operator_token"] = secrets.token_urlsafe(24)
    return settings.model_copy(update=update)


def _browser_host(host: str) -> str:
    """The name a browser on this machine reaches a server listening on `host` by."""
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def _start_site(settings: Settings, port: int) -> subprocess.Popen[bytes]:
    """The example site as its own process (another origin, as a real shop's site would be);
    the secret goes by environment, not on the command line where `ps` shows it."""
    assert settings.identity_secret is not None  # demo_settings sets one
    env = {**os.environ, "IDENTITY_SECRET": settings.identity_secret.get_secret_value()}
    chat_url = f"http://{_browser_host(settings.host)}:{settings.port}"
    command = [sys.executable, "-m", "smart_support.demo.site", "--host", settings.host]
    command += ["--port", str(port), "--chat-url", chat_url]
    return subprocess.Popen(command, env=env)


def _stop(process: subprocess.Popen[bytes] | None) -> None:
    if process is None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()


def run_demo(settings: Settings, site_port: int | None = SITE_PORT) -> int:
    """Start the shop and the example site, then serve the chat at http://HOST:PORT until
    interrupted. `site_port=None` leaves the example site out."""
    from smart_support.server import bind, serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    made_token = not settings.operator_token
    settings = demo_settings(settings, site_port)
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
    if site_port is not None:
        try:
            bind(settings.host, site_port).close()
        except ConfigError:
            chat_socket.close()
            print(
                f"error: the example site's address {settings.host}:{site_port} is already in"
                " use: stop what runs there, choose another with --site-port or leave the site"
                " out with --no-site",
                file=sys.stderr,
            )
            return 2
    site: subprocess.Popen[bytes] | None = None
    shop = subprocess.Popen(
        [sys.executable, "-m", "smart_support.cli", "shop", "--host", host, "--port", str(port)]
    )
    try:
        if not _wait_for_port(host, port, shop, 30):
            print(f"error: the demo shop did not start on {host}:{port}", file=sys.stderr)
            return 1
        print(f"demo shop API on {settings.shop_url} (docs: {settings.shop_url}/docs)")
        if site_port is not None:
            site = _start_site(settings, site_port)
            if not _wait_for_port(settings.host, site_port, site, 30):
                print(f"error: the example site did not start on port {site_port}", file=sys.stderr)
                return 1
            site_url = f"http://{_browser_host(settings.host)}:{site_port}"
            print(f"example shop site embedding the chat on {site_url}")
        print(f"model: {settings.resolved_provider()}; database: {settings.database_url}")
        print(f"chat on http://{settings.host}:{settings.port}")
        console = f"http://{_browser_host(settings.host)}:{settings.port}/console"
        if made_token:  # the person running the demo signs in with it; it lives for this run
            print(f"operator console on {console} (token for this run: {settings.operator_token})")
        else:
            print(f"operator console on {console} (sign in with your OPERATOR_TOKEN)")
        serve(settings, chat_socket)
        return 0
    except KeyboardInterrupt:
        return 0
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        chat_socket.close()
        _stop(site)
        _stop(shop)

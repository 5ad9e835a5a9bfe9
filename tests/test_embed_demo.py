"""`smart-support demo` with the example shop site: one command starts the shop API, the chat and
a site on another port whose page embeds the chat with a signed identity the chat accepts."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from chat_client import Chat, connect


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen[str]) -> httpx.Response:
    for _ in range(600):  # a hang guard: start-up opens the engine
        assert process.poll() is None, "the demo stopped"
        try:
            return httpx.get(url, timeout=1)
        except httpx.TransportError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


def test_the_demo_starts_the_example_site_allowed_to_embed_the_chat(tmp_path: Path) -> None:
    chat, shop, site = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "LLM_PROVIDER": "offline",
    }
    env.pop("IDENTITY_SECRET", None)
    env.pop("ALLOWED_ORIGINS", None)
    command = [sys.executable, "-m", "smart_support.cli", "demo", "--port", str(chat)]
    command += ["--shop-port", str(shop), "--site-port", str(site)]
    demo = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        wait_for(f"http://127.0.0.1:{chat}/healthz", demo)
        info = httpx.get(f"http://127.0.0.1:{chat}/api/v1/info").json()
        csp = httpx.get(f"http://127.0.0.1:{chat}/").headers["content-security-policy"]
        with httpx.Client(base_url=f"http://127.0.0.1:{site}") as browser:
            browser.post("/login", data={"customer_id": "1"})
            page = browser.get("/").text
        order = httpx.get(f"http://127.0.0.1:{shop}/orders/1042").json()
        token = re.search(r'data-identity="([^"]+)"', page)
        assert token, page
        # The site's identity is one the chat accepts: its secret is the chat's (random, shared).
        conversation = asyncio.run(start_with(f"http://127.0.0.1:{chat}", token.group(1)))
    finally:
        demo.send_signal(signal.SIGINT)
        out, _ = demo.communicate(timeout=60)

    origins = [f"http://127.0.0.1:{site}", f"http://localhost:{site}"]
    assert info["allowed_origins"] == origins
    assert f"frame-ancestors 'self' {' '.join(origins)}" in csp
    assert f'<script src="http://127.0.0.1:{chat}/embed.js" data-identity="' in page
    assert order["id"] == 1042
    assert f"http://127.0.0.1:{site}" in out  # the demo says where the site is
    assert (conversation["type"], conversation["verified"]) == ("conversation", True)
    assert conversation["customer"] == "Maya Chen"


async def start_with(url: str, identity: str) -> dict[str, Any]:
    async with connect(url) as ws:
        chat = Chat(ws)
        await chat.send(type="start", identity=identity)
        return await chat.recv()

"""A thin WebSocket client of the chat server and the settings the server tests run it with,
for the server, fuzz and browser tests (the fixtures that start it are in `server_fixture`)."""

from __future__ import annotations

import asyncio
import functools
import json
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import websockets
import yaml
from websockets.asyncio.client import ClientConnection

from smart_support.settings import Settings

#: Guards against a hang only; no assertion depends on how long anything takes.
WAIT = 30.0


@functools.cache
def anonymous_agents_file() -> Path:
    """The demo agents without their identity rules (verification tool, owner checks, bound
    arguments): these tests are about the chat server, so an anonymous visitor may look up
    and change order 1042 here. Made from the real demo file, so it cannot drift from it."""
    from smart_support.registry.validate import demo_agents_file

    doc = yaml.safe_load(demo_agents_file().read_text(encoding="utf-8"))
    doc.pop("identity", None)
    for agent in doc["agents"]:
        agent["tools"] = [
            {k: v for k, v in tool.items() if k not in ("owner", "bind", "needs_customer")}
            for tool in agent.get("tools", [])
            if not str(tool.get("python", "")).endswith(":verify_customer")
        ]
    path = Path(tempfile.mkdtemp(prefix="smart-support-tests-")) / "agents.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def server_settings(database_url: str, shop_url: str, **extra: Any) -> Settings:
    parts = urlsplit(shop_url)
    extra.setdefault("agents_file", anonymous_agents_file())
    return Settings(
        database_url=database_url,
        llm_provider="offline",
        shop_url=shop_url,
        egress_allowlist=[f"{parts.hostname}:{parts.port}"],
        **extra,
    )


ServerFactory = Callable[..., AbstractContextManager[str]]


class Chat:
    """A thin JSON layer over a websockets client connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws

    async def send(self, **frame: Any) -> None:
        await self.ws.send(json.dumps(frame))

    async def recv(self) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.ws.recv(), WAIT))

    async def until(self, *types: str) -> list[dict[str, Any]]:
        """Frames up to and including the first one of `types`."""
        frames = []
        while True:
            frame = await self.recv()
            frames.append(frame)
            if frame["type"] in types:
                return frames

    async def start(self) -> dict[str, Any]:
        await self.send(type="start")
        frame = await self.recv()
        assert frame["type"] == "conversation", frame
        return frame

    async def say(self, text: str, *until: str) -> list[dict[str, Any]]:
        await self.send(type="message", text=text)
        return await self.until(*(until or ("reply_end", "error")))


def ws_url(base: str) -> str:
    return base.replace("http://", "ws://") + "/ws/v1"


def connect(base: str, **options: Any) -> Any:
    return websockets.connect(ws_url(base), open_timeout=WAIT, **options)


def of_type(frames: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [f for f in frames if f["type"] == kind]


async def cancel_order_1042(chat: Chat) -> dict[str, Any]:
    frames = await chat.say("Cancel order 1042", "approval_requested", "reply_end", "error")
    request = frames[-1]
    assert request["type"] == "approval_requested", frames
    assert of_type(frames, "tool_activity")[-1]["label"] == "Preparing the change"
    return request


async def order_status(shop_url: str, order_id: int) -> str:
    async with httpx.AsyncClient(base_url=shop_url) as client:
        response = await client.get(f"/orders/{order_id}")
        response.raise_for_status()
        return str(response.json()["status"])

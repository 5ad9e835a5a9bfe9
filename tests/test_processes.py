"""Several server processes on one PostgreSQL database (issue 15, item 2): real `smart-support
serve` processes, real sockets. A conversation started on one process and continued on another,
its approval decided through a third: every socket following it sees every event once, in order,
whichever process made it. With SQLite, `--workers` above 1 is refused in one line.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from chat_client import WAIT, Chat, anonymous_agents_file, connect, of_type, ws_url
from shop_fixture import free_port
from smart_support.runtime.approvals import UNKNOWN

OPERATOR = "op-secret-token-for-processes"


def server_env(database_url: str, shop_url: str) -> dict[str, str]:
    parts = urlsplit(shop_url)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "LLM_PROVIDER": "offline",
        "SHOP_URL": shop_url,
        "EGRESS_ALLOWLIST": f"{parts.hostname}:{parts.port}",
        "AGENTS_FILE": str(anonymous_agents_file()),
        "OPERATOR_TOKEN": OPERATOR,
        "RATE_LIMIT_MESSAGES_PER_MINUTE": "0",
    }
    return env


@dataclass
class Server:
    """One `smart-support serve` process and its base URL."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path


def start_serve(env: dict[str, str], log: Path, *options: str, ready_lines: int = 1) -> Server:
    """`smart-support serve` on a free loopback port, once `/healthz` answers and the log says
    `ready_lines` workers completed their start-up."""
    port = free_port()
    command = [sys.executable, "-m", "smart_support.cli", "serve", *options]
    with log.open("wb") as stderr:
        process = subprocess.Popen(
            [*command, "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    for _ in range(900):  # guards against a hang only
        text = log.read_text(encoding="utf-8", errors="replace")
        if process.poll() is not None:
            raise AssertionError(f"serve exited ({process.returncode}):\n{text}")
        if text.count("Application startup complete") >= ready_lines and _healthy(server.url):
            return server
        time.sleep(0.1)
    stop(server)
    raise AssertionError(f"serve did not start:\n{text}")


def stop(server: Server) -> None:
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(60)


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=2).status_code == 200
    except httpx.TransportError:
        return False


@pytest.fixture(params=["postgres", "redis"])
def three_servers(
    request: pytest.FixtureRequest, pg_url: str, running_shop: str, tmp_path: Path
) -> Iterator[list[Server]]:
    """Three processes on one database; live events by LISTEN/NOTIFY, or through Redis."""
    env = server_env(pg_url, running_shop)
    if request.param == "redis":
        env["REDIS_URL"] = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
        env["REDIS_CHANNEL"] = f"smart-support-test:{uuid.uuid4().hex}"
    servers: list[Server] = []
    try:
        for n in range(3):
            servers.append(start_serve(env, tmp_path / f"server-{n}.log"))
        yield servers
    finally:
        for server in servers:
            stop(server)


class Follower:
    """A socket following a conversation: every frame it got after attaching, in order."""

    def __init__(self, ws: Any) -> None:
        self.chat = Chat(ws)
        self.frames: list[dict[str, Any]] = []

    async def until(self, kind: str, count: int = 1) -> None:
        """Read until `count` frames of `kind` have come since attaching."""
        while len(of_type(self.frames, kind)) < count:
            self.frames.append(await self.chat.recv())


def live(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation's events as a socket shows them (no socket-specific frames)."""
    return [f for f in frames if f["type"] not in ("pong", "transcript", "conversation")]


async def test_a_conversation_across_three_processes_reaches_every_socket_once_in_order(
    three_servers: list[Server], running_shop: str, request: pytest.FixtureRequest
) -> None:
    asked = request.node.callspec.params["three_servers"]  # the fan-out: postgres or redis
    one, two, three = (s.url for s in three_servers)
    async with connect(one) as ws_one, connect(two) as ws_two:
        first, second = Follower(ws_one), Follower(ws_two)
        started = await first.chat.start()
        await second.chat.send(
            type="resume", conversation_id=started["conversation_id"], token=started["token"]
        )
        await second.until("transcript")
        second.frames.clear()
        # Started on the first process...
        await first.chat.send(type="message", text="What's the status of order 1042?")
        await first.until("reply_end")
        await second.until("reply_end")
        # ...continued on the second...
        await second.chat.send(type="message", text="Cancel order 1042")
        await second.until("approval_requested")
        await first.until("approval_requested")
        [request] = of_type(second.frames, "approval_requested")
        # ...and its approval decided on the third, which resumes the paused step.
        async with httpx.AsyncClient(
            base_url=three, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=WAIT
        ) as api:
            decided = await api.post(
                f"/api/v1/operator/approvals/{request['approval_id']}/decision",
                json={"decision": "approve", "operator": "ana"},
            )
            assert decided.status_code == 200, decided.text
            for follower in (first, second):
                await follower.until("reply_end", 2)
            transcript = await api.get(
                f"/api/v1/conversations/{started['conversation_id']}/transcript",
                headers={"X-Conversation-Token": started["token"]},
            )
        # Nothing more is coming: a ping is answered after anything still queued.
        for follower in (first, second):
            await follower.chat.send(type="ping")
            await follower.until("pong")

    assert live(first.frames) == live(second.frames)
    frames = live(first.frames)
    kinds = [f["type"] for f in frames]
    assert kinds.count("message_accepted") == 2 and kinds.count("reply_end") == 2
    assert kinds.count("approval_requested") == 1 and kinds.count("approval_resolved") == 1
    [resolved] = of_type(frames, "approval_resolved")
    assert resolved["status"] == "approved" and resolved["decided_by"] == "operator:ana"
    # The order the sockets saw is the order of the event log, whichever process wrote it.
    stored = [e["kind"] for e in transcript.json()["events"]]
    seen = [k for k in kinds if k in set(stored)]
    assert [k for k in stored if k in set(seen)] == seen
    async with httpx.AsyncClient(base_url=running_shop) as shop:
        assert (await shop.get("/orders/1042")).json()["status"] == "cancelled"
    carriers = {
        carrier
        for server in three_servers
        for carrier in ("PostgreSQL", "Redis")
        if f"live events through {carrier}" in server.log.read_text(encoding="utf-8")
    }
    assert carriers == {"Redis" if asked == "redis" else "PostgreSQL"}


async def test_an_operator_socket_on_one_process_sees_approvals_made_on_another(
    three_servers: list[Server],
) -> None:
    one, two, _ = (s.url for s in three_servers)
    console_url = two.replace("http://", "ws://", 1) + "/ws/v1/operator"
    async with websockets.connect(
        console_url, additional_headers={"Authorization": f"Bearer {OPERATOR}"}, open_timeout=WAIT
    ) as console:
        operator = Follower(console)
        await operator.until("operator_ready")
        async with connect(one) as ws:
            customer = Follower(ws)
            await customer.chat.start()
            await customer.chat.send(type="message", text="Cancel order 1042")
            await customer.until("approval_requested")
            await operator.until("approval_requested")
            [request] = of_type(customer.frames, "approval_requested")
            await customer.chat.send(
                type="decision", approval_id=request["approval_id"], decision="reject"
            )
            await operator.until("approval_resolved")
    [requested] = of_type(operator.frames, "approval_requested")
    [resolved] = of_type(operator.frames, "approval_resolved")
    assert requested["approval_id"] == resolved["approval_id"] == request["approval_id"]
    assert resolved["status"] == "rejected" and resolved["decided_by"] == "customer"


def test_serve_with_several_workers_on_sqlite_is_refused_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'one.db'}"}
    command = [sys.executable, "-m", "smart_support.cli", "serve", "--workers", "2"]
    result = subprocess.run(
        [*command, "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: --workers 2 needs PostgreSQL (DATABASE_URL=postgresql://...): a SQLite database"
        " is served by one process; run without --workers"
    ]
    assert not (tmp_path / "one.db").exists()  # refused before anything was opened


@pytest.fixture
def two_workers(pg_url: str, running_shop: str, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """`smart-support serve --workers 2` on a free port, once both workers are up; its URL
    and the file its log goes to."""
    log = tmp_path / "workers.log"
    env = server_env(pg_url, running_shop)
    server = start_serve(env, log, "--workers", "2", ready_lines=2)
    try:
        yield server.url, log
    finally:
        stop(server)


async def test_serve_with_two_workers_shares_one_port_and_one_conversation(
    two_workers: tuple[str, Path],
) -> None:
    url, log = two_workers
    async with connect(url) as ws:
        customer = Follower(ws)
        started = await customer.chat.start()
        # Sockets on the one port land on either worker; each follows the one conversation and
        # sees the reply to a message sent on the first, whichever worker ran the turn.
        followers = []
        for _ in range(6):
            follower = Follower(await websockets.connect(ws_url(url), open_timeout=WAIT))
            await follower.chat.send(
                type="resume", conversation_id=started["conversation_id"], token=started["token"]
            )
            await follower.until("transcript")
            followers.append(follower)
        await customer.chat.send(type="message", text="What's the status of order 1042?")
        await customer.until("reply_end")
        for follower in followers:
            await follower.until("reply_end")
            await follower.chat.ws.close()
    expected = [f for f in live(customer.frames) if f["type"] != "token"]
    assert [f["type"] for f in expected][-1] == "reply_end"
    for follower in followers:
        assert [f for f in live(follower.frames) if f["type"] != "token"] == expected
    assert len(_worker_pids(log.read_text(encoding="utf-8"))) == 2
    # One scrape of the port, whichever worker answers, counts both workers' turns: the one turn.
    scrapes = []
    for _ in range(8):  # a connection each: the kernel hands them to either worker
        async with httpx.AsyncClient(
            base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=WAIT
        ) as api:
            scrapes.append((await api.get("/metrics")).text)
    for text in scrapes:
        assert 'smart_support_turns_total{outcome="ok"} 1.0' in text, text[:2000]


def _worker_pids(log: str) -> set[str]:
    """The worker processes uvicorn started ("Started server process [pid]")."""
    return {
        line.rsplit("[", 1)[1].rstrip("]")
        for line in log.splitlines()
        if "Started server process [" in line
    }


async def test_a_process_killed_mid_write_leaves_the_conversation_to_the_others(
    pg_url: str, running_shop: str, tmp_path: Path
) -> None:
    failpoints = tmp_path / "failpoints"
    failpoints.write_text("after_intent\n", encoding="utf-8")  # armed in the first process only
    env = server_env(pg_url, running_shop)
    doomed = start_serve({**env, "SMART_SUPPORT_FAILPOINTS": str(failpoints)}, tmp_path / "1.log")
    other = start_serve(env, tmp_path / "2.log")
    try:
        async with connect(doomed.url) as ws:
            customer = Follower(ws)
            started = await customer.chat.start()
            await customer.chat.send(type="message", text="Cancel order 1042")
            await customer.until("approval_requested")
            [request] = of_type(customer.frames, "approval_requested")
            await customer.chat.send(
                type="decision", approval_id=request["approval_id"], decision="approve"
            )
            with pytest.raises(websockets.ConnectionClosed):  # it died holding the lock
                await customer.until("reply_end")
        assert doomed.process.wait(60) == -9
        # The customer comes back through the other process, which neither restarted nor
        # waited for the dead one's lock: the next message is answered, and so is the write.
        async with connect(other.url) as ws:
            back = Follower(ws)
            await back.chat.send(
                type="resume", conversation_id=started["conversation_id"], token=started["token"]
            )
            await back.until("transcript")
            await back.chat.send(type="message", text="What's the status of order 1042?")
            await back.until("reply_end", 2)
    finally:
        stop(doomed)
        stop(other)
    replies = [f["text"] for f in of_type(back.frames, "reply_end")]
    assert any(UNKNOWN.format(action="Cancel order 1042") in reply for reply in replies), replies
    assert "1042" in replies[-1]
    async with httpx.AsyncClient(base_url=running_shop) as shop:  # never run twice, nor at all
        assert (await shop.get("/orders/1042")).json()["status"] != "cancelled"

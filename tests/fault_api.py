"""What the kill -9 tests (test_fault_kill.py) run: the demo shop behind a gate that counts every
cancellation reaching it and can kill the server process in the middle of one, and real
`smart-support serve` processes started (forked by `fault_zygote.py` once the product is
imported), killed and restarted on one PostgreSQL database.

The gate is the API's side of the story: whatever the server believes it did, the shop's own
count of the writes that reached its rules is what a customer's bank statement would show.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from shop_fixture import ShopServer, free_port

_CANCEL = re.compile(r"/orders/(\d+)/cancel")
#: Guards against a hang only: start-up imports the whole product (about 2 s on a quiet machine).
START_WAIT = 90.0


@dataclass(frozen=True)
class Delivery:
    """One cancellation that reached the shop's HTTP server."""

    key: str | None
    order_id: int
    #: The shop's answer; None when the server was killed before the shop's rules ran.
    status: int | None
    #: A repeated Idempotency-Key answered from the shop's memory, nothing changed.
    replayed: bool

    @property
    def executed(self) -> bool:
        """Whether this request changed the order (the shop's rules ran and accepted it)."""
        return self.status == 200 and not self.replayed


@dataclass
class _Kill:
    server: ServerProcess
    after_write: bool


@dataclass
class GatedShop:
    """The demo shop with a gate in front of its cancellations (an ASGI middleware on the real
    app, so every request still goes through the shop's own validation and rules)."""

    server: ShopServer
    deliveries: list[Delivery] = field(default_factory=list)
    _kill: _Kill | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        # Before the first request: Starlette builds its middleware stack then.
        self.server.app.middleware("http")(self._gate)

    @property
    def url(self) -> str:
        return self.server.url

    def order_status(self, order_id: int) -> str:
        return str(self.server.app.state.shop.order(order_id).status)

    def kill_during_next_cancellation(self, server: ServerProcess, *, after_write: bool) -> None:
        """Kill `server` (SIGKILL) while the next cancellation is held, before its answer is
        sent: before the shop's rules run, or (`after_write`) once they have changed the order.
        The answer waits until the process is gone, so it never reads it."""
        with self._lock:
            self._kill = _Kill(server, after_write)

    def disarm(self) -> None:
        with self._lock:
            self._kill = None

    async def _gate(self, request: Request, call_next: Any) -> Response:
        match = _CANCEL.fullmatch(request.url.path)
        if request.method != "POST" or match is None:
            return await call_next(request)  # type: ignore[no-any-return]
        key, order_id = request.headers.get("idempotency-key"), int(match[1])
        with self._lock:
            kill, self._kill = self._kill, None  # one request only
        if kill is not None and not kill.after_write:
            self._record(Delivery(key, order_id, None, False))
            await asyncio.to_thread(kill.server.kill)
            return JSONResponse({"error": "unreachable"}, status_code=503)  # nobody reads it
        response: Response = await call_next(request)
        replayed = response.headers.get("idempotent-replayed") == "true"
        self._record(Delivery(key, order_id, response.status_code, replayed))
        if kill is not None:
            await asyncio.to_thread(kill.server.kill)
        return response

    def _record(self, delivery: Delivery) -> None:
        with self._lock:
            self.deliveries.append(delivery)


class Zygote:
    """The fork server of `fault_zygote.py`: starts server processes without paying for the
    product's imports each time (see its docstring for why that is still a real process)."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("fault_zygote.py"))],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self._lock = threading.Lock()
        self._exited: dict[int, int] = {}

    def _ask(self, request: dict[str, Any]) -> dict[str, Any]:
        """One request and its answer; the caller holds `_lock` (the shop's thread kills and
        reaps too)."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise AssertionError(f"the fork server exited ({self.process.wait(START_WAIT)})")
        answer: dict[str, Any] = json.loads(line)
        return answer

    def start(self, args: list[str], log: Path) -> int:
        with self._lock:
            return int(self._ask({"start": args, "log": str(log)})["pid"])

    def wait(self, pid: int, timeout: float) -> int | None:
        """The child's exit status (`Popen.returncode` style: -9 for SIGKILL), or None if it
        still runs after `timeout` seconds."""
        with self._lock:
            if pid not in self._exited:
                status = self._ask({"wait": pid, "timeout": timeout})["status"]
                if status is None:
                    return None
                self._exited[pid] = int(status)
            return self._exited[pid]

    def close(self) -> None:
        """Kill the children left, then stop the fork server."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(START_WAIT)


@dataclass
class ServerProcess:
    """One `smart-support serve` process: its base URL and the file its stderr goes to."""

    zygote: Zygote
    pid: int
    url: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def exit_status(self, timeout: float = 0) -> int | None:
        return self.zygote.wait(self.pid, timeout)

    def wait_dead(self) -> int:
        """The exit status once it has died (it is killed, never asked to stop)."""
        status = self.exit_status(START_WAIT)
        assert status is not None, f"the server is still running:\n{self.log_text()[-3000:]}"
        return status

    def kill(self) -> None:
        """SIGKILL, and return once the process is gone."""
        if self.exit_status() is None:
            os.kill(self.pid, signal.SIGKILL)
            self.wait_dead()


def start_server(zygote: Zygote, log: Path) -> ServerProcess:
    """Start `smart-support serve` on a free loopback port; return once `/healthz` answers,
    which is after `Engine.open` ran its recovery (the lifespan opens the engine first)."""
    port = free_port()
    pid = zygote.start(["serve", "--host", "127.0.0.1", "--port", str(port)], log)
    server = ServerProcess(zygote, pid, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + START_WAIT
    while time.monotonic() < deadline:
        status = server.exit_status()
        if status is not None:
            raise AssertionError(f"the server exited ({status}):\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.02)
    server.kill()
    raise AssertionError(f"the server did not start in {START_WAIT} s:\n{server.log_text()}")


def arm(failpoints: Path, *names: str) -> None:
    """Arm these fail points (none: disarm) for every server process reading `failpoints`,
    replacing the file at once so a process never reads half of it."""
    staged = failpoints.with_suffix(".next")
    staged.write_text("".join(f"{name}\n" for name in names), encoding="utf-8")
    os.replace(staged, failpoints)

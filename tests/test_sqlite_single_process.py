"""SQLite serves one process: a second process on the same file is refused in one clear line.

Conversation locks are per process, so two servers on one SQLite file would both answer a
conversation and fork its history. Every test here runs real processes on a real file.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import smart_support
from smart_support.settings import Settings
from smart_support.store.persistence import open_persistence

DEMO_AGENTS = Path(smart_support.__file__).parent / "demo" / "agents.yaml"
CLI = str(Path(sys.executable).parent / "smart-support")

#: Opens the persistence of DATABASE_URL, says so, and holds it until stdin closes.
HOLDER = """
import asyncio, sys
from smart_support.settings import Settings
from smart_support.store.persistence import open_persistence

async def main():
    async with open_persistence(Settings(database_url=sys.argv[1])):
        print("open", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


def _env(database_url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"SHOP_URL", "EGRESS_ALLOWLIST"}}
    return {**env, "DATABASE_URL": database_url, "LLM_PROVIDER": "offline", **extra}


@pytest.fixture
def holder(sqlite_url: str) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the SQLite file open."""
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, sqlite_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        assert process.stdout.readline().strip() == "open", process.stderr
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


def chat(database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, "chat"],
        input="how do I return an item?\n",
        env=_env(database_url, AGENTS_FILE=str(DEMO_AGENTS)),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def test_a_second_process_on_the_same_sqlite_file_is_refused_in_one_line(
    holder: subprocess.Popen[str], sqlite_url: str, tmp_path: Path
) -> None:
    second = chat(sqlite_url, tmp_path)
    assert second.returncode == 2
    path = sqlite_url.split(":///", 1)[1]
    assert second.stderr.splitlines() == [
        f"error: DATABASE_URL: another process (pid {holder.pid}) uses the SQLite database"
        f" {path}; SQLite serves one process at a time: stop it, give this one another file,"
        " or use PostgreSQL (DATABASE_URL=postgresql://...) for several processes on one history"
    ]
    assert "faq>" not in second.stdout


def test_the_file_is_free_again_once_the_other_process_exits(
    holder: subprocess.Popen[str], sqlite_url: str, tmp_path: Path
) -> None:
    assert chat(sqlite_url, tmp_path).returncode == 2
    holder.kill()  # even a process that dies without cleaning up releases the file
    holder.wait(timeout=10)
    again = chat(sqlite_url, tmp_path)
    assert again.returncode == 0, again.stderr
    assert "30 days" in again.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_chat_beside_a_running_chat_server_on_the_same_file_is_refused(
    sqlite_url: str, tmp_path: Path
) -> None:
    port = _free_port()
    server = subprocess.Popen(
        [CLI, "serve"],
        env=_env(sqlite_url, PORT=str(port), AGENTS_FILE=str(DEMO_AGENTS)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
    )
    try:
        lock_file = Path(sqlite_url.split(":///", 1)[1] + ".lock")
        deadline = time.monotonic() + 60
        while not (lock_file.exists() and lock_file.read_text().strip() == str(server.pid)):
            assert server.poll() is None, server.stderr.read() if server.stderr else ""
            assert time.monotonic() < deadline, "the server did not open its database"
            time.sleep(0.1)
        second = chat(sqlite_url, tmp_path)
        assert second.returncode == 2
        assert f"another process (pid {server.pid}) uses the SQLite database" in second.stderr
        assert len(second.stderr.splitlines()) == 1
    finally:
        server.terminate()
        server.wait(timeout=30)


async def test_two_openers_in_one_process_share_the_file(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url)
    async with open_persistence(settings) as first, open_persistence(settings) as second:
        assert first.store is not second.store
        await first.store.create_conversation("c-shared", "token-hash")
        assert await second.store.get_conversation("c-shared") is not None


async def test_a_closed_database_can_be_opened_by_another_process(
    sqlite_url: str, tmp_path: Path
) -> None:
    async with open_persistence(Settings(database_url=sqlite_url)):
        assert chat(sqlite_url, tmp_path).returncode == 2
    after = chat(sqlite_url, tmp_path)
    assert after.returncode == 0, after.stderr

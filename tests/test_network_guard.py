"""The test suite's own network guard (tests/network_guard.py): it sees every way off the machine.

The addresses used are TEST-NET (192.0.2.0/24, RFC 5737) and 10/8: the guard refuses before any
packet leaves, so nothing is ever sent to them.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import psycopg
import pytest
import uvicorn
import uvloop
from fastapi import FastAPI

from network_guard import NetworkGuard, is_loopback_host

TESTS = Path(__file__).resolve().parent


def test_a_connection_to_a_public_address_is_refused_and_recorded(
    network_refusals: NetworkGuard,
) -> None:
    with pytest.raises(OSError, match=r"192\.0\.2\.1 \(not loopback\)"):
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    with socket.socket() as sock, pytest.raises(OSError, match="not loopback"):
        sock.connect_ex(("192.0.2.2", 80))
    with socket.socket(socket.AF_INET6) as sock, pytest.raises(OSError, match="not loopback"):
        sock.connect(("2001:db8::1", 80))
    with socket.socket() as sock, pytest.raises(OSError, match=r"unresolved host 'example\.org'"):
        sock.connect(("example.org", 80))  # a name the socket would resolve itself
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp,
        pytest.raises(OSError, match="sendto"),
    ):
        udp.sendto(b"x", ("192.0.2.3", 53))
    assert len(network_refusals.take()) == 5


def test_a_dns_lookup_of_a_public_name_is_refused_but_local_names_resolve(
    network_refusals: NetworkGuard,
) -> None:
    with pytest.raises(socket.gaierror, match=r"example\.org"):
        socket.getaddrinfo("example.org", 443)
    with pytest.raises(socket.gaierror):
        socket.gethostbyname("example.org")
    assert len(network_refusals.take()) == 2
    assert socket.getaddrinfo("localhost", 80)
    assert socket.getaddrinfo("127.0.0.1", 80)
    assert network_refusals.take() == []


async def test_asyncio_connections_are_checked(network_refusals: NetworkGuard) -> None:
    with pytest.raises(OSError, match=r"create_connection to 192\.0\.2\.1"):
        await asyncio.open_connection("192.0.2.1", 80)
    loop = asyncio.get_running_loop()
    with pytest.raises(OSError, match="not loopback"):
        await loop.create_datagram_endpoint(asyncio.DatagramProtocol, remote_addr=("10.0.0.1", 53))
    assert len(network_refusals.take()) == 2


async def test_a_loopback_connection_goes_through(network_refusals: NetworkGuard) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        with socket.socket() as sock:
            assert sock.connect_ex(("localhost", port)) == 0
    assert network_refusals.take() == []


def test_test_servers_run_on_the_asyncio_loop_and_uvloop_is_refused(
    network_refusals: NetworkGuard,
) -> None:
    factory = uvicorn.Config(FastAPI()).get_loop_factory()  # loop="auto" would pick uvloop
    assert factory is not None
    loop = factory()
    try:
        assert not isinstance(loop, uvloop.Loop)
        assert isinstance(loop, asyncio.BaseEventLoop)
    finally:
        loop.close()
    with pytest.raises(RuntimeError, match="uvloop"):
        uvicorn.Config(FastAPI(), loop="uvloop").get_loop_factory()
    with pytest.raises(RuntimeError, match="uvloop"):
        uvloop.new_event_loop()
    assert len(network_refusals.take()) == 2


def test_a_connection_made_inside_a_test_server_thread_is_seen(
    network_refusals: NetworkGuard,
) -> None:
    app = FastAPI()

    @app.get("/call-out")
    async def call_out() -> dict[str, str]:
        try:  # a handler that swallows the failure, as a retrying client would
            await asyncio.open_connection("192.0.2.7", 443)
        except OSError:
            return {"outcome": "swallowed"}
        return {"outcome": "connected"}

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
            client.sendall(b"GET /call-out HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
            answer = b""
            while chunk := client.recv(4096):
                answer += chunk
        assert b"swallowed" in answer
    finally:
        server.should_exit = True
        thread.join()
        sock.close()
    assert ["192.0.2.7" in refusal for refusal in network_refusals.take()] == [True]


def test_postgresql_off_this_machine_is_refused_before_libpq_connects(
    network_refusals: NetworkGuard, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(psycopg.OperationalError, match=r"host '10\.1\.2\.3'"):
        psycopg.connect("postgresql://app@10.1.2.3:5432/shop", connect_timeout=1)
    with pytest.raises(psycopg.OperationalError, match=r"db\.example\.org"):
        psycopg.connect(host="127.0.0.1,db.example.org", dbname="x", connect_timeout=1)
    monkeypatch.setenv("PGHOST", "10.9.9.9")
    with pytest.raises(psycopg.OperationalError, match=r"10\.9\.9\.9"):
        psycopg.connect("dbname=shop", connect_timeout=1)
    assert len(network_refusals.take()) == 3


async def test_async_and_pooled_postgresql_connections_are_checked_too(
    network_refusals: NetworkGuard, pg_url: str
) -> None:
    from psycopg_pool import AsyncConnectionPool

    with pytest.raises(psycopg.OperationalError, match="not loopback"):
        await psycopg.AsyncConnection.connect("postgresql://app@192.0.2.5/shop")
    pool = AsyncConnectionPool(pg_url, min_size=1, max_size=1, open=False)
    async with pool, pool.connection() as conn:  # loopback: allowed
        assert (await (await conn.execute("SELECT 1")).fetchone()) == (1,)
    assert len(network_refusals.take()) == 1


def test_a_child_process_of_a_test_is_guarded_and_reports_to_the_test(
    network_refusals: NetworkGuard,
) -> None:
    child = subprocess.run(
        [sys.executable, "-c", CHILD_CONNECTS],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == "refused: test network guard: connect to 192.0.2.9"
    [refusal] = network_refusals.take()
    assert "192.0.2.9" in refusal and "[pid " in refusal


CHILD_CONNECTS = """
import socket
try:
    socket.create_connection(("192.0.2.9", 80), timeout=1)
except OSError as exc:
    print("refused:", str(exc).split(" (", 1)[0])
"""


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("::ffff:127.0.0.1", True),
        ("localhost", True),
        ("LOCALHOST.", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("::ffff:10.0.0.1", False),
        ("example.org", False),
        ("127.0.0.1.example.org", False),
    ],
)
def test_loopback_means_127_8_and_1_only(host: str, loopback: bool) -> None:
    assert is_loopback_host(host) is loopback


SWALLOWING_TESTS = """
import socket, psycopg
from langchain_anthropic import ChatAnthropic

def test_swallows_a_refused_socket():
    try:
        socket.create_connection(("192.0.2.1", 80), timeout=1)
    except OSError:
        pass

def test_swallows_a_refused_database():
    try:
        psycopg.connect("postgresql://u@10.1.2.3/db", connect_timeout=1)
    except psycopg.OperationalError:
        pass

def test_swallows_a_real_model(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-not-real")
    try:
        ChatAnthropic(model="claude-sonnet-4-6")
    except BaseException:
        pass

def test_stays_on_loopback():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        socket.create_connection(server.getsockname(), timeout=1).close()
"""


def test_a_test_that_swallows_a_refused_connection_still_fails(
    pytester: pytest.Pytester, network_refusals: NetworkGuard
) -> None:
    pytester.makeconftest(
        f"""
import importlib.util, sys
sys.path.insert(0, {str(TESTS)!r})
spec = importlib.util.spec_from_file_location("suite_conftest", {str(TESTS / "conftest.py")!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
globals().update({{k: v for k, v in vars(module).items() if not k.startswith("__")}})
"""
    )
    pytester.makepyfile(test_swallowing=SWALLOWING_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", "-rA")
    result.assert_outcomes(passed=4, errors=3)
    assert len(network_refusals.take()) == 3  # the inner run is a child: it reported them here
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_swallows_a_refused_socket*",
            "test network guard: connect to 192.0.2.1 (not loopback)*",
            "*ERROR at teardown of test_swallows_a_refused_database*",
            "test network guard: PostgreSQL connection to host '10.1.2.3' (not loopback)*",
            "*ERROR at teardown of test_swallows_a_real_model*",
            "test network guard: built a real ChatAnthropic for https://api.anthropic.com*",
            "PASSED test_swallowing.py::test_stays_on_loopback",
        ]
    )

"""The test suite's runtime network guard: nothing a test runs may leave this machine.

Installed for the whole test process by conftest.py (`install()` in `pytest_configure`), so it
also sees the threads of test servers and session fixtures, and in every Python process a test
starts (guard_site/sitecustomize.py, through PYTHONPATH), which reports its refusals back.
Every refusal is raised where the connection was attempted AND recorded; conftest's autouse
fixture fails the test that made it, so code that swallows the error (a retrying client, a tool
that reports "could not connect") cannot hide it. Tests of the guard itself take their refusals
with `GUARD.take()`.

What it watches:

- `socket.socket.connect` / `connect_ex` / `sendto` to a non-loopback AF_INET/AF_INET6 address
  (or to a host name: the resolver must have run first, see below).
- `socket.getaddrinfo` / `gethostbyname(_ex)` of any name but this machine's own: a DNS query is
  traffic too.
- asyncio's `create_connection` / `create_datagram_endpoint` with a literal non-loopback host.
- uvloop: its event loops connect inside libuv, where none of the above sees them; test servers
  run uvicorn on the asyncio loop (`loop="asyncio"`, forced for "auto" here) and creating a
  uvloop loop in a test is refused.
- libpq: psycopg connections (sync, async, pools) to a non-loopback host or hostaddr, from the
  conninfo or the PG* environment; libpq's own sockets are invisible to Python.
- Real LLM provider models, at the model layer (`pytest.fail`): building or invoking a LangChain
  provider chat model whose endpoint is not on loopback. The offline model, the scripted models
  of `smart_support.testing` and providers pointed at a loopback server (an OpenAI-compatible
  server in a test) pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

_INET = (socket.AF_INET, socket.AF_INET6)


class NetworkGuard:
    """Refusals since the last `take()`, from any thread and from child processes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._refused: list[str] = []
        self.installed = False
        #: In a child process: the file its refusals are appended to.
        self.report_to: str | None = None
        #: In the test process: the file children report to, and how far it has been read.
        self.children_log: Path | None = None
        self._read = 0

    def record(self, what: str) -> str:
        message = f"test network guard: {what}; tests stay on this machine"
        with self._lock:
            self._refused.append(message)
            if self.report_to:
                with contextlib.suppress(OSError), open(self.report_to, "a") as log:
                    log.write(f"{message} [pid {os.getpid()}]\n")  # the raise still happens
        return message

    def take(self) -> list[str]:
        """The refusals recorded so far (here and in child processes), clearing them."""
        with self._lock:
            taken, self._refused = self._refused, []
            if self.children_log is not None and self.children_log.exists():
                with self.children_log.open("rb") as log:
                    log.seek(self._read)
                    new = log.read()
                self._read += len(new)
                taken += new.decode("utf-8", "replace").splitlines()
        return taken


GUARD = NetworkGuard()


def is_loopback_host(host: str) -> bool:
    """A loopback IP literal (IPv4, IPv6, IPv4-mapped) or `localhost`."""
    host = host.strip("[]").split("%", 1)[0].rstrip(".").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    mapped = getattr(ip, "ipv4_mapped", None)
    return ip.is_loopback or bool(mapped and mapped.is_loopback)


def _check_socket_address(family: int, address: object, how: str) -> None:
    if family not in _INET or not isinstance(address, tuple) or not address:
        return  # AF_UNIX paths, socketpairs, netlink: local by nature
    host = str(address[0])
    if is_loopback_host(host):
        return
    try:
        ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        raise OSError(GUARD.record(f"{how} to unresolved host {host!r}")) from None
    raise OSError(GUARD.record(f"{how} to {host} (not loopback)"))


# --- sockets --------------------------------------------------------------------------------

_real: dict[str, Any] = {}


def _connect(self: socket.socket, address: Any) -> None:
    _check_socket_address(self.family, address, "connect")
    return _real["connect"](self, address)  # type: ignore[no-any-return]


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check_socket_address(self.family, address, "connect_ex")
    return _real["connect_ex"](self, address)  # type: ignore[no-any-return]


def _sendto(self: socket.socket, data: Any, *args: Any) -> int:
    _check_socket_address(self.family, args[-1] if args else None, "sendto")
    return _real["sendto"](self, data, *args)  # type: ignore[no-any-return]


def _local_names() -> set[str]:
    names = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}
    with contextlib.suppress(OSError):
        names.add(socket.gethostname().lower())
    return names


def _check_name(host: object, how: str) -> None:
    if host is None:
        return
    name = host.decode() if isinstance(host, bytes) else str(host)
    bare = name.strip("[]").split("%", 1)[0]
    try:
        ipaddress.ip_address(bare)
        return  # a literal: no lookup, the connect check decides
    except ValueError:
        pass
    if bare.rstrip(".").lower() in _local_names() or bare.lower().endswith(".localhost"):
        return
    raise socket.gaierror(socket.EAI_NONAME, GUARD.record(f"{how} of {name!r} (DNS)"))


def _getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    _check_name(host, "getaddrinfo")
    return _real["getaddrinfo"](host, *args, **kwargs)


def _gethostbyname(host: Any) -> Any:
    _check_name(host, "gethostbyname")
    return _real["gethostbyname"](host)


def _gethostbyname_ex(host: Any) -> Any:
    _check_name(host, "gethostbyname_ex")
    return _real["gethostbyname_ex"](host)


# --- asyncio and uvloop ---------------------------------------------------------------------


def _literal_host_check(host: object, how: str) -> None:
    if isinstance(host, str) and host:
        try:
            ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return  # a name: resolved through the guarded getaddrinfo, then connect is checked
        if not is_loopback_host(host):
            raise OSError(GUARD.record(f"{how} to {host} (not loopback)"))


async def _create_connection(
    self: Any, protocol_factory: Any, host: Any = None, *a: Any, **k: Any
) -> Any:
    _literal_host_check(host, "asyncio create_connection")
    return await _real["create_connection"](self, protocol_factory, host, *a, **k)


async def _create_datagram_endpoint(self: Any, protocol_factory: Any, *a: Any, **k: Any) -> Any:
    remote = k.get("remote_addr")
    if isinstance(remote, tuple) and remote:
        _literal_host_check(remote[0], "asyncio create_datagram_endpoint")
    return await _real["create_datagram_endpoint"](self, protocol_factory, *a, **k)


def _refuse_uvloop(*_: Any, **__: Any) -> Any:
    raise RuntimeError(
        GUARD.record("a uvloop event loop was requested (its connections bypass the guard)")
    )


def _asyncio_loop_factory(self: Any) -> Callable[[], asyncio.AbstractEventLoop] | None:
    if self.loop == "auto":
        self.loop = "asyncio"  # uvicorn's "auto" picks uvloop when installed
    if self.loop not in ("asyncio", "none"):
        _refuse_uvloop()
    return _real["get_loop_factory"](self)  # type: ignore[no-any-return]


# --- libpq ----------------------------------------------------------------------------------


def check_pg_hosts(conninfo: str = "", **kwargs: Any) -> None:
    """Refuse a PostgreSQL connection that libpq would open off this machine."""
    try:
        params = conninfo_to_dict(conninfo, **kwargs)
    except psycopg.ProgrammingError:
        return  # psycopg itself will refuse the string
    hosts = str(params.get("host") or os.environ.get("PGHOST") or "")
    addrs = str(params.get("hostaddr") or os.environ.get("PGHOSTADDR") or "")
    for value, kind in ((hosts, "host"), (addrs, "hostaddr")):
        for host in filter(None, (h.strip() for h in value.split(","))):
            if host.startswith(("/", "@")):
                continue  # a Unix-domain socket directory (or abstract namespace)
            if not is_loopback_host(host):
                raise psycopg.OperationalError(
                    GUARD.record(f"PostgreSQL connection to {kind} {host!r} (not loopback)")
                )


class _GuardedConnect:
    """A classmethod replacement that keeps `cls` (pools pass subclasses)."""

    def __init__(self, original: classmethod, is_async: bool) -> None:  # type: ignore[type-arg]
        self.original, self.is_async = original, is_async

    def __get__(self, instance: object, owner: type) -> Callable[..., Any]:
        function = self.original.__func__

        if self.is_async:

            async def connect_async(conninfo: str = "", **kwargs: Any) -> Any:
                check_pg_hosts(conninfo, **kwargs)
                return await function(owner, conninfo, **kwargs)

            return connect_async

        def connect(conninfo: str = "", **kwargs: Any) -> Any:
            check_pg_hosts(conninfo, **kwargs)
            return function(owner, conninfo, **kwargs)

        return connect


# --- the model layer ------------------------------------------------------------------------

_DEFAULT_ENDPOINTS = {
    "langchain_openai": ("openai_api_base", "OPENAI_BASE_URL", "https://api.openai.com/v1"),
    "langchain_anthropic": (
        "anthropic_api_url",
        "ANTHROPIC_BASE_URL",
        "https://api.anthropic.com",
    ),
    "langchain_ollama": ("base_url", "OLLAMA_HOST", "http://127.0.0.1:11434"),
}
_ENDPOINT_FIELDS = ("base_url", "api_base", "endpoint", "endpoint_url", "azure_endpoint")


def model_endpoint(model: object) -> str | None:
    """The URL a LangChain provider chat model would call; None for in-process models."""
    package = type(model).__module__.split(".", 1)[0]
    if not package.startswith("langchain") or package in ("langchain_core", "langchain"):
        return None  # OfflineChatModel, smart_support.testing, langchain_core fakes
    field, env, default = _DEFAULT_ENDPOINTS.get(package, ("", "", ""))
    for name in (field, *_ENDPOINT_FIELDS):
        value = getattr(model, name, None) if name else None
        if isinstance(value, str) and value:
            return value
    return os.environ.get(env) if env and os.environ.get(env) else (default or "unknown")


def check_model(model: object, how: str) -> None:
    """`pytest.fail` when `model` is a real provider model whose endpoint is off this machine."""
    endpoint = model_endpoint(model)
    if endpoint is None:
        return
    host = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}").hostname or ""
    if not is_loopback_host(host):
        message = GUARD.record(
            f"{how} a real {type(model).__name__} for {endpoint}: tests use the offline model,"
            " smart_support.testing's scripted models, or a provider server on loopback"
        )
        pytest.fail(message, pytrace=False)


def _model_patches() -> list[tuple[object, str, Any]]:
    from langchain_core.language_models import BaseChatModel
    from langchain_core.load.serializable import Serializable

    init = Serializable.__init__

    def built(self: Any, *args: Any, **kwargs: Any) -> None:
        init(self, *args, **kwargs)
        if isinstance(self, BaseChatModel):
            check_model(self, "built")

    patches: list[tuple[object, str, Any]] = [(Serializable, "__init__", built)]
    # The public entry points: invoke/batch go through generate, ainvoke/abatch through
    # agenerate (which gathers with return_exceptions, so the check must come before it).
    for name in ("generate", "stream", "agenerate", "astream"):
        original = getattr(BaseChatModel, name)
        patches.append((BaseChatModel, name, _checked_call(original, name)))
    return patches


def _checked_call(original: Any, name: str) -> Any:
    if name in ("astream",):

        async def agen(self: Any, *args: Any, **kwargs: Any) -> Any:
            check_model(self, "invoked")
            async for chunk in original(self, *args, **kwargs):
                yield chunk

        return agen
    if name == "stream":

        def gen(self: Any, *args: Any, **kwargs: Any) -> Any:
            check_model(self, "invoked")
            yield from original(self, *args, **kwargs)

        return gen
    if name == "agenerate":

        async def acall(self: Any, *args: Any, **kwargs: Any) -> Any:
            check_model(self, "invoked")
            return await original(self, *args, **kwargs)

        return acall

    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        check_model(self, "invoked")
        return original(self, *args, **kwargs)

    return call


# --- install --------------------------------------------------------------------------------

_installed: list[tuple[object, str, Any]] = []


def install() -> None:
    """Patch every watched entry point for the rest of the process (see the module docstring)."""
    if GUARD.installed:
        return
    import uvicorn

    patches: list[tuple[object, str, Any]] = [
        (socket.socket, "connect", _connect),
        (socket.socket, "connect_ex", _connect_ex),
        (socket.socket, "sendto", _sendto),
        (socket, "getaddrinfo", _getaddrinfo),
        (socket, "gethostbyname", _gethostbyname),
        (socket, "gethostbyname_ex", _gethostbyname_ex),
        (asyncio.BaseEventLoop, "create_connection", _create_connection),
        (asyncio.BaseEventLoop, "create_datagram_endpoint", _create_datagram_endpoint),
        (uvicorn.Config, "get_loop_factory", _asyncio_loop_factory),
        (psycopg.Connection, "connect", _GuardedConnect(_classmethod(psycopg.Connection), False)),
        (
            psycopg.AsyncConnection,
            "connect",
            _GuardedConnect(_classmethod(psycopg.AsyncConnection), True),
        ),
        # `psycopg.connect` is Connection.connect, bound when psycopg was imported.
        (
            psycopg,
            "connect",
            _GuardedConnect(_classmethod(psycopg.Connection), False).__get__(
                None, psycopg.Connection
            ),
        ),
        *_model_patches(),
    ]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        pass
    else:
        patches += [(uvloop, name, _refuse_uvloop) for name in ("new_event_loop", "install", "run")]
        patches.append((uvloop, "EventLoopPolicy", _refuse_uvloop))
    _real.update(
        connect=socket.socket.connect,
        connect_ex=socket.socket.connect_ex,
        sendto=socket.socket.sendto,
        getaddrinfo=socket.getaddrinfo,
        gethostbyname=socket.gethostbyname,
        gethostbyname_ex=socket.gethostbyname_ex,
        create_connection=asyncio.BaseEventLoop.create_connection,
        create_datagram_endpoint=asyncio.BaseEventLoop.create_datagram_endpoint,
        get_loop_factory=uvicorn.Config.get_loop_factory,
    )
    for owner, name, replacement in patches:
        _installed.append((owner, name, owner.__dict__[name] if name in vars(owner) else None))
        setattr(owner, name, replacement)
    GUARD.installed = True


#: The folder whose sitecustomize.py installs the guard in child Python processes.
CHILD_SITE = Path(__file__).resolve().parent / "guard_site"


def guard_children(log: Path) -> None:
    """Make every Python process started from now on install the guard and report to `log`."""
    log.touch()
    GUARD.children_log = log
    os.environ["SMART_SUPPORT_TEST_GUARD_LOG"] = str(log)
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    os.environ["PYTHONPATH"] = os.pathsep.join([str(CHILD_SITE), *paths])


def install_in_child(log: str) -> None:
    """In a child process (sitecustomize.py): the same guard, reporting to the parent's `log`."""
    GUARD.report_to = log
    install()


def _classmethod(cls: type) -> classmethod:  # type: ignore[type-arg]
    method = cls.__dict__["connect"]
    assert isinstance(method, classmethod)
    return method


def uninstall() -> None:
    for owner, name, original in reversed(_installed):
        if original is None:
            delattr(owner, name)
        else:
            setattr(owner, name, original)
    _installed.clear()
    GUARD.installed = False

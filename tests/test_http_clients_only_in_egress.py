"""Product code reaches the network only through the egress guard (smart_support.egress).

A static check of every module in src/smart_support outside the guard. It refuses, with the file
and line:

- an HTTP or socket-level client imported in any form (`import`, `from ... import`, relative
  imports of a vendored copy, imports in functions, `try` blocks or an `else:` of TYPE_CHECKING),
  or reached as an attribute of another import (`import urllib.parse` then `urllib.request`);
- dynamic imports and code execution (`importlib.import_module`, `__import__`, `sys.modules`,
  `exec`, `eval`, `runpy`, ...), which could name a client in a computed string;
- raw sockets and connection primitives (`socket`, `ssl`, `asyncio.open_connection`,
  `loop.create_connection`, `anyio.connect_tcp`) and network programs run as subprocesses;
- MCP transports over the network that are not built with our client factory
  (`smart_support.egress.mcp_httpx_client_factory`);
- vendored code: folders named like an HTTP client or `_vendor`, native or archived modules.

Exceptions are listed below, each with its reason; one no longer needed fails the test. What a
static check cannot see (a dependency that calls out on its own, LLM provider SDKs) is covered at
run time by the test suite's network guard (tests/network_guard.py).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "smart_support"

#: Modules that send requests (HTTP, WebSocket, MCP over the network, other protocols).
#: `urllib.parse` is a parser and `http` alone holds status codes: both allowed.
HTTP_CLIENTS = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "h11",
    "h2",
    "requests",
    "niquests",
    "urllib.request",
    "urllib3",
    "http.client",
    "aiohttp",
    "httplib2",
    "pycurl",
    "treq",
    "tornado.httpclient",
    "websockets",
    "websocket",
    "wsproto",
    "xmlrpc.client",
    "ftplib",
    "smtplib",
    "poplib",
    "imaplib",
    "telnetlib",
    "nntplib",
    "grpc",
    "paramiko",
    "asyncssh",
    "mcp.client.sse",
    "mcp.client.streamable_http",
    "mcp.client.websocket",
    "mcp.client.session_group",
    "fastmcp.client",
    "langchain_mcp_adapters.sessions",
    # Span exporters: OTLP over HTTP (requests) or gRPC, Zipkin, ...
    "opentelemetry.exporter",
)

#: Socket-level modules: a client can be written with them alone (a vendored copy of one is).
#: ctypes/cffi reach libc's connect() directly; multiprocessing.connection dials sockets.
NETWORK_MODULES = (
    "socket",
    "_socket",
    "ssl",
    "_ssl",
    "asyncore",
    "asynchat",
    "ctypes",
    "_ctypes",
    "cffi",
    "multiprocessing.connection",
)

#: Names that open a connection whatever object they hang off (`loop.create_connection`).
CONNECT_ATTRIBUTES = frozenset(
    {
        "open_connection",
        "open_unix_connection",
        "create_connection",
        "create_unix_connection",
        "create_datagram_endpoint",
        "sock_connect",
        "connect_tcp",
        "connect_unix",
        "start_tls",
    }
)

#: Dynamic imports and code execution, by qualified name (or prefix, ending with a dot).
#: Everything under `importlib` counts (`importlib.__dict__` too) but its two data readers.
DYNAMIC = (
    "__import__",
    "builtins.",
    "exec",
    "eval",
    "compile",
    "importlib.",
    "runpy.",
    "zipimport.",
    "pkgutil.",
    "sys.modules",
    "sys.meta_path",
    "sys.path_hooks",
)

#: Attribute names that reach the same through `getattr(module, "...")`.
DYNAMIC_ATTRIBUTES = frozenset(
    {"import_module", "__import__", "modules", "exec", "eval", "reload", "meta_path"}
)

#: Programs that talk to the network, refused as the first word of a subprocess command.
NETWORK_PROGRAMS = frozenset(
    {"curl", "wget", "nc", "ncat", "netcat", "socat", "telnet", "ssh", "scp", "ftp", "aria2c"}
)

#: MCP transports that reach the network, and the one factory their HTTP client comes from.
NETWORK_TRANSPORTS = frozenset({"sse", "streamable_http", "http", "websocket"})
FACTORY = "smart_support.egress.mcp_httpx_client_factory"
FACTORY_NAMES = frozenset({FACTORY, "smart_support.egress.client.mcp_httpx_client_factory"})

#: Folder names of vendored code.
VENDOR_DIRS = frozenset({"_vendor", "vendor", "vendored", "third_party", "_third_party", "extern"})
#: Files that can hold importable code a .py check does not read.
OPAQUE_SUFFIXES = (".so", ".pyd", ".dll", ".dylib", ".zip", ".whl", ".egg", ".pyz", ".pth")

#: The guard itself: it is where clients are built.
GUARD = PACKAGE / "egress"

#: Files allowed one kind of finding, with the reason. They are checked for everything else.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("smart_support/tools/python.py", "dynamic"): (
        "imports the Python tool modules the operator names in agents.yaml (`module:function`)"
    ),
    ("smart_support/server/__init__.py", "socket"): (
        "binds the chat server's listening socket first, so a busy port is one clear error"
    ),
    ("smart_support/server/background.py", "socket"): (
        "binds the listening socket of a chat server on 127.0.0.1 (tests, benchmarks); no client"
    ),
    ("smart_support/demo/launcher.py", "socket"): (
        "probes whether the demo shop it started accepts on its loopback port"
    ),
    ("smart_support/observability/tracing.py", "client"): (
        "the OTLP span exporter posts to the collector the operator configured"
        " (OTEL_EXPORTER_OTLP_*) and nowhere else; EGRESS_ALLOWLIST is for what agents reach"
    ),
}


@dataclass
class Finding:
    line: int
    kind: str  # "client", "dynamic", "socket", "mcp", "vendored"
    what: str


@dataclass
class _Scan:
    module: str  # dotted name of the scanned module, for relative imports
    aliases: dict[str, str] = field(default_factory=dict)  # local name -> qualified name
    findings: list[Finding] = field(default_factory=list)


def _is_under(name: str, modules: tuple[str, ...]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def _is_client(name: str) -> bool:
    return _is_under(name, HTTP_CLIENTS)


def _is_vendored(name: str) -> bool:
    parts = name.split(".")
    tops = {m.split(".")[0] for m in HTTP_CLIENTS if "." not in m}
    return parts[0] == "smart_support" and any(p in VENDOR_DIRS or p in tops for p in parts[1:])


def _type_checking_test(test: ast.expr) -> bool:
    """`TYPE_CHECKING` or `typing.TYPE_CHECKING`, exactly: not `not TYPE_CHECKING`, not `or`."""
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _typing_only_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes in the body (not the `else:`) of `if TYPE_CHECKING:` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and _type_checking_test(node.test):
            for child in node.body:
                inside.update(id(inner) for inner in ast.walk(child))
    return inside


def _annotation_nodes(tree: ast.Module) -> set[int]:
    """ids of nodes inside annotations: not evaluated at run time, `httpx.Response` is fine."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        annotations: list[ast.expr | None] = []
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            args = node.args
            every = [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]
            annotations += [a.annotation for a in every if a is not None]
            annotations.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            annotations.append(node.annotation)
        for annotation in annotations:
            if annotation is not None:
                inside.update(id(inner) for inner in ast.walk(annotation))
    return inside


def _resolve_relative(module: str, level: int, name: str | None) -> str:
    base = module.split(".")
    base = base[: len(base) - level] if level <= len(base) else []
    return ".".join([*base, *([name] if name else [])])


def _qualified(node: ast.expr, scan: _Scan) -> str | None:
    """`urllib.request.urlopen` for an attribute chain whose root is an imported name."""
    if isinstance(node, ast.Name):
        return scan.aliases.get(node.id, node.id if node.id in _BUILTINS else None)
    if isinstance(node, ast.Attribute):
        owner = _qualified(node.value, scan)
        return f"{owner}.{node.attr}" if owner else None
    return None


_BUILTINS = frozenset({"__import__", "exec", "eval", "compile", "getattr", "open"})


def _record_imports(tree: ast.Module, scan: _Scan, typing_only: set[int]) -> None:
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules.append(alias.name)
                local = alias.asname or alias.name.split(".")[0]
                scan.aliases[local] = alias.name if alias.asname else local
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                source = _resolve_relative(scan.module, node.level, node.module)
            else:
                source = node.module or ""
            for alias in node.names:
                full = f"{source}.{alias.name}" if source else alias.name
                modules += [source, full]
                scan.aliases[alias.asname or alias.name] = full
        else:
            continue
        if id(node) in typing_only:
            continue
        for module in dict.fromkeys(m for m in modules if m):
            if _is_client(module):
                scan.findings.append(Finding(node.lineno, "client", f"imports {module}"))
            elif _is_vendored(module):
                scan.findings.append(Finding(node.lineno, "vendored", f"imports {module}"))
            elif _is_under(module, NETWORK_MODULES):
                scan.findings.append(Finding(node.lineno, "socket", f"imports {module}"))
            elif _dynamic(module):
                scan.findings.append(Finding(node.lineno, "dynamic", f"imports {module}"))


#: Parts of importlib that read package data and metadata; they import nothing.
IMPORTLIB_READERS = ("importlib.metadata", "importlib.resources")


def _dynamic(name: str) -> bool:
    if _is_under(name, IMPORTLIB_READERS):
        return False
    return any(name.startswith(d) if d.endswith(".") else name == d for d in DYNAMIC)


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    return None


def _leading_text(node: ast.expr) -> str:
    """The literal text a command starts with: `"wget " + url`, f"curl {url}"."""
    while isinstance(node, ast.BinOp):
        node = node.left
    if isinstance(node, ast.JoinedStr) and node.values:
        node = node.values[0]
    return _string(node) or ""


def _stores(node: ast.AST) -> bool:
    return isinstance(getattr(node, "ctx", None), ast.Store)


_MCP_FIELDS = ("transport", "httpx_client_factory")


def _check_mcp_connection(
    keys: list[str | None], values: list[ast.expr], line: int, scan: _Scan
) -> None:
    """A dict (or keyword call) with `transport`: over the network only with our factory."""
    entries = dict(zip(keys, values, strict=True))
    transport = _string(entries.get("transport"))
    if transport is None:
        what = "an MCP connection whose transport is not a literal string"
        scan.findings.append(Finding(line, "mcp", what))
        return
    if transport not in NETWORK_TRANSPORTS:
        return  # stdio: a child process, no network
    factory = entries.get("httpx_client_factory")
    called = factory.func if isinstance(factory, ast.Call) else None
    if transport == "websocket" or called is None or _qualified(called, scan) not in FACTORY_NAMES:
        what = f"an MCP {transport!r} transport without httpx_client_factory={FACTORY}(...)"
        scan.findings.append(Finding(line, "mcp", what))


def _check_expressions(tree: ast.Module, scan: _Scan, skip: set[int]) -> None:
    reported: set[tuple[int, str]] = set()

    def report(line: int, kind: str, what: str) -> None:
        if (line, what) not in reported:
            reported.add((line, what))
            scan.findings.append(Finding(line, kind, what))

    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Attribute | ast.Name):
            name = _qualified(node, scan)
            parent = name.rsplit(".", 1)[0] if name and "." in name else None
            if name and _is_client(name) and not (parent and _is_client(parent)):
                report(line, "client", f"reaches {name}")
            elif name and _dynamic(name) and not isinstance(node.ctx, ast.Store):
                report(line, "dynamic", f"uses {name}")
            elif name and _is_under(name, NETWORK_MODULES):
                report(line, "socket", f"uses {name.split('.')[0]}")
            if isinstance(node, ast.Attribute) and node.attr in CONNECT_ATTRIBUTES:
                report(line, "socket", f"calls .{node.attr}")
            if isinstance(node, ast.Name) and node.id == "TYPE_CHECKING" and _stores(node):
                report(line, "client", "assigns TYPE_CHECKING")
        elif isinstance(node, ast.Call):
            func = _qualified(node.func, scan)
            attribute = _string(node.args[1]) if func == "getattr" and len(node.args) > 1 else None
            if attribute in DYNAMIC_ATTRIBUTES or (attribute and attribute in CONNECT_ATTRIBUTES):
                report(line, "dynamic", f"getattr(..., {attribute!r})")
            if func and func.split(".")[0] in ("subprocess", "os", "asyncio") and node.args:
                first = node.args[0]
                if isinstance(first, ast.List | ast.Tuple) and first.elts:
                    first = first.elts[0]
                text = _leading_text(first)
                program = Path(text.split(" ", 1)[0]).name if text else ""
                if program in NETWORK_PROGRAMS:
                    report(line, "socket", f"runs {program}")
            keywords = [k.arg for k in node.keywords]
            if "transport" in keywords:
                _check_mcp_connection(keywords, [k.value for k in node.keywords], line, scan)
        elif isinstance(node, ast.Dict):
            keys = [_string(k) if k is not None else None for k in node.keys]
            if "transport" in keys:
                _check_mcp_connection(keys, list(node.values), line, scan)
        elif _stores(node) and _string(getattr(node, "slice", None)) in _MCP_FIELDS:
            report(line, "mcp", "sets an MCP connection field outside its dict literal")
        elif isinstance(node, ast.Constant) and node.value in ("import_module", "__import__"):
            report(line, "dynamic", f"names {node.value} in a string")


def scan_source(source: str, module: str = "smart_support.example") -> list[Finding]:
    """Every finding in `source`, as if it were the module `module`."""
    tree = ast.parse(source)
    scan = _Scan(module=module)
    typing_only = _typing_only_nodes(tree)
    _record_imports(tree, scan, typing_only)
    _check_expressions(tree, scan, typing_only | _annotation_nodes(tree))
    return sorted(scan.findings, key=lambda f: f.line)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package_offences() -> tuple[list[str], set[tuple[str, str]]]:
    offences: list[str] = []
    used: set[tuple[str, str]] = set()
    for path in sorted(PACKAGE.rglob("*")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if path.is_relative_to(GUARD) or "__pycache__" in path.parts:
            continue
        if path.is_dir():
            if path.name in VENDOR_DIRS or _is_client(path.name):
                offences.append(f"{relative}/ looks like vendored code")
            continue
        if path.suffix in OPAQUE_SUFFIXES or path.suffix in (".pyc", ".pyo"):
            offences.append(f"{relative}: {path.suffix} files can be imported unchecked")
            continue
        if path.suffix not in (".py", ".pyw"):
            continue
        try:
            findings = scan_source(path.read_text(encoding="utf-8"), _module_name(path))
        except SyntaxError as exc:
            offences.append(f"{relative}:{exc.lineno}: cannot be parsed, so cannot be checked")
            continue
        for finding in findings:
            if (relative, finding.kind) in EXCEPTIONS:
                used.add((relative, finding.kind))
                continue
            offences.append(f"{relative}:{finding.line}: {finding.what}")
    return offences, used


def test_no_product_module_outside_the_egress_guard_can_reach_the_network() -> None:
    offences, _ = _package_offences()
    assert offences == [], (
        "use smart_support.egress (async_client, fetch, mcp_httpx_client_factory):\n"
        + "\n".join(offences)
    )


def test_every_exception_is_still_needed() -> None:
    _, used = _package_offences()
    assert set(EXCEPTIONS) - used == set(), "drop the exceptions nothing needs any more"


def test_the_egress_guard_is_where_the_check_expects_it() -> None:
    assert (GUARD / "__init__.py").is_file()
    kinds = {f.kind for f in scan_source((GUARD / "client.py").read_text(encoding="utf-8"))}
    assert "client" in kinds


@pytest.mark.parametrize(
    ("source", "kind"),
    [
        ("import httpx", "client"),
        ("import httpx as h", "client"),
        ("from httpx import AsyncClient", "client"),
        ("import urllib.request", "client"),
        ("from urllib import request", "client"),
        ("from urllib.request import urlopen", "client"),
        ("from http import client", "client"),
        ("import http.client", "client"),
        ("import requests.adapters", "client"),
        ("import aiohttp", "client"),
        ("import websockets", "client"),
        ("def f():\n    import httpcore", "client"),
        ("try:\n    import httpx\nexcept ImportError:\n    pass", "client"),
        ("from typing import TYPE_CHECKING\nimport httpx\nif TYPE_CHECKING:\n    pass", "client"),
        # TYPE_CHECKING tricks: only the body of a plain `if TYPE_CHECKING:` is for types.
        ("from typing import TYPE_CHECKING\nif not TYPE_CHECKING:\n    import httpx", "client"),
        ("from typing import TYPE_CHECKING\nif TYPE_CHECKING or 1:\n    import httpx", "client"),
        ("if TYPE_CHECKING:\n    pass\nelse:\n    import httpx", "client"),
        ("TYPE_CHECKING = True\nif TYPE_CHECKING:\n    import httpx", "client"),
        # Reached through another import: urllib.request is an attribute once anyone imported it.
        ("import urllib.parse\nurllib.request.urlopen('http://x')", "client"),
        ("import urllib\nopener = urllib.request.build_opener()", "client"),
        ("import http\nhttp.client.HTTPConnection('x')", "client"),
        # Dynamic imports, whatever the string.
        ("import importlib\nimportlib.import_module('ht' + 'tpx')", "dynamic"),
        ("import importlib\nimportlib.import_module('json')", "dynamic"),
        ("from importlib import import_module as load\nload(name)", "dynamic"),
        ("import importlib as il\nil.import_module(name)", "dynamic"),
        ("__import__('ht' + 'tpx')", "dynamic"),
        ("import builtins\nbuiltins.__import__(name)", "dynamic"),
        ("import sys\nclient = sys.modules['httpx']", "dynamic"),
        ("from sys import modules\nmodules['httpx']", "dynamic"),
        ("exec('import httpx')", "dynamic"),
        ("eval(code)", "dynamic"),
        ("import importlib\ngetattr(importlib, 'import_module')('httpx')", "dynamic"),
        ("import importlib.util\nimportlib.util.spec_from_file_location('m', p)", "dynamic"),
        ("import runpy\nrunpy.run_path(p)", "dynamic"),
        ("import importlib\nimportlib.__dict__['import_module']('httpx')", "dynamic"),
        ("import builtins\nvars(builtins)['__import__']('httpx')", "dynamic"),
        ("importer = __builtins__['__import__']", "dynamic"),
        # Sockets and connection primitives: enough to write (or vendor) a client.
        ("import socket\nsocket.create_connection(('example.org', 80))", "socket"),
        ("import ssl", "socket"),
        ("import ctypes\nctypes.CDLL(None).connect", "socket"),
        ("from multiprocessing.connection import Client", "socket"),
        ("from socket import socket as s", "socket"),
        ("import asyncio\nasyncio.open_connection('example.org', 80)", "socket"),
        ("loop.create_connection(Protocol, 'example.org', 80)", "socket"),
        ("import anyio\nanyio.connect_tcp('example.org', 80)", "socket"),
        ("import subprocess\nsubprocess.run(['curl', url])", "socket"),
        ("import subprocess\nsubprocess.run('/usr/bin/wget -q ' + url, shell=True)", "socket"),
        # Vendored clients.
        ("from ._vendor import httpx", "vendored"),
        ("from smart_support.third_party.client import get", "vendored"),
        # MCP transports without our factory.
        ("from mcp.client.streamable_http import streamablehttp_client", "client"),
        ("from mcp.client.sse import sse_client", "client"),
        ("from fastmcp.client import Client", "client"),
        ("from opentelemetry.exporter.otlp.proto.http.trace_exporter import E", "client"),
        ("c = {'transport': 'streamable_http', 'url': u}", "mcp"),
        ("c = {'transport': 'sse', 'url': u, 'httpx_client_factory': my_factory}", "mcp"),
        ("c = {'transport': 'sse', 'url': u, 'httpx_client_factory': my_factory()}", "mcp"),
        ("c = {'transport': 'websocket', 'url': u}", "mcp"),
        ("c = {'transport': kind, 'url': u}", "mcp"),
        ("c = StreamableHttpConnection(transport='streamable_http', url=u)", "mcp"),
        ("c = {'transport': 'stdio'}\nc['transport'] = 'sse'", "mcp"),
    ],
)
def test_the_check_catches_every_way_of_reaching_the_network(source: str, kind: str) -> None:
    assert kind in {f.kind for f in scan_source(source)}, scan_source(source)


@pytest.mark.parametrize(
    "source",
    [
        "from urllib.parse import urlsplit",
        "import urllib.parse\nurllib.parse.urlsplit('http://x')",
        "from http import HTTPStatus",
        "import httpx_sse_is_not_httpx_but_a_different_name",
        "from smart_support.egress import async_client, HTTPError",
        "from smart_support.egress import fetch\nresponse = await fetch(url, settings)",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx\n"
        "def f(client: httpx.AsyncClient) -> httpx.Response: ...",
        "import typing\nif typing.TYPE_CHECKING:\n    from httpx import Response",
        "import importlib.metadata\nimportlib.metadata.version('smart-support')",
        "from importlib import resources\nresources.files('smart_support')",
        "import re\npattern = re.compile('x')",
        "graph = builder.compile(checkpointer=saver)",
        "import subprocess\nsubprocess.run([sys.executable, '-m', 'smart_support.cli', 'shop'])",
        "from smart_support.egress import mcp_httpx_client_factory\n"
        "c = {'transport': 'streamable_http', 'url': u,"
        " 'httpx_client_factory': mcp_httpx_client_factory(settings)}",
        "c = {'transport': 'stdio', 'command': 'python', 'args': []}",
        "from . import schema",
    ],
)
def test_the_check_allows_parsers_the_guard_and_type_only_imports(source: str) -> None:
    assert scan_source(source) == []

"""Product code reaches the network only through the egress guard (smart_support.egress).

Any import of an HTTP client library elsewhere in src/smart_support fails this test: a new tool or
importer must take its client from `smart_support.egress.async_client` (or the MCP factory).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "smart_support"

#: Modules that send HTTP requests. `urllib.parse` is a parser, not a client, so it is allowed;
#: `http` alone (status codes) is allowed, `http.client` is not.
HTTP_CLIENTS = (
    "httpx",
    "httpx2",
    "httpcore",
    "httpcore2",
    "requests",
    "niquests",
    "urllib.request",
    "urllib3",
    "http.client",
    "aiohttp",
    "httplib2",
    "pycurl",
)

#: The guard itself.
GUARD = PACKAGE / "egress"

#: Files allowed to import an HTTP client anyway, each with the reason. They may still not build a
#: client, a transport or send a request with it (checked below).
#: LLM provider SDKs bring their own clients; they are exempt because the operator alone
#: configures their endpoints, and product code does not import their HTTP layer.
EXCEPTIONS: dict[str, str] = {}

#: What sends requests: clients, transports and the one-shot request functions.
_SENDERS = frozenset(
    {
        "Client",
        "AsyncClient",
        "HTTPTransport",
        "AsyncHTTPTransport",
        "ConnectionPool",
        "AsyncConnectionPool",
        "request",
        "stream",
        "get",
        "post",
        "put",
        "patch",
        "delete",
        "head",
        "options",
    }
)


def _is_client(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in HTTP_CLIENTS)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Lines inside `if TYPE_CHECKING:` blocks: imports there are for annotations only."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                for inner in ast.walk(child):
                    if hasattr(inner, "lineno"):
                        lines.add(inner.lineno)
    return lines


def http_client_imports(source: str) -> list[tuple[int, str]]:
    """(line, module) for every HTTP-client import in `source`, outside TYPE_CHECKING blocks."""
    tree = ast.parse(source)
    typing_only = _type_checking_lines(tree)
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from urllib import request` imports urllib.request
            modules = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        elif (
            isinstance(node, ast.Call)
            and ast.unparse(node.func) in ("__import__", "importlib.import_module", "import_module")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            modules = [node.args[0].value]
        line = getattr(node, "lineno", 0)
        for module in modules:
            if _is_client(module) and line not in typing_only:
                found.append((line, module))
                break
    return found


def http_client_uses(source: str) -> list[tuple[int, str]]:
    """(line, name) where `source` builds a client or transport or sends a request directly."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Attribute) and node.attr in _SENDERS:
            owner = ast.unparse(node.value)
            if _is_client(owner):
                found.append((node.lineno, f"{owner}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module and _is_client(node.module):
            found += [
                (node.lineno, f"{node.module}.{a.name}") for a in node.names if a.name in _SENDERS
            ]
    return found


def test_no_product_module_outside_the_egress_guard_imports_an_http_client() -> None:
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if path.is_relative_to(GUARD):
            continue
        source = path.read_text(encoding="utf-8")
        if relative in EXCEPTIONS:
            for line, name in http_client_uses(source):
                offenders.append(f"{relative}:{line} uses {name} (listed for error classes only)")
            continue
        for line, module in http_client_imports(source):
            offenders.append(f"{relative}:{line} imports {module}")
    assert offenders == [], "use smart_support.egress.async_client instead:\n" + "\n".join(
        offenders
    )


def test_the_egress_guard_is_where_the_check_expects_it() -> None:
    assert (GUARD / "__init__.py").is_file()
    assert http_client_imports((GUARD / "client.py").read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    "source",
    [
        "import httpx",
        "import httpx as h",
        "from httpx import AsyncClient",
        "import urllib.request",
        "from urllib import request",
        "from urllib.request import urlopen",
        "from http import client",
        "import http.client",
        "import requests.adapters",
        "import aiohttp",
        "def f():\n    import httpcore",
        "import importlib\nimportlib.import_module('httpx')",
        "from typing import TYPE_CHECKING\nimport httpx\nif TYPE_CHECKING:\n    pass",
    ],
)
def test_the_check_catches_every_way_of_importing_a_client(source: str) -> None:
    assert http_client_imports(source)


@pytest.mark.parametrize(
    "source",
    [
        "import httpx\nclient = httpx.AsyncClient()",
        "import httpx\nhttpx.get('http://example.com')",
        "from httpx import AsyncHTTPTransport",
        "import httpcore\npool = httpcore.AsyncConnectionPool()",
    ],
)
def test_an_excepted_file_may_catch_errors_but_not_build_a_client(source: str) -> None:
    assert http_client_uses(source)
    assert http_client_uses("import httpx\ntry:\n    pass\nexcept httpx.HTTPError:\n    pass") == []


@pytest.mark.parametrize(
    "source",
    [
        "from urllib.parse import urlsplit",
        "import urllib.parse",
        "from http import HTTPStatus",
        "import httpx_sse_is_not_httpx_but_a_different_name",
        "from smart_support.egress import async_client",
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import httpx",
    ],
)
def test_the_check_allows_parsers_status_codes_and_type_only_imports(source: str) -> None:
    assert http_client_imports(source) == []

"""Building the exact HTTP request of an operation from a tool's arguments.

Path values are percent-encoded whole (`#W123` -> `%23W123`, `a/b` -> `a%2Fb`); query, header and
cookie values follow the parameter's style and explode (form, spaceDelimited, pipeDelimited,
deepObject; Swagger's collectionFormat mapped onto them); form bodies are encoded with nested
objects as `a[b]=c`; JSON bodies are sent as JSON.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from smart_support.errors import ToolError
from smart_support.openapi.model import Operation, Parameter


@dataclass
class Binding:
    """Where one tool argument goes: a parameter (by location and name) or a body property."""

    argument: str
    location: str  # path, query, header, cookie, body ("body" with original "" = the whole body)
    original: str
    required: bool


@dataclass
class HttpRequest:
    method: str
    url: str
    query: list[tuple[str, str]] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


_DELIMITERS = {
    "form": ",",
    "simple": ",",
    "spaceDelimited": " ",
    "pipeDelimited": "|",
    "tabDelimited": "\t",
}


def _query_pairs(name: str, value: Any, style: str, explode: bool) -> list[tuple[str, str]]:
    if isinstance(value, list):
        if explode and style == "form":
            return [(name, _scalar(v)) for v in value]
        return [(name, _DELIMITERS.get(style, ",").join(_scalar(v) for v in value))]
    if isinstance(value, dict):
        if style == "deepObject":
            return _nested(name, value)
        if explode:
            return [(k, _scalar(v)) for k, v in value.items()]
        return [(name, ",".join(f"{k},{_scalar(v)}" for k, v in value.items()))]
    return [(name, _scalar(value))]


def _nested(prefix: str, value: Any) -> list[tuple[str, str]]:
    """`a[b][c]=v` pairs for nested objects; arrays as `a[0]=v` (the common server convention)."""
    if isinstance(value, dict):
        pairs: list[tuple[str, str]] = []
        for key, sub in value.items():
            pairs.extend(_nested(f"{prefix}[{key}]", sub))
        return pairs
    if isinstance(value, list):
        pairs = []
        for index, sub in enumerate(value):
            pairs.extend(_nested(f"{prefix}[{index}]", sub))
        return pairs
    return [(prefix, _scalar(value))]


def _simple(value: Any, explode: bool) -> str:
    if isinstance(value, list):
        return ",".join(_scalar(v) for v in value)
    if isinstance(value, dict):
        sep = "=" if explode else ","
        return ",".join(f"{k}{sep}{_scalar(v)}" for k, v in value.items())
    return _scalar(value)


def build(
    operation: Operation, bindings: list[Binding], arguments: dict[str, Any], server: str
) -> HttpRequest:
    """The request for `arguments` (tool argument names) per `bindings`.

    Raises:
        ToolError: A required argument is missing.
    """
    styles: dict[tuple[str, str], Parameter] = {
        (p.location, p.name): p for p in operation.parameters
    }
    path = operation.path
    request = HttpRequest(method=operation.method.upper(), url="")
    cookies: list[str] = []
    body: dict[str, Any] = {}
    whole: Any = None
    has_whole = False
    for binding in bindings:
        if binding.argument not in arguments or arguments[binding.argument] is None:
            if binding.required and binding.location == "path":
                raise ToolError(f"missing the required argument {binding.argument!r}")
            continue
        value = arguments[binding.argument]
        param = styles.get((binding.location, binding.original))
        style, explode = (param.style, param.explode) if param else ("form", True)
        if binding.location == "path":
            path = path.replace(
                "{" + binding.original + "}", quote(_simple(value, explode), safe="")
            )
        elif binding.location == "query":
            request.query.extend(_query_pairs(binding.original, value, style, explode))
        elif binding.location == "header":
            request.headers[binding.original] = _simple(value, explode)
        elif binding.location == "cookie":
            cookies.append(f"{binding.original}={quote(_simple(value, explode), safe='')}")
        elif binding.original == "":
            whole, has_whole = value, True
        else:
            body[binding.original] = value
    if cookies:
        request.headers["Cookie"] = "; ".join(cookies)
    request.url = server.rstrip("/") + "/" + path.lstrip("/")
    if operation.body is not None and (body or has_whole or operation.body.required):
        payload = whole if has_whole else body
        if operation.body.encoding == "form":
            pairs: list[tuple[str, str]] = []
            for key, sub in payload.items() if isinstance(payload, dict) else []:
                scalars = isinstance(sub, list) and all(
                    not isinstance(v, (dict, list)) for v in sub
                )
                delimiter = operation.body.delimiters.get(key)
                if scalars and delimiter is not None:
                    pairs.append((key, delimiter.join(_scalar(v) for v in sub)))
                elif scalars:
                    pairs.extend((key, _scalar(v)) for v in sub)
                else:
                    pairs.extend(_nested(key, sub))
            request.content = urlencode(pairs).encode("ascii")
            request.headers["Content-Type"] = "application/x-www-form-urlencoded"
        else:
            request.content = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            request.headers["Content-Type"] = "application/json"
    return request

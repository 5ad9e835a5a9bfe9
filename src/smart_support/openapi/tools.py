"""Tools from operations: one LangChain StructuredTool per operation, called through the egress
guard.

Each tool takes one JSON object holding every parameter (path, query, header, cookie, except the
auth and content negotiation headers the HTTP layer owns) and the body's top-level properties; a
name that occurs twice is renamed and mapped back (`bindings`). GET/HEAD/OPTIONS are `read`, every
other method `write` (the tool guard asks for approval); a write sends the ledger's idempotency
key as `Idempotency-Key`. The import's credentials (`auth.py`) are added after the request is
built from the model's arguments, and their secrets are scrubbed from whatever comes back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from langchain_core.tools import StructuredTool

from smart_support.egress import HTTPError, TimeoutException, async_client
from smart_support.errors import EgressRefused, ToolError
from smart_support.openapi.auth import Credentials, scrub
from smart_support.openapi.model import Operation
from smart_support.openapi.names import argument_name
from smart_support.openapi.request import Binding, build
from smart_support.openapi.trim import trim
from smart_support.tools.context import current_tool_context

READ_METHODS = {"get", "head", "options"}


def access(operation: Operation) -> str:
    return "read" if operation.method in READ_METHODS else "write"


def input_schema(
    operation: Operation, hidden: frozenset[tuple[str, str]] = frozenset()
) -> tuple[dict[str, Any], list[Binding]]:
    """The tool's JSON-object input schema and where each argument goes.

    Args:
        operation: The operation.
        hidden: (location, lower-case name) of parameters the import's credentials fill: the
            model never sees them.
    """
    taken: set[str] = set()
    properties: dict[str, Any] = {}
    required: list[str] = []
    bindings: list[Binding] = []

    def add(
        original: str,
        location: str,
        schema: dict[str, Any],
        is_required: bool,
        description: str = "",
    ) -> None:
        name = argument_name(original or "body", location, taken)
        prop = dict(schema) if isinstance(schema, dict) else {}
        note = description or prop.get("description") or ""
        if name != original and original:
            note = f"{note} ({location} {original!r})".strip()
        if note:
            prop["description"] = str(note)[:1000]
        properties[name] = prop
        if is_required:
            required.append(name)
        bindings.append(
            Binding(argument=name, location=location, original=original, required=is_required)
        )

    for param in operation.parameters:
        if (param.location, param.name.lower()) in hidden:
            continue
        add(param.name, param.location, param.schema_, param.required, param.description)
    body = operation.body
    if body is not None:
        if body.whole is not None:
            add("", "body", body.whole, body.required, body.description or "the request body")
        for name, prop_schema in body.properties.items():
            add(name, "body", prop_schema, body.required and name in body.required_properties)
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema, bindings


def make_tool(
    operation: Operation,
    name: str,
    schema: dict[str, Any],
    bindings: list[Binding],
    *,
    result_budget: int = 16_000,
    credentials: Credentials | None = None,
) -> StructuredTool:
    """The LangChain tool of one operation; calls need a tool context (the runtime's settings)."""
    level = access(operation)

    async def run(**arguments: Any) -> Any:
        return await call(
            operation,
            bindings,
            arguments,
            write=level == "write",
            budget=result_budget,
            credentials=credentials,
        )

    description = operation.summary or operation.description or operation.label
    return StructuredTool(
        name=name,
        description=f"{description} ({operation.label})"[:1024],
        args_schema=schema,
        coroutine=run,
        metadata={"access": level, "summary": None, "source": f"openapi:{operation.label}"},
    )


async def call(
    operation: Operation,
    bindings: list[Binding],
    arguments: dict[str, Any],
    *,
    write: bool,
    budget: int,
    credentials: Credentials | None = None,
) -> Any:
    """Send the operation's request; a parsed (trimmed) result, or `{"ok": false, ...}`.

    With credentials, a 401 is answered by sending the request once more when they can be
    renewed (an OAuth2 token); every secret is scrubbed from the result and from errors.

    Raises:
        ToolError: No server URL, a timeout, a refused or failed connection, the egress guard
            refused the address, or the credentials could not be obtained.
    """
    secrets = credentials.secrets if credentials is not None else list
    try:
        return await _call(operation, bindings, arguments, write, budget, credentials)
    except ToolError as exc:
        raise ToolError(scrub(str(exc), secrets())) from None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    return parts.scheme, (parts.hostname or "").lower(), parts.port


def _off_origin_strip(url: str, credentials: Credentials) -> Callable[[Any], Awaitable[None]]:
    """A request hook: a redirect to another origin goes without the credentials' headers
    (httpx drops only `Authorization` and `Cookie`, not an API key header)."""
    origin = _origin(url)

    async def strip(request: Any) -> None:
        if _origin(str(request.url)) != origin:
            for name in credentials.carried:
                request.headers.pop(name, None)

    return strip


async def _call(
    operation: Operation,
    bindings: list[Binding],
    arguments: dict[str, Any],
    write: bool,
    budget: int,
    credentials: Credentials | None,
) -> Any:
    ctx = current_tool_context()
    if not operation.server:
        raise ToolError(
            f"{operation.label} has no server URL: the operator must set one for this import"
        )
    built = build(operation, bindings, arguments, operation.server)
    hooks = {"request": [_off_origin_strip(built.url, credentials)]} if credentials else {}
    try:
        async with async_client(
            ctx.settings, follow_redirects=not write, event_hooks=hooks
        ) as client:
            for attempt in (1, 2):
                request = built
                if credentials is not None:
                    request = await credentials.apply(built, ctx.settings)
                headers = {"Accept": "application/json", **request.headers}
                if write and ctx.idempotency_key:
                    headers["Idempotency-Key"] = ctx.idempotency_key
                response = await client.request(
                    request.method,
                    request.url,
                    params=tuple(request.query),
                    headers=headers,
                    content=request.content,
                )
                renew = response.status_code == 401 and credentials is not None and attempt == 1
                if not (renew and credentials is not None and await credentials.rejected(request)):
                    break
    except EgressRefused as exc:
        raise ToolError(f"{operation.label}: the address was refused: {exc.detail}") from None
    except TimeoutException:
        raise ToolError(f"{operation.label}: the API did not answer in time") from None
    except HTTPError as exc:
        raise ToolError(f"{operation.label}: the request failed ({type(exc).__name__})") from None
    parsed: Any
    try:
        parsed = response.json() if response.content else None
    except ValueError:
        parsed = response.text
    if credentials is not None:
        parsed = scrub(parsed, credentials.secrets())
    if response.status_code >= 300:
        error = parsed if parsed not in (None, "") else response.reason_phrase
        return {
            "ok": False,
            "status": response.status_code,
            "error": trim(error, min(budget, 2_000)),
        }
    if parsed is None:
        return {"ok": True, "status": response.status_code}
    return trim(parsed, budget)

"""`smart-support mcp serve IMPORT`: an OpenAPI import as an MCP server (FastMCP, stdio or HTTP).

Each imported operation becomes one MCP tool with the same name, description and input schema; a
call runs the import's own tool, so requests are built, authenticated, guarded (egress) and
trimmed exactly as for an agent. Reads are annotated read-only, writes destructive.

An MCP server cannot show Smart Support's approval UI, and any action that changes data waits for
an explicit approval. So `--writes` decides what a write does:

- `confirm` (default): ask the MCP client's user through MCP elicitation, showing the method, the
  path and the arguments; nothing is sent unless they accept. A client without elicitation gets a
  refusal naming `--writes allow`.
- `allow`: run writes without asking (the operator's client confirms tool calls itself).
- `none`: do not expose write tools at all.

Every write sends a fresh `Idempotency-Key`. Logs go to stderr: with stdio, stdout is the protocol.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from pathlib import Path
from typing import Any, Literal

from fastmcp import FastMCP
from fastmcp.exceptions import ToolError as McpToolError
from fastmcp.server.dependencies import get_context
from fastmcp.server.elicitation import AcceptedElicitation
from fastmcp.tools import Tool, ToolResult
from mcp.types import ClientCapabilities, ElicitationCapability, ToolAnnotations
from pydantic import PrivateAttr

from smart_support.errors import ConfigError, EgressRefused, ToolError
from smart_support.openapi.importer import ImportedOperation, ImportResult, import_configured
from smart_support.registry.schema import OpenApiSpec, check_http_url
from smart_support.settings import Settings
from smart_support.tools.context import ToolContext, tool_context

log = logging.getLogger("smart_support.openapi.serve")

Writes = Literal["confirm", "allow", "none"]
WRITES: tuple[Writes, ...] = ("confirm", "allow", "none")


class OperationTool(Tool):
    """One imported operation as an MCP tool; the import's LangChain tool makes the call."""

    _operation: ImportedOperation = PrivateAttr()
    _settings: Settings = PrivateAttr()
    _write: bool = PrivateAttr(default=True)
    _confirm: bool = PrivateAttr(default=True)

    @classmethod
    def of(
        cls, operation: ImportedOperation, settings: Settings, *, confirm: bool
    ) -> OperationTool:
        """The MCP tool of `operation`; writes ask for confirmation first when `confirm`."""
        write = (operation.tool.metadata or {}).get("access") != "read"  # unknown: a write
        tool = cls(
            name=operation.tool.name,
            description=operation.tool.description,
            parameters=operation.input_schema,
            annotations=ToolAnnotations(
                title=operation.operation.summary or None,
                readOnlyHint=not write,
                destructiveHint=write,
                openWorldHint=True,
            ),
        )
        tool._operation, tool._settings = operation, settings
        tool._write, tool._confirm = write, confirm
        return tool

    @property
    def write(self) -> bool:
        """Whether the operation changes data (any method but GET, HEAD and OPTIONS)."""
        return self._write

    async def run(self, arguments: dict[str, Any]) -> ToolResult:
        key = None
        if self.write:
            if self._confirm:
                refusal = await self._ask(arguments)
                if refusal is not None:
                    return self.convert_result(refusal)
            key = str(uuid.uuid4())  # a new request each call: the API must not replay another
        try:
            with tool_context(ToolContext(self._settings, idempotency_key=key)):
                result = await self._operation.tool.ainvoke(arguments)
        except ToolError as exc:
            log.info("%s: %s", self.name, exc)
            raise McpToolError(str(exc)) from None
        ok = not (isinstance(result, dict) and result.get("ok") is False)
        log.info(
            "%s: %s %s", self.name, self._operation.operation.label, "done" if ok else "refused"
        )
        return self.convert_result(result)

    async def _ask(self, arguments: dict[str, Any]) -> dict[str, Any] | None:
        """None when the client's user accepts the write, else the tool's answer.

        Raises:
            McpToolError: The client cannot ask its user (no elicitation support).
        """
        ctx = get_context()
        op = self._operation.operation
        supported = ctx.session.check_client_capability(
            ClientCapabilities(elicitation=ElicitationCapability())
        )
        if not supported:
            raise McpToolError(
                f"{self.name} changes data and waits for a confirmation, but this MCP client "
                "cannot ask for one (no elicitation support); nothing was sent. If the client "
                "confirms tool calls itself, the operator can start the server with "
                "--writes allow (or --writes none to hide write tools)."
            )
        # In full: the user approves exactly what is sent, never a shortened version of it.
        shown = json.dumps(arguments, ensure_ascii=False, sort_keys=True)
        message = (
            f"{self.name} changes data: {op.label} on {op.server or '(no server)'}\n"
            f"arguments: {shown}\nSend this request?"
        )
        # fastmcp's overloads of elicit are split by stray strings, so mypy sees only the first.
        answer = await ctx.elicit(
            message,
            response_type=bool,  # type: ignore[arg-type]
            response_title="Send this request",
        )
        if isinstance(answer, AcceptedElicitation) and answer.data is True:
            log.info("%s confirmed by the client's user", self.name)
            return None
        log.info("%s not confirmed (%s): nothing sent", self.name, answer.action)
        return {
            "ok": False,
            "sent": False,
            "error": f"the user did not confirm {op.label}: nothing was sent",
        }


def build_server(result: ImportResult, settings: Settings, *, writes: str) -> FastMCP:
    """An MCP server with one tool per imported operation.

    Args:
        result: The import (see `import_configured`).
        settings: The egress settings every call runs with.
        writes: `confirm` (ask through MCP elicitation), `allow` (run without asking) or `none`
            (write tools are not exposed).

    Raises:
        ValueError: `writes` is none of those.
    """
    if writes not in WRITES:
        raise ValueError(f"writes must be one of {', '.join(WRITES)}, not {writes!r}")
    server: FastMCP = FastMCP(
        name="smart-support",
        instructions=f"The operations of the OpenAPI spec {result.source}, as tools.",
    )
    for operation in result.operations:
        tool = OperationTool.of(operation, settings, confirm=writes == "confirm")
        if tool.write and writes == "none":
            continue
        server.add_tool(tool)
    return server


def _is_source(target: str) -> bool:
    """A spec file or URL rather than the name of a declared import (`[a-z][a-z0-9_]*`)."""
    return target == "-" or any(mark in target for mark in ("://", "/", "\\", "."))


def _declared(
    target: str, settings: Settings, server: str | None
) -> tuple[OpenApiSpec, Path | None]:
    """The import to serve and the folder relative sources are read from.

    Raises:
        ConfigError: No such import, a bad agents.yaml, a bad --server, or `-` (stdin).
    """
    if _is_source(target):
        if target == "-":
            raise ConfigError(
                "the spec cannot be read from stdin here: pass a spec file or URL, or the name "
                "of an import declared in agents.yaml"
            )
        try:
            return OpenApiSpec(source=target, server=check_http_url(server)), None
        except ValueError as exc:
            raise ConfigError(f"--server: {exc}") from None
    from smart_support.registry import load_registry
    from smart_support.registry.validate import demo_agents_file

    registry = load_registry(settings.agents_file or demo_agents_file())
    imports = registry.openapi_imports
    if target not in imports:
        declared = ", ".join(sorted(imports)) or "none"
        raise ConfigError(
            f"no OpenAPI import named {target!r} under openapi: in {registry.file} "
            f"(declared: {declared}); pass a spec file or URL to serve one directly"
        )
    spec = imports[target]
    if server is not None:
        try:
            spec = spec.model_copy(update={"server": check_http_url(server)})
        except ValueError as exc:
            raise ConfigError(f"--server: {exc}") from None
    return spec, registry.base_dir


async def _serve(
    target: str,
    settings: Settings,
    *,
    stdio: bool,
    host: str,
    port: int,
    writes: str,
    server: str | None,
) -> int:
    try:
        spec, base_dir = _declared(target, settings, server)
        result = await import_configured(spec, settings, base_dir=base_dir)
    except EgressRefused as exc:
        print(exc.reason, file=sys.stderr)  # "refused: ..."
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for warning in result.warnings:
        log.warning("%s: %s", result.source, warning)
    mcp = build_server(result, settings, writes=writes)
    tools = await mcp.list_tools()
    if not tools:
        print(f"error: {result.source}: no tools to serve (--writes {writes})", file=sys.stderr)
        return 2
    hidden = len(result.operations) - len(tools)
    where = "stdio" if stdio else f"http://{host}:{port}/mcp"
    log.info(
        "serving %d tools of %s over %s (writes: %s%s)",
        len(tools),
        result.source,
        where,
        writes,
        f", {hidden} write tools hidden" if hidden else "",
    )
    # run_stdio_async / run_http_async rather than run(transport=...): we are already in a loop.
    if stdio:
        await mcp.run_stdio_async(show_banner=False)
    else:
        if host not in ("127.0.0.1", "localhost", "::1"):
            log.warning(
                "the MCP endpoint has no authentication: anyone who reaches %s:%d can call its "
                "tools",
                host,
                port,
            )
        # log_config None: uvicorn's loggers (its access log writes to stdout) go to ours, stderr.
        await mcp.run_http_async(
            show_banner=False, host=host, port=port, uvicorn_config={"log_config": None}
        )
    return 0


def cli_mcp_serve(
    target: str,
    settings: Settings,
    transport: str,
    host: str,
    port: int,
    writes: str,
    server: str | None = None,
) -> int:
    """Serve the import TARGET (a name under `openapi:` in agents.yaml, or a spec file or URL)
    as an MCP server until interrupted.

    Returns:
        The exit code: 0 after a clean stop, 1 when the egress guard refused the spec's URL, 2
        for an unknown import, a bad spec or bad options.
    """
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every URL at INFO: path and query values are customers' data (ids, emails).
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    try:
        return asyncio.run(
            _serve(
                target,
                settings,
                stdio=transport == "stdio",
                host=host,
                port=port,
                writes=writes,
                server=server,
            )
        )
    except KeyboardInterrupt:
        return 0

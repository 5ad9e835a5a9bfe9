"""The toolkit: every agent's tools resolved, with one MCP session per server held open.

    async with open_toolkit(registry, settings) as toolkit:
        tools = toolkit.tools_for("orders")     # LangChain tools
        toolkit.access("cancel_order")          # "read" | "write"

Each tool's `metadata` is `{"access": "read"|"write", "summary": template or None,
"source": "python:module:function" | "mcp:server"}`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from langchain_core.tools import BaseTool

from smart_support.egress import shared_connections
from smart_support.errors import ConfigError, EgressRefused
from smart_support.registry.schema import Access, Registry, ToolSpec, summary_fields
from smart_support.settings import Settings
from smart_support.tools.mcp import McpServer
from smart_support.tools.python import PythonToolError, python_tool

log = logging.getLogger("smart_support.tools")


class Toolkit:
    """The resolved tools of every agent. Build it with `open_toolkit`."""

    def __init__(self, tools: dict[str, list[BaseTool]], servers: dict[str, McpServer]) -> None:
        self._tools = tools
        self._servers = servers
        self._access: dict[str, Access] = {}
        for agent_tools in tools.values():
            for tool in agent_tools:
                self._access[tool.name] = (tool.metadata or {}).get("access", "write")

    def tools_for(self, agent_name: str) -> list[BaseTool]:
        """The LangChain tools of one agent, in agents.yaml order.

        Raises:
            KeyError: No agent has that name.
        """
        if agent_name not in self._tools:
            raise KeyError(f"no agent named {agent_name!r}")
        return list(self._tools[agent_name])

    def access(self, tool_name: str) -> Access:
        """`read` or `write` for a tool name; a name the toolkit does not know counts as write."""
        return self._access.get(tool_name, "write")

    @property
    def tool_names(self) -> list[str]:
        """Every distinct tool name across agents."""
        return list(self._access)

    @property
    def servers(self) -> dict[str, McpServer]:
        """The open MCP servers by name (only those some agent uses)."""
        return dict(self._servers)


async def _start_servers(
    registry: Registry, settings: Settings, servers: dict[str, McpServer]
) -> tuple[list[ConfigError], set[str]]:
    used = {t.mcp for a in registry.agents for t in a.tools if t.mcp is not None}
    for name in registry.mcp_servers:
        if name not in used:
            log.warning("MCP server %s is declared in %s but no agent uses it", name, registry.file)
    for name in sorted(used):
        servers[name] = McpServer(name, registry.mcp_servers[name], settings, registry.base_dir)
    results = await asyncio.gather(
        *(server.start() for server in servers.values()), return_exceptions=True
    )
    errors, dead = [], set()
    for server, result in zip(servers.values(), results, strict=True):
        if isinstance(result, ConnectionError):
            dead.add(server.name)
            errors.append(
                ConfigError(
                    f"MCP server {server.name!r} is unreachable ({server.target}): {result}",
                    **registry.where("mcp_servers", server.name),
                )
            )
        elif isinstance(result, BaseException):
            raise result
    return errors, dead


async def _load_imports(
    registry: Registry, settings: Settings
) -> tuple[dict[str, list[BaseTool]], list[ConfigError]]:
    """Each OpenAPI import an agent uses, loaded once: its tools by import name."""
    from smart_support.openapi import SpecError
    from smart_support.openapi.auth import MissingSecret
    from smart_support.openapi.importer import import_configured

    used = {t.openapi for a in registry.agents for t in a.tools if t.openapi is not None}
    loaded: dict[str, list[BaseTool]] = {}
    errors: list[ConfigError] = []
    for name in sorted(used):
        spec = registry.openapi_imports.get(name)
        if spec is None:
            continue  # undeclared: the loader reported it
        where = registry.where("openapi", name, "source")
        try:
            result = await import_configured(spec, settings, base_dir=registry.base_dir)
        except MissingSecret as exc:  # names the variable, never a value
            field = registry.where("openapi", name, *exc.path)
            errors.append(ConfigError(f"import {name!r}: {exc.message}", **field))
            continue
        except (SpecError, EgressRefused) as exc:
            errors.append(ConfigError(f"import {name!r} failed: {exc}", **where))
            continue
        for skipped in result.skipped:
            log.warning("import %s: %s skipped: %s", name, skipped["operation"], skipped["reason"])
        # The operations' tags ride along for `tags:` entries (`_tagged`); `_imported_tool`
        # replaces the metadata with the entry's.
        loaded[name] = [
            op.tool.model_copy(
                update={"metadata": {**(op.tool.metadata or {}), "tags": op.operation.tags}}
            )
            for op in result.operations
        ]
    return loaded, errors


def _imported_tool(tool: BaseTool, spec: ToolSpec) -> BaseTool:
    """An imported operation's tool with the entry's name and the guard's metadata."""
    method_access = (tool.metadata or {}).get("access", "write")
    copy = tool.model_copy()
    copy.name = spec.name or tool.name
    copy.metadata = spec.metadata(tool.name, method_access)
    copy.handle_tool_error = True
    return copy


def _tagged(
    spec: ToolSpec, operations: list[BaseTool], where: dict[str, Any]
) -> tuple[list[BaseTool], ConfigError | None]:
    """An import's operations with one of the entry's tags; an unknown tag is an error."""
    wanted = set(spec.tags or [])
    tags = {t: None for op in operations for t in (op.metadata or {}).get("tags", [])}
    unknown = [t for t in spec.tags or [] if t not in tags]
    tools = [
        _imported_tool(op, spec)
        for op in operations
        if wanted & set((op.metadata or {}).get("tags", []))
    ]
    if unknown:
        offered = ", ".join(list(tags)[:50]) or "none"
        message = f"import {spec.openapi!r} has no tag {unknown[0]!r} (its tags: {offered})"
        return tools, ConfigError(message, **{**where, "field": f"{where['field']}.tags"})
    return tools, None


def _resolve_entry(
    spec: ToolSpec,
    servers: dict[str, McpServer],
    where: dict[str, Any],
    imports: dict[str, list[BaseTool]] | None = None,
) -> tuple[list[BaseTool], ConfigError | None]:
    if spec.python is not None:
        try:
            return [python_tool(spec)], None
        except PythonToolError as exc:
            return [], ConfigError(str(exc), **{**where, "field": f"{where['field']}.python"})
    if spec.openapi is not None:
        operations = (imports or {}).get(spec.openapi)
        if operations is None:  # undeclared or failed: reported already
            return [], None
        if spec.tool is None and spec.tags is not None:
            return _tagged(spec, operations, where)
        if spec.tool is None:
            return [_imported_tool(t, spec) for t in operations], None
        found = next((t for t in operations if t.name == spec.tool), None)
        if found is None:
            offered = ", ".join(t.name for t in operations[:30]) or "none"
            message = f"import {spec.openapi!r} has no operation {spec.tool!r} (it has: {offered})"
            return [], ConfigError(message, **{**where, "field": f"{where['field']}.tool"})
        return [_imported_tool(found, spec)], None
    assert spec.mcp is not None
    server = servers.get(spec.mcp)
    if server is None:  # undeclared: the loader reported it
        return [], None
    if spec.tool is None:
        unknown = sorted(set(spec.read_tools or []) - set(server.tool_names))
        tools = [server.tool(name, spec) for name in server.tool_names]
        if unknown:
            offered = ", ".join(server.tool_names) or "none"
            message = (
                f"MCP server {spec.mcp!r} has no tool {unknown[0]!r} to be a read "
                f"(it offers: {offered})"
            )
            return tools, ConfigError(message, **{**where, "field": f"{where['field']}.read_tools"})
        return tools, None
    if spec.tool not in server.tool_names:
        offered = ", ".join(server.tool_names) or "none"
        message = f"MCP server {spec.mcp!r} has no tool {spec.tool!r} (it offers: {offered})"
        return [], ConfigError(message, **{**where, "field": f"{where['field']}.tool"})
    return [server.tool(spec.tool, spec)], None


def _check_summary(summary: str, tool: BaseTool, where: dict[str, Any]) -> ConfigError | None:
    unknown = sorted(summary_fields(summary) - set(tool.args))
    if not unknown:
        return None
    names = ", ".join(tool.args) or "none"
    return ConfigError(
        f"the summary uses {{{unknown[0]}}}, which is not an argument of {tool.name!r} "
        f"(arguments: {names})",
        **{**where, "field": f"{where['field']}.summary"},
    )


def _check_identity_rules(
    spec: ToolSpec, tool: BaseTool, where: dict[str, Any]
) -> ConfigError | None:
    """`bind:` names arguments the tool has."""
    field = where["field"]
    for argument in spec.bind or {}:
        if argument not in tool.args:
            names = ", ".join(tool.args) or "none"
            return ConfigError(
                f"bind names {argument!r}, which is not an argument of {tool.name!r} "
                f"(arguments: {names})",
                **{**where, "field": f"{field}.bind"},
            )
    return None


def _check_check(name: str, tools: list[BaseTool], where: dict[str, Any]) -> ConfigError | None:
    """A `check:` must name a read tool of the same agent."""
    found = next((t for t in tools if t.name == name), None)
    if found is not None and (found.metadata or {}).get("access") == "read":
        return None
    reads = ", ".join(t.name for t in tools if (t.metadata or {}).get("access") == "read")
    problem = "is not a tool of this agent" if found is None else "is not a read tool"
    return ConfigError(
        f"check tool {name!r} {problem} (read tools: {reads or 'none'})",
        **{**where, "field": f"{where['field']}.check.tool"},
    )


def _resolve(
    registry: Registry,
    servers: dict[str, McpServer],
    dead: set[str],
    imports: dict[str, list[BaseTool]] | None = None,
) -> tuple[dict[str, list[BaseTool]], list[ConfigError]]:
    errors: list[ConfigError] = []
    by_agent: dict[str, list[BaseTool]] = {}
    meaning: dict[str, tuple[str, str, str]] = {}  # tool name -> (agent, source, access)
    for agent in registry.agents:
        tools: list[BaseTool] = []
        for index, spec in enumerate(agent.tools):
            if spec.mcp in dead:
                continue  # already reported against the server
            where = registry.where(*registry.tool_path(agent.name, index))
            resolved, error = _resolve_entry(spec, servers, where, imports)
            if error is not None:
                errors.append(error)
            if spec.summary is not None and spec.declared_name is not None and resolved:
                error = _check_summary(spec.summary, resolved[0], where)
                errors.extend([error] if error else [])
            if spec.bind and resolved:
                error = _check_identity_rules(spec, resolved[0], where)
                errors.extend([error] if error else [])
            for tool in resolved:
                if any(t.name == tool.name for t in tools):
                    message = f"duplicate tool name {tool.name!r} in agent {agent.name!r}"
                    errors.append(ConfigError(message, **where))
                    continue
                access = (tool.metadata or {}).get("access", "write")
                first = meaning.setdefault(tool.name, (agent.name, spec.source, access))
                if first[1:] != (spec.source, access):
                    errors.append(
                        ConfigError(
                            f"tool {tool.name!r} means {first[1]} ({first[2]}) in agent "
                            f"{first[0]!r} but {spec.source} ({access}) here; "
                            "a tool name must mean one thing across agents",
                            **where,
                        )
                    )
                tools.append(tool)
        for index, spec in enumerate(agent.tools):
            if spec.check is not None:
                where = registry.where(*registry.tool_path(agent.name, index))
                error = _check_check(spec.check.tool, tools, where)
                errors.extend([error] if error else [])
            if spec.requires_customer and spec.access == "write" and not spec.bind:
                where = registry.where(*registry.tool_path(agent.name, index))
                error = _check_write_ownership(spec, tools, where)
                errors.extend([error] if error else [])
        by_agent[agent.name] = tools
    errors.extend(_check_verify_tool(registry, by_agent))
    return by_agent, errors


def _check_write_ownership(
    spec: ToolSpec, tools: list[BaseTool], where: dict[str, Any]
) -> ConfigError | None:
    """A write for one customer must prove the record is theirs before anyone is asked: its
    `check:` names a read with an `owner:` rule (or the write binds its arguments)."""
    check = next((t for t in tools if spec.check and t.name == spec.check.tool), None)
    if check is not None and (check.metadata or {}).get("owner"):
        return None
    return ConfigError(
        "a write that needs a customer must prove ownership before approval: give it a "
        "`check:` whose read tool has an `owner:` rule, or `bind:` its customer arguments",
        **where,
    )


def _check_verify_tool(
    registry: Registry, by_agent: dict[str, list[BaseTool]]
) -> list[ConfigError]:
    verify = registry.identity.verify
    if verify is None:
        return []
    found = [t for tools in by_agent.values() for t in tools if t.name == verify.tool]
    if found and all((t.metadata or {}).get("access") == "read" for t in found):
        return []
    problem = "is not a tool of any agent" if not found else "is not a read tool"
    return [
        ConfigError(
            f"verification tool {verify.tool!r} {problem}",
            **registry.where("identity", "verify", "tool"),
        )
    ]


@asynccontextmanager
async def resolve_toolkit(
    registry: Registry, settings: Settings
) -> AsyncIterator[tuple[Toolkit, list[ConfigError]]]:
    """Like `open_toolkit`, but yield every resolution error instead of raising the first.

    Args:
        registry: The loaded agents.yaml.
        settings: For the egress guard of HTTP MCP servers.

    Yields:
        The toolkit (missing what failed to resolve) and the errors, in file order.
    """
    servers: dict[str, McpServer] = {}
    try:
        server_errors, dead = await _start_servers(registry, settings, servers)
        imports, import_errors = await _load_imports(registry, settings)
        tools, tool_errors = _resolve(registry, servers, dead, imports)
        errors = sorted(server_errors + import_errors + tool_errors, key=lambda e: e.line or 0)
        yield Toolkit(tools, servers), errors
    finally:
        await asyncio.gather(*(server.aclose() for server in servers.values()))


@asynccontextmanager
async def open_toolkit(registry: Registry, settings: Settings) -> AsyncIterator[Toolkit]:
    """Resolve every agent's tools and hold one MCP session per server open until exit.

    Python references are imported; each MCP server an agent uses gets one session, opened
    concurrently at entry and closed at exit. Use it from the app's lifespan; the tools may be
    called from any task of the same event loop. Until exit the guarded HTTP clients of that
    loop share keep-alive connections (`egress.shared_connections`): a tool that makes a
    client per call no longer opens a connection (and an SSL context) per call.

    Args:
        registry: The loaded agents.yaml.
        settings: For the egress guard of HTTP MCP servers.

    Yields:
        The toolkit.

    Raises:
        ConfigError: A python reference that does not import or is not a function, an MCP server
            that cannot be reached, or one that lacks a named tool; it names the file, the line
            and the field of the entry (the first error, with a count of the others).
    """
    async with shared_connections(), resolve_toolkit(registry, settings) as (toolkit, errors):
        if errors:
            first = errors[0]
            if len(errors) > 1:
                combined = ConfigError("", file=first.file, line=first.line, field=first.field)
                combined.args = (f"{first} (and {len(errors) - 1} more)",)
                raise combined
            raise first
        yield toolkit

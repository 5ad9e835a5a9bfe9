"""MCP servers as tool sources: one session per server, held open for the toolkit's lifetime.

Each session lives in a task of its own (an "owner" task) rather than in the caller's exit stack:
the MCP stdio and HTTP transports run anyio task groups, and when a server dies mid-life their
failure cancels whatever task entered the session. Entered from the app's lifespan, that would be
the app. The owner task takes that blow; tool calls made from any task on the same event loop use
the session and fail with `ToolError` instead.

Results: `load_mcp_tools` builds tools with `response_format="content_and_artifact"` whose content
is a list of LangChain content blocks and whose artifact is `{"structured_content": ...}`. Our
tools keep that format but turn the content into text: text blocks joined by newlines (FastMCP
sends a dict result as its JSON text), other blocks as `[image ...]` / `[file ...]`, and the
structured content as JSON when there is no text. `tool.ainvoke(args)` therefore returns a string;
invoked with a ToolCall the ToolMessage also carries the structured content as its artifact.
A tool error reported by the server (`isError`) reaches the model as an error ToolMessage; a
transport failure (server gone, timeout) raises `smart_support.errors.ToolError`. Calls are never
retried (a write may have happened); after a server died, the next call opens a new session.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import anyio
from langchain_core.tools import BaseTool, StructuredTool, ToolException
from langchain_mcp_adapters.client import MultiServerMCPClient
from langchain_mcp_adapters.tools import _convert_call_tool_result, load_mcp_tools
from mcp import ClientSession
from mcp.shared.exceptions import McpError
from mcp.types import CONNECTION_CLOSED, TextContent

from smart_support.egress import ConnectError, mcp_httpx_client_factory
from smart_support.errors import EgressRefused, ToolError
from smart_support.registry.schema import McpServerSpec, ToolSpec
from smart_support.settings import Settings
from smart_support.tools.context import tool_context_or_none

log = logging.getLogger("smart_support.tools")

#: The `_meta` key of an approved write's idempotency key on `tools/call`.
IDEMPOTENCY_META = "idempotency_key"

#: How long one MCP request (start-up handshake or tool call) may take before it fails.
CALL_TIMEOUT = timedelta(seconds=60)
_CLOSE_TIMEOUT = 10.0


def describe_failure(exc: BaseException) -> str:
    """One readable sentence for what went wrong with an MCP transport."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, EgressRefused):
        return f"the egress guard refused it ({exc.reason})"
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {exc.filename or exc}"
    if isinstance(exc, ConnectError):
        text = str(exc)
        return text if text.startswith("cannot connect") else f"cannot connect ({text})"
    if isinstance(exc, (anyio.ClosedResourceError, anyio.BrokenResourceError, BrokenPipeError)):
        return "the connection is closed (did the server stop?)"
    if isinstance(exc, McpError):
        message = exc.error.message
        return "connection closed" if message == "Connection closed" else message
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _connection(spec: McpServerSpec, settings: Settings, cwd: Path | None) -> dict[str, Any]:
    session_kwargs = {"read_timeout_seconds": CALL_TIMEOUT}
    if spec.url is not None:
        return {
            "transport": "streamable_http",
            "url": spec.url,
            "httpx_client_factory": mcp_httpx_client_factory(settings),
            "session_kwargs": session_kwargs,
        }
    assert spec.command is not None
    program, *args = spec.command
    if program in ("python", "python3"):
        program = sys.executable  # the interpreter (and venv) that runs Smart Support
    return {
        "transport": "stdio",
        "command": program,
        "args": args,
        "env": spec.env,
        "cwd": str(cwd) if cwd else None,
        "session_kwargs": session_kwargs,
    }


class _Session:
    """One held session: its owner task and what it listed."""

    def __init__(self) -> None:
        self.ready = asyncio.Event()
        self.stop = asyncio.Event()
        self.owner: asyncio.Task[None] | None = None
        self.failure: BaseException | None = None
        self.tools: dict[str, BaseTool] = {}
        self.session: ClientSession | None = None

    @property
    def alive(self) -> bool:
        return (
            self.owner is not None
            and not self.owner.done()
            and self.failure is None
            and not self.stop.is_set()
        )


def _breaks_session(exc: BaseException) -> bool:
    """Whether the session is unusable after `exc` (a timeout or bad arguments leave it usable)."""
    if isinstance(exc, McpError):
        return exc.error.code == CONNECTION_CLOSED
    return True


class McpServer:
    """One MCP server and the session held open to it.

    Args:
        name: The server's name in agents.yaml.
        spec: Its entry under `mcp_servers`.
        settings: For the egress guard of HTTP servers.
        cwd: Working directory of a stdio server (the directory of agents.yaml).
    """

    def __init__(
        self, name: str, spec: McpServerSpec, settings: Settings, cwd: Path | None = None
    ) -> None:
        self.name = name
        self.spec = spec
        self._client = MultiServerMCPClient({name: _connection(spec, settings, cwd)})  # type: ignore[dict-item]
        self._session: _Session | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def target(self) -> str:
        """The URL or the command line, for messages."""
        return self.spec.url or " ".join(self.spec.command or [])

    @property
    def tool_names(self) -> list[str]:
        """The names of the tools the server listed when the session opened."""
        return list(self._session.tools) if self._session else []

    async def start(self) -> None:
        """Open the session and list the tools.

        Raises:
            ConnectionError: The server could not be started or reached; the message says why.
        """
        session = self._session = _Session()
        session.owner = asyncio.create_task(self._own(session), name=f"mcp-session-{self.name}")
        await session.ready.wait()
        if session.failure is not None:
            raise ConnectionError(describe_failure(session.failure))
        log.info("MCP server %s: session open, %d tools", self.name, len(session.tools))

    async def _own(self, state: _Session) -> None:
        try:
            async with self._client.session(self.name) as session:
                state.session = session
                tools = await load_mcp_tools(
                    session, server_name=self.name, handle_tool_errors=False
                )
                state.tools = {tool.name: tool for tool in tools}
                state.ready.set()
                await state.stop.wait()
        except asyncio.CancelledError:
            state.failure = state.failure or ConnectionError("session closed")
            raise
        except BaseException as exc:  # ExceptionGroups from the transport's task groups too
            state.failure = exc
            if state.ready.is_set() and not state.stop.is_set():
                log.error("MCP server %s stopped: %s", self.name, describe_failure(exc))
        else:
            state.failure = state.failure or ConnectionError("session closed")
        finally:
            state.ready.set()

    async def _end(self, state: _Session | None) -> None:
        if state is None or state.owner is None:
            return
        state.stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(state.owner), _CLOSE_TIMEOUT)
        except (TimeoutError, asyncio.CancelledError):
            state.owner.cancel()
        except BaseException as exc:  # already recorded by the owner
            log.debug("MCP server %s closed with %r", self.name, exc)

    async def aclose(self) -> None:
        """Close the session (a stdio server gets its stdin closed, then SIGTERM if needed)."""
        self._closed = True
        await self._end(self._session)

    async def _live_session(self, tool_name: str) -> _Session:
        """The open session; after the server died, one attempt to open a new one."""
        if self._session is not None and self._session.alive:
            return self._session
        if self._closed:
            raise ToolError(f"MCP server {self.name!r} is closed; {tool_name!r} was not called")
        async with self._lock:
            if self._session is not None and self._session.alive:
                return self._session  # another call reconnected meanwhile
            log.warning("MCP server %s is not connected; opening a new session", self.name)
            await self._end(self._session)
            try:
                await self.start()
            except ConnectionError as exc:
                raise ToolError(
                    f"MCP server {self.name!r} ({self.target}) is not reachable ({exc}); "
                    f"{tool_name!r} was not called"
                ) from None
            assert self._session is not None
            return self._session

    async def call(self, tool_name: str, arguments: dict[str, Any]) -> tuple[str, Any]:
        """Call one tool on the held session.

        A call is never retried: a write may have happened before the connection broke. When
        the server has died, the call that finds out fails, and the next one opens a new session
        (for a stdio server, a new process).

        Returns:
            The result as text, and the structured content (or None).

        Raises:
            ToolException: The server ran the tool and reported an error (the model sees it).
            ToolError: The server is gone, timed out or broke the protocol.
        """
        state = await self._live_session(tool_name)
        inner = state.tools.get(tool_name)
        if not isinstance(inner, StructuredTool) or inner.coroutine is None:
            raise ToolError(f"MCP server {self.name!r} no longer offers the tool {tool_name!r}")
        assert state.owner is not None
        ctx = tool_context_or_none()
        if ctx is not None and ctx.idempotency_key and state.session is not None:
            # An approved write: the key travels as request metadata (`_meta.idempotency_key`),
            # which the adapter's own tools cannot send, so the session is called directly.
            call = asyncio.ensure_future(
                _call_with_meta(
                    state.session, tool_name, arguments, {IDEMPOTENCY_META: ctx.idempotency_key}
                )
            )
        else:
            call = asyncio.ensure_future(inner.coroutine(**arguments))
        try:
            # Race the call against the session's death so a dead server never leaves us waiting.
            await asyncio.wait({call, state.owner}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            if not call.done():
                call.cancel()
        if not call.done() or call.cancelled():
            reason = describe_failure(state.failure) if state.failure else "session closed"
            raise ToolError(
                f"MCP server {self.name!r} ({self.target}) stopped during the call to "
                f"{tool_name!r} ({reason})"
            )
        try:
            content, artifact = call.result()
        except ToolException:
            raise
        except Exception as exc:
            if _breaks_session(exc):
                state.stop.set()  # the owner closes what is left; the next call reconnects
            raise ToolError(
                f"MCP server {self.name!r} ({self.target}) failed calling {tool_name!r}: "
                f"{describe_failure(exc)}"
            ) from exc
        return as_text(content, artifact), artifact

    def tool(self, tool_name: str, spec: ToolSpec) -> BaseTool:
        """Our LangChain tool for one of the server's tools, with the entry's metadata."""
        assert self._session is not None, "start() first"
        inner = self._session.tools[tool_name]

        async def run(**arguments: Any) -> tuple[str, Any]:
            return await self.call(tool_name, arguments)

        return StructuredTool(
            name=spec.name or tool_name,
            description=inner.description,
            args_schema=inner.args_schema or {},
            coroutine=run,
            response_format="content_and_artifact",
            handle_tool_error=True,
            metadata=spec.metadata(tool_name),
        )


async def _call_with_meta(
    session: ClientSession, tool_name: str, arguments: dict[str, Any], meta: dict[str, Any]
) -> tuple[Any, Any]:
    """`tools/call` with request metadata; the result converted as the adapter converts it."""
    result = await session.call_tool(
        tool_name, arguments, read_timeout_seconds=CALL_TIMEOUT, meta=meta
    )
    if result.isError:
        text = "\n".join(c.text for c in result.content if isinstance(c, TextContent))
        raise ToolException(text or f"{tool_name} failed")
    return _convert_call_tool_result(result)


def as_text(content: Any, artifact: Any) -> str:
    """Turn the adapter's content blocks into the text the model reads."""
    if isinstance(content, str):
        return content
    parts: list[str] = []
    for block in content or []:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            parts.append(block["text"])
        elif kind in ("image", "file"):
            where = block.get("url") or block.get("mime_type") or "inline"
            parts.append(f"[{kind} {where}]")
        else:
            parts.append(str(block))
    if not parts and isinstance(artifact, dict) and artifact.get("structured_content"):
        return json.dumps(artifact["structured_content"], ensure_ascii=False)
    return "\n".join(parts)

"""Tool sources (Python callables, MCP servers) resolved into LangChain tools per agent."""

from smart_support.tools.context import ToolContext, current_tool_context, tool_context
from smart_support.tools.toolkit import Toolkit, open_toolkit, resolve_toolkit

__all__ = [
    "ToolContext",
    "Toolkit",
    "current_tool_context",
    "open_toolkit",
    "resolve_toolkit",
    "tool_context",
]

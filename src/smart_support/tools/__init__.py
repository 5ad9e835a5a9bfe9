"""Tool sources (Python callables, MCP servers) resolved into LangChain tools per agent."""

from smart_support.tools.toolkit import Toolkit, open_toolkit, resolve_toolkit

__all__ = ["Toolkit", "open_toolkit", "resolve_toolkit"]

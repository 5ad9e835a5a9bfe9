"""The agent registry: agents.yaml loaded, validated, and every error placed by file and line."""

from smart_support.registry.loader import load_registry, read_registry
from smart_support.registry.schema import AgentSpec, McpServerSpec, Registry, ToolSpec
from smart_support.registry.validate import validate_command

__all__ = [
    "AgentSpec",
    "McpServerSpec",
    "Registry",
    "ToolSpec",
    "load_registry",
    "read_registry",
    "validate_command",
]

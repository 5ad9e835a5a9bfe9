"""`smart-support agents validate [FILE]`: load agents.yaml AND resolve every tool reference."""

from __future__ import annotations

import asyncio
from importlib import resources
from pathlib import Path

import click

from smart_support.errors import ConfigError
from smart_support.registry.loader import _parse, read_registry
from smart_support.settings import Settings


def demo_agents_file() -> Path:
    """The agents.yaml that ships with the demo (`smart_support/demo/agents.yaml`)."""
    return Path(str(resources.files("smart_support.demo") / "agents.yaml"))


async def _resolve(path: Path, settings: Settings) -> tuple[list[ConfigError], int, int]:
    from smart_support.tools.toolkit import resolve_toolkit  # tools import the registry

    registry, errors = read_registry(path)
    if registry is None:  # still check what can be checked: every python reference
        return sorted(errors + _reference_errors(path, errors), key=_position), 0, 0
    async with resolve_toolkit(registry, settings) as (toolkit, errors):
        return errors, len(registry.agents), len(toolkit.tool_names)


def _position(error: ConfigError) -> tuple[int, str]:
    return error.line or 0, error.field or ""


def _reference_errors(path: Path, found: list[ConfigError]) -> list[ConfigError]:
    """Errors of the `python:` references of a file that failed validation elsewhere, so one
    run reports every problem it can (entries that already have an error are skipped)."""
    from smart_support.tools.python import PythonToolError, import_callable

    try:
        data, lines = _parse(path.read_text(encoding="utf-8"), str(path))
    except (ConfigError, OSError, UnicodeDecodeError):
        return []
    agents = data.get("agents") if isinstance(data, dict) else None
    flagged = {e.field or "" for e in found}
    errors = []
    for i, agent in enumerate(agents if isinstance(agents, list) else []):
        tools = agent.get("tools") if isinstance(agent, dict) else None
        for j, entry in enumerate(tools if isinstance(tools, list) else []):
            field = f"agents[{i}].tools[{j}]"
            reference = entry.get("python") if isinstance(entry, dict) else None
            if not isinstance(reference, str) or any(f.startswith(field) for f in flagged):
                continue
            try:
                import_callable(reference)
            except PythonToolError as exc:
                line = lines.get(("agents", i, "tools", j, "python"))
                errors.append(
                    ConfigError(str(exc), file=str(path), line=line, field=f"{field}.python")
                )
    return errors


def validate_command(path: Path | None, settings: Settings) -> int:
    """Check an agents.yaml file completely, opening its MCP servers to list their tools.

    Prints `ok: N agents, M tools` (M counts distinct tool names) on success, or one
    `error: file:line: field: message` line per problem on stderr.

    Args:
        path: The file; None means `settings.agents_file`, else the demo agents.
        settings: For the egress guard of HTTP MCP servers.

    Returns:
        The exit code: 0 when the file is valid and every tool resolves, else 1.
    """
    target = path or settings.agents_file or demo_agents_file()
    errors, agents, tools = asyncio.run(_resolve(target, settings))
    if errors:
        for error in errors:
            click.echo(f"error: {error}", err=True)
        return 1
    click.echo(f"ok: {agents} agents, {tools} tools")
    return 0

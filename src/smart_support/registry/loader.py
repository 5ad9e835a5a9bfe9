"""Read agents.yaml into a Registry, with every error naming the file, the line and the field.

PyYAML's composer gives each node a start mark; we build the plain data and a map from field path
to line in one walk, validate the data with the pydantic models, and map pydantic's error
locations back to lines. Checks that look across entries run after the models accept the data.
"""

from __future__ import annotations

import difflib
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from smart_support.errors import ConfigError
from smart_support.registry.schema import (
    AgentSpec,
    McpServerSpec,
    OpenApiSpec,
    Path_,
    Registry,
    RegistryFile,
    ToolSpec,
    check_name,
    format_path,
)

log = logging.getLogger("smart_support.registry")

MAX_FILE_BYTES = 1024 * 1024
# Aliases are followed, so a small hostile file ("billion laughs") could expand without bound.
_MAX_NODES = 50_000
_MAX_DEPTH = 40
_MERGE_TAG = "tag:yaml.org,2002:merge"
_PLAIN_TAGS = ("tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


class _Reject(Exception):
    def __init__(self, line: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.line, self.message, self.field = line, message, field


def _mark_line(mark: Any) -> int | None:
    return mark.line + 1 if mark is not None else None


class _Walker:
    """Turns a composed YAML node tree into plain data plus {field path: line}."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self._loader = loader
        self._nodes = 0
        self.lines: dict[Path_, int] = {}

    def walk(self, node: yaml.Node, path: Path_, depth: int = 0) -> Any:
        line = node.start_mark.line + 1
        self._nodes += 1
        if self._nodes > _MAX_NODES or depth > _MAX_DEPTH:
            raise _Reject(line, "the document is too large or too deeply nested (aliases?)")
        self.lines.setdefault(path, line)
        if isinstance(node, yaml.CollectionNode) and node.tag not in _PLAIN_TAGS:
            raise _Reject(line, f"YAML tags such as {node.tag!r} are not allowed here")
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            return [
                self.walk(item, (*path, index), depth + 1) for index, item in enumerate(node.value)
            ]
        try:
            return self._loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise _Reject(line, f"cannot read this value ({_problem(exc)})") from None

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key_line = key_node.start_mark.line + 1
            if key_node.tag == _MERGE_TAG:
                raise _Reject(key_line, "merge keys (<<) are not supported; repeat the fields")
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Reject(key_line, "keys must be plain strings")
            try:
                key = self._loader.construct_object(key_node, deep=True)
            except yaml.YAMLError as exc:
                raise _Reject(key_line, f"cannot read this key ({_problem(exc)})") from None
            if not isinstance(key, str):
                raise _Reject(key_line, f"key {key!r} must be a string")
            if key in out:
                raise _Reject(key_line, f"duplicate key {key!r}", format_path((*path, key)))
            self.lines[(*path, key)] = key_line
            out[key] = self.walk(value_node, (*path, key), depth + 1)
        return out


def _problem(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return str(exc)
    context = exc.context or ""
    start, end = _mark_line(exc.context_mark), _mark_line(exc.problem_mark)
    if context and start and start != end:
        context += f" that starts on line {start}"
    return ", ".join(p for p in (context, exc.problem) if p) or str(exc)


def _parse(text: str, file: str) -> tuple[Any, dict[Path_, int]]:
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise ConfigError("the file is empty; it needs at least `agents:`", file=file)
        walker = _Walker(loader)
        return walker.walk(root, ()), walker.lines
    except yaml.MarkedYAMLError as exc:
        line = _mark_line(exc.problem_mark) or _mark_line(exc.context_mark)
        raise ConfigError(f"invalid YAML: {_problem(exc)}", file=file, line=line) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=file) from None
    except _Reject as exc:
        raise ConfigError(exc.message, file=file, line=exc.line, field=exc.field) from None
    finally:
        loader.dispose()


def _model_at(path: tuple[Any, ...]) -> type[BaseModel]:
    if len(path) >= 4 and path[0] == "agents" and path[2] == "tools":
        return ToolSpec
    if len(path) >= 2 and path[0] == "agents":
        return AgentSpec
    if len(path) >= 2 and path[0] == "mcp_servers":
        return McpServerSpec
    if len(path) >= 2 and path[0] == "openapi":
        return OpenApiSpec
    return RegistryFile


def _pydantic_errors(exc: ValidationError, file: str, registry: Registry) -> list[ConfigError]:
    errors = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = list(_model_at(loc[:-1]).model_fields)
            message = f"unknown key (allowed: {', '.join(allowed)})"
            close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
            if close:
                message = f"unknown key; did you mean {close[0]!r}? (allowed: {', '.join(allowed)})"
        elif error["type"] == "missing":
            message = "required, missing"
        elif loc == () and error["type"] == "model_type":
            message = "the file must be a mapping with `agents:` (see docs/agents-yaml.md)"
        errors.append(
            ConfigError(
                message, file=file, line=registry.line_of(loc), field=format_path(loc) or None
            )
        )
    return errors


def cross_checks(registry: Registry) -> list[ConfigError]:
    errors: list[ConfigError] = []

    def add(message: str, *path: str | int) -> None:
        errors.append(ConfigError(message, **registry.where(*path)))

    for server in registry.mcp_servers:
        try:
            check_name(server)
        except ValueError as exc:
            add(str(exc), "mcp_servers", server)
    for imported in registry.openapi_imports:
        try:
            check_name(imported)
        except ValueError as exc:
            add(str(exc), "openapi", imported)
    seen: set[str] = set()
    for i, agent in enumerate(registry.agents):
        if agent.name in seen:
            add(f"duplicate agent name {agent.name!r}", "agents", i, "name")
        seen.add(agent.name)
        tool_names: set[str] = set()
        whole_servers: set[tuple[str, tuple[str, ...]]] = set()
        for j, tool in enumerate(agent.tools):
            if tool.mcp is not None and tool.mcp not in registry.mcp_servers:
                declared = ", ".join(registry.mcp_servers) or "none"
                add(
                    f"MCP server {tool.mcp!r} is not declared under mcp_servers "
                    f"(declared: {declared})",
                    *("agents", i, "tools", j, "mcp"),
                )
            if tool.openapi is not None and tool.openapi not in registry.openapi_imports:
                declared = ", ".join(registry.openapi_imports) or "none"
                add(
                    f"import {tool.openapi!r} is not declared under openapi (declared: {declared})",
                    *("agents", i, "tools", j, "openapi"),
                )
            name = tool.declared_name
            if name is None:
                whole = tool.mcp or tool.openapi
                assert whole is not None
                # Entries with different tags pick different operations; an operation in two
                # of them is a duplicate tool name, caught when the tools are resolved.
                listed = (whole, tuple(sorted(tool.tags or ())))
                if listed in whole_servers:
                    add(f"all tools of {whole!r} are already listed", "agents", i, "tools", j)
                whole_servers.add(listed)
            elif name in tool_names:
                add(
                    f"duplicate tool name {name!r} in agent {agent.name!r}", "agents", i, "tools", j
                )
            else:
                tool_names.add(name)
    roles: Counter[str] = Counter(a.role for a in registry.agents)
    if roles["fallback"] == 0:
        add("exactly one agent needs `role: fallback`; none has it", "agents")
    for role, most in (("fallback", 1), ("escalation", 1)):
        if roles[role] > most:
            extra = [i for i, a in enumerate(registry.agents) if a.role == role][most:]
            for i in extra:
                add(f"only one agent may have `role: {role}`", "agents", i, "role")
    return sorted(errors, key=lambda e: e.line or 0)


def read_registry(path: str | Path) -> tuple[Registry | None, list[ConfigError]]:
    """Load and validate agents.yaml, collecting every error instead of stopping at the first.

    Args:
        path: The agents.yaml file.

    Returns:
        The registry (None when there are errors) and the errors, each naming file, line and field.
    """
    file = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        return None, [ConfigError(f"cannot read the file: {exc.strerror or exc}", file=file)]
    if len(raw) > MAX_FILE_BYTES:
        return None, [ConfigError(f"the file is larger than {MAX_FILE_BYTES} bytes", file=file)]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return None, [ConfigError(f"not UTF-8 text (byte {exc.start})", file=file)]
    try:
        data, lines = _parse(text, file)
    except ConfigError as exc:
        return None, [exc]
    empty = Registry(RegistryFile.model_construct(agents=[]), file=file, lines=lines)
    try:
        spec = RegistryFile.model_validate(data)
    except ValidationError as exc:
        return None, _pydantic_errors(exc, file, empty)
    registry = Registry(spec, file=file, lines=lines, base_dir=Path(path).resolve().parent)
    errors = cross_checks(registry)
    if errors:
        return None, errors
    log.debug("loaded %s: %d agents", file, len(registry.agents))
    return registry, []


def load_registry(path: str | Path) -> Registry:
    """Load and validate agents.yaml (tool references are resolved later, by `open_toolkit`).

    Args:
        path: The agents.yaml file.

    Returns:
        The validated registry.

    Raises:
        ConfigError: The first problem, naming file, line and field; when there are more, the
            message says how many (`smart-support agents validate FILE` lists them all).
    """
    registry, errors = read_registry(path)
    if registry is not None:
        return registry
    first = errors[0]
    if len(errors) > 1:
        more = len(errors) - 1
        combined = ConfigError("", file=first.file, line=first.line, field=first.field)
        combined.args = (f"{first} (and {more} more: `smart-support agents validate {path}`)",)
        raise combined
    raise first

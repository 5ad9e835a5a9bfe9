"""An import: load a spec, validate it, read its operations, and make one tool per operation.

result = await import_spec("https://api.example.com/openapi.json", settings)
result.tools      # LangChain StructuredTools, metadata {"access": "read" | "write", ...}
result.report()   # {"operations": [...], "warnings": [...], "skipped": [...], "auth": {...}}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from langchain_core.tools import StructuredTool

from smart_support.openapi.auth import Credentials, credentials, needs, satisfies, suggestion
from smart_support.openapi.load import Documents, SpecError, load
from smart_support.openapi.model import Operation, operations, security_schemes, spec_version
from smart_support.openapi.names import base_name, unique_names
from smart_support.openapi.refs import Resolver
from smart_support.openapi.request import Binding
from smart_support.openapi.tools import access, input_schema, make_tool
from smart_support.openapi.validate import findings
from smart_support.settings import Settings

if TYPE_CHECKING:
    from smart_support.registry.schema import OpenApiSpec


@dataclass
class ImportedOperation:
    name: str
    operation: Operation
    input_schema: dict[str, Any]
    bindings: list[Binding]
    tool: StructuredTool

    def report(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "method": self.operation.method.upper(),
            "path": self.operation.path,
            "access": access(self.operation),
            "enabled": True,
            "server": self.operation.server,
            "tags": list(self.operation.tags),
            "security": self.operation.security,
            "input_schema": self.input_schema,
            "parameters": [
                {
                    "name": b.argument,
                    "in": b.location,
                    "original": b.original,
                    "required": b.required,
                }
                for b in self.bindings
            ],
        }


@dataclass
class ImportResult:
    """What an import found: the tools, and everything the operator should know."""

    source: str
    version: str
    operations: list[ImportedOperation] = field(default_factory=list, repr=False)
    warnings: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    #: The spec's security schemes by name, as declared.
    security_schemes: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The spec's own words for its tags (`tags: [{name, description}]`).
    tag_descriptions: dict[str, str] = field(default_factory=dict)
    #: The import's configured credentials (never in the report: only their description).
    credentials: Credentials | None = field(default=None, repr=False)

    @property
    def tools(self) -> list[StructuredTool]:
        return [op.tool for op in self.operations]

    @property
    def tags(self) -> list[str]:
        """Every tag of the imported operations, in first-seen order."""
        return list(dict.fromkeys(t for op in self.operations for t in op.operation.tags))

    def auth_report(self) -> dict[str, Any]:
        """The configured auth (described, never its values) and what each scheme needs."""
        spec = self.credentials.spec if self.credentials is not None else None
        used = {name for op in self.operations for alt in op.operation.security for name in alt}
        return {
            "configured": self.credentials.describe() if self.credentials is not None else None,
            "schemes": [
                {
                    "name": name,
                    "needs": needs(scheme),
                    "used": name in used,
                    "satisfied": satisfies(spec, scheme),
                    "auth": suggestion(scheme),
                }
                for name, scheme in self.security_schemes.items()
            ],
        }

    def report(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "version": self.version,
            "operations": [op.report() for op in self.operations],
            "warnings": self.warnings,
            "skipped": self.skipped,
            "auth": self.auth_report(),
        }

    def _check_auth(self) -> None:
        """A warning per scheme that operations need and the configured auth does not give."""
        spec = self.credentials.spec if self.credentials is not None else None
        unmet: dict[str, int] = {}
        for op in self.operations:
            alternatives = op.operation.security
            if not alternatives or any(
                all(satisfies(spec, self.security_schemes.get(n, {})) for n in alt)
                for alt in alternatives
            ):
                continue
            for name in alternatives[0]:
                unmet[name] = unmet.get(name, 0) + 1
        for name, count in unmet.items():
            scheme = self.security_schemes.get(name)
            if scheme is None:
                self.warnings.append(f"{count} operations need the undeclared scheme {name!r}")
                continue
            hint = suggestion(scheme)
            fix = (
                f"set openapi.<name>.auth: {hint}"
                if hint
                else "this version cannot authenticate that way"
            )
            self.warnings.append(
                f"this API needs {needs(scheme)} (scheme {name!r}, {count} operations): {fix}"
            )


async def import_spec(
    source: str,
    settings: Settings,
    *,
    server: str | None = None,
    remote_refs: bool = True,
    validate: bool = True,
    credentials: Credentials | None = None,
) -> ImportResult:
    """Import the spec at SOURCE (a path, `-`, or an http(s) URL fetched through the egress guard).

    Args:
        source: Where the spec is.
        settings: Egress settings (allowlist, limits); tool calls use the runtime's settings.
        server: A server URL replacing every server of the spec (e.g. a sandbox or a test server).
        remote_refs: Follow `$ref`s to absolute URLs through the egress guard.
        validate: Check the spec (`openapi.validate`) and report its findings as warnings.
        credentials: The import's auth (see `import_configured`), added to every call.

    Raises:
        SpecError: The spec cannot be read, parsed, or is not OpenAPI 3.0/3.1 or Swagger 2.0.
        EgressRefused: The egress guard refused the spec's URL.
    """
    documents = await load(source, settings, remote_refs=remote_refs)
    return convert(
        documents, server=server, validate=validate, source=source, credentials=credentials
    )


async def import_configured(
    spec: OpenApiSpec, settings: Settings, *, base_dir: Path | None = None
) -> ImportResult:
    """The import an agents.yaml declares under `openapi:` (its source, server and options).

    The one entry point for a declared import: the toolkit (agents' tools) and `smart-support mcp
    serve` both use it, so both call the API the same way.

    Args:
        spec: The declared import.
        settings: Egress settings for the spec's URL.
        base_dir: The folder of agents.yaml: a relative `source` (and `env_file`) is a file
            beside it.

    Raises:
        MissingSecret: A variable the auth names is not set (nor in `env_file`), or the
            env_file is missing; `path` is the field below the import (a ConfigError).
        SpecError: The spec cannot be read or is not OpenAPI/Swagger.
        EgressRefused: The egress guard refused the spec's URL.
    """
    creds = None
    if spec.auth is not None:
        env_file = None
        if spec.env_file is not None:
            env_file = Path(spec.env_file)
            if not env_file.is_absolute() and base_dir is not None:
                env_file = base_dir / env_file
        creds = credentials(spec.auth, env_file)  # before the spec: a missing secret fails fast
    source = spec.source
    if "://" not in source and source != "-" and base_dir is not None:
        source = str(base_dir / source)
    return await import_spec(source, settings, server=spec.server, credentials=creds)


def _tag_descriptions(spec: Any) -> dict[str, str]:
    tags = spec.get("tags") if isinstance(spec, dict) else None
    return {
        str(t["name"]): str(t["description"])
        for t in (tags if isinstance(tags, list) else [])
        if isinstance(t, dict) and t.get("name") and isinstance(t.get("description"), str)
    }


#: The stages `convert` reports to its `progress` callback, in order.
STAGES = ("validating", "reading operations", "making tools")


def convert(
    documents: Documents,
    *,
    server: str | None = None,
    validate: bool = True,
    source: str = "",
    credentials: Credentials | None = None,
    progress: Callable[[str], None] | None = None,
) -> ImportResult:
    """The synchronous part of an import, over loaded documents.

    Args:
        documents: The loaded spec.
        server: Replaces every server of the spec.
        validate: Report the spec check's findings (`openapi.validate`) as warnings.
        source: Where the spec came from, for the report.
        credentials: Added to every call of every tool; the parameters they fill are left out
            of the tools' input schemas.
        progress: Called with the name of each stage as it starts (`STAGES`), for a progress
            bar.
    """
    step = progress or (lambda _stage: None)
    spec = documents.spec
    version = spec_version(spec)
    if not version:
        found = spec.get("openapi") or spec.get("swagger") if isinstance(spec, dict) else None
        detail = f"version {found!r}" if found else "no 'openapi' or 'swagger' field"
        raise SpecError(
            f"not an OpenAPI 3.0/3.1 or Swagger 2.0 document ({detail})", file=source or None
        )
    result = ImportResult(
        source=source or documents.root,
        version=version,
        security_schemes=security_schemes(spec),
        tag_descriptions=_tag_descriptions(spec),
        credentials=credentials,
    )
    result.warnings.extend(documents.warnings)
    if validate:
        step("validating")
        result.warnings.extend(findings(spec))
    step("reading operations")
    resolver = Resolver(documents)
    extraction = operations(resolver, server_override=server.rstrip("/") if server else None)
    result.warnings.extend(extraction.warnings)
    result.skipped.extend(extraction.skipped)
    names = unique_names(
        [base_name(op.operation_id, op.method, op.path) for op in extraction.operations]
    )
    step("making tools")
    for name, operation in zip(names, extraction.operations, strict=True):
        hidden = credentials.hidden if credentials is not None else frozenset()
        schema, bindings = input_schema(operation, hidden)
        tool = make_tool(operation, name, schema, bindings, credentials=credentials)
        result.operations.append(ImportedOperation(name, operation, schema, bindings, tool))
    if resolver.cut:
        result.warnings.append(
            f"{len(resolver.cut)} recursive or very deep schemas were cut in tool inputs"
        )
    result._check_auth()
    return result

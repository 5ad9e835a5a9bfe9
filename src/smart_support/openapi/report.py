"""`smart-support import SOURCE`: the import's report, as a summary or as JSON (`--json`)."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from smart_support.errors import ConfigError, EgressRefused
from smart_support.openapi.importer import ImportResult, import_spec
from smart_support.settings import Settings


def summary(result: ImportResult) -> str:
    """A few lines for a person: counts, then one line per tool, skipped operation and warning."""
    ops = result.operations
    writes = sum(1 for op in ops if op.report()["access"] == "write")
    lines = [
        f"{result.source}: {result.version} spec, {len(ops)} tools ({len(ops) - writes} read, "
        f"{writes} write), {len(result.skipped)} skipped, {len(result.warnings)} warnings"
    ]
    for op in ops:
        r: dict[str, Any] = op.report()
        lines.append(f"  {r['access']:<5} {r['name']:<40} {r['method']} {r['path']}")
    for skipped in result.skipped:
        lines.append(f"  skipped {skipped['operation']}: {skipped['reason']}")
    for warning in result.warnings:
        lines.append(f"  warning: {warning}")
    return "\n".join(lines)


def cli_import(source: str, settings: Settings, *, as_json: bool, server: str | None = None) -> int:
    """Run an import and print its report; 0 on success, 1 when refused, 2 on a bad spec."""
    try:
        result = asyncio.run(import_spec(source, settings, server=server))
    except EgressRefused as exc:
        print(f"refused: {exc.reason}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if as_json:
        report = result.report()
        print(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        print(summary(result))
    return 0

"""`smart-support import SOURCE`: the import's report, as a summary or as JSON (`--json`), and
with `--out FILE` a complete agents.yaml (`--accept` writes it without asking)."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import click

from smart_support.errors import ConfigError, EgressRefused, SmartSupportError
from smart_support.openapi.agents_file import (
    check_import_name,
    import_name,
    source_for,
    write_agents_file,
)
from smart_support.openapi.classify import (
    Decision,
    OperationClass,
    Proposal,
    classify_with_model,
)
from smart_support.openapi.importer import STAGES, ImportResult, convert
from smart_support.openapi.load import Documents, load
from smart_support.openapi.review_file import (
    Reviewed,
    ReviewFile,
    apply_review,
    read_review,
    review_path,
    write_review,
)
from smart_support.settings import Settings


def _decision(decision: Decision[Any]) -> dict[str, Any]:
    return {"source": decision.source, "confidence": decision.confidence, "reason": decision.reason}


def classified_report(result: ImportResult, proposal: Proposal) -> dict[str, Any]:
    """The import's report with the classification in it (`import --json`): per operation its
    `access` as classified, `agent` (null when off), `relevance`, and `decisions` (source,
    confidence and reason of access and relevance); per parameter its `role` and the role's
    decision; and the whole `proposal` (agents included)."""
    report = result.report()
    by_name = {op.name: op for op in proposal.operations}
    for entry in report["operations"]:
        cls = by_name.get(entry["name"])
        if cls is None:
            continue
        entry["access"] = cls.access.value
        entry["agent"] = cls.agent
        entry["enabled"] = cls.agent is not None
        entry["relevance"] = cls.relevance.value
        entry["decisions"] = {
            "access": _decision(cls.access),
            "relevance": _decision(cls.relevance),
        }
        roles = {p.name: p.role for p in cls.parameters}
        for parameter in entry["parameters"]:
            role = roles.get(parameter["name"])
            if role is not None:
                parameter["role"] = role.value
                parameter["decision"] = _decision(role)
    report["proposal"] = proposal.model_dump(mode="json", by_alias=True)
    return report


def _params(op: OperationClass) -> str:
    said = op.customer_parameters()
    bound = [p.name for p in op.parameters if p.role.value == "identity"]
    parts = []
    if said:
        parts.append("customer: " + ", ".join(said))
    if bound:
        parts.append("identity: " + ", ".join(bound))
    return "; ".join(parts)


def summary(result: ImportResult, proposal: Proposal) -> str:
    """The proposal as a table for a person: each agent with its tools (access, method and path,
    who supplies the parameters, the approval summary of writes), then the operations left out
    and why, the operations that could not be imported, and the warnings."""
    ops = proposal.operations
    writes = sum(1 for op in ops if op.access.value == "write")
    off = [op for op in ops if op.agent is None]
    lines = [
        f"{result.source}: {result.version} spec, {len(ops)} tools ({len(ops) - writes} read, "
        f"{writes} write), {len(proposal.agents)} agents, {len(off)} left out, "
        f"{len(result.skipped)} skipped, {len(result.warnings)} warnings"
    ]
    by_name = {op.name: op for op in ops}
    for agent in proposal.agents:
        lines.append("")
        lines.append(f"{agent.display_name} ({agent.name}): {len(agent.tools)} tools")
        for name in agent.tools:
            op = by_name[name]
            line = f"  {op.access.value:<5} {op.name:<36} {op.method} {op.path}"
            extra = _params(op)
            if op.access.value == "write" and op.summary:
                extra = (
                    f"{extra}; approval: {op.summary!r}" if extra else f"approval: {op.summary!r}"
                )
            lines.append(f"{line}  [{extra}]" if extra else line)
    if off:
        lines.append("")
        lines.append(f"Left out ({len(off)}):")
        for op in off:
            lines.append(
                f"  {op.access.value:<5} {op.name:<36} {op.method} {op.path}  {op.relevance.reason}"
            )
    if result.skipped:
        lines.append("")
        lines.append(f"Not imported ({len(result.skipped)}):")
        for skipped in result.skipped:
            lines.append(f"  {skipped['operation']}: {skipped['reason']}")
    if result.warnings:
        lines.append("")
        lines.append(f"Warnings ({len(result.warnings)}):")
        for warning in result.warnings:
            lines.append(f"  {warning}")
    return "\n".join(lines)


def _title(documents: Documents) -> str | None:
    info = documents.spec.get("info") if isinstance(documents.spec, dict) else None
    title = info.get("title") if isinstance(info, dict) else None
    return title.strip() or None if isinstance(title, str) else None


def _keep_stdin_spec(documents: Documents, out: Path, name: str) -> str:
    """A spec read from stdin is saved beside FILE, so the written agents.yaml can load it."""
    copy = out.parent / f"{name}.openapi.json"
    copy.parent.mkdir(parents=True, exist_ok=True)
    copy.write_text(json.dumps(documents.spec, ensure_ascii=False, indent=1), encoding="utf-8")
    return str(copy)


def _confirmed(result: ImportResult, out: Path) -> bool:
    """Ask on a terminal; without one, `--accept` is required."""
    if not (sys.stdin.isatty() and sys.stderr.isatty()):
        print(
            f"error: not writing {out} without --accept (there is no terminal to ask on)",
            file=sys.stderr,
        )
        return False
    writes = sum(1 for op in result.operations if op.report()["access"] == "write")
    return click.confirm(
        f"Write {out} with {len(result.operations)} tools ({writes} writes that wait for "
        "an approval)?",
        default=True,
        err=True,
    )


class _Progress:
    """A progress bar over the import's stages on a terminal (stderr); silent otherwise."""

    def __init__(self, source: str) -> None:
        self.bar: Any = None
        if sys.stderr.isatty():
            self.bar = click.progressbar(
                length=len(STAGES) + 1, label=f"{'reading the spec':<20}", file=sys.stderr
            )
            self.bar.__enter__()
        self.started = False

    def stage(self, name: str) -> None:
        if self.bar is None:
            return
        self.bar.label = f"{name:<20}"
        self.bar.update(1 if self.started else 0)
        self.started = True

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.bar.length - self.bar.pos)
            self.bar.__exit__(None, None, None)
            self.bar = None


async def _run(
    source: str, settings: Settings, server: str | None
) -> tuple[Documents, ImportResult]:
    progress = _Progress(source)
    try:
        progress.stage("reading the spec")
        documents = await load(source, settings)
        result = convert(
            documents,
            server=server.rstrip("/") if server else None,
            source=source,
            progress=progress.stage,
        )
    finally:
        progress.close()
    return documents, result


def cli_import(
    source: str,
    settings: Settings,
    *,
    as_json: bool,
    server: str | None = None,
    name: str | None = None,
    accept: bool = False,
    out: Path | None = None,
) -> int:
    """Run an import, print its report, and with OUT write a complete agents.yaml.

    Returns 0 on success, 1 when the egress guard refused the source or the file was not
    accepted, 2 on a bad spec or a bad option.
    """
    try:
        if name is not None:
            check_import_name(name)
        documents, result = asyncio.run(_run(source, settings, server))
    except EgressRefused as exc:
        print(exc.reason, file=sys.stderr)  # "refused: ..."
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        proposal = asyncio.run(classify_with_model(result, settings))
    except SmartSupportError as exc:  # the model is unreachable or misconfigured
        print(f"error: the model could not classify the import: {exc}", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(classified_report(result, proposal), ensure_ascii=False, indent=2))
    else:
        print(summary(result, proposal))
    if out is None:
        if name is not None:
            _write_review_file(documents, proposal, name=name, source=source, server=server)
        return 0
    name = name or import_name(_title(documents), source)
    if not accept and not _confirmed(result, out):
        return 1
    written_source = _keep_stdin_spec(documents, out, name) if source == "-" else source
    return _write_agents(result, proposal, out, name=name, source=written_source, server=server)


def _write_agents(
    result: ImportResult,
    proposal: Proposal,
    out: Path,
    *,
    name: str,
    source: str,
    server: str | None,
) -> int:
    """Write OUT and say what it holds; 0, or 2 when it cannot be written."""
    try:
        written = write_agents_file(result, proposal, out, name=name, source=source, server=server)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"error: cannot write {out}: {exc.strerror}", file=sys.stderr)
        return 2
    print(
        f"wrote {out}: import {name!r}, {written.agents} agents with {written.tools} tools "
        f"({len(result.operations) - written.tools} operations left out). "
        f"Try it: AGENTS_FILE={out} smart-support chat",
        file=sys.stderr,
    )
    return 0


def _write_review_file(
    documents: Documents, proposal: Proposal, *, name: str, source: str, server: str | None
) -> None:
    path = review_path(name)
    kept = _keep_stdin_spec(documents, path, name) if source == "-" else source
    write_review(proposal, path, name=name, source=source_for(kept, path), server=server)
    print(
        f"wrote {path}: edit it, then `smart-support import review {name}` and "
        f"`smart-support import accept {name} --out agents.yaml`",
        file=sys.stderr,
    )


def _reviewed(name: str, settings: Settings) -> tuple[ReviewFile, ImportResult, Reviewed] | int:
    """The review file of NAME applied to a fresh import of its source, or an exit code."""
    path = review_path(name)
    try:
        check_import_name(name)
        review = read_review(path)
        source = review.import_.source
        if "://" not in source:
            source = str(path.parent / source)
        _documents, result = asyncio.run(_run(source, settings, review.import_.server))
    except EgressRefused as exc:
        print(exc.reason, file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        proposal = asyncio.run(classify_with_model(result, settings))
    except SmartSupportError as exc:
        print(f"error: the model could not classify the import: {exc}", file=sys.stderr)
        return 1
    reviewed = apply_review(proposal, review, str(path))
    return review, result, reviewed


def _print_review(name: str, reviewed: Reviewed) -> None:
    for title, items in (
        ("Your changes", reviewed.changes),
        ("New in the spec since the file was written (the rules' decisions)", reviewed.added),
        ("Gone from the spec (ignored)", reviewed.removed),
        ("Warnings", reviewed.warnings),
        ("Problems (nothing is accepted until they are fixed)", reviewed.problems),
    ):
        if items:
            print(f"{title} ({len(items)}):")
            for item in items:
                print(f"  {item}")
    if not reviewed.changes:
        print(f"{review_path(name)}: no changes to the rules' proposal")


def cli_review(name: str, settings: Settings) -> int:
    """`import review NAME`: check NAME.import.yaml against the spec and show the changes."""
    found = _reviewed(name, settings)
    if isinstance(found, int):
        return found
    _review, result, reviewed = found
    _print_review(name, reviewed)
    print()
    print(summary(result, reviewed.proposal))
    return 2 if reviewed.problems else 0


def cli_accept(name: str, settings: Settings, out: Path) -> int:
    """`import accept NAME --out FILE`: the reviewed proposal as a complete agents.yaml."""
    found = _reviewed(name, settings)
    if isinstance(found, int):
        return found
    review, result, reviewed = found
    _print_review(name, reviewed)
    if reviewed.problems:
        return 2
    source = review.import_.source
    if "://" not in source:
        source = str(review_path(name).parent / source)
    return _write_agents(
        result, reviewed.proposal, out, name=name, source=source, server=review.import_.server
    )

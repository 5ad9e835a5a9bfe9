"""The review file: an import's proposal as YAML a person edits, then `review` and `accept`.

`smart-support import SOURCE --name shop` writes `shop.import.yaml`: the import (source, server),
the proposed agents (name, description, examples) and every operation with its decisions
(access, relevance `on`/`off`, agent, approval summary, who supplies each parameter) and, as
`why`, the rule's reason. Edit it; `smart-support import review shop` checks it and shows what
you changed against a fresh classification of the spec (operations added to or removed from the
spec since are listed); `smart-support import accept shop --out agents.yaml` writes the agents.

Marking a `write` operation `read` lets agents call it without an approval: it is refused
unless that operation also says `confirm_read: true`, and always shown as a warning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smart_support.errors import ConfigError
from smart_support.openapi.classify import (
    AgentProposal,
    Decision,
    OperationClass,
    ParameterClass,
    Proposal,
)
from smart_support.openapi.classify.decisions import AGENT_NAME
from smart_support.openapi.load import SpecError, parse_document

SUFFIX = ".import.yaml"

_HEADER = """\
# Review of the import {name!r} ({source}).
# Edit any decision: access (read|write), relevance (on|off), agent (one of the agents below, or
# a new one you add there), summary (what the approver reads, {{argument}} placeholders) and who
# supplies each parameter (customer: said in the chat; identity: the verified customer's own;
# config: the import's settings). `why` is the rule's reason and is not read back.
# A write marked read runs without approval: add `confirm_read: true` to that operation.
# Then: smart-support import review {name}            (checks it, shows your changes)
#       smart-support import accept {name} --out agents.yaml
"""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ImportSection(_Strict):
    name: str
    source: str
    server: str | None = None


class AgentEntry(_Strict):
    display_name: str = Field(min_length=1, max_length=60)
    description: str = Field(min_length=1)
    examples: list[str] = Field(min_length=5, max_length=10)


class OperationEntry(_Strict):
    method: str
    path: str
    access: Literal["read", "write"]
    relevance: Literal["on", "off"]
    agent: str | None = None
    summary: str | None = None
    parameters: dict[str, Literal["customer", "identity", "config"]] = Field(default_factory=dict)
    confirm_read: bool = False
    why: str | None = None


class ReviewFile(_Strict):
    import_: ImportSection = Field(alias="import")
    agents: dict[str, AgentEntry] = Field(default_factory=dict)
    operations: dict[str, OperationEntry]

    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def review_path(name: str, folder: Path | None = None) -> Path:
    """Where the review file of the import NAME lives: `NAME.import.yaml` in FOLDER (or here)."""
    return (folder or Path()) / f"{name}{SUFFIX}"


def to_review(proposal: Proposal, *, name: str, source: str, server: str | None) -> ReviewFile:
    """The review file's content for a proposal."""
    return ReviewFile.model_validate(
        {
            "import": ImportSection(name=name, source=source, server=server),
            "agents": {
                a.name: AgentEntry(
                    display_name=a.display_name, description=a.description, examples=a.examples
                )
                for a in proposal.agents
            },
            "operations": {
                op.name: OperationEntry(
                    method=op.method,
                    path=op.path,
                    access=op.access.value,
                    relevance=op.relevance.value,
                    agent=op.agent,
                    summary=op.summary,
                    parameters={p.name: p.role.value for p in op.parameters},
                    why=f"access: {op.access.reason}; relevance: {op.relevance.reason}",
                )
                for op in proposal.operations
            },
        }
    )


def write_review(
    proposal: Proposal, path: Path, *, name: str, source: str, server: str | None
) -> Path:
    """Write the review file of PROPOSAL to PATH."""
    review = to_review(proposal, name=name, source=source, server=server)
    data = review.model_dump(mode="json", by_alias=True)
    for entry in data["operations"].values():
        if not entry["confirm_read"]:
            del entry["confirm_read"]
    text = _HEADER.format(name=name, source=source) + yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100
    )
    path.write_text(text, encoding="utf-8")
    return path


def read_review(path: Path) -> ReviewFile:
    """The edited review file at PATH.

    Raises:
        ConfigError: It is missing, not YAML, or a field has a value it cannot take (the
            message names the field).
    """
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read the review file: {exc.strerror}", file=str(path)) from None
    try:
        data = parse_document(text, str(path))
        return ReviewFile.model_validate(data)
    except SpecError as exc:
        raise ConfigError(str(exc), file=str(path)) from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise ConfigError(f"{where}: {first['msg']}{more}", file=str(path)) from None


@dataclass
class Reviewed:
    """The proposal with the file's decisions applied, and what changed against the rules."""

    proposal: Proposal
    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)


def _operator(value: Any, where: str) -> Decision[Any]:
    return Decision(value=value, source="operator", confidence=1.0, reason=f"set in {where}")


def apply_review(rules: Proposal, review: ReviewFile, where: str) -> Reviewed:
    """The rules' proposal for the spec as it is now, with the file's decisions on top.

    Operations the spec no longer has are listed as removed; operations the file does not know
    keep the rules' decisions and are listed as added. A write marked read without
    `confirm_read: true` is a problem (nothing is accepted while there is one).
    """
    out = Reviewed(proposal=rules)
    known = {op.name: op for op in rules.operations}
    out.removed = sorted(set(review.operations) - set(known))
    out.added = [name for name in known if name not in review.operations]
    operations: list[OperationClass] = []
    for op in rules.operations:
        entry = review.operations.get(op.name)
        if entry is None:
            operations.append(op)
            continue
        changed = op.model_copy(deep=True)
        unconfirmed = (
            op.access.value == "write" and entry.access == "read" and not (entry.confirm_read)
        )
        if unconfirmed:  # the rules' write stays until the operator confirms
            out.problems.append(
                f"{op.name}: marked read, but the rules say write ({op.access.reason}); "
                "a read runs without approval: add `confirm_read: true` to keep it"
            )
        elif entry.access != op.access.value:
            if entry.access == "read":
                out.warnings.append(
                    f"{op.name}: a write-looking operation marked read runs without approval"
                )
            changed.access = _operator(entry.access, where)
            out.changes.append(f"{op.name}: access {op.access.value} -> {entry.access}")
        if entry.relevance != op.relevance.value:
            changed.relevance = _operator(entry.relevance, where)
            out.changes.append(f"{op.name}: relevance {op.relevance.value} -> {entry.relevance}")
        agent = entry.agent if entry.relevance == "on" else None
        if entry.relevance == "on" and agent is None:
            out.problems.append(f"{op.name}: relevance is on, so it needs an agent")
        elif agent is not None and not AGENT_NAME.fullmatch(agent):
            out.problems.append(f"{op.name}: {agent!r} is not a valid agent name")
        elif agent is not None and agent not in review.agents:
            out.problems.append(f"{op.name}: agent {agent!r} is not listed under agents:")
        if agent != op.agent:
            out.changes.append(f"{op.name}: agent {op.agent} -> {agent}")
        changed.agent = agent
        if entry.summary != op.summary:
            changed.summary = entry.summary
            out.changes.append(f"{op.name}: summary {op.summary!r} -> {entry.summary!r}")
        parameters: list[ParameterClass] = []
        for param in op.parameters:
            role = entry.parameters.get(param.name, param.role.value)
            if role != param.role.value:
                param = param.model_copy(update={"role": _operator(role, where)})
                out.changes.append(f"{op.name}.{param.name}: role -> {role}")
            parameters.append(param)
        for unknown in sorted(set(entry.parameters) - {p.name for p in op.parameters}):
            out.problems.append(f"{op.name}: no parameter {unknown!r}")
        changed.parameters = parameters
        operations.append(changed)
    agents: list[AgentProposal] = []
    for agent_name, agent_entry in review.agents.items():
        if not AGENT_NAME.fullmatch(agent_name):
            out.problems.append(f"agents: {agent_name!r} is not a valid agent name")
            continue
        tools = [op.name for op in operations if op.agent == agent_name]
        if tools:
            agents.append(
                AgentProposal(
                    name=agent_name,
                    display_name=agent_entry.display_name,
                    description=agent_entry.description,
                    examples=agent_entry.examples,
                    tools=tools,
                )
            )
    out.proposal = Proposal(operations=operations, agents=agents)
    return out

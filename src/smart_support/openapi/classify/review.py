"""A proposal as the operators left it, and what changed between two versions of an import.

A draft keeps the classifier's proposal as it came and the operators' changes as a log
(server/import_drafts.py, whose field vocabulary this module speaks: `access`, `relevance`,
`agent`, `summary`, `parameter.<name>.role`). `current_proposal` replays the log over the
proposal: what the draft would put live. `operations_diff` compares the operations of two
imports' reports (a re-import against the live version), and `carried_changes` picks the changes
of the live version that still apply to the new one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from smart_support.openapi.classify.decisions import (
    AGENT_NAME,
    AgentProposal,
    Decision,
    OperationClass,
    Proposal,
)

#: Where an operation turned back on goes when it never had an agent.
DEFAULT_AGENT = "general"
_FILLERS = (
    "I have a question about {}.",
    "Can you help me with {}?",
    "I need help with {}.",
    "Something is wrong with {}.",
    "Who can help me with {}?",
)


class Change(Protocol):
    """One operator change as the store keeps it (`store.records.ImportChange`)."""

    @property
    def operation(self) -> str: ...
    @property
    def field(self) -> str: ...
    @property
    def value(self) -> Any: ...
    @property
    def changed_by(self) -> str: ...


def _decided(value: Any, who: str) -> Decision[Any]:
    return Decision[Any](value=value, source="operator", confidence=1.0, reason=f"changed by {who}")


def _new_agent(name: str, op: OperationClass) -> AgentProposal:
    """An agent an operator named that the classifier did not propose: generic words, which the
    operator can edit in agents.yaml later (the supervisor routes on them)."""
    shown = " ".join(part.capitalize() for part in name.split("_"))
    topic = shown.lower()
    examples = [f"I want to {op.name.replace('_', ' ')}.", *(f.format(topic) for f in _FILLERS)]
    return AgentProposal(
        name=name,
        display_name=shown[:60],
        description=f"Handles {topic} requests (an agent added by an operator).",
        examples=examples[:10],
        tools=[],
    )


@dataclass
class _Review:
    proposal: Proposal
    #: The agent each operation that is off (or has no agent) would go back to.
    former: dict[str, str] = field(default_factory=dict)

    def agent(self, name: str) -> AgentProposal | None:
        return next((a for a in self.proposal.agents if a.name == name), None)

    def leave(self, op: OperationClass) -> None:
        for agent in self.proposal.agents:
            if op.name in agent.tools:
                agent.tools.remove(op.name)
        if op.agent is not None:
            self.former[op.name] = op.agent
        op.agent = None

    def join(self, op: OperationClass, name: str) -> None:
        self.leave(op)
        agent = self.agent(name)
        if agent is None:
            agent = _new_agent(name, op)
            self.proposal.agents.append(agent)
        agent.tools.append(op.name)
        op.agent = name

    def apply(self, change: Change) -> None:
        try:
            op = self.proposal.operation(change.operation)
        except KeyError:
            return  # an operation the spec no longer has (a carried change): nothing to do
        who, value, name = change.changed_by, change.value, change.field
        if name == "access" and value in ("read", "write"):
            op.access = _decided(value, who)
        elif name == "relevance" and value in ("on", "off"):
            op.relevance = _decided(value, who)
            if value == "off":
                self.leave(op)
            elif op.agent is None:
                self.join(op, self.former.get(op.name) or DEFAULT_AGENT)
        elif name == "agent" and (value is None or AGENT_NAME.fullmatch(str(value))):
            if value is None:
                self.leave(op)
            elif op.relevance.value == "off":
                self.former[op.name] = value  # where it goes once it is turned on
            else:
                self.join(op, value)
        elif name == "summary" and isinstance(value, str):
            op.summary = value
        elif name.startswith("parameter.") and name.endswith(".role"):
            wanted = name.removeprefix("parameter.").removesuffix(".role")
            for parameter in op.parameters:
                if parameter.name == wanted and value in ("customer", "identity", "config"):
                    parameter.role = _decided(value, who)


def current_proposal(proposal: Proposal, changes: Sequence[Change]) -> Proposal:
    """The proposal with the operators' changes applied in order (a new object).

    Changed decisions become the operator's (`source="operator"`, confidence 1.0, reason
    `changed by <who>`). An `agent` change moves the operation into that agent (created, with
    generic words, when the proposal has none of that name) or, with null, out of every agent;
    `relevance` off takes it out of its agent, on puts it back into its agent (or the one it
    was in before it was turned off, else `general`). A change of an operation the proposal
    does not have, or with a value the field cannot take, is ignored.
    """
    review = _Review(proposal.model_copy(deep=True))
    for op in review.proposal.operations:
        if op.agent is None:
            continue
        agent = review.agent(op.agent)
        if agent is not None and op.name not in agent.tools:
            agent.tools.append(op.name)
    for change in changes:
        review.apply(change)
    return review.proposal


# -- re-imports ------------------------------------------------------------------------------


def _shape(op: dict[str, Any]) -> dict[str, Any]:
    """What a diff compares of one reported operation."""
    parameters = op.get("parameters") or []
    return {
        "method": op.get("method"),
        "path": op.get("path"),
        "access": op.get("access"),
        "parameters": sorted(
            str(p.get("name")) for p in parameters if isinstance(p, dict) and p.get("name")
        ),
    }


def operations_diff(live: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The operations of report `new` against those of report `live`, by tool name.

    Returns:
        `added` and `removed` (names with method and path), `changed` (name and, per field
        that differs among method, path, parameters and access, `{"from", "to"}`) and
        `unchanged` (a count).
    """
    old_ops = {op["name"]: op for op in live.get("operations", []) if "name" in op}
    new_ops = {op["name"]: op for op in new.get("operations", []) if "name" in op}

    def head(op: dict[str, Any]) -> dict[str, Any]:
        return {"name": op["name"], "method": op.get("method"), "path": op.get("path")}

    changed: list[dict[str, Any]] = []
    unchanged = 0
    for name, op in new_ops.items():
        if name not in old_ops:
            continue
        before, after = _shape(old_ops[name]), _shape(op)
        fields = {k: {"from": before[k], "to": after[k]} for k in after if before[k] != after[k]}
        if fields:
            changed.append({"name": name, "fields": fields})
        else:
            unchanged += 1
    return {
        "added": [head(op) for name, op in new_ops.items() if name not in old_ops],
        "removed": [head(op) for name, op in old_ops.items() if name not in new_ops],
        "changed": changed,
        "unchanged": unchanged,
    }


C = TypeVar("C", bound=Change)


def carried_changes(changes: Sequence[C], new: dict[str, Any]) -> list[C]:
    """The changes of a live version that still apply to report `new`: of operations it still
    has (a parameter's role only while the operation still has that parameter); the last one
    per operation and field, in their order."""
    ops = {op["name"]: op for op in new.get("operations", []) if "name" in op}
    last: dict[tuple[str, str], C] = {}
    for change in changes:
        op = ops.get(change.operation)
        if op is None:
            continue
        if change.field.startswith("parameter."):
            wanted = change.field.removeprefix("parameter.").removesuffix(".role")
            if wanted not in {p.get("name") for p in op.get("parameters") or []}:
                continue
        last.pop((change.operation, change.field), None)
        last[(change.operation, change.field)] = change
    return list(last.values())

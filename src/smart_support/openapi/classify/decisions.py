"""What a classification proposes, each decision with where it came from.

A `Proposal` is plain data (pydantic, `model_dump(mode="json")` round-trips): the rules make one,
a model may later refine some decisions (`source="model"`), and an operator confirms or overrides
them (`source="operator"`). Every decision keeps its source, a confidence and a one-line reason,
so the console can show why an operation is a write, why a parameter is hidden, or why an
operation is off.
"""

from __future__ import annotations

import re
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, Field, field_validator

Source = Literal["rule", "model", "operator"]
Access = Literal["read", "write"]
Relevance = Literal["on", "off"]
Role = Literal["customer", "identity", "config"]

T = TypeVar("T")

AGENT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Decision(BaseModel, Generic[T]):
    """One decision: its value, who made it, how sure it is and why (one line)."""

    value: T
    source: Source = "rule"
    confidence: float = Field(ge=0.0, le=1.0)
    reason: str = Field(min_length=1)
    """One line a person reads in the console, e.g. `"POST named 'search': a read candidate"`."""

    @field_validator("reason")
    @classmethod
    def _one_line(cls, value: str) -> str:
        return " ".join(value.split())


class ParameterClass(BaseModel):
    """Who supplies one tool argument."""

    name: str
    """The tool argument name (what the model would fill)."""
    original: str
    """The parameter's name in the spec ("" for a whole request body)."""
    in_: str = Field(alias="in")
    """Where it goes: path, query, header, cookie or body."""
    role: Decision[Role]
    """`customer`: said in the chat (order number, tracking number, search text); `identity`:
    bound to the verified customer (their email, customer id); `config`: filled from the
    import's settings and hidden from the model (account ids, API versions, fixed headers)."""

    model_config = {"populate_by_name": True, "serialize_by_alias": True}


class CheckProposal(BaseModel):
    """A read that re-reads the state a write needs, before the write is offered for approval
    (agents.yaml `check:`, see `smart_support.runtime.checks`)."""

    tool: str
    """The read operation's tool name."""
    arguments: dict[str, str] = Field(default_factory=dict)
    """The read's argument -> the write's argument it gets. The runtime passes the write's
    arguments by name, so the rules only propose checks where every pair has the same name."""
    reason: str = ""


class OperationClass(BaseModel):
    """Every decision about one operation."""

    name: str
    """The operation's tool name (`ImportedOperation.name`)."""
    method: str
    path: str
    access: Decision[Access]
    relevance: Decision[Relevance]
    parameters: list[ParameterClass] = Field(default_factory=list)
    agent: str | None = None
    """The agent (group) it belongs to; None when the operation is off."""
    summary: str | None = None
    """For writes: the approval summary template, `{argument}` placeholders over tool argument
    names, e.g. `"Cancel order {order_id}"`."""
    check: CheckProposal | None = None

    def customer_parameters(self) -> list[str]:
        """Names of the arguments the customer supplies in the chat."""
        return [p.name for p in self.parameters if p.role.value == "customer"]


class AgentProposal(BaseModel):
    """A specialist agent: a group of operations with what the supervisor routes on."""

    name: str
    display_name: str
    description: str
    examples: list[str] = Field(min_length=5, max_length=10)
    """Customer requests this agent answers, for routing."""
    tools: list[str] = Field(default_factory=list)
    """Names of the operations it gets (all `on`)."""

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if not AGENT_NAME.fullmatch(value):
            raise ValueError(f"{value!r} is not a valid agent name ([a-z][a-z0-9_]*)")
        return value


class Proposal(BaseModel):
    """The classification of an import, for an operator to review."""

    operations: list[OperationClass] = Field(default_factory=list)
    agents: list[AgentProposal] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    """What a reviewer should know about how the proposal was made, one line each, e.g. that a
    batch of operations kept the rules' decisions because the model failed on it."""

    def operation(self, name: str) -> OperationClass:
        """The operation called NAME.

        Raises:
            KeyError: No operation has that name.
        """
        for op in self.operations:
            if op.name == name:
                return op
        raise KeyError(name)

"""An eval set (eval.yaml): labelled routing requests, tasks, optionally tau2's tasks.

```yaml
routing:
  - text: "Where is my order 1042?"
    agent: orders
tasks:
  - id: cancel-pending-order
    customer: ["Please cancel order 1042", "yes"]
    expect:
      - get: /orders/1042
        json: {status: cancelled}
tau2:                      # tau2-bench tasks, graded by database hash (retail-tau2)
  tasks: data/tasks.json
```
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from smart_support.errors import ConfigError


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


class RoutingCase(_Strict):
    """A customer's first message and the agent that should answer it."""

    text: str = Field(min_length=1)
    agent: str = Field(min_length=1)


class Check(_Strict):
    """A read of the API after the conversation: `GET path` answers (at least) this JSON."""

    get: str = Field(min_length=1, pattern=r"^/")
    json_: Any = Field(None, alias="json")
    """Expected JSON: a dict matches when each of its keys matches (recursively); anything
    else must be equal. None: only the status is checked."""
    status: int = 200


class TaskSpec(_Strict):
    """One task: who the customer is, what they say or want, and the end state expected."""

    id: str = Field(min_length=1)
    description: str = ""
    identity: dict[str, Any] | None = None
    """A signed identity the conversation starts with (`customer_id`, `email`, `name`...)."""
    customer: list[str] = Field(default_factory=list)
    """Scripted lines in order; while an approval waits, `yes`/`no` decide it."""
    instructions: str | None = None
    """For an LLM-simulated customer: what they want and know."""
    offline: bool = True
    """False: the offline model is not expected to pass it (reported, not hidden)."""
    expect: list[Check] = Field(default_factory=list)
    reply_contains: list[str] = Field(default_factory=list)
    """Strings some reply must contain (case-insensitive)."""


class Tau2Spec(_Strict):
    """tau2-bench tasks (tasks.json) graded as tau2 grades them (`evals.tau2`)."""

    tasks: str
    splits: str | None = None
    split: str = "base"


class EvalSet(_Strict):
    routing: list[RoutingCase] = Field(default_factory=list)
    tasks: list[TaskSpec] = Field(default_factory=list)
    tau2: Tau2Spec | None = None
    base_dir: Path = Field(Path("."), exclude=True)

    def path(self, relative: str) -> Path:
        """A file named relative to the eval set."""
        return (self.base_dir / relative).resolve()


def load_eval_set(path: str | Path) -> EvalSet:
    """Read and validate an eval.yaml.

    Raises:
        ConfigError: Bad YAML or a bad field, naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text) or {}
    except OSError as exc:
        raise ConfigError(f"cannot read the eval set: {exc}", file=str(path)) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise ConfigError(f"not valid YAML: {exc}", file=str(path), line=line) from None
    try:
        return EvalSet.model_validate({**data, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(
            str(first["msg"]),
            file=str(path),
            line=_line(text, first["loc"]),
            field=where,
        ) from None


def _line(text: str, loc: tuple[Any, ...]) -> int | None:
    """The line of the YAML node at `loc` (the deepest one that exists)."""
    node: Any = yaml.compose(text)
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            found = [v for k, v in node.value if k.value == part]
            if not found:
                break
            node = found[0]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                break
            node = node.value[part]
        else:
            break
        line = node.start_mark.line + 1
    return line

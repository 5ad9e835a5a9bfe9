"""tau2-bench's tasks and how tau2 grades a run (its `evaluator/`), for the retail-tau2 API.

A run's reward is the product of the components in the task's `reward_basis`:

- DB: the hash of the database the agent left (`GET /_state/hash`) against the hash after the
  gold actions replayed on a fresh copy (`reference_hashes.json`, computed by tau2's own code;
  `gold.py` checks that our tools reach the same). Replaying the agent's calls on a fresh copy,
  as tau2 does, reaches the state our API holds, since the calls ran on a fresh copy.
- COMMUNICATE: each `communicate_info` string is in some agent message (case-insensitive,
  commas removed from the message). Counted only when in `reward_basis` (no retail task has
  it there); reported anyway.
- NL_ASSERTION: an LLM judge of `nl_assertions`. We do not run one: for the 40 retail tasks that
  have assertions the component is `skipped` and the run is not counted as a pass (`unknown`);
  tasks whose assertions are empty score 1 on it, as in tau2.

A run that did not end with the customer's stop (turn limit, an error) scores 0, as tau2's
premature terminations do.
"""

from __future__ import annotations

import json
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from smart_support.evals.sets import Tau2Spec

REFERENCE_HASHES = "reference_hashes.json"


@dataclass(frozen=True)
class Action:
    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class Tau2Task:
    id: str
    instructions: str
    actions: list[Action]
    communicate_info: list[str]
    nl_assertions: list[str]
    reward_basis: list[str]
    expected_hash: str | None = None
    purpose: str | None = None


@dataclass
class Grade:
    """A run's verdict (`pass`, `fail`, or `unknown` when all graded components passed but one
    in the basis was skipped), reward (None when unknown) and components."""

    verdict: str
    reward: float | None
    components: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def success(self) -> bool:
        return self.verdict == "pass"


def instructions_text(scenario: dict[str, Any]) -> str:
    """The user simulator's instructions as tau2 renders them (`StructuredUserInstructions`)."""
    raw: Any = scenario.get("instructions")
    if isinstance(raw, str):
        return raw
    tab = "\t"
    lines = [f"Domain: {raw['domain']}"]
    lines.append(f"Reason for call:\n{textwrap.indent(raw['reason_for_call'], tab)}")
    if raw.get("known_info") is not None:
        lines.append(f"Known info:\n{textwrap.indent(raw['known_info'], tab)}")
    if raw.get("unknown_info") is not None:
        lines.append(f"Unknown info:\n{textwrap.indent(raw['unknown_info'], tab)}")
    lines.append(f"Task instructions:\n{textwrap.indent(raw['task_instructions'], tab)}")
    return "\n".join(lines)


def load_tasks(
    tasks_file: Path, splits_file: Path | None = None, split: str = "base"
) -> list[Tau2Task]:
    """tau2's tasks (of `split`), with each task's expected hash from reference_hashes.json
    when that file sits beside tasks.json."""
    raw = json.loads(tasks_file.read_text(encoding="utf-8"))
    if splits_file is not None:
        wanted = set(json.loads(splits_file.read_text(encoding="utf-8"))[split])
        raw = [t for t in raw if t["id"] in wanted]
    hashes_file = tasks_file.parent / REFERENCE_HASHES
    hashes = json.loads(hashes_file.read_text())["tasks"] if hashes_file.exists() else {}
    tasks = []
    for item in raw:
        criteria = item.get("evaluation_criteria") or {}
        tasks.append(
            Tau2Task(
                id=item["id"],
                instructions=instructions_text(item["user_scenario"]),
                actions=[
                    Action(a["name"], a.get("arguments") or {})
                    for a in criteria.get("actions") or []
                ],
                communicate_info=list(criteria.get("communicate_info") or []),
                nl_assertions=list(criteria.get("nl_assertions") or []),
                reward_basis=list(criteria.get("reward_basis") or ["DB"]),
                expected_hash=hashes.get(item["id"]),
                purpose=(item.get("description") or {}).get("purpose"),
            )
        )
    return tasks


def tasks_of(spec: Tau2Spec, base: Path) -> list[Tau2Task]:
    splits = base / spec.splits if spec.splits else None
    return load_tasks(base / spec.tasks, splits, spec.split)


def initial_hash(tasks_file: Path) -> str:
    """tau2's hash of the untouched database (reference_hashes.json)."""
    return str(json.loads((tasks_file.parent / REFERENCE_HASHES).read_text())["initial"])


def communicated(info: str, agent_messages: list[str]) -> bool:
    """tau2's `CommunicateEvaluator`: `info` in a message, lower-cased, commas removed."""
    return any(info.lower() in m.lower().replace(",", "") for m in agent_messages)


def grade(
    task: Tau2Task, db_hash: str, agent_messages: list[str], *, stopped: bool = True
) -> Grade:
    """Grade one run as tau2 does (see the module's docstring)."""
    if not stopped:
        return Grade("fail", 0.0, {"termination": "premature"}, ["no stop from the customer"])
    components: dict[str, str] = {}
    reward = 1.0
    skipped = False
    db_ok = task.expected_hash is not None and db_hash == task.expected_hash
    components["DB"] = "pass" if db_ok else "fail"
    if "DB" in task.reward_basis:
        reward *= 1.0 if db_ok else 0.0
    told = all(communicated(info, agent_messages) for info in task.communicate_info)
    in_basis = "COMMUNICATE" in task.reward_basis
    components["COMMUNICATE"] = ("pass" if told else "fail") + (
        "" if in_basis else " (not in basis)"
    )
    if in_basis:
        reward *= 1.0 if told else 0.0
    if "NL_ASSERTION" in task.reward_basis:
        if task.nl_assertions:
            components["NL_ASSERTION"] = f"skipped ({len(task.nl_assertions)} assertions, no judge)"
            skipped = True
        else:
            components["NL_ASSERTION"] = "pass (none to judge)"
    notes = [] if task.expected_hash else ["no reference hash for this task"]
    if reward < 1.0:
        return Grade("fail", reward, components, notes)
    if skipped:
        return Grade("unknown", None, components, notes)
    return Grade("pass", reward, components, notes)

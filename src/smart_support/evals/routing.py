"""Routing accuracy: each labelled request through the runtime's own router.

A request is a conversation's first message: `Router.route(text, active=None, recent=[])`, the
call the graph's route node makes for it in production (same registry, same router model).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from langchain_core.language_models import BaseChatModel

from smart_support.evals.sets import RoutingCase
from smart_support.registry import Registry
from smart_support.runtime.routing import Router


@dataclass
class RoutingResult:
    """Accuracy per expected agent and the confusion table (expected -> chosen -> count)."""

    total: int = 0
    correct: int = 0
    confusion: dict[str, dict[str, int]] = field(default_factory=dict)
    misses: list[dict[str, str]] = field(default_factory=list)

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    def per_agent(self) -> dict[str, dict[str, float]]:
        """For each expected agent: cases, correct, accuracy."""
        out: dict[str, dict[str, float]] = {}
        for expected, row in sorted(self.confusion.items()):
            cases = sum(row.values())
            right = row.get(expected, 0)
            out[expected] = {"cases": cases, "correct": right, "accuracy": right / cases}
        return out

    def as_json(self) -> dict[str, object]:
        return {
            "total": self.total,
            "correct": self.correct,
            "accuracy": self.accuracy,
            "per_agent": self.per_agent(),
            "confusion": self.confusion,
            "misses": self.misses,
        }


async def evaluate_routing(
    registry: Registry, router_model: BaseChatModel, cases: list[RoutingCase]
) -> RoutingResult:
    """Route each case as a conversation's first message; count hits and confusions."""
    router = Router(registry, router_model)
    known = {agent.name for agent in registry.agents}
    result = RoutingResult()
    for case in cases:
        if case.agent not in known:
            raise ValueError(f"routing case {case.text!r}: no agent named {case.agent!r}")
        route = await router.route(case.text, None, [])
        row = result.confusion.setdefault(case.agent, Counter())
        row[route.agent] = row.get(route.agent, 0) + 1
        result.total += 1
        if route.agent == case.agent:
            result.correct += 1
        else:
            result.misses.append({"text": case.text, "expected": case.agent, "got": route.agent})
    result.confusion = {k: dict(v) for k, v in result.confusion.items()}
    return result

"""Routing accuracy of the runtime's router (offline model) on labelled customer requests.

Every case goes through `smart_support.runtime.routing.Router` exactly as the conversation graph
binds it: the registry's agents, one `transfer_to_<agent>` tool per routable agent and the
fallback, the router prompt, sticky follow-ups. A case's `history` (customer, assistant, ...) is
replayed first: each earlier customer message is routed in turn, so the active agent and the
recent messages are what the graph would hold when the case's message arrives. Prints the
accuracy overall and per agent, and every misrouted request.

Usage:
    python bench/routing_accuracy.py [AGENTS_YAML] [--cases CASES_YAML]

AGENTS_YAML defaults to the demo's agents.yaml when present, else tests/data/routing_agents.yaml.
The case files: tests/data/routing_cases.yaml (the project's own set),
tests/data/routing_holdout.yaml (held out at first; its misses have since been looked at) and
tests/data/routing_fresh.yaml (a fresh held-out set, written before looking at any miss and never
tuned on).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage

from smart_support.models.offline import OfflineChatModel
from smart_support.registry import load_registry
from smart_support.runtime.routing import Router

ROOT = Path(__file__).resolve().parents[1]
DEMO_AGENTS = ROOT / "src" / "smart_support" / "demo" / "agents.yaml"
FIXTURE_AGENTS = ROOT / "tests" / "data" / "routing_agents.yaml"
CASES = ROOT / "tests" / "data" / "routing_cases.yaml"
HOLDOUT = ROOT / "tests" / "data" / "routing_holdout.yaml"
FRESH = ROOT / "tests" / "data" / "routing_fresh.yaml"


@dataclass
class Result:
    """What a benchmark run found."""

    total: int = 0
    correct: int = 0
    per_agent: dict[str, list[int]] = field(default_factory=dict)  # agent -> [correct, total]
    confusions: list[tuple[str, str, str]] = field(default_factory=list)  # text, expected, got

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0


async def route(router: Router, text: str, history: Sequence[str]) -> str:
    """The agent the router picks for `text` after `history` (customer, reply, customer, ...)."""
    active: str | None = None
    recent: list[BaseMessage] = []
    for i, earlier in enumerate(history):
        if i % 2 == 0:
            active = (await router.route(earlier, active, recent)).agent
            recent.append(HumanMessage(earlier))
        else:
            recent.append(AIMessage(earlier))
    return (await router.route(text, active, recent)).agent


def load_cases(path: Path) -> list[dict[str, object]]:
    """The `cases` list of a cases file."""
    return list((yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("cases") or [])


async def evaluate_async(agents_path: Path, cases_path: Path = CASES) -> Result:
    """Route every case through the runtime's router and count the hits."""
    router = Router(load_registry(agents_path), OfflineChatModel())
    result = Result()
    for case in load_cases(cases_path):
        expected = str(case["agent"])
        history = [str(h) for h in case.get("history") or ()]  # type: ignore[attr-defined]
        got = await route(router, str(case["text"]), history)
        stats = result.per_agent.setdefault(expected, [0, 0])
        stats[1] += 1
        result.total += 1
        if got == expected:
            stats[0] += 1
            result.correct += 1
        else:
            result.confusions.append((str(case["text"]), expected, got))
    return result


def evaluate(agents_path: Path, cases_path: Path = CASES) -> Result:
    """`evaluate_async` for callers without an event loop."""
    return asyncio.run(evaluate_async(agents_path, cases_path))


def report(result: Result) -> str:
    """The result as text: overall, per agent, confusions."""
    lines = [f"routing accuracy: {result.accuracy:.3f} ({result.correct}/{result.total})"]
    for agent, (ok, total) in sorted(result.per_agent.items()):
        lines.append(f"  {agent:<12} {ok / total:.3f} ({ok}/{total})")
    if result.confusions:
        lines.append("confusions (expected -> got):")
        lines += [f"  {exp} -> {got}: {text!r}" for text, exp, got in result.confusions]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    default = DEMO_AGENTS if DEMO_AGENTS.exists() else FIXTURE_AGENTS
    parser.add_argument("agents", nargs="?", type=Path, default=default)
    parser.add_argument(
        "--cases", type=Path, action="append", help="a cases file (repeatable; default: all three)"
    )
    args = parser.parse_args(argv)
    print(f"agents: {args.agents}")
    for cases in args.cases or [CASES, HOLDOUT, FRESH]:
        print(f"cases: {cases}")
        print(report(evaluate(args.agents, cases)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

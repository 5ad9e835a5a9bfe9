"""Routing accuracy of the offline model on labelled customer requests.

Routes every case of a cases file the way the runtime does (one `transfer_to_<agent>` tool per
specialist and escalation agent, described by the agent's description and examples; no tool call
means the fallback agent) and prints the accuracy overall and per agent, and every misrouted
request. `--bind-fallback` also gives the fallback agent a transfer tool.

Usage:
    python bench/routing_accuracy.py [AGENTS_YAML] [--cases CASES_YAML] [--bind-fallback]

AGENTS_YAML defaults to the demo's agents.yaml when present, else tests/data/routing_agents.yaml.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage

from smart_support.models.offline import OfflineChatModel

ROOT = Path(__file__).resolve().parents[1]
DEMO_AGENTS = ROOT / "src" / "smart_support" / "demo" / "agents.yaml"
FIXTURE_AGENTS = ROOT / "tests" / "data" / "routing_agents.yaml"
CASES = ROOT / "tests" / "data" / "routing_cases.yaml"
ROUTER_PROMPT = (
    "You route each customer message to the one agent best placed to answer it. "
    "Call exactly one transfer tool. If none fits, do not call any tool."
)


def load_agents(path: Path) -> list[dict[str, Any]]:
    """The `agents` list of an agents.yaml file."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return list(data.get("agents") or [])


def routing_tools(agents: Sequence[dict[str, Any]], *, bind_fallback: bool = False) -> list[dict]:
    """One argument-free `transfer_to_<agent>` tool per routable agent, as the runtime does."""
    tools = []
    for agent in agents:
        if agent.get("role") == "fallback" and not bind_fallback:
            continue
        description = str(agent.get("description") or "").strip()
        examples = [str(e) for e in agent.get("examples") or ()]
        if examples:
            description += "\nExamples:\n" + "\n".join(f"- {e}" for e in examples)
        tools.append(
            {
                "type": "function",
                "function": {
                    "name": f"transfer_to_{agent['name']}",
                    "description": description,
                    "parameters": {"type": "object", "properties": {}},
                },
            }
        )
    return tools


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


def route(model: Any, fallback: str, text: str, history: Sequence[str]) -> str:
    """The agent the offline model picks for `text` after `history` (customer, reply, ...)."""
    messages: list[BaseMessage] = [SystemMessage(ROUTER_PROMPT)]
    for i, earlier in enumerate(history):
        messages.append(HumanMessage(earlier) if i % 2 == 0 else AIMessage(earlier))
    messages.append(HumanMessage(text))
    reply = model.invoke(messages)
    if reply.tool_calls:
        return str(reply.tool_calls[0]["name"]).removeprefix("transfer_to_")
    return fallback


def evaluate(agents_path: Path, cases_path: Path = CASES, *, bind_fallback: bool = False) -> Result:
    """Route every case and count the hits."""
    agents = load_agents(agents_path)
    fallback = next((a["name"] for a in agents if a.get("role") == "fallback"), "")
    tools = routing_tools(agents, bind_fallback=bind_fallback)
    model = OfflineChatModel().bind_tools(tools)
    cases = (yaml.safe_load(cases_path.read_text(encoding="utf-8")) or {}).get("cases") or []
    result = Result()
    for case in cases:
        expected = str(case["agent"])
        got = route(model, fallback, str(case["text"]), case.get("history") or ())
        stats = result.per_agent.setdefault(expected, [0, 0])
        stats[1] += 1
        result.total += 1
        if got == expected:
            stats[0] += 1
            result.correct += 1
        else:
            result.confusions.append((str(case["text"]), expected, got))
    return result


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
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = DEMO_AGENTS if DEMO_AGENTS.exists() else FIXTURE_AGENTS
    parser.add_argument("agents", nargs="?", type=Path, default=default)
    parser.add_argument("--cases", type=Path, default=CASES)
    parser.add_argument(
        "--bind-fallback", action="store_true", help="bind a transfer tool for the fallback too"
    )
    args = parser.parse_args(argv)
    print(f"agents: {args.agents}\ncases: {args.cases}")
    print(report(evaluate(args.agents, args.cases, bind_fallback=args.bind_fallback)))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""pass^k as tau2 computes it, and the JSON and HTML reports.

pass^k (tau-bench, arXiv 2406.12045; tau2's `metrics/agent_metrics.py`): for a task run n times
with c successes, C(c, k) / C(n, k) estimates the chance that k independent runs all succeed;
pass^k is its mean over tasks, for k = 1..n (tau2 counts a run successful when its reward is 1).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any


def pass_hat_k(num_trials: int, success_count: int, k: int) -> float:
    """tau2's `pass_hat_k`: C(success_count, k) / C(num_trials, k)."""
    if num_trials < k:
        raise ValueError(f"Number of trials {num_trials} is less than k {k}.")
    return math.comb(success_count, k) / math.comb(num_trials, k)


def pass_k_table(successes: dict[str, list[bool]]) -> dict[int, float]:
    """pass^k for k = 1..n over tasks that each ran n times (the same n for all)."""
    if not successes:
        return {}
    n = min(len(runs) for runs in successes.values())
    return {
        k: sum(pass_hat_k(n, sum(runs[:n]), k) for runs in successes.values()) / len(successes)
        for k in range(1, n + 1)
    }


def write_json(report: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")


def _cell(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def write_html(report: dict[str, Any], path: Path) -> None:
    """A page: the routing table, then one table per task set and task (its runs, with links
    to each run's replay)."""
    out = [
        "<!doctype html><meta charset=utf-8><title>smart-support eval</title>",
        "<style>body{font:14px system-ui;margin:2em}table{border-collapse:collapse;margin:.5em 0"
        " 1.5em}td,th{border:1px solid #ccc;padding:3px 8px;text-align:left}"
        ".pass{color:#070}.fail{color:#a00}.unknown{color:#a60}</style>",
        f"<h1>smart-support eval: {_cell(report.get('name'))}</h1>",
        f"<p>model {_cell(report.get('model'))}, {_cell(report.get('runs'))} run(s) per task</p>",
    ]
    routing = report.get("routing")
    if routing:
        out.append(
            f"<h2>Routing: {routing['correct']}/{routing['total']} ({routing['accuracy']:.1%})</h2>"
        )
        agents = sorted({a for row in routing["confusion"].values() for a in row})
        out.append("<table><tr><th>expected \\ chosen</th>")
        out += [f"<th>{_cell(a)}</th>" for a in agents] + ["<th>accuracy</th></tr>"]
        for expected, row in sorted(routing["confusion"].items()):
            acc = routing["per_agent"][expected]["accuracy"]
            out.append(f"<tr><th>{_cell(expected)}</th>")
            out += [f"<td>{row.get(a, '')}</td>" for a in agents]
            out.append(f"<td>{acc:.1%}</td></tr>")
        out.append("</table>")
    tasks = report.get("tasks")
    if tasks:
        passes = ", ".join(f"pass^{k} {v:.3f}" for k, v in tasks["pass_k"].items())
        out.append(f"<h2>Tasks: {passes}</h2>")
        if tasks.get("pass_k_upper"):
            upper = ", ".join(f"pass^{k} {v:.3f}" for k, v in tasks["pass_k_upper"].items())
            out.append(f"<p>counting runs whose only unknown is a skipped component: {upper}</p>")
        for note in tasks.get("notes", []):
            out.append(f"<p>{_cell(note)}</p>")
        for task in tasks["tasks"]:
            out.append(
                f"<h3>{_cell(task['id'])}</h3><p>{_cell(task.get('description'))}</p>"
                "<table><tr><th>run</th><th>verdict</th><th>reward</th><th>components</th>"
                "<th>turns</th><th>cost (USD)</th><th>notes</th><th>replay</th></tr>"
            )
            for i, run in enumerate(task["runs"], 1):
                parts = "; ".join(f"{k}: {v}" for k, v in run["components"].items())
                link = run.get("replay")
                out.append(
                    f"<tr><td>{i}</td><td class={run['verdict']}>{run['verdict']}</td>"
                    f"<td>{_cell(run.get('reward'))}</td><td>{_cell(parts)}</td>"
                    f"<td>{run['turns']}</td><td>{run['cost_usd']:.4f}</td>"
                    f"<td>{_cell('; '.join(run.get('notes', [])))}</td>"
                    f"<td>{f'<a href={html.escape(link, quote=True)}>events</a>' if link else ''}"
                    "</td></tr>"
                )
            out.append("</table>")
    gold = report.get("gold")
    if gold:
        out.append(f"<h2>Gold actions: {gold['passed']}/{gold['total']} score 1</h2>")
        failed = [t for t in gold["tasks"] if not t["passed"]]
        if failed:
            out.append("<ul>" + "".join(f"<li>{_cell(t)}</li>" for t in failed) + "</ul>")
    path.write_text("\n".join(out) + "\n", encoding="utf-8")

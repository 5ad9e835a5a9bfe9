"""Classification quality of the rules alone, on the hand-labelled set.

    .venv/bin/python bench/classification.py [--misses]

Prints a markdown table: per spec and overall, the share of labelled operations whose access,
relevance and customer arguments (the exact set) the rules get right, the writes classified
read (must be 0), and whether the issue's targets are met. Deterministic, no model, no network.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from smart_support.openapi.classify.quality import evaluate, targets_met, totals

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "classification" / "labels.yaml"
CORPUS = ROOT / "tests" / "data" / "openapi"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong decision")
    args = parser.parse_args()
    scores = evaluate(LABELS, CORPUS)
    print("| spec | ops | access | writes read | relevance | customer args |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in scores:
        n = s.total or 1
        print(
            f"| {s.spec} | {s.total} | {s.access / n:.0%} | {s.writes_read} | "
            f"{s.relevance / n:.0%} | {s.customer / n:.0%} |"
        )
    o = totals(scores)
    print(
        f"| **all** | {o['operations']:.0f} | {o['access']:.1%} | {o['writes_read']:.0f} | "
        f"{o['relevance']:.1%} | {o['customer']:.1%} |"
    )
    print()
    for target, met in targets_met(o).items():
        print(f"- {target}: {'met' if met else 'NOT met'}")
    if args.misses:
        print()
        for s in scores:
            for miss in s.misses:
                print(f"- {s.spec}: {miss}")


if __name__ == "__main__":
    main()

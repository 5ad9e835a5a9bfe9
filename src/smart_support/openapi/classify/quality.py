"""Accuracy of the rules on a hand-labelled set (tests/data/classification/labels.yaml).

`evaluate(labels, corpus)` imports each labelled spec (no network: remote `$ref`s are not
followed), classifies it and compares per decision: access (and writes classified read, which
must be 0), relevance, and the set of customer arguments of each operation.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from smart_support.openapi.classify.rules import classify
from smart_support.openapi.importer import ImportResult, convert, import_spec
from smart_support.openapi.load import Documents
from smart_support.settings import Settings

#: The targets of issue 11 for the rules alone.
TARGETS = {"access": 0.90, "relevance": 0.80, "customer": 0.80}


@dataclass
class Score:
    spec: str
    total: int = 0
    access: int = 0
    writes_read: int = 0
    relevance: int = 0
    customer: int = 0
    misses: list[str] = field(default_factory=list)


def load_spec(name: str, corpus: Path) -> ImportResult:
    if name == "demo":
        from smart_support.demo.shop import create_app

        return convert(
            Documents(root="demo", docs={"demo": create_app().openapi()}), validate=False
        )
    return asyncio.run(
        import_spec(str(corpus / name), Settings(), remote_refs=False, validate=False)  # type: ignore[call-arg]
    )


def evaluate(labels_file: Path, corpus: Path) -> list[Score]:
    """One `Score` per labelled spec.

    Raises:
        KeyError: A label names an operation or an argument the import does not have.
    """
    labels: dict[str, Any] = yaml.safe_load(labels_file.read_text(encoding="utf-8"))
    scores: list[Score] = []
    for spec, entry in labels.items():
        result = load_spec(spec, corpus)
        proposal = classify(result)
        always = set(entry.get("hidden_always") or [])
        score = Score(spec)
        for name, label in entry["operations"].items():
            if isinstance(label["relevance"], bool):  # YAML 1.1 reads on/off as booleans
                label["relevance"] = "on" if label["relevance"] else "off"
            op = proposal.operation(name)
            args = {p.name for p in op.parameters}
            hidden = set(label.get("hidden") or [])
            if hidden - args:
                raise KeyError(f"{spec} {name}: no argument {sorted(hidden - args)}")
            expected = args - hidden - always
            score.total += 1
            ok_access = op.access.value == label["access"]
            score.access += ok_access
            score.writes_read += label["access"] == "write" and op.access.value == "read"
            score.relevance += op.relevance.value == label["relevance"]
            got = set(op.customer_parameters())
            score.customer += got == expected
            if not ok_access:
                score.misses.append(f"{name}: access {op.access.value}, labelled {label['access']}")
            if op.relevance.value != label["relevance"]:
                score.misses.append(
                    f"{name}: relevance {op.relevance.value} ({op.relevance.reason})"
                )
            if got != expected:
                extra, missing = sorted(got - expected), sorted(expected - got)
                score.misses.append(f"{name}: customer args +{extra} -{missing}")
        scores.append(score)
    return scores


def totals(scores: list[Score]) -> dict[str, float]:
    """Overall accuracy per decision, and the count of writes classified read."""
    n = sum(s.total for s in scores) or 1
    return {
        "operations": float(sum(s.total for s in scores)),
        "access": sum(s.access for s in scores) / n,
        "writes_read": float(sum(s.writes_read for s in scores)),
        "relevance": sum(s.relevance for s in scores) / n,
        "customer": sum(s.customer for s in scores) / n,
    }


def targets_met(overall: dict[str, float]) -> dict[str, bool]:
    met = {k: overall[k] >= v for k, v in TARGETS.items()}
    met["no write classified read"] = overall["writes_read"] == 0
    return met

"""Classification quality of the rules alone, and of the rules refined by a model, on the
hand-labelled set.

    .venv/bin/python bench/classification.py [--misses] [--model scripted|provider]

Prints a markdown table: per spec and overall, the share of labelled operations whose access,
relevance and customer arguments (the exact set) the rules get right, the writes classified
read (must be 0), and whether the issue's targets are met. Deterministic, no model, no network.

`--model` adds a model run (`smart_support.openapi.classify.refine`) and prints the rules alone
and the model run side by side, with the model's calls, tokens, cost and failed batches.
`scripted` (what CI runs) is a scripted model that answers with the rules' own decisions: it
shows the plumbing (batches, structured output, merge, usage), not a model's judgement, so its
figures equal the rules'. `provider` uses the configured provider (LLM_PROVIDER and its key).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from langchain_core.language_models import BaseChatModel

from smart_support.models.provider import build_chat_model, model_label
from smart_support.openapi.classify import Proposal, classify, quality, refine
from smart_support.openapi.classify.quality import Score, evaluate, targets_met, totals
from smart_support.openapi.importer import ImportResult
from smart_support.runtime.usage import cost_usd
from smart_support.settings import load_settings
from smart_support.testing import ScriptedChatModel, echo_classification

ROOT = Path(__file__).resolve().parents[1]
LABELS = ROOT / "tests" / "data" / "classification" / "labels.yaml"
CORPUS = ROOT / "tests" / "data" / "openapi"


@dataclass
class ModelRun:
    label: str
    model: BaseChatModel
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    warnings: list[str] = field(default_factory=list)


def _classifier(run: ModelRun, prices: dict[str, tuple[float, float]]) -> Callable[..., Proposal]:
    def usage(model: str, input_tokens: int, output_tokens: int) -> None:
        run.calls += 1
        run.input_tokens += input_tokens
        run.output_tokens += output_tokens
        run.cost_usd += cost_usd(model, input_tokens, output_tokens, prices)

    def classify_with(result: ImportResult) -> Proposal:
        proposal = asyncio.run(refine(result, classify(result), run.model, on_usage=usage))
        run.warnings.extend(proposal.warnings)
        return proposal

    return classify_with


@contextmanager
def _classifying_with(classifier: Callable[..., Proposal]) -> Iterator[None]:
    # `quality.evaluate` scores whatever its module's `classify` returns: swap it for the
    # model run rather than keep a second copy of the scoring here.
    original = quality.classify
    quality.classify = classifier
    try:
        yield
    finally:
        quality.classify = original


def _per_spec(scores: list[Score]) -> None:
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


def _side_by_side(rules: list[Score], model: list[Score], run: ModelRun) -> None:
    r, m = totals(rules), totals(model)
    print(f"| decision | rules alone | rules + {run.label} |")
    print("|---|---:|---:|")
    for key, name in (
        ("access", "access"),
        ("relevance", "relevance"),
        ("customer", "customer args"),
    ):
        print(f"| {name} | {r[key]:.1%} | {m[key]:.1%} |")
    print(f"| writes classified read | {r['writes_read']:.0f} | {m['writes_read']:.0f} |")
    print(f"| model calls | 0 | {run.calls} |")
    print(f"| tokens in / out | 0 | {run.input_tokens} / {run.output_tokens} |")
    print(f"| cost | $0 | ${run.cost_usd:.4f} |")
    failed = sum(1 for x in run.warnings if x.startswith("batch "))
    print(f"| batches that kept the rules | - | {failed} |")
    print()
    for (target, met), model_met in zip(
        targets_met(r).items(), targets_met(m).values(), strict=True
    ):
        print(
            f"- {target}: rules {'met' if met else 'NOT met'}, "
            f"model run {'met' if model_met else 'NOT met'}"
        )


def _model(kind: str) -> tuple[str, BaseChatModel]:
    if kind == "scripted":
        return "scripted (echoes the rules)", ScriptedChatModel(default=echo_classification())
    settings = load_settings()
    if settings.resolved_provider() == "offline":
        sys.exit("--model provider needs LLM_PROVIDER and its API key; the provider is offline")
    return model_label(settings), build_chat_model(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every wrong decision")
    parser.add_argument(
        "--model",
        choices=["scripted", "provider"],
        help="also run the rules refined by a model: scripted (CI) or the configured provider",
    )
    args = parser.parse_args()
    chosen = _model(args.model) if args.model else None
    scores = evaluate(LABELS, CORPUS)
    _per_spec(scores)
    print()
    model_scores: list[Score] = []
    if chosen is not None:
        run = ModelRun(*chosen)
        prices = {"scripted": (0.0, 0.0), **load_settings().prices()}
        with _classifying_with(_classifier(run, prices)):
            model_scores = evaluate(LABELS, CORPUS)
        _side_by_side(scores, model_scores, run)
        for warning in run.warnings:
            print(f"- warning: {warning}")
    else:
        for target, met in targets_met(totals(scores)).items():
            print(f"- {target}: {'met' if met else 'NOT met'}")
    if args.misses:
        for title, run_scores in (("rules", scores), ("model run", model_scores)):
            if run_scores:
                print(f"\n{title}:")
            for s in run_scores:
                for miss in s.misses:
                    print(f"- {s.spec}: {miss}")


if __name__ == "__main__":
    main()

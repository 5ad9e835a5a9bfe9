"""Classification of imported operations: access, parameter roles, relevance and agents.

`classify(result)` proposes, with the rules alone (deterministic, no model), a `Proposal` an
operator reviews; every decision keeps its source, confidence and reason.
`classify_with_model(result, settings)` refines that proposal with the configured model
(`refine`), and is the rules alone with the offline model.
"""

from __future__ import annotations

from smart_support.openapi.classify.decisions import (
    AgentProposal,
    CheckProposal,
    Decision,
    OperationClass,
    ParameterClass,
    Proposal,
)
from smart_support.openapi.classify.refine import (
    ClassifiedOperations,
    OperationVerdict,
    ParameterVerdict,
    classify_with_model,
    refine,
)
from smart_support.openapi.classify.rules import classify

__all__ = [
    "AgentProposal",
    "CheckProposal",
    "ClassifiedOperations",
    "Decision",
    "OperationClass",
    "OperationVerdict",
    "ParameterClass",
    "ParameterVerdict",
    "Proposal",
    "classify",
    "classify_with_model",
    "refine",
]

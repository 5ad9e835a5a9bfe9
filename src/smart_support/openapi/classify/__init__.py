"""Classification of imported operations: access, parameter roles, relevance and agents.

`classify(result)` proposes, with the rules alone (deterministic, no model), a `Proposal` an
operator reviews; every decision keeps its source, confidence and reason.
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
from smart_support.openapi.classify.rules import classify

__all__ = [
    "AgentProposal",
    "CheckProposal",
    "Decision",
    "OperationClass",
    "ParameterClass",
    "Proposal",
    "classify",
]

"""The rules: access, parameter roles and relevance of every operation, deterministic, no model.

`classify(result)` reads an `ImportResult` and proposes, per operation, whether it reads or
writes, which arguments the customer supplies, whether a support agent should have it at all,
and the agents the operations are grouped into: access in `access`, relevance in `relevance`,
parameter roles here, agents in `grouping`. Each decision says `source="rule"`,
how sure the rule is and why. Access errs towards `write`: a write waits for a person's approval,
so a wrong `write` costs a click and a wrong `read` could cancel an order unasked. A later model
may refine a decision, never turn a rule's `write` into `read` (that takes an operator).
"""

from __future__ import annotations

import itertools
import re

from smart_support.openapi.classify import _words as w
from smart_support.openapi.classify.access import access
from smart_support.openapi.classify.decisions import (
    Decision,
    OperationClass,
    ParameterClass,
    Proposal,
    Role,
)
from smart_support.openapi.classify.grouping import group
from smart_support.openapi.classify.relevance import relevance
from smart_support.openapi.importer import ImportedOperation, ImportResult

#: Parameter names of the business's own scope: filled from the import's settings.
_CONFIG_SCOPES = (
    "account", "tenant", "merchant", "location", "site", "store", "shop", "website", "app",
    "workspace", "org", "organization", "partner", "client", "program", "environment", "admin",
    "service", "chat_service", "help_center", "business", "instance", "realm", "project",
)  # fmt: skip
_CONFIG_NAME = re.compile(
    r"^(x_)?((" + "|".join(_CONFIG_SCOPES) + r")_?)+(id|ids|sid|code|key|uuid|identifier)?$"
)
_VERSION_NAME = re.compile(r"(^|_)(api_)?version$")
_REQUEST_ID = re.compile(r"(idempotency|request_id|client_metadata|attribution|auth_assertion)")
_IDENTITY_NAME = re.compile(
    r"^(x_)?(customer|user|contact|subscriber|buyer|member|visitor|me)_?"
    r"(id|uuid|sid|email|email_address|identifier)?$|^(customer_|user_|contact_)?email(_address)?$"
    r"|^username$"
)


def _snake(name: str) -> str:
    return "_".join(w.split(name))


def role(name: str, location: str, description: str) -> Decision[Role]:
    """Who supplies an argument: the customer, the verified identity, or the import's config."""
    snake = _snake(name)
    desc = description.lower()
    if _VERSION_NAME.search(snake) and (location == "header" or "api" in snake):
        return Decision[Role](value="config", confidence=0.9, reason="an API version")
    if _REQUEST_ID.search(snake):
        return Decision[Role](
            value="config", confidence=0.7, reason="a request or idempotency id, never asked"
        )
    if _IDENTITY_NAME.search(snake):
        return Decision[Role](
            value="identity", confidence=0.75, reason="names the customer: bound to the "
            "verified customer, not asked",
        )  # fmt: skip
    if _CONFIG_NAME.search(snake):
        return Decision[Role](
            value="config", confidence=0.75, reason=f"the business's own {snake.split('_')[0]}: "
            "set in the import's settings",
        )  # fmt: skip
    if location in ("header", "cookie"):
        return Decision[Role](
            value="config", confidence=0.7, reason=f"a {location}: a fixed value of the import"
        )
    if "api key" in desc or "your account" in desc or "merchant account" in desc:
        return Decision[Role](
            value="config", confidence=0.6, reason="the description names the business's account"
        )
    return Decision[Role](
        value="customer", confidence=0.6, reason="a value of the request, said in the chat"
    )


def _record_ids(path: str) -> dict[str, str]:
    """Path parameters that name a nested record: `/loyalty/accounts/{account_id}` ->
    {account_id: account}. A top-level `/merchants/{merchant_id}` is the business's own scope."""
    parts = [p for p in path.strip("/").split("/") if p]
    out: dict[str, str] = {}
    literal = 0
    for before, part in itertools.pairwise(parts):
        named = bool(w.literal_segments(before))  # not a {parameter} nor a version
        literal += named
        if "{" in part and named and literal > 1:
            noun = "_".join(w.stem(x) for x in w.split(before))
            name = part.strip("{}")
            if _snake(name) in {f"{noun}_id", "id"}:
                out[name] = noun
    return out


def parameters(op: ImportedOperation) -> list[ParameterClass]:
    described: dict[tuple[str, str], str] = {
        (p.location, p.name): p.description for p in op.operation.parameters
    }
    records = _record_ids(op.operation.path)
    out: list[ParameterClass] = []
    for b in op.bindings:
        desc = described.get((b.location, b.original), "")
        decided = role(b.original or b.argument, b.location, desc)
        noun = records.get(b.original) if b.location == "path" else None
        if noun and decided.value == "config":
            decided = Decision[Role](
                value="customer", confidence=0.6, reason=f"the id of the {noun.replace('_', ' ')} "
                "the path acts on, not the business's own scope",
            )  # fmt: skip
        out.append(
            ParameterClass(name=b.argument, original=b.original, **{"in": b.location}, role=decided)
        )
    return out


def classify_operation(op: ImportedOperation) -> OperationClass:
    """Access, parameters and relevance of one operation (no grouping yet)."""
    decided = access(op.operation)
    args = parameters(op)
    return OperationClass(
        name=op.name,
        method=op.operation.method.upper(),
        path=op.operation.path,
        access=decided,
        relevance=relevance(op.operation, decided, args, op.bindings),
        parameters=args,
    )


def classify(
    result: ImportResult,
    *,
    max_tools_per_agent: int = 15,
    max_agents: int = 6,
    tag_descriptions: dict[str, str] | None = None,
) -> Proposal:
    """Classify every operation of an import with the rules alone (no model), deterministically.

    Args:
        result: The import.
        max_tools_per_agent: At most this many tools per proposed agent; the least relevant
            of a larger group are turned off ("over the per-agent tool budget").
        max_agents: At most this many agents; related groups merge first (payments with
            refunds, orders with shipments), then the families a support lead needs least are
            turned off ("beyond the agent budget").
        tag_descriptions: The spec's tag descriptions by tag name, for agent descriptions.

    Returns:
        One `OperationClass` per imported operation (in the import's order) and the agents.
    """
    classes = [classify_operation(op) for op in result.operations]
    agents = group(
        result,
        classes,
        max_tools_per_agent,
        tag_descriptions or result.tag_descriptions,
        max_agents=max_agents,
    )
    return Proposal(operations=classes, agents=agents)

"""The rules: access, parameter roles and relevance of every operation, deterministic, no model.

`classify(result)` reads an `ImportResult` and proposes, per operation, whether it reads or
writes, which arguments the customer supplies, whether a support agent should have it at all,
and the agents the operations are grouped into (`grouping`). Each decision says `source="rule"`,
how sure the rule is and why. Access errs towards `write`: a write waits for a person's approval,
so a wrong `write` costs a click and a wrong `read` could cancel an order unasked. A later model
may refine a decision, never turn a rule's `write` into `read` (that takes an operator).
"""

from __future__ import annotations

import re

from smart_support.openapi.classify import _words as w
from smart_support.openapi.classify.decisions import (
    Access,
    Decision,
    OperationClass,
    ParameterClass,
    Proposal,
    Relevance,
    Role,
)
from smart_support.openapi.classify.grouping import group
from smart_support.openapi.importer import ImportedOperation, ImportResult
from smart_support.openapi.model import Operation
from smart_support.openapi.request import Binding

#: Verbs that change state whatever the method (money, messages, deletion, sessions).
STRONG_WRITES = {
    "cancel", "refund", "delete", "remove", "destroy", "purge", "erase", "wipe", "void", "pay",
    "charge", "capture", "send", "transfer", "purchase", "buy", "redeem", "revoke", "login",
    "logout", "disable", "deactivate", "suspend", "block", "archive", "close", "accept",
    "decline", "reject", "redact", "terminate", "withdraw", "payout", "submit", "approve",
}  # fmt: skip
#: Verbs that usually change state; a read marker (an estimate, a search) outweighs them.
WEAK_WRITES = {
    "create", "update", "add", "set", "change", "edit", "modify", "upsert", "save", "put",
    "patch", "post", "insert", "replace", "activate", "reactivate", "enable", "resume", "pause",
    "unarchive", "unblock", "merge", "convert", "attach", "detach", "assign", "unassign",
    "reply", "enqueue", "authorize", "confirm", "complete", "defend", "supply", "accumulate",
    "adjust", "swap", "clone", "register", "revise", "hold", "unhold", "ship", "notify",
    "record", "stop", "apply", "deduct", "switch", "checkout", "place", "book", "schedule",
    "reschedule", "subscribe", "unsubscribe", "mark", "move", "rename", "restore", "process",
    "trigger", "start", "open", "reopen", "link", "unlink", "upload", "import", "publish",
    "reset", "invite", "verify_and_set", "obtain", "issue", "grant", "track", "tag", "untag",
    "submit", "collect",
}  # fmt: skip
#: Words that make a POST a read candidate (RPC-style and search endpoints).
READ_MARKERS = {
    "search", "list", "query", "lookup", "validate", "estimate", "calculate", "preview",
    "quote", "count", "retrieve", "get", "fetch", "find", "show", "pdf", "availability",
}  # fmt: skip
#: Read markers that outweigh a leading create/update: `Create invoice estimate` reads.
COMPUTE_MARKERS = {"estimate", "calculate", "preview", "quote", "validate", "count"}
READ_METHODS = {"get", "head", "options"}

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


def access(op: Operation) -> Decision[Access]:
    """Read or write, with the rule that decided."""
    method = op.method.lower()
    ident, text, segment = w.id_words(op), w.stems(w.phrase(op)), w.action_segment(op.path)
    leading = {ident[0]} if ident else set()
    leading |= {text[0]} if text else set()
    if method in READ_METHODS:
        verb = (leading | set(segment[:1])) & STRONG_WRITES
        if verb:
            word = sorted(verb)[0]
            return Decision[Access](
                value="write",
                confidence=0.85,
                reason=f"a {method.upper()} that says "
                f"'{word}': it changes state whatever its method",
            )
        return Decision[Access](
            value="read", confidence=0.9, reason=f"{method.upper()} and no state-changing verb"
        )
    words = set(ident) | set(text) | set(w.path_words(op.path))
    strong = words & STRONG_WRITES
    if strong:
        return Decision[Access](
            value="write", confidence=0.95, reason=f"says '{sorted(strong)[0]}': changes state"
        )
    if method in ("delete", "put", "patch"):
        return Decision[Access](
            value="write", confidence=0.95, reason=f"{method.upper()} changes state"
        )
    markers = words & READ_MARKERS
    if leading & WEAK_WRITES:
        markers &= COMPUTE_MARKERS
    if markers:
        word = sorted(markers)[0]
        return Decision[Access](
            value="read", confidence=0.6,
            reason=f"a {method.upper()} named '{word}' and no state-changing verb: a read "
            "candidate (confirm it)",
        )  # fmt: skip
    weak = sorted(words & WEAK_WRITES)
    why = f"says '{weak[0]}'" if weak else "no read marker"
    return Decision[Access](
        value="write", confidence=0.9 if weak else 0.75, reason=f"{method.upper()}, {why}"
    )


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


#: Words that make an operation back-office: not for a customer-support agent by default.
_OFF_WORDS = {
    "admin": "an admin operation", "bulk": "a bulk operation", "batch": "a bulk operation",
    "report": "reporting", "reporting": "reporting", "analytic": "analytics",
    "webhook": "webhook management", "audit": "audit", "export": "a data export",
    "import": "a data import", "oauth": "OAuth", "token": "tokens and credentials",
    "credential": "tokens and credentials", "apikey": "API keys", "setting": "settings",
    "configuration": "settings", "login": "a session login", "logout": "a session logout",
    "password": "passwords", "definition": "schema definitions", "integration": "integrations",
    "permission": "permissions", "role": "roles and permissions", "module": "modules",
    "dataset": "reporting", "segment": "marketing segments", "attribute": "data attributes",
    "job": "background jobs", "allowlist": "security settings", "template": "templates",
    "dunning": "billing operations", "gateway": "billing operations", "csv": "a data import",
    "health": "a health check", "ping": "a health check", "heartbeat": "a health check",
    "metric": "reporting", "statistic": "reporting", "log": "logs",
}  # fmt: skip
#: Records a customer owns or asks about: writes on them can be support actions.
CUSTOMER_NOUNS = {
    "order", "booking", "appointment", "reservation", "subscription", "ticket", "conversation",
    "message", "return", "refund", "shipment", "tracking", "delivery", "cart", "payment",
    "invoice", "address", "dispute", "loyalty", "reward", "reply", "shipping", "rma", "claim",
    "case", "request", "complaint", "transaction", "charge", "card", "credit", "creditmemo",
    "defense", "note", "evidence", "participant", "csat", "rating", "review", "fin", "contact",
    "customer", "user", "visitor", "account", "quote", "estimate", "guest",
}  # fmt: skip
_PEOPLE = {"customer", "contact", "user", "member", "visitor", "account", "admin", "people"}


def relevance(
    op: Operation,
    decided: Decision[Access],
    args: list[ParameterClass],
    op_bindings: list[Binding] | None = None,
) -> Decision[Relevance]:
    """Whether a customer-support agent should have the operation, by default."""
    if op.deprecated:
        return Decision[Relevance](value="off", confidence=0.9, reason="deprecated in the spec")
    op_bindings = op_bindings or []
    words = w.all_words(op)
    segments = [w.stem(s.lower()) for s in w.literal_segments(op.path)]
    for word in [*words, *segments]:
        if word in _OFF_WORDS:
            return Decision[Relevance](
                value="off", confidence=0.8, reason=f"{_OFF_WORDS[word]}: back-office, not support"
            )
    if set(words) & {"delete", "destroy", "purge", "erase", "wipe"} or op.method == "delete":
        return Decision[Relevance](
            value="off",
            confidence=0.7,
            reason="deletes records: off unless an operator turns it on",
        )
    nouns = [x for x in words if x in CUSTOMER_NOUNS]
    if decided.value == "write" and not nouns:
        return Decision[Relevance](
            value="off", confidence=0.6, reason="changes the business's own records (catalogue, "
            "content, setup), not a customer's",
        )  # fmt: skip
    last = segments[-1] if segments and not op.path.rstrip("/").endswith("}") else ""
    required = {b.argument for b in op_bindings if b.required and b.location == "query"}
    filtered = bool(required) or any(a.role.value == "identity" for a in args)
    if decided.value == "read" and last in _PEOPLE and not filtered and op.method == "get":
        return Decision[Relevance](
            value="off", confidence=0.7, reason=f"lists every {last}: not for one customer's chat"
        )
    if nouns:
        return Decision[Relevance](
            value="on", confidence=0.75, reason=f"about a customer's {nouns[0]}"
        )
    return Decision[Relevance](
        value="on", confidence=0.55, reason="a lookup a customer may ask about"
    )


def parameters(op: ImportedOperation) -> list[ParameterClass]:
    described: dict[tuple[str, str], str] = {
        (p.location, p.name): p.description for p in op.operation.parameters
    }
    out: list[ParameterClass] = []
    for b in op.bindings:
        desc = described.get((b.location, b.original), "")
        out.append(
            ParameterClass(
                name=b.argument,
                original=b.original,
                **{"in": b.location},
                role=role(b.original or b.argument, b.location, desc),
            )
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
    tag_descriptions: dict[str, str] | None = None,
) -> Proposal:
    """Classify every operation of an import with the rules alone (no model), deterministically.

    Args:
        result: The import.
        max_tools_per_agent: At most this many tools per proposed agent; the least relevant
            of a larger group are turned off ("over the per-agent tool budget").
        tag_descriptions: The spec's tag descriptions by tag name, for agent descriptions.

    Returns:
        One `OperationClass` per imported operation (in the import's order) and the agents.
    """
    classes = [classify_operation(op) for op in result.operations]
    agents = group(
        result, classes, max_tools_per_agent, tag_descriptions or result.tag_descriptions
    )
    return Proposal(operations=classes, agents=agents)

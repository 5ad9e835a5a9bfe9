"""The rules: access, parameter roles and relevance of every operation, deterministic, no model.

`classify(result)` reads an `ImportResult` and proposes, per operation, whether it reads or
writes, which arguments the customer supplies, whether a support agent should have it at all,
and the agents the operations are grouped into (`grouping`). Each decision says `source="rule"`,
how sure the rule is and why. Access errs towards `write`: a write waits for a person's approval,
so a wrong `write` costs a click and a wrong `read` could cancel an order unasked. A later model
may refine a decision, never turn a rule's `write` into `read` (that takes an operator).
"""

from __future__ import annotations

import itertools
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
    "use",
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
        path = set(w.path_words(op.path))
        if path & WEAK_WRITES and not path & COMPUTE_MARKERS:
            markers = set()  # `/inventory/changes/batch-create` writes whatever it counts
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
    "defense": "dispute defence, the business's side", "evidence": "dispute evidence",
    "block": "moderation", "merge": "data administration", "redact": "data administration",
}  # fmt: skip
#: Back-office resources, by a path segment's stemmed words joined (`bank-accounts` ->
#: `bank_account`, `cmsPage` -> `cms_page`): the business's own setup, staff, money and stock.
BACK_OFFICE = {
    "bank_account": "bank accounts", "cash_drawer": "cash drawers", "device": "devices",
    "device_code": "devices", "team_member": "team members", "employee": "employees",
    "location": "locations", "labor": "labor and shifts", "payout": "payouts",
    "settlement": "settlements", "merchant": "merchants", "vendor": "vendors",
    "inventory": "inventory", "stock_item": "inventory", "stock_status": "inventory",
    "terminal": "point-of-sale terminals", "snippet": "site snippets",
    "mobile": "mobile authorization", "apple_pay": "Apple Pay setup", "applepay": "Apple Pay setup",
    "tax_class": "tax setup", "tax_rate": "tax setup", "tax_rule": "tax setup",
    "csv_tax_rule": "tax setup", "cms_block": "CMS content", "cms_page": "CMS content",
    "eav": "EAV attributes", "attribute_metadata": "EAV attributes", "adminuisdk": "admin UI",
    "adobestock": "stock images", "adobe_io_event": "event setup", "eventing": "event setup",
    "hierarchy": "company structure", "company": "company accounts",
    "company_credit": "company credit", "shared_catalog": "shared catalogues",
    "negotiable_quote": "B2B quotes", "negotiable_quote_template": "B2B quotes",
    "negotiable_cart": "B2B quotes", "negotiable_cart_item_note": "B2B quotes",
    "purchase_order_cart": "B2B purchase orders", "requisition_list": "requisition lists",
    "sales_rule": "promotion rules", "coupon": "promotion rules", "coupon_code": "promotion rules",
    "promotion": "promotion rules", "customer_group": "customer groups",
    "customer_segment": "customer segments", "tfa": "two-factor setup",
    "payment_config": "payment setup", "payment_sdk": "payment setup", "paypal": "payment setup",
    "sale_rule": "promotion rules", "stock": "inventory", "group": "customer groups",
    "evidence": "dispute evidence", "submit_evidence": "dispute evidence",
    "gift_wrapping": "gift-wrapping setup", "cost_information": "price management",
    "base_price_information": "price management", "tier_price_information": "price management",
    "special_price_information": "price management", "cost": "price management",
    "directory": "store setup (countries, currencies)", "store_config": "store setup",
    "store_view": "store setup", "store_group": "store setup", "website": "store setup",
    "break_type": "labor and shifts", "scheduled_shift": "labor and shifts",
    "timecard": "labor and shifts", "team_member_wage": "labor and shifts",
    "workweek_config": "labor and shifts", "portal_session": "portal sessions",
    "hosted_page": "checkout pages", "addon": "the price list", "news": "news feed management",
    "away_status_reason": "team status", "phone_call_redirect": "phone setup",
    "custom_object_instance": "custom objects", "internal_article": "internal articles",
    "subscription_type": "marketing subscriptions", "ticket_type": "ticket setup",
    "ticket_state": "ticket setup", "tag": "tagging", "comment": "internal notes",
    "note": "internal notes", "ai": "AI setup",
    "download": "data downloads", "new": "news feed management",
    "news_item": "news feed management", "newsfeed": "news feed management",
    "binding": "push-notification bindings", "fin": "another AI agent (Fin)",
    "booking_profile": "booking setup", "location_booking_profile": "booking setup",
    "team_member_booking_profile": "booking setup", "business_booking_profile": "booking setup",
}  # fmt: skip
#: Back-office only as the first resource of a path (`/events`, not `/subscriptions/{id}/events`).
BACK_OFFICE_TOP = {
    "event": "event logs", "site": "sites", "team": "team members",
    "category": "the catalogue tree", "admin": "admins", "visitor": "website visitors",
    "call": "the support team's calls",
}  # fmt: skip
#: The checkout flow: the shop's own pages sell; a support chat does not fill carts.
CHECKOUT_FLOW = {
    "cart": "carts", "guest_cart": "carts", "giftregistry": "gift registries",
    "guest_giftregistry": "gift registries", "payment_order": "checkout payments",
    "online_checkout": "payment links", "payment_link": "payment links",
    "payment_intent": "checkout payments", "braintree": "checkout payments",
}  # fmt: skip
#: Records of a sale: a write on one is support only when it is a support action.
SALE_RECORDS = {
    "order", "payment", "invoice", "transaction", "charge", "creditmemo", "shipment",
    "gift_card", "gift_card_activity", "card", "dispute", "refund", "return",
}  # fmt: skip
#: The support actions on a sale record (a `cancel`, a `refund`, a return, the address).
SUPPORT_ACTIONS = {
    "cancel", "refund", "return", "rma", "exchange", "reschedule", "resend", "email",
    "address", "shipping",
}  # fmt: skip
#: On a payment only a refund is support: a cancel voids, a complete captures.
_MONEY_ACTIONS = {"refund"}
_MONEY = {"payment", "transaction", "charge"}
#: Collections of one customer's records: a GET of the whole collection lists everybody's.
CUSTOMER_RECORDS = {
    "customer", "contact", "user", "member", "visitor", "account", "people", "order",
    "payment", "refund", "invoice", "subscription", "booking", "appointment", "reservation",
    "gift_card", "dispute", "conversation", "ticket", "transaction", "card", "creditmemo",
    "shipment", "return", "rma", "loyalty_account", "charge", "message",
}  # fmt: skip
#: Records a customer owns or asks about: writes on them can be support actions.
CUSTOMER_NOUNS = {
    "order", "booking", "appointment", "reservation", "subscription", "ticket", "conversation",
    "message", "return", "refund", "shipment", "tracking", "delivery", "payment",
    "invoice", "address", "dispute", "loyalty", "reward", "reply", "shipping", "rma", "claim",
    "case", "request", "complaint", "transaction", "charge", "card", "credit", "creditmemo",
    "participant", "csat", "rating", "review", "contact",
    "customer", "user", "visitor", "account", "quote", "estimate", "guest",
}  # fmt: skip
#: The support tool's own records: the team edits and manages them, the chat may add to them.
_SUPPORT_RECORDS = {"conversation", "ticket", "message", "participant"}
_SIGN_UP = {"activate", "confirm", "is_email_available", "confirmation"}
_PEOPLE = {"customer", "contact", "user", "member", "visitor", "account", "people"}
#: Writes of payment processing and fulfilment, on any sale record.
_PROCESSING = {"capture", "authorize", "track", "tracker", "ship", "invoice_create"}
_DISPUTE_SIDE = {"defense", "evidence", "defend", "accept"}


def segment_keys(path: str) -> list[str]:
    """The path's literal segments as stemmed snake keys: `/v2/bank-accounts/{id}` ->
    [bank_account]."""
    return ["_".join(w.stem(x) for x in w.split(s)) for s in w.literal_segments(path)]


def _off(reason: str, confidence: float = 0.8) -> Decision[Relevance]:
    return Decision[Relevance](value="off", confidence=confidence, reason=reason)


def _back_office(keys: list[str]) -> str | None:
    for i, key in enumerate(keys):
        for vocabulary in (BACK_OFFICE, BACK_OFFICE_TOP if i == 0 else {}):
            if key in vocabulary:
                return f"back-office resource '{vocabulary[key]}': not for a customer chat"
        if key in CHECKOUT_FLOW:
            return (
                f"the checkout flow ('{CHECKOUT_FLOW[key]}'): the shop's pages do it, not support"
            )
        if key.split("_")[0] in BACK_OFFICE:
            return (
                f"back-office resource '{BACK_OFFICE[key.split('_')[0]]}': not for a customer chat"
            )
    return None


def _sale_write(op: Operation, keys: list[str], words: list[str]) -> str | None:
    """Why a write on a sale record is not a support action, or None when it is one."""
    records = [k for k in keys if k in SALE_RECORDS]
    records += [x for k in keys for x in k.split("_") if x in SALE_RECORDS]
    if not records:
        return None
    record = records[0]
    said = set(words) | set(keys)
    if said & _PROCESSING:
        word = sorted(said & _PROCESSING)[0]
        return f"'{word}' is payment processing or fulfilment, not a support chat"
    if record == "dispute" and said & _DISPUTE_SIDE:
        return "contests a chargeback: the business's side of a dispute"
    allowed = _MONEY_ACTIONS if record in _MONEY and "refund" not in keys else SUPPORT_ACTIONS
    if record == "return":  # a return is the record here: starting or cancelling one is support
        creates = op.method.lower() == "post" and keys[-1] == "return"
        allowed = {"cancel"} | ({"return"} if creates else set())
    if said & allowed:
        return None
    verbs = [x for x in w.id_words(op) if x in STRONG_WRITES | WEAK_WRITES]
    action = [x for x in w.action_segment(op.path) if x in STRONG_WRITES | WEAK_WRITES]
    verb = (action or verbs or [op.method.upper()])[0]
    noun = record.replace("_", " ")
    article = "an" if noun[:1] in "aeiou" else "a"
    return (
        f"'{verb}' on {article} {noun}: the checkout, point of sale or back office does that, "
        "not a support chat"
    )


def _not_a_support_write(
    op: Operation, decided: Decision[Access], keys: list[str], words: list[str]
) -> str | None:
    """Why an operation on a customer's records is still not the support chat's to call."""
    method = op.method.lower()
    creates = method == "post" and bool(keys) and not op.path.rstrip("/").endswith("}")
    if decided.value == "write" and creates and keys[-1] in _PEOPLE:
        return f"creates a new {keys[-1]} record: signing up is the shop's own pages"
    if method in {"put", "patch"} and keys and keys[-1] in _SUPPORT_RECORDS:
        return f"edits the support team's own {keys[-1]} record (state, assignee)"
    if decided.value == "write" and "manage" in words and set(keys) & _SUPPORT_RECORDS:
        return "manages a conversation (close, snooze, assign): the support team's tool"
    processing = set(words) & {"capture", "authorize", "accumulate"}
    if decided.value == "write" and processing:
        return f"'{sorted(processing)[0]}' is payment processing: the checkout or point of sale"
    if set(keys) & _PEOPLE and (set(keys) | set(words)) & _SIGN_UP:
        return "account sign-up and activation: the shop's own pages do it"
    return _sale_write(op, keys, words) if decided.value == "write" else None


def relevance(
    op: Operation,
    decided: Decision[Access],
    args: list[ParameterClass],
    op_bindings: list[Binding] | None = None,
) -> Decision[Relevance]:
    """Whether a customer-support agent should have the operation, by default."""
    if op.deprecated:
        return _off("deprecated in the spec", 0.9)
    op_bindings = op_bindings or []
    words = w.all_words(op)
    segments = [w.stem(s.lower()) for s in w.literal_segments(op.path)]
    for word in [*words, *segments]:
        if word in _OFF_WORDS:
            return _off(f"{_OFF_WORDS[word]}: back-office, not support")
    keys = segment_keys(op.path)
    back_office = _back_office(keys)
    if back_office:
        return _off(back_office, 0.75)
    if keys and keys[-1] == "type" and op.method.lower() == "get":
        return _off("lists the API's own types: metadata, not support", 0.6)
    if set(words) & {"delete", "destroy", "purge", "erase", "wipe"} or op.method == "delete":
        return _off("deletes records: off unless an operator turns it on", 0.7)
    nouns = [x for x in words if x in CUSTOMER_NOUNS]
    if decided.value == "write" and not nouns:
        return _off(
            "changes the business's own records (catalogue, content, setup), not a customer's", 0.6
        )
    why = _not_a_support_write(op, decided, keys, words)
    if why:
        return _off(why, 0.6)
    if decided.value == "read" and "order" in keys and set(words) & COMPUTE_MARKERS:
        return _off("prices a draft order: the checkout's job, not support", 0.6)
    ends_literal = bool(keys) and not op.path.rstrip("/").endswith("}")
    last = keys[-1] if ends_literal else ""
    if last in {"search", "list"} and len(keys) > 1 and op.method == "get":
        last = keys[-2]
    filtered = any(
        a.role.value == "identity"
        or (b.required and b.location == "query" and a.role.value == "customer")
        for a, b in zip(args, op_bindings, strict=False)
    ) or any(a.role.value == "identity" for a in args)
    unscoped = "{" not in op.path and not set(keys) & {"me", "mine", "current"}
    records = [k for k in keys if k in CUSTOMER_RECORDS]
    noun = last.replace("_", " ")
    if ends_literal and unscoped and records and last not in CUSTOMER_RECORDS:
        noun = f"{noun} of every {records[0].replace('_', ' ')}"  # `/orders/items`
        last = records[0]
    if decided.value == "read" and last in CUSTOMER_RECORDS and not filtered and op.method == "get":
        return _off(f"lists every {noun} of the business: not for a customer chat", 0.7)
    if nouns:
        return Decision[Relevance](
            value="on", confidence=0.75, reason=f"about a customer's {nouns[0]}"
        )
    return Decision[Relevance](
        value="on", confidence=0.55, reason="a lookup a customer may ask about"
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

"""Relevance: whether a customer-support agent, talking with one customer, should have an
operation by default.

Off: back-office resources (the business's staff, devices, money, stock, setup), the checkout
flow, writes on a sale record that are not support actions (capture, ship, hold), and a GET of a
whole collection of customers' records that the verified customer does not filter. Each `off`
says why in one line, naming the resource or the verb.
"""

from __future__ import annotations

from smart_support.openapi.classify import _words as w
from smart_support.openapi.classify.access import COMPUTE_MARKERS, STRONG_WRITES, WEAK_WRITES
from smart_support.openapi.classify.decisions import Access, Decision, ParameterClass, Relevance
from smart_support.openapi.model import Operation
from smart_support.openapi.request import Binding

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
    "block": "moderation", "enqueue": "a background job", "merge": "data administration",
    "redact": "data administration",
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

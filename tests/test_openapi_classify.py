"""The rules classify every operation: access, parameter roles, relevance and agents."""

from __future__ import annotations

import asyncio
import re
from functools import cache
from pathlib import Path

import pytest

from smart_support.openapi import ImportResult, convert, import_spec
from smart_support.openapi.classify import Proposal, classify
from smart_support.openapi.classify._words import id_words
from smart_support.openapi.classify.quality import TARGETS, evaluate, totals
from smart_support.openapi.load import Documents
from smart_support.settings import Settings

DATA = Path(__file__).parent / "data"
CORPUS = DATA / "openapi"
SPECS = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".yaml"))
WRITE_WORDS = {"cancel", "refund", "delete", "pay", "send"}


@cache
def imported(name: str) -> ImportResult:
    return asyncio.run(import_spec(str(CORPUS / name), Settings(), remote_refs=False))


@cache
def shop() -> Proposal:
    from smart_support.demo.shop import create_app

    spec = create_app().openapi()
    return classify(convert(Documents(root="demo", docs={"demo": spec}), validate=False))


def test_the_shops_get_order_is_an_on_read_with_the_order_id_from_the_customer() -> None:
    op = shop().operation("get_order")
    assert (op.access.value, op.relevance.value) == ("read", "on")
    assert op.customer_parameters() == ["order_id"]
    assert next(p for p in op.parameters if p.name == "X-Customer-Id").role.value == "identity"


def test_the_shops_cancel_order_is_a_write_summarised_with_its_order_checked_first() -> None:
    op = shop().operation("cancel_order")
    assert op.access.value == "write"
    assert op.summary is not None and "{order_id}" in op.summary
    assert op.check is not None and op.check.tool == "get_order"
    assert op.check.arguments == {"order_id": "order_id"}


def test_the_shops_health_check_is_off() -> None:
    op = shop().operation("health")
    assert op.relevance.value == "off" and op.agent is None


@pytest.mark.parametrize("name", SPECS)
def test_no_operation_that_looks_like_a_write_is_classified_read(name: str) -> None:
    result = imported(name)
    proposal = classify(result)
    for op, cls in zip(result.operations, proposal.operations, strict=True):
        method = op.operation.method.lower()
        verb = (id_words(op.operation) or [""])[0]  # the name's verb: `PostV1OrdersIdCancel`..
        if method in ("delete", "put", "patch") or verb in WRITE_WORDS:
            assert cls.access.value == "write", (op.name, cls.access.reason)


@pytest.mark.parametrize("name", SPECS)
def test_every_decision_comes_from_a_rule_with_a_confidence_and_a_reason(name: str) -> None:
    proposal = classify(imported(name))
    for op in proposal.operations:
        decisions = [op.access, op.relevance, *(p.role for p in op.parameters)]
        for decision in decisions:
            assert decision.source == "rule"
            assert 0 <= decision.confidence <= 1
            assert decision.reason.strip() and "\n" not in decision.reason
        if op.access.value == "write":
            assert op.summary


@pytest.mark.parametrize("name", SPECS)
def test_agents_have_valid_unique_names_and_at_most_15_tools(name: str) -> None:
    proposal = classify(imported(name))
    names = [a.name for a in proposal.agents]
    assert len(set(names)) == len(names)
    on = {op.name for op in proposal.operations if op.relevance.value == "on"}
    for agent in proposal.agents:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", agent.name)
        assert 1 <= len(agent.tools) <= 15 and set(agent.tools) <= on
        assert 5 <= len(agent.examples) <= 10
    assert on == {t for a in proposal.agents for t in a.tools}


@pytest.mark.parametrize("name", ["square-2.0.json", "intercom-2.14.yaml"])
def test_the_classification_is_deterministic_and_round_trips_as_json(name: str) -> None:
    first, second = classify(imported(name)), classify(imported(name))
    assert first.model_dump(mode="json") == second.model_dump(mode="json")
    assert Proposal.model_validate(first.model_dump(mode="json")) == first


def test_the_rules_meet_the_targets_on_the_labelled_set() -> None:
    scores = evaluate(DATA / "classification" / "labels.yaml", CORPUS)
    overall = totals(scores)
    assert overall["operations"] >= 120 and len(scores) >= 8
    assert overall["writes_read"] == 0
    for decision, target in TARGETS.items():
        assert overall[decision] >= target, (decision, overall)


def tools_of(proposal: Proposal) -> dict[str, str]:
    """Tool name -> its agent, for every operation the proposal keeps."""
    return {tool: agent.name for agent in proposal.agents for tool in agent.tools}


def test_squares_proposal_is_the_customer_facing_part_in_at_most_6_agents() -> None:
    proposal = classify(imported("square-2.0.json"))
    tools = tools_of(proposal)
    assert len(proposal.agents) <= 6 and len(tools) <= 50
    expected = {
        "RetrieveOrder", "SearchOrders", "GetPayment", "RefundPayment", "GetPaymentRefund",
        "GetInvoice", "RetrieveBooking", "SearchAvailability", "CreateBooking", "UpdateBooking",
        "CancelBooking", "RetrieveSubscription", "CancelSubscription", "PauseSubscription",
        "RetrieveGiftCardFromGAN", "RetrieveLoyaltyAccount", "RetrieveCustomer", "UpdateCustomer",
    }  # fmt: skip
    assert expected <= set(tools), sorted(expected - set(tools))
    assert tools["RefundPayment"] == tools["GetPayment"]  # payments and refunds: one agent
    back_office = {
        "ListBankAccounts": "bank accounts", "ListCashDrawerShifts": "cash drawers",
        "ListDevices": "devices", "SearchTeamMembers": "team members", "ListLocations":
        "locations", "ListPayouts": "payouts", "RetrieveMerchant": "merchants",
        "SearchVendors": "vendors", "CreateTerminalCheckout": "terminals",
    }  # fmt: skip
    for name, resource in back_office.items():
        op = proposal.operation(name)
        assert op.relevance.value == "off" and resource in op.relevance.reason, op.relevance
    for name in ("ListCustomers", "ListPayments", "ListPaymentRefunds"):  # everybody's records
        assert "lists every" in proposal.operation(name).relevance.reason
    for name in (
        "CreateOrder",
        "UpdateOrder",
        "PayOrder",
        "CompletePayment",
        "UpsertCatalogObject",
    ):
        assert name not in tools  # the point of sale's and the catalogue's writes


def test_adobe_commerces_proposal_keeps_orders_returns_invoices_and_the_customer() -> None:
    proposal = classify(imported("adobe-commerce-admin-2.4.9.yaml"))
    tools = tools_of(proposal)
    assert len(proposal.agents) <= 6 and len(tools) <= 60
    expected = {
        "GetV1OrdersId", "PostV1OrdersIdCancel", "PostV1OrderOrderIdRefund", "PostV1Returns",
        "GetV1ReturnsId", "GetV1ShipmentId", "GetV1InvoicesId", "GetV1CreditmemoId",
        "GetV1CustomersMe", "GetV1ProductsSku",
    }  # fmt: skip
    assert expected <= set(tools), sorted(expected - set(tools))
    assert tools["GetV1ShipmentId"] == tools["GetV1ReturnsId"] == tools["GetV1OrdersId"]
    off = {
        "PostV1TaxRates": "tax", "GetV1CmsPagePageId": "CMS", "GetV1StoreStoreConfigs": "store",
        "GetV1InventorySources": "inventory", "GetV1Orders": "lists every order",
        "GetV1CustomersSearch": "lists every customer", "PostV1OrderOrderIdShip": "'ship'",
        "PostV1InvoicesIdCapture": "'capture'", "GetV1CartsMine": "checkout",
    }  # fmt: skip
    for name, why in off.items():
        op = proposal.operation(name)
        assert op.relevance.value == "off" and why in op.relevance.reason, op.relevance
    assert "PostV1Products" not in tools and "PutV1ProductsSku" not in tools


def test_agents_beyond_the_budget_are_left_out_with_the_reason() -> None:
    proposal = classify(imported("square-2.0.json"), max_agents=3)
    assert [a.name for a in proposal.agents] == ["bookings", "orders", "payments"]
    op = proposal.operation("CancelSubscription")
    assert op.relevance.value == "off" and "beyond the 3-agent budget" in op.relevance.reason


def test_the_shops_proposal_is_unchanged_by_the_families() -> None:
    agents = {a.name: a.tools for a in shop().agents}
    assert agents == {
        "customer": ["find_customer_by_email"],
        "order": [
            "get_order", "get_order_tracking", "cancel_order", "change_shipping_address",
            "start_return",
        ],
        "product": ["search_products", "get_product"],
    }  # fmt: skip

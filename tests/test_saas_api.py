"""The Pulseboard API of the `saas` template: ownership, idempotent writes and its business rules
(refunds, seats, plans, sign-in), over HTTP through the ASGI transport."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path

import httpx
import pytest

from smart_support.templates.saas.api import create_app

PRIYA, TOM, LENA = "C-100", "C-101", "C-102"  # owners of ACC-1001, ACC-1002, ACC-1003


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://pulseboard") as client:
        yield client


def as_(customer: str, key: str | None = None) -> dict[str, str]:
    headers = {"X-Customer-Id": customer}
    if key:
        headers["Idempotency-Key"] = key
    return headers


async def test_the_owner_reads_her_account_and_another_customer_gets_the_missing_answer(
    api: httpx.AsyncClient,
) -> None:
    mine = await api.get("/accounts/ACC-1001", headers=as_(PRIYA))
    theirs = await api.get("/accounts/ACC-1001", headers=as_(TOM))
    missing = await api.get("/accounts/ACC-9999", headers=as_(TOM))
    assert mine.status_code == 200 and mine.json()["customer_id"] == PRIYA
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["reason"] == "account ACC-1001 does not exist"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/accounts/ACC-1001/subscription", None),
        ("GET", "/accounts/ACC-1001/invoices", None),
        ("GET", "/accounts/ACC-1001/usage", None),
        ("GET", "/invoices/INV-5001", None),
        ("GET", "/accounts/ACC-1001/members/sam@northwind.example", None),
        ("POST", "/invoices/INV-5001/refund", {"reason": "not mine"}),
        ("POST", "/accounts/ACC-1001/subscription/seats", {"seats": 12}),
        ("POST", "/accounts/ACC-1001/subscription/cancel", None),
        ("POST", "/accounts/ACC-1001/members/sam@northwind.example/unlock", None),
    ],
)
async def test_one_customer_can_neither_read_nor_change_another_customers_account(
    api: httpx.AsyncClient, method: str, path: str, body: dict[str, object] | None
) -> None:
    refused = await api.request(method, path, json=body, headers=as_(TOM))
    assert refused.status_code == 404
    invoice = await api.get("/invoices/INV-5001")
    subscription = (await api.get("/accounts/ACC-1001/subscription")).json()
    member = (await api.get("/accounts/ACC-1001/members/sam@northwind.example")).json()
    assert invoice.json()["status"] == "paid"
    assert (subscription["seats"], subscription["status"]) == (10, "active")
    assert member["status"] == "locked"


async def test_listing_accounts_needs_the_customer_and_lists_only_theirs(
    api: httpx.AsyncClient,
) -> None:
    assert (await api.get("/accounts")).status_code == 422
    listed = (await api.get("/accounts", headers=as_(PRIYA))).json()
    assert [a["account_id"] for a in listed["accounts"]] == ["ACC-1001"]


async def test_verification_names_the_owner_only_for_the_owners_email_and_account(
    api: httpx.AsyncClient,
) -> None:
    ok = await api.get(
        "/verification", params={"email": "Priya@Northwind.example", "account_id": "acc-1001"}
    )
    wrong = await api.get(
        "/verification", params={"email": "tom@brightpath.example", "account_id": "ACC-1001"}
    )
    assert ok.json() == {
        "ok": True,
        "customer": {
            "customer_id": PRIYA,
            "email": "priya@northwind.example",
            "name": "Priya Natarajan",
        },
    }
    assert wrong.status_code == 404 and wrong.json()["reason"] == "the details do not match"


async def test_a_repeated_idempotency_key_refunds_once_and_replays_the_first_answer(
    api: httpx.AsyncClient,
) -> None:
    body = {"reason": "charged by mistake"}
    first = await api.post("/invoices/INV-5001/refund", json=body, headers=as_(PRIYA, "k-1"))
    again = await api.post("/invoices/INV-5001/refund", json=body, headers=as_(PRIYA, "k-1"))
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    other = await api.post("/invoices/INV-5001/refund", json=body, headers=as_(PRIYA, "k-2"))
    assert other.status_code == 409 and other.json()["error"] == "already_refunded"


async def test_a_key_reused_for_a_different_request_is_refused(api: httpx.AsyncClient) -> None:
    await api.post(
        "/accounts/ACC-1001/subscription/seats", json={"seats": 12}, headers=as_(PRIYA, "k")
    )
    reused = await api.post(
        "/accounts/ACC-1001/subscription/seats", json={"seats": 14}, headers=as_(PRIYA, "k")
    )
    assert reused.status_code == 422 and reused.json()["error"] == "idempotency_key_reused"
    assert (await api.get("/accounts/ACC-1001/subscription")).json()["seats"] == 12


async def test_a_paid_invoice_is_refundable_for_30_days_and_not_after(
    api: httpx.AsyncClient,
) -> None:
    recent = (await api.get("/invoices/INV-5001")).json()
    old = (await api.get("/invoices/INV-4901")).json()
    assert (recent["refundable"], old["refundable"]) == (True, False)
    refused = await api.post("/invoices/INV-4901/refund", json={"reason": "unused"})
    assert refused.status_code == 409 and refused.json()["error"] == "refund_window_closed"
    done = await api.post("/invoices/INV-5001/refund", json={"reason": "unused"})
    assert done.json()["refund"]["amount"] == 200.0
    assert (await api.get("/invoices/INV-5001")).json()["status"] == "refunded"


async def test_an_open_or_already_refunded_invoice_is_not_refunded(
    api: httpx.AsyncClient,
) -> None:
    unpaid = await api.post("/invoices/INV-5002/refund", json={"reason": "x"})
    twice = await api.post("/invoices/INV-5003/refund", json={"reason": "x"})
    assert unpaid.json()["error"] == "invoice_not_paid"
    assert twice.json()["error"] == "already_refunded"


async def test_the_refund_window_follows_the_apis_day() -> None:
    transport = httpx.ASGITransport(app=create_app(today=date(2030, 5, 1)))
    async with httpx.AsyncClient(transport=transport, base_url="http://pulseboard") as api:
        invoice = (await api.get("/invoices/INV-5001")).json()
    assert invoice["paid_on"] == "2030-04-19" and invoice["refundable_until"] == "2030-05-19"


async def test_seats_cannot_go_below_the_members_in_use_nor_above_the_plans_limit(
    api: httpx.AsyncClient,
) -> None:
    below = await api.post("/accounts/ACC-1001/subscription/seats", json={"seats": 5})
    above = await api.post("/accounts/ACC-1002/subscription/seats", json={"seats": 11})
    assert below.json()["error"] == "seats_in_use" and above.json()["error"] == "plan_seat_limit"
    done = await api.post("/accounts/ACC-1001/subscription/seats", json={"seats": 12})
    assert done.json()["monthly_total"] == 240.0


async def test_an_upgrade_raises_the_usage_limits_and_a_downgrade_over_them_is_refused(
    api: httpx.AsyncClient,
) -> None:
    down = await api.post("/accounts/ACC-1001/subscription/plan", json={"plan": "starter"})
    assert down.json()["error"] == "usage_over_plan_limit"
    up = await api.post("/accounts/ACC-1002/subscription/plan", json={"plan": "team"})
    assert up.status_code == 200
    usage = (await api.get("/accounts/ACC-1002/usage")).json()
    assert (usage["api_calls_limit"], usage["over_limit"]) == (100_000, False)


async def test_a_cancelled_subscription_ends_at_the_period_end_and_cannot_change(
    api: httpx.AsyncClient,
) -> None:
    before = (await api.get("/accounts/ACC-1002/subscription")).json()
    await api.post("/accounts/ACC-1002/subscription/cancel", json={"reason": "too pricey"})
    after = (await api.get("/accounts/ACC-1002/subscription")).json()
    assert (after["status"], after["ends_on"]) == ("cancelled", before["renews_on"])
    seats = await api.post("/accounts/ACC-1002/subscription/seats", json={"seats": 4})
    assert seats.json()["error"] == "subscription_cancelled"


async def test_a_locked_member_is_unlocked_once_and_single_sign_on_members_get_no_reset(
    api: httpx.AsyncClient,
) -> None:
    path = "/accounts/ACC-1001/members/sam@northwind.example"
    assert (await api.post(f"{path}/unlock")).json()["status"] == "active"
    assert (await api.post(f"{path}/unlock")).json()["error"] == "not_locked"
    reset = await api.post(f"{path}/password-reset")
    assert "valid for 60 minutes" in reset.json()["message"]
    assert (await api.get(path)).json()["password_reset_sent_at"] is not None
    sso = await api.post("/accounts/ACC-1003/members/lena@quill.example/password-reset")
    assert sso.status_code == 409 and sso.json()["error"] == "single_sign_on"


async def test_the_shipped_openapi_json_is_the_document_the_api_serves(
    api: httpx.AsyncClient,
) -> None:
    shipped = Path(__file__).parents[1] / "src/smart_support/templates/saas/openapi.json"
    served = (await api.get("/openapi.json")).json()
    assert json.loads(shipped.read_text(encoding="utf-8")) == served
    writes = {
        op["operationId"]
        for path in served["paths"].values()
        for method, op in path.items()
        if method == "post"
    }
    assert writes == {
        "change_plan",
        "change_seats",
        "cancel_subscription",
        "refund_invoice",
        "unlock_member",
        "send_password_reset",
    }

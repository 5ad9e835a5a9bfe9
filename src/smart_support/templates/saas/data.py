"""Pulseboard's seeded data: plans, customers, accounts with their subscription, members and
usage, and invoices, dated around the day the API starts.

Every start builds the same records (the notable ones are listed in the template's README):
three customers, each the owner of one account, and seven invoices, so the 30-day refund window
always holds for the same invoices.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

#: Days after payment during which an invoice can be refunded.
REFUND_WINDOW_DAYS = 30
#: How long a password reset link stays valid.
RESET_LINK_MINUTES = 60


class Plan(BaseModel):
    id: str
    name: str
    price_per_seat: float
    currency: str = "USD"
    max_seats: int
    api_calls_per_month: int
    storage_gb: int
    dashboards: int | None
    support: str


class User(BaseModel):
    email: str
    name: str
    role: str
    status: str  # active | locked
    failed_sign_ins: int
    last_sign_in: datetime | None
    single_sign_on: bool = False
    password_reset_sent_at: datetime | None = None


class Subscription(BaseModel):
    plan: str
    status: str  # trialing | active | past_due | cancelled
    billing_cycle: str  # monthly | annual
    seats: int
    seats_used: int
    price_per_seat: float
    monthly_total: float
    currency: str = "USD"
    renews_on: date | None
    ends_on: date | None = None


class Invoice(BaseModel):
    id: str
    account_id: str
    customer_id: str
    period: str
    amount: float
    currency: str = "USD"
    status: str  # open | paid | refunded
    issued_on: date
    paid_on: date | None = None
    refundable_until: date | None = None
    refund: dict[str, Any] | None = None


class Usage(BaseModel):
    period: str
    api_calls: int
    api_calls_limit: int
    storage_gb: float
    storage_gb_limit: int
    dashboards: int
    dashboards_limit: int | None
    resets_on: date


class Account(BaseModel):
    id: str
    name: str
    customer_id: str
    owner_email: str
    created_on: date
    subscription: Subscription
    users: list[User]
    usage: Usage


class Customer(BaseModel):
    id: str
    name: str
    email: str


PLANS: dict[str, Plan] = {
    p.id: p
    for p in (
        Plan(
            id="free",
            name="Free",
            price_per_seat=0,
            max_seats=2,
            api_calls_per_month=1_000,
            storage_gb=1,
            dashboards=3,
            support="help center",
        ),
        Plan(
            id="starter",
            name="Starter",
            price_per_seat=12,
            max_seats=10,
            api_calls_per_month=10_000,
            storage_gb=10,
            dashboards=20,
            support="email, within 2 business days",
        ),
        Plan(
            id="team",
            name="Team",
            price_per_seat=20,
            max_seats=50,
            api_calls_per_month=100_000,
            storage_gb=100,
            dashboards=None,
            support="email and chat, within 1 business day",
        ),
        Plan(
            id="business",
            name="Business",
            price_per_seat=35,
            max_seats=500,
            api_calls_per_month=1_000_000,
            storage_gb=1_000,
            dashboards=None,
            support="priority, within 4 hours, and single sign-on",
        ),
    )
}


def _at(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour, 0), tzinfo=UTC)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _subscription(
    plan: str, status: str, cycle: str, seats: int, used: int, renews: date | None
) -> Subscription:
    price = PLANS[plan].price_per_seat
    return Subscription(
        plan=plan,
        status=status,
        billing_cycle=cycle,
        seats=seats,
        seats_used=used,
        price_per_seat=price,
        monthly_total=round(price * seats, 2),
        renews_on=renews,
    )


def _usage(today: date, plan: str, calls: int, storage: float, dashboards: int) -> Usage:
    limits = PLANS[plan]
    return Usage(
        period=today.strftime("%Y-%m"),
        api_calls=calls,
        api_calls_limit=limits.api_calls_per_month,
        storage_gb=storage,
        storage_gb_limit=limits.storage_gb,
        dashboards=dashboards,
        dashboards_limit=limits.dashboards,
        resets_on=_next_month(today),
    )


def seed(today: date) -> tuple[dict[str, Customer], dict[str, Account], dict[str, Invoice]]:
    """The demo data, dated around `today` (the notable records are in the template README)."""
    customers = {
        c.id: c
        for c in (
            Customer(id="C-100", name="Priya Natarajan", email="priya@northwind.example"),
            Customer(id="C-101", name="Tom Becker", email="tom@brightpath.example"),
            Customer(id="C-102", name="Lena Okafor", email="lena@quill.example"),
        )
    }
    renews = _next_month(today)
    accounts = {
        a.id: a
        for a in (
            Account(
                id="ACC-1001",
                name="Northwind Labs",
                customer_id="C-100",
                owner_email="priya@northwind.example",
                created_on=today - timedelta(days=420),
                subscription=_subscription("team", "active", "monthly", 10, 8, renews),
                users=[
                    User(
                        email="priya@northwind.example",
                        name="Priya Natarajan",
                        role="owner",
                        status="active",
                        failed_sign_ins=0,
                        last_sign_in=_at(today, 8),
                    ),
                    User(
                        email="sam@northwind.example",
                        name="Sam Ortiz",
                        role="member",
                        status="locked",
                        failed_sign_ins=5,
                        last_sign_in=_at(today - timedelta(days=3), 9),
                    ),
                    User(
                        email="li@northwind.example",
                        name="Li Wei",
                        role="admin",
                        status="active",
                        failed_sign_ins=1,
                        last_sign_in=_at(today - timedelta(days=1), 16),
                    ),
                ],
                usage=_usage(today, "team", 92_400, 41.5, 37),
            ),
            Account(
                id="ACC-1002",
                name="Brightpath",
                customer_id="C-101",
                owner_email="tom@brightpath.example",
                created_on=today - timedelta(days=95),
                subscription=_subscription("starter", "past_due", "monthly", 3, 3, renews),
                users=[
                    User(
                        email="tom@brightpath.example",
                        name="Tom Becker",
                        role="owner",
                        status="active",
                        failed_sign_ins=0,
                        last_sign_in=_at(today - timedelta(days=2), 11),
                    ),
                    User(
                        email="dana@brightpath.example",
                        name="Dana Fox",
                        role="member",
                        status="locked",
                        failed_sign_ins=6,
                        last_sign_in=_at(today - timedelta(days=8), 10),
                    ),
                ],
                usage=_usage(today, "starter", 10_000, 3.2, 12),
            ),
            Account(
                id="ACC-1003",
                name="Quill & Co",
                customer_id="C-102",
                owner_email="lena@quill.example",
                created_on=today - timedelta(days=800),
                subscription=_subscription("business", "active", "annual", 25, 19, renews),
                users=[
                    User(
                        email="lena@quill.example",
                        name="Lena Okafor",
                        role="owner",
                        status="active",
                        failed_sign_ins=0,
                        last_sign_in=_at(today, 7),
                        single_sign_on=True,
                    ),
                ],
                usage=_usage(today, "business", 310_000, 220.0, 58),
            ),
        )
    }
    invoices: dict[str, Invoice] = {}

    def invoice(number: str, account: str, days_ago: int, amount: float, status: str) -> None:
        issued = today - timedelta(days=days_ago)
        paid = issued if status in ("paid", "refunded") else None
        invoices[number] = Invoice(
            id=number,
            account_id=account,
            customer_id=accounts[account].customer_id,
            period=issued.strftime("%Y-%m"),
            amount=amount,
            status=status,
            issued_on=issued,
            paid_on=paid,
            refundable_until=paid + timedelta(days=REFUND_WINDOW_DAYS) if paid else None,
        )

    invoice("INV-5001", "ACC-1001", 12, 200.00, "paid")
    invoice("INV-4901", "ACC-1001", 42, 200.00, "paid")
    invoice("INV-4801", "ACC-1001", 72, 180.00, "paid")
    invoice("INV-5002", "ACC-1002", 5, 36.00, "open")
    invoice("INV-4902", "ACC-1002", 35, 36.00, "paid")
    invoice("INV-5003", "ACC-1003", 20, 10_500.00, "refunded")
    invoices["INV-5003"].refund = {
        "refunded_on": (today - timedelta(days=15)).isoformat(),
        "amount": 10_500.00,
        "reason": "annual renewal charged twice",
    }
    invoice("INV-5004", "ACC-1003", 19, 10_500.00, "paid")
    return customers, accounts, invoices

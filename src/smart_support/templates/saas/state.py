"""Pulseboard's data and business rules: accounts, plans, subscriptions and seats, invoices and
refunds, sign-in trouble and usage limits, all in memory.

Pulseboard is the made-up subscription business of the `saas` template. Every start (and every
`BillingState()`) begins from the same seeded data, dated around today, so the 30-day refund
window always holds for the same invoices. Each account belongs to one customer (its owner);
a request made for a customer (`X-Customer-Id`) finds no other customer's account or invoice.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel

#: Days after payment during which an invoice can be refunded.
REFUND_WINDOW_DAYS = 30
#: How long a password reset link stays valid.
RESET_LINK_MINUTES = 60


class Refusal(Exception):
    """A request the API refuses: an HTTP status, a stable code and a readable reason."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason

    def body(self) -> dict[str, str]:
        return {"error": self.error, "reason": self.reason}


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


@dataclass(frozen=True)
class _Remembered:
    fingerprint: str
    request: str
    status: int
    body: dict[str, Any]


class BillingState:
    """One Pulseboard: the data, the day the rules measure from, and the idempotency memory.

    Args:
        today: The day the refund window and dates are measured from (UTC today by default).
    """

    def __init__(self, *, today: date | None = None) -> None:
        self.today = today or datetime.now(UTC).date()
        self.customers, self.accounts, self.invoices = seed(self.today)
        self._idempotency: dict[str, _Remembered] = {}
        self._lock = threading.Lock()

    # --- reads ---------------------------------------------------------------------------

    def account(self, account_id: str, customer_id: str | None) -> Account:
        """The account; for a customer, another customer's account does not exist."""
        account = self.accounts.get(account_id.strip().upper())
        if account is None or (customer_id is not None and account.customer_id != customer_id):
            raise Refusal(404, "account_not_found", f"account {account_id} does not exist")
        return account

    def accounts_of(self, customer_id: str) -> list[Account]:
        return [a for a in self.accounts.values() if a.customer_id == customer_id]

    def invoice(self, invoice_id: str, customer_id: str | None) -> Invoice:
        invoice = self.invoices.get(invoice_id.strip().upper())
        if invoice is None or (customer_id is not None and invoice.customer_id != customer_id):
            raise Refusal(404, "invoice_not_found", f"invoice {invoice_id} does not exist")
        return invoice

    def refundable(self, invoice: Invoice) -> bool:
        """Whether `invoice` can be refunded today: paid, within the refund window."""
        until = invoice.refundable_until
        return invoice.status == "paid" and until is not None and self.today <= until

    def invoices_of(self, account: Account) -> list[Invoice]:
        mine = [i for i in self.invoices.values() if i.account_id == account.id]
        return sorted(mine, key=lambda i: i.issued_on, reverse=True)

    def user(self, account: Account, email: str) -> User:
        wanted = email.strip().lower()
        for user in account.users:
            if user.email == wanted:
                return user
        raise Refusal(404, "user_not_found", f"{email} is not a member of account {account.id}")

    def verify(self, email: str, account_id: str) -> Customer:
        """The customer whose email owns `account_id`; the same refusal for any mismatch."""
        account = self.accounts.get(account_id.strip().upper())
        if account is None or account.owner_email != email.strip().lower():
            raise Refusal(404, "not_verified", "the details do not match")
        return self.customers[account.customer_id]

    # --- writes ----------------------------------------------------------------------------

    def idempotent(
        self, key: str | None, request: str, payload: Any, action: Callable[[], dict[str, Any]]
    ) -> tuple[int, dict[str, Any], bool]:
        """Run `action` once per Idempotency-Key; a repeated key replays the first answer.

        Business refusals (409) are remembered too; 404 and 422 are not, so a corrected retry
        can reuse its key.

        Returns:
            The status code, the JSON body, and whether it was a replay.

        Raises:
            Refusal: 422 when the key was used before for a different request.
        """
        fingerprint = hashlib.sha256(
            json.dumps([request, payload], sort_keys=True, default=str).encode()
        ).hexdigest()
        with self._lock:
            seen = self._idempotency.get(key) if key is not None else None
            if seen is not None:
                if seen.fingerprint != fingerprint:
                    raise Refusal(
                        422,
                        "idempotency_key_reused",
                        f"the Idempotency-Key {key!r} was already used for a different request "
                        f"({seen.request}); send a new key for a new request",
                    )
                return seen.status, seen.body, True
            try:
                status, body = 200, action()
            except Refusal as refusal:
                if refusal.status != 409:
                    raise
                status, body = refusal.status, refusal.body()
            if key is not None:
                self._idempotency[key] = _Remembered(fingerprint, request, status, body)
            return status, body, False

    def change_plan(self, account: Account, plan_id: str) -> dict[str, Any]:
        sub = account.subscription
        self._require_open(account)
        plan = PLANS[plan_id]
        if sub.plan == plan_id:
            raise Refusal(
                409, "same_plan", f"account {account.id} is already on the {plan.name} plan"
            )
        if sub.seats_used > plan.max_seats:
            raise Refusal(
                409,
                "too_many_seats_for_plan",
                f"the {plan.name} plan allows {plan.max_seats} seats but account {account.id} "
                f"uses {sub.seats_used}; remove members first",
            )
        if account.usage.api_calls > plan.api_calls_per_month:
            raise Refusal(
                409,
                "usage_over_plan_limit",
                f"account {account.id} made {account.usage.api_calls} API calls this month, more "
                f"than the {plan.name} plan's {plan.api_calls_per_month}; change plans after "
                f"{account.usage.resets_on.isoformat()}",
            )
        previous = sub.plan
        self._reprice(account, plan_id, sub.seats)
        account.usage.api_calls_limit = plan.api_calls_per_month
        account.usage.storage_gb_limit = plan.storage_gb
        account.usage.dashboards_limit = plan.dashboards
        return {
            "account_id": account.id,
            "plan": plan_id,
            "previous_plan": previous,
            "monthly_total": sub.monthly_total,
            "message": f"account {account.id} is now on the {plan.name} plan: {sub.seats} seats, "
            f"{sub.monthly_total:.2f} USD a month from {sub.renews_on}",
        }

    def change_seats(self, account: Account, seats: int) -> dict[str, Any]:
        sub = account.subscription
        self._require_open(account)
        plan = PLANS[sub.plan]
        if seats == sub.seats:
            raise Refusal(409, "same_seats", f"account {account.id} already has {seats} seats")
        if seats < sub.seats_used:
            raise Refusal(
                409,
                "seats_in_use",
                f"account {account.id} has {sub.seats_used} members; remove members before "
                f"going down to {seats} seats",
            )
        if seats > plan.max_seats:
            raise Refusal(
                409,
                "plan_seat_limit",
                f"the {plan.name} plan allows at most {plan.max_seats} seats; upgrade the plan "
                "for more",
            )
        previous = sub.seats
        self._reprice(account, sub.plan, seats)
        return {
            "account_id": account.id,
            "seats": seats,
            "previous_seats": previous,
            "monthly_total": sub.monthly_total,
            "message": f"account {account.id} now has {seats} seats: {sub.monthly_total:.2f} USD "
            "a month, prorated on the next invoice",
        }

    def cancel(self, account: Account, reason: str | None) -> dict[str, Any]:
        sub = account.subscription
        self._require_open(account)
        sub.status = "cancelled"
        sub.ends_on = sub.renews_on
        sub.renews_on = None
        return {
            "account_id": account.id,
            "status": sub.status,
            "ends_on": sub.ends_on,
            "reason": reason,
            "message": f"the subscription of account {account.id} is cancelled; it stays usable "
            f"until {sub.ends_on} and is not charged again",
        }

    def refund(self, invoice: Invoice, reason: str) -> dict[str, Any]:
        if invoice.status == "refunded":
            raise Refusal(409, "already_refunded", f"invoice {invoice.id} was already refunded")
        if invoice.status != "paid" or invoice.paid_on is None:
            raise Refusal(
                409,
                "invoice_not_paid",
                f"invoice {invoice.id} is {invoice.status}: only a paid invoice can be refunded",
            )
        assert invoice.refundable_until is not None
        if self.today > invoice.refundable_until:
            raise Refusal(
                409,
                "refund_window_closed",
                f"invoice {invoice.id} was paid on {invoice.paid_on}, more than "
                f"{REFUND_WINDOW_DAYS} days ago; the refund window closed on "
                f"{invoice.refundable_until}",
            )
        invoice.status = "refunded"
        invoice.refund = {
            "refunded_on": self.today.isoformat(),
            "amount": invoice.amount,
            "reason": reason,
        }
        return {
            "invoice_id": invoice.id,
            "status": invoice.status,
            "refund": invoice.refund,
            "message": f"invoice {invoice.id} is refunded: {invoice.amount:.2f} "
            f"{invoice.currency} back to the card on file within 5 to 10 business days",
        }

    def unlock(self, account: Account, user: User) -> dict[str, Any]:
        if user.status != "locked":
            raise Refusal(409, "not_locked", f"{user.email} is not locked out; they can sign in")
        user.status, user.failed_sign_ins = "active", 0
        return {
            "account_id": account.id,
            "email": user.email,
            "status": user.status,
            "message": f"{user.email} is unlocked and can sign in again",
        }

    def password_reset(self, account: Account, user: User) -> dict[str, Any]:
        if user.single_sign_on:
            raise Refusal(
                409,
                "single_sign_on",
                f"{user.email} signs in with single sign-on: reset the password at the company's "
                "identity provider",
            )
        user.password_reset_sent_at = datetime.now(UTC).replace(microsecond=0)
        return {
            "account_id": account.id,
            "email": user.email,
            "status": user.status,
            "message": f"a password reset link was sent to {user.email}; it is valid for "
            f"{RESET_LINK_MINUTES} minutes",
        }

    def _require_open(self, account: Account) -> None:
        if account.subscription.status == "cancelled":
            raise Refusal(
                409,
                "subscription_cancelled",
                f"the subscription of account {account.id} is cancelled",
            )

    @staticmethod
    def _reprice(account: Account, plan_id: str, seats: int) -> None:
        sub = account.subscription
        sub.plan, sub.seats = plan_id, seats
        sub.price_per_seat = PLANS[plan_id].price_per_seat
        sub.monthly_total = round(sub.price_per_seat * seats, 2)

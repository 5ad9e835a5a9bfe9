"""Pulseboard's business rules: who may see an account, and the writes (plan, seats,
cancellation, refund, unlock, password reset), each idempotent. State lives in memory.

Pulseboard is the made-up subscription business of the `saas` template. Every start (and every
`BillingState()`) begins from the same seeded data (`data.py`). Each account belongs to one
customer (its owner); a request made for a customer (`X-Customer-Id`) finds no other customer's
account or invoice.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from smart_support.templates.saas.data import (
    PLANS,
    REFUND_WINDOW_DAYS,
    RESET_LINK_MINUTES,
    Account,
    Customer,
    Invoice,
    User,
    seed,
)

__all__ = ["PLANS", "BillingState", "Refusal"]


class Refusal(Exception):
    """A request the API refuses: an HTTP status, a stable code and a readable reason."""

    def __init__(self, status: int, error: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.error, self.reason = status, error, reason

    def body(self) -> dict[str, str]:
        return {"error": self.error, "reason": self.reason}


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

"""The shop's state and business rules: cancel, re-address and return, each idempotent.

State lives in memory, per process: a fresh start (or a new `ShopState`) resets every order to the
generated dataset. Nothing is written to disk.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from smart_support.demo.shop.data import (
    DEFAULT_SEED,
    RETURN_WINDOW_DAYS,
    Dataset,
    build_dataset,
    new_return,
    shop_today,
)
from smart_support.demo.shop.models import (
    NOT_YET_SHIPPED,
    AddressChange,
    Cancellation,
    Customer,
    CustomerWithOrders,
    Order,
    OrderSummary,
    Product,
    ProductSearchResult,
    ReturnInfo,
    Tracking,
)

logger = logging.getLogger("smart_support.demo")

_WORD = re.compile(r"[a-z0-9]+")


class ShopRefusal(Exception):
    """A request the shop refuses: an HTTP status, a stable code and a readable reason."""

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


class ShopState:
    """One shop: the dataset, the clock used by the rules, and the idempotency memory.

    Args:
        today: The day the return window is measured from; by default the day the data is
            generated around, today (UTC).
        seed: Seed of the generated dataset.
    """

    def __init__(self, *, today: date | None = None, seed: int = DEFAULT_SEED) -> None:
        day = shop_today()
        self.today = today or day
        self.data: Dataset = build_dataset(seed=seed, today=day)
        self._idempotency: dict[str, _Remembered] = {}
        self._lock = threading.Lock()

    # --- reads ---------------------------------------------------------------------------

    def order(self, order_id: int, customer_id: int | None = None) -> Order:
        """The order; with `customer_id` (a request made for a verified customer) another
        customer's order does not exist, worded exactly as a missing one."""
        order = self.data.orders.get(order_id)
        if order is None or (customer_id is not None and order.customer_id != customer_id):
            raise ShopRefusal(404, "order_not_found", f"order {order_id} does not exist")
        return order

    def customer(self, email: str, customer_id: int | None = None) -> CustomerWithOrders:
        customer: Customer | None = self.data.customer_by_email(email)
        if customer is None or (customer_id is not None and customer.id != customer_id):
            raise ShopRefusal(
                404, "customer_not_found", f"no customer has the email address {email.strip()}"
            )
        mine = [o for o in self.data.orders.values() if o.customer_id == customer.id]
        mine.sort(key=lambda o: (o.placed_at, o.id), reverse=True)
        summaries = [
            OrderSummary(
                id=o.id, status=o.status, placed_at=o.placed_at, total=o.total, currency=o.currency
            )
            for o in mine
        ]
        return CustomerWithOrders(**customer.model_dump(), orders=summaries)

    def tracking(self, order_id: int, customer_id: int | None = None) -> Tracking:
        order = self.order(order_id, customer_id)
        shipment = order.shipment
        if shipment is None:
            message = {
                "cancelled": f"order {order_id} was cancelled and will not ship",
                "pending": f"order {order_id} has not shipped yet; it is waiting to be processed",
            }.get(order.status, f"order {order_id} is being prepared and has not shipped yet")
            return Tracking(
                order_id=order_id,
                customer_email=order.customer_email,
                status=order.status,
                shipped=False,
                message=message,
            )
        if shipment.delivered_on:
            message = f"order {order_id} was delivered on {shipment.delivered_on.isoformat()}"
        else:
            message = (
                f"order {order_id} is on its way with {shipment.carrier}; estimated delivery "
                f"{shipment.estimated_delivery.isoformat()}"
            )
        return Tracking(
            order_id=order_id,
            customer_email=order.customer_email,
            status=order.status,
            shipped=True,
            carrier=shipment.carrier,
            tracking_number=shipment.tracking_number,
            tracking_url=shipment.tracking_url,
            shipped_on=shipment.shipped_on,
            estimated_delivery=shipment.estimated_delivery,
            delivered_on=shipment.delivered_on,
            latest_event=shipment.events[-1] if shipment.events else None,
            events=shipment.events,
            message=message,
        )

    def search_products(self, query: str, limit: int) -> ProductSearchResult:
        """Products whose name, category, description or variants contain the query's words.

        Ranked by how many query words match, name matches counting double.
        """
        words = set(_WORD.findall(query.lower()))
        scored: list[tuple[int, str, Product]] = []
        for product in self.data.products.values():
            name = set(_WORD.findall(product.name.lower()))
            rest = " ".join(
                [product.category, product.description, *(v.name for v in product.variants)]
            )
            other = set(_WORD.findall(rest.lower()))
            score = sum(2 if _matches(w, name) else 1 if _matches(w, other) else 0 for w in words)
            if score:
                scored.append((-score, product.id, product))
        scored.sort(key=lambda item: (item[0], item[1]))
        return ProductSearchResult(
            query=query, total=len(scored), results=[p for _, _, p in scored[:limit]]
        )

    # --- writes ---------------------------------------------------------------------------

    def idempotent(
        self, key: str | None, request: str, payload: Any, action: Callable[[], dict[str, Any]]
    ) -> tuple[int, dict[str, Any], bool]:
        """Run `action` once per Idempotency-Key; a repeated key replays the first answer.

        Business refusals (409) are remembered too: the first answer is the answer. Requests that
        never reached the rules (404, 422) are not, so a corrected retry can reuse its key.

        Returns:
            The status code, the JSON body, and whether it was a replay.

        Raises:
            ShopRefusal: 422 when the key was used before for a different request.
        """
        fingerprint = hashlib.sha256(
            json.dumps([request, payload], sort_keys=True, default=str).encode()
        ).hexdigest()
        with self._lock:
            if key is not None and key in self._idempotency:
                seen = self._idempotency[key]
                if seen.fingerprint != fingerprint:
                    raise ShopRefusal(
                        422,
                        "idempotency_key_reused",
                        f"the Idempotency-Key {key!r} was already used for a different request "
                        f"({seen.request}); send a new key for a new request",
                    )
                logger.info("idempotent replay of %s (key %s)", request, key)
                return seen.status, seen.body, True
            try:
                status, body = 200, action()
            except ShopRefusal as refusal:
                if refusal.status != 409:
                    raise
                status, body = refusal.status, refusal.body()
            if key is not None:
                self._idempotency[key] = _Remembered(fingerprint, request, status, body)
            return status, body, False

    def cancel(
        self, order_id: int, reason: str | None, customer_id: int | None = None
    ) -> dict[str, Any]:
        order = self.order(order_id, customer_id)
        self._require_not_shipped(order, "cancelled")
        order.status = "cancelled"
        order.cancellation = Cancellation(
            cancelled_on=self.today,
            reason=reason,
            refund_amount=order.total,
            refund_to=order.payment_method,
        )
        logger.info("order %s cancelled", order_id)
        return {
            "order_id": order_id,
            "status": order.status,
            "message": (
                f"order {order_id} is cancelled; {order.total:.2f} {order.currency} will be "
                f"refunded to {order.payment_method} within 5 business days"
            ),
            "cancellation": order.cancellation.model_dump(mode="json"),
        }

    def change_address(
        self, order_id: int, change: AddressChange, customer_id: int | None = None
    ) -> dict[str, Any]:
        order = self.order(order_id, customer_id)
        self._require_not_shipped(order, "have its shipping address changed")
        previous = order.shipping_address
        order.shipping_address = previous.model_copy(
            update={
                "street": change.street,
                "city": change.city,
                "postal_code": change.postal_code,
                "country": change.country,
                "recipient": change.recipient or previous.recipient,
            }
        )
        logger.info("order %s re-addressed", order_id)
        return {
            "order_id": order_id,
            "status": order.status,
            "message": f"order {order_id} will ship to the new address",
            "previous_address": previous.model_dump(),
            "shipping_address": order.shipping_address.model_dump(),
        }

    def start_return(
        self, order_id: int, reason: str, customer_id: int | None = None
    ) -> dict[str, Any]:
        order = self.order(order_id, customer_id)
        if order.status == "returned" and order.return_info:
            raise ShopRefusal(
                409,
                "return_already_started",
                f"a return for order {order_id} was already started on "
                f"{order.return_info.started_on.isoformat()} ({order.return_info.return_id})",
            )
        delivered_on = order.shipment.delivered_on if order.shipment else None
        if order.status != "delivered" or delivered_on is None:
            raise ShopRefusal(
                409,
                "order_not_delivered",
                f"order {order_id} is {order.status} and has not been delivered; a return can "
                "start once the order has arrived",
            )
        closes = delivered_on + timedelta(days=RETURN_WINDOW_DAYS)
        if self.today > closes:
            raise ShopRefusal(
                409,
                "return_window_closed",
                f"order {order_id} was delivered on {delivered_on.isoformat()}, more than "
                f"{RETURN_WINDOW_DAYS} days ago; the return window closed on {closes.isoformat()}",
            )
        info: ReturnInfo = new_return(
            order_id, self.today, reason, order.total, order.payment_method, refunded=False
        )
        order.status = "returned"
        order.return_info = info
        logger.info("return %s started for order %s", info.return_id, order_id)
        return {
            "order_id": order_id,
            "status": order.status,
            "message": (
                f"return {info.return_id} started: print the label and drop the parcel off by "
                f"{info.drop_off_by.isoformat()}; {info.refund_amount:.2f} {order.currency} is "
                f"refunded to {info.refund_to} once it arrives"
            ),
            "return": info.model_dump(mode="json"),
        }

    def _require_not_shipped(self, order: Order, verb: str) -> None:
        if order.status in NOT_YET_SHIPPED:
            return
        if order.status == "cancelled":
            raise ShopRefusal(
                409,
                "order_cancelled",
                f"order {order.id} is already cancelled and can no longer be {verb}",
            )
        raise ShopRefusal(
            409,
            "order_already_shipped",
            f"order {order.id} has already shipped and can no longer be {verb}",
        )


def _matches(word: str, vocabulary: set[str]) -> bool:
    """A query word matches a vocabulary word equal to it or to its singular/plural."""
    return word in vocabulary or word.rstrip("s") in vocabulary or f"{word}s" in vocabulary

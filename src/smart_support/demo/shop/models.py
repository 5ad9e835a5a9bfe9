"""The shapes the demo shop stores and serves: customers, products, orders, shipments, returns.

The same pydantic models describe the in-memory records and the JSON the API answers with, so the
OpenAPI spec at /openapi.json documents exactly what a client receives.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

OrderStatus = Literal["pending", "processing", "shipped", "delivered", "cancelled", "returned"]

#: Statuses in which an order has not left the warehouse: it can still be cancelled or re-addressed.
NOT_YET_SHIPPED: frozenset[str] = frozenset({"pending", "processing"})

#: Printable text on one line: hostile control characters are refused at the door.
_ONE_LINE = r"^[^\x00-\x1f\x7f]+$"


def _text(min_length: int, max_length: int, pattern: str = _ONE_LINE) -> object:
    return StringConstraints(
        strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern
    )


class Address(BaseModel):
    """A postal address."""

    recipient: str = Field(description="Name of the person receiving the parcel.")
    street: str
    city: str
    postal_code: str
    country: str


class PaymentMethod(BaseModel):
    """A payment method saved on a customer's account."""

    id: str
    type: Literal["card", "paypal", "gift_card"]
    label: str = Field(description='Human-readable, e.g. "Visa ending 4242".')


class Customer(BaseModel):
    """A customer account."""

    id: int
    name: str
    email: str
    phone: str
    member_since: date
    default_address: Address
    payment_methods: list[PaymentMethod]


class OrderSummary(BaseModel):
    """One line of a customer's order history."""

    id: int
    status: OrderStatus
    placed_at: datetime
    total: float
    currency: str


class CustomerWithOrders(Customer):
    """A customer and their order history, newest first."""

    orders: list[OrderSummary]


class Variant(BaseModel):
    """A purchasable variant of a product (size, colour...)."""

    sku: str
    name: str
    price: float
    in_stock: int


class Product(BaseModel):
    """A catalogue product."""

    id: str
    name: str
    category: str
    description: str
    currency: str = "USD"
    variants: list[Variant]


class ProductSearchResult(BaseModel):
    query: str
    total: int = Field(description="Number of matching products (results may be fewer).")
    results: list[Product]


class OrderItem(BaseModel):
    sku: str
    product_name: str
    variant: str
    quantity: int
    unit_price: float
    line_total: float


class TrackingEvent(BaseModel):
    date: date
    location: str
    description: str


class Shipment(BaseModel):
    """The parcel of an order once it has left the warehouse."""

    carrier: str
    tracking_number: str
    tracking_url: str
    shipped_on: date
    estimated_delivery: date
    delivered_on: date | None = None
    events: list[TrackingEvent]


class Cancellation(BaseModel):
    cancelled_on: date
    reason: str | None = None
    refund_amount: float
    refund_to: str = Field(description="Payment method label the refund goes back to.")


class ReturnInfo(BaseModel):
    return_id: str
    reason: str
    started_on: date
    status: Literal["awaiting_item", "refunded"]
    drop_off_by: date = Field(description="Last day to hand the parcel to the carrier.")
    label_url: str
    refund_amount: float
    refund_to: str


class Order(BaseModel):
    """An order with everything a support agent needs to answer about it."""

    id: int
    customer_id: int
    customer_email: str
    status: OrderStatus
    placed_at: datetime
    items: list[OrderItem]
    subtotal: float
    shipping_cost: float
    total: float
    currency: str = "USD"
    payment_method: str
    shipping_address: Address
    shipment: Shipment | None = None
    cancellation: Cancellation | None = None
    return_info: ReturnInfo | None = None


class Tracking(BaseModel):
    """Where an order is: status plus the carrier's view of the parcel."""

    order_id: int
    customer_email: str
    status: OrderStatus
    shipped: bool
    carrier: str | None = None
    tracking_number: str | None = None
    tracking_url: str | None = None
    shipped_on: date | None = None
    estimated_delivery: date | None = None
    delivered_on: date | None = None
    latest_event: TrackingEvent | None = None
    events: list[TrackingEvent] = []
    message: str


# --- request bodies: strict, so hostile or sloppy input gets a readable 422 -------------------


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, _text(1, 500)] | None = Field(
        None, description="Why the customer cancels (optional)."
    )


class AddressChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: Annotated[str, _text(3, 120)]
    city: Annotated[str, _text(2, 80)]
    postal_code: Annotated[str, _text(2, 12, r"^[A-Za-z0-9][A-Za-z0-9 -]*$")]
    country: Annotated[str, _text(2, 56, r"^[A-Za-z][A-Za-z .'-]*$")]
    recipient: Annotated[str, _text(1, 120)] | None = Field(
        None, description="New recipient name; the current one is kept when omitted."
    )


class ReturnRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Annotated[str, _text(3, 500)] = Field(description="Why the customer returns the order.")


class ChangeResult(BaseModel):
    """The answer to a write: what the order looks like now, and the details of the change."""

    model_config = ConfigDict(extra="allow")

    order_id: int
    status: OrderStatus
    message: str = Field(description="One sentence to tell the customer what happened.")


class ErrorBody(BaseModel):
    """Every error the shop answers: a stable code and a sentence a person can read."""

    error: str
    reason: str

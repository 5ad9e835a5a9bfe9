"""The demo shop's dataset: deterministic, generated from a seeded RNG, identical on every start.

About 300 customers, 1000 orders (ids 1000..1999), 24 products with variants, shipments with
carriers, tracking numbers and dates, and saved payment methods. Every date is relative to the
shop's "today": the day (UTC) the shop starts, unless `create_app(today=...)` sets the clock. So
the stories below hold on any day the demo runs, and the same seed and day give the same data.

Notable orders, all belonging to the demo customer Maya Chen (maya.chen@example.com, id 1):

- 1001: pending (placed today): cancellable, address can change.
- 1042: processing: cancellable, address can change.
- 1050: shipped 2 days ago with UPS, tracking number 1Z4F2A9E0312345678, not delivered yet.
- 1060: delivered 12 days ago: inside the 30-day return window.
- 1061: delivered exactly 30 days ago: the last day a return can start.
- 1070: delivered 45 days ago: outside the return window.
- 1071: delivered 31 days ago: the window closed yesterday.
- 1080: cancelled.
- 1090: returned (a return already started).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from smart_support.demo.shop.catalogue import (
    CARRIERS,
    CATALOGUE,
    CITIES,
    FIRST,
    HUBS,
    LAST,
    STREETS,
)
from smart_support.demo.shop.models import (
    Address,
    Cancellation,
    Customer,
    Order,
    OrderItem,
    PaymentMethod,
    Product,
    ReturnInfo,
    Shipment,
    TrackingEvent,
    Variant,
)

DEFAULT_SEED = 20261116
RETURN_WINDOW_DAYS = 30
DEMO_EMAIL = "maya.chen@example.com"


@dataclass
class Dataset:
    """Everything the shop knows, keyed by id. Mutated in place by the shop's write operations."""

    customers: dict[int, Customer]
    products: dict[str, Product]
    orders: dict[int, Order]

    def customer_by_email(self, email: str) -> Customer | None:
        wanted = email.strip().lower()
        return next((c for c in self.customers.values() if c.email == wanted), None)

    def variant(self, sku: str) -> tuple[Product, Variant]:
        for product in self.products.values():
            for variant in product.variants:
                if variant.sku == sku:
                    return product, variant
        raise KeyError(sku)


def money(cents: int) -> float:
    """Cents to a 2-decimal amount (the API speaks in currency units)."""
    return round(cents / 100, 2)


def shop_today() -> date:
    """Today in UTC: the day the demo data is generated around."""
    return datetime.now(UTC).date()


def build_dataset(seed: int = DEFAULT_SEED, today: date | None = None) -> Dataset:
    """Generate the dataset around `today` (the current UTC day by default).

    The same seed and day always give the same data, byte for byte.
    """
    today = today or shop_today()
    rng = random.Random(seed)
    products = _products(rng)
    customers = _customers(rng, today)
    orders: dict[int, Order] = {}
    for order_id in range(1000, 2000):
        customer = customers[rng.randint(2, len(customers))]
        age = min(int(rng.expovariate(1 / 35)), 360)
        orders[order_id] = _order(rng, order_id, customer, products, today, age, None)
    _plant_notable_orders(rng, orders, customers[1], products, today)
    return Dataset(customers=customers, products=products, orders=orders)


def _products(rng: random.Random) -> dict[str, Product]:
    products: dict[str, Product] = {}
    for index, (name, category, cents, axis, options, description) in enumerate(CATALOGUE, 1):
        product_id = f"P{index:03d}"
        variants = []
        for option_index, option in enumerate(options.split(), 1):
            bump = 1000 if axis == "size" and option in {"XL", "king", "30cm"} else 0
            label = option if axis == "set" else f"{axis} {option}"
            variants.append(
                Variant(
                    sku=f"{product_id}-{option_index:02d}",
                    name=label,
                    price=money(cents + bump),
                    in_stock=rng.choice([0, 3, 12, 25, 40, 80]),
                )
            )
        products[product_id] = Product(
            id=product_id, name=name, category=category, description=description, variants=variants
        )
    return products


def _customers(rng: random.Random, today: date) -> dict[int, Customer]:
    customers: dict[int, Customer] = {}
    seen: set[str] = {DEMO_EMAIL}
    customers[1] = _customer(rng, 1, "Maya", "Chen", DEMO_EMAIL, today)
    next_id = 2
    while next_id <= 300:
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first}.{last}".lower() + "@example.com"
        if email in seen:
            email = f"{first}.{last}{rng.randint(2, 99)}".lower() + "@example.com"
        if email in seen:
            continue
        seen.add(email)
        customers[next_id] = _customer(rng, next_id, first, last, email, today)
        next_id += 1
    return customers


def _customer(
    rng: random.Random, customer_id: int, first: str, last: str, email: str, today: date
) -> Customer:
    city, prefix, country = rng.choice(CITIES)
    address = Address(
        recipient=f"{first} {last}",
        street=f"{rng.randint(1, 400)} {rng.choice(STREETS)}",
        city=city,
        postal_code=f"{prefix}{rng.randint(10, 99)}",
        country=country,
    )
    methods = [_card(rng, customer_id, 1)]
    if rng.random() < 0.35:
        methods.append(PaymentMethod(id=f"pm_{customer_id}_2", type="paypal", label="PayPal"))
    if rng.random() < 0.1:
        methods.append(PaymentMethod(id=f"pm_{customer_id}_3", type="gift_card", label="Gift card"))
    return Customer(
        id=customer_id,
        name=f"{first} {last}",
        email=email,
        phone=f"+1-555-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        member_since=today - timedelta(days=rng.randint(60, 2000)),
        default_address=address,
        payment_methods=methods,
    )


def _card(rng: random.Random, customer_id: int, index: int) -> PaymentMethod:
    brand = rng.choice(["Visa", "Mastercard", "American Express"])
    return PaymentMethod(
        id=f"pm_{customer_id}_{index}",
        type="card",
        label=f"{brand} ending {rng.randint(1000, 9999)}",
    )


def _status_for_age(rng: random.Random, age: int) -> str:
    if rng.random() < 0.05:
        return "cancelled"
    if age <= 1:
        return rng.choice(["pending", "processing"])
    if age <= 3:
        return rng.choice(["processing", "shipped"])
    if age <= 7:
        return "shipped" if rng.random() < 0.7 else "delivered"
    return "returned" if rng.random() < 0.06 else "delivered"


def _order(
    rng: random.Random,
    order_id: int,
    customer: Customer,
    products: dict[str, Product],
    today: date,
    age: int,
    status: str | None,
) -> Order:
    status = status or _status_for_age(rng, age)
    placed_on = today - timedelta(days=age)
    placed_at = datetime.combine(
        placed_on, time(rng.randint(7, 22), rng.randint(0, 59)), tzinfo=UTC
    )
    items = []
    for product in rng.sample(sorted(products.values(), key=lambda p: p.id), rng.randint(1, 3)):
        variant = rng.choice(product.variants)
        quantity = rng.choice([1, 1, 1, 2])
        items.append(
            OrderItem(
                sku=variant.sku,
                product_name=product.name,
                variant=variant.name,
                quantity=quantity,
                unit_price=variant.price,
                line_total=round(variant.price * quantity, 2),
            )
        )
    subtotal = round(sum(item.line_total for item in items), 2)
    shipping = 0.0 if subtotal >= 75 else 5.95
    payment = rng.choice(customer.payment_methods).label
    order = Order(
        id=order_id,
        customer_id=customer.id,
        customer_email=customer.email,
        status=status,  # type: ignore[arg-type]
        placed_at=placed_at,
        items=items,
        subtotal=subtotal,
        shipping_cost=shipping,
        total=round(subtotal + shipping, 2),
        payment_method=payment,
        shipping_address=customer.default_address.model_copy(),
    )
    if status in {"shipped", "delivered", "returned"}:
        order.shipment = _shipment(rng, placed_on, today, delivered=status != "shipped")
    if status == "cancelled":
        order.cancellation = Cancellation(
            cancelled_on=min(placed_on + timedelta(days=rng.randint(0, 1)), today),
            reason=rng.choice([None, "ordered by mistake", "found a better price"]),
            refund_amount=order.total,
            refund_to=payment,
        )
    if status == "returned" and order.shipment and order.shipment.delivered_on:
        started = min(order.shipment.delivered_on + timedelta(days=rng.randint(2, 20)), today)
        order.return_info = new_return(
            order_id,
            started,
            rng.choice(["too small", "not as described", "changed my mind"]),
            order.total,
            payment,
            refunded=(today - started).days > 10,
        )
    return order


def _shipment(rng: random.Random, placed_on: date, today: date, *, delivered: bool) -> Shipment:
    carrier = rng.choice(sorted(CARRIERS))
    transit, url = CARRIERS[carrier]
    shipped_on = min(placed_on + timedelta(days=rng.randint(1, 2)), today)
    estimated = shipped_on + timedelta(days=transit)
    delivered_on = min(shipped_on + timedelta(days=transit + rng.randint(-1, 1)), today)
    number = _tracking_number(rng, carrier)
    return _shipment_record(
        carrier,
        number,
        url,
        shipped_on,
        estimated,
        delivered_on if delivered else None,
        rng.choice(HUBS),
        today,
    )


def _shipment_record(
    carrier: str,
    number: str,
    url: str,
    shipped_on: date,
    estimated: date,
    delivered_on: date | None,
    hub: str,
    today: date,
) -> Shipment:
    events = [
        TrackingEvent(date=shipped_on, location="Warehouse", description="Label created"),
        TrackingEvent(date=shipped_on, location="Warehouse", description="Picked up by carrier"),
    ]
    if min(today, delivered_on or today) > shipped_on:
        events.append(
            TrackingEvent(
                date=shipped_on + timedelta(days=1), location=hub, description="In transit"
            )
        )
    if delivered_on:
        events.append(
            TrackingEvent(date=delivered_on, location="Destination", description="Delivered")
        )
    return Shipment(
        carrier=carrier,
        tracking_number=number,
        tracking_url=url + number,
        shipped_on=shipped_on,
        estimated_delivery=estimated,
        delivered_on=delivered_on,
        events=events,
    )


def _tracking_number(rng: random.Random, carrier: str) -> str:
    if carrier == "UPS":
        return "1Z" + "".join(rng.choice("0123456789ABCDEF") for _ in range(16))
    digits = {"FedEx": 12, "DHL": 10, "USPS": 22}[carrier]
    return "".join(rng.choice("0123456789") for _ in range(digits))


def new_return(
    order_id: int, started: date, reason: str, amount: float, refund_to: str, *, refunded: bool
) -> ReturnInfo:
    """A return record: number R-<order>, 14 days to drop the parcel off, refund to the payer."""
    return ReturnInfo(
        return_id=f"R-{order_id}",
        reason=reason,
        started_on=started,
        status="refunded" if refunded else "awaiting_item",
        drop_off_by=started + timedelta(days=14),
        label_url=f"https://shop.example/returns/R-{order_id}/label.pdf",
        refund_amount=amount,
        refund_to=refund_to,
    )


def _plant_notable_orders(
    rng: random.Random,
    orders: dict[int, Order],
    maya: Customer,
    products: dict[str, Product],
    today: date,
) -> None:
    """Overwrite a few ids with orders whose story the docs, demo and tests rely on."""
    plan = {1001: (0, "pending"), 1042: (1, "processing"), 1080: (5, "cancelled")}
    for order_id, (age, status) in plan.items():
        orders[order_id] = _order(rng, order_id, maya, products, today, age, status)

    order = _order(rng, 1050, maya, products, today, 3, "processing")
    order.status = "shipped"
    shipped = today - timedelta(days=2)
    order.shipment = _shipment_record(
        "UPS",
        "1Z4F2A9E0312345678",
        CARRIERS["UPS"][1],
        shipped,
        today + timedelta(days=2),
        None,
        "Louisville, KY",
        today,
    )
    orders[1050] = order

    for order_id, days_ago in {1060: 12, 1061: 30, 1070: 45, 1071: 31, 1090: 25}.items():
        delivered = today - timedelta(days=days_ago)
        order = _order(rng, order_id, maya, products, today, days_ago + 5, "processing")
        order.status = "delivered"
        order.shipment = _shipment_record(
            "FedEx",
            f"7712{order_id:04d}0042",
            CARRIERS["FedEx"][1],
            delivered - timedelta(days=3),
            delivered,
            delivered,
            "Memphis, TN",
            today,
        )
        orders[order_id] = order
    returned = orders[1090]
    returned.status = "returned"
    returned.return_info = new_return(
        1090,
        today - timedelta(days=8),
        "too small",
        returned.total,
        returned.payment_method,
        refunded=False,
    )

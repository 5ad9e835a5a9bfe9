"""The demo shop's customers as identities: for the web chat's "Continue as a demo customer"
picker and `smart-support chat --as EMAIL`.

The shop's dataset is generated from a fixed seed, so the same customers exist in the shop
process and here without a request. A real site never uses this: it signs its own logged-in
customer's identity server-side (see the README).
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import BaseModel

from smart_support.demo.shop.data import DEFAULT_SEED, Dataset, build_dataset
from smart_support.errors import ConfigError
from smart_support.identity import Identity

#: The customers the picker offers (Maya Chen first: the README's examples are hers).
PICKER_SIZE = 6


class DemoCustomer(BaseModel):
    """A demo customer as the picker shows them."""

    customer_id: str
    name: str
    email: str
    orders: list[int]


@lru_cache(maxsize=1)
def _dataset() -> Dataset:
    return build_dataset(seed=DEFAULT_SEED)


def demo_customers(limit: int = PICKER_SIZE) -> list[DemoCustomer]:
    """The first demo customers with their order numbers."""
    data = _dataset()
    picked: list[DemoCustomer] = []
    for customer in sorted(data.customers.values(), key=lambda c: c.id):
        orders = sorted(o.id for o in data.orders.values() if o.customer_id == customer.id)
        if not orders:
            continue
        if len(picked) == limit:
            break
        picked.append(
            DemoCustomer(
                customer_id=str(customer.id),
                name=customer.name,
                email=customer.email,
                orders=orders,
            )
        )
    return picked


def demo_claims(email: str) -> dict[str, str]:
    """The claims a host site would sign for this demo customer.

    Raises:
        ConfigError: No demo customer has that email address.
    """
    customer = _dataset().customer_by_email(email)
    if customer is None:
        raise ConfigError(f"no demo customer has the email address {email!r}")
    return {"sub": str(customer.id), "email": customer.email, "name": customer.name}


def demo_identity(email: str) -> Identity:
    """The identity of a demo customer, as if their site had signed it in."""
    claims = demo_claims(email)
    return Identity(
        customer_id=claims["sub"], email=claims["email"], name=claims["name"], method="signed"
    )

"""The demo's customer picker: demo customers and signed identities for them.

Only with `DEMO_IDENTITIES=true` (which `smart-support demo` sets, with a random IDENTITY_SECRET
when none is configured). It plays the part of a shop's own server, which signs its logged-in
customer's identity for the chat; a real deployment never enables it. Otherwise both endpoints
answer 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from smart_support.demo.customers import DemoCustomer, demo_claims, demo_customers
from smart_support.errors import ConfigError
from smart_support.identity import issue_identity_token
from smart_support.server.errors import ApiError
from smart_support.settings import Settings

router = APIRouter(prefix="/api/v1/demo", tags=["demo"])

#: How long a demo identity is valid.
DEMO_IDENTITY_SECONDS = 3600


def demo_enabled(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    if not settings.demo_identities or settings.identity_secret is None:
        raise ApiError("not_found")
    return settings


DemoSettings = Annotated[Settings, Depends(demo_enabled)]


class DemoIdentityIn(BaseModel):
    email: str = Field(min_length=3, max_length=254, pattern=r"^[^@\s\x00]+@[^@\s\x00]+$")


class DemoIdentityOut(BaseModel):
    identity: str = Field(description="A signed identity to pass in the `start` frame.")
    customer: DemoCustomer


@router.get("/customers")
async def customers(settings: DemoSettings) -> list[DemoCustomer]:
    """The demo customers the picker offers, with their order numbers."""
    return demo_customers()


@router.post("/identity")
async def identity(body: DemoIdentityIn, settings: DemoSettings) -> DemoIdentityOut:
    """A signed identity of one demo customer, as their shop's server would issue it."""
    try:
        claims = demo_claims(body.email)
    except ConfigError:
        raise ApiError("not_found", "No demo customer has that email address.") from None
    token = issue_identity_token(claims, settings, ttl_seconds=DEMO_IDENTITY_SECONDS)
    customer = next(c for c in demo_customers(limit=10_000) if c.email == claims["email"])
    return DemoIdentityOut(identity=token, customer=customer)

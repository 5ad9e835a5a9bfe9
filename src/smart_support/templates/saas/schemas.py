"""The Pulseboard API's request bodies and parameters: what its OpenAPI document says about
each (the import turns these descriptions into the tools' argument descriptions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Header, Path, Request
from pydantic import BaseModel, ConfigDict, Field

from smart_support.templates.saas.state import BillingState


class ErrorBody(BaseModel):
    """Every error the API answers: a stable code and a sentence a person can read."""

    error: str
    reason: str


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PlanChange(_Body):
    plan: Literal["free", "starter", "team", "business"] = Field(
        description="The plan to move to: free, starter, team or business."
    )


class SeatChange(_Body):
    seats: int = Field(ge=1, le=500, description="The number of seats to pay for, e.g. 12.")


class CancelRequest(_Body):
    reason: str | None = Field(None, max_length=500, description="Why the customer cancels.")


class RefundRequest(_Body):
    reason: str = Field(min_length=1, max_length=500, description="Why the invoice is refunded.")


def _state(request: Request) -> BillingState:
    state: BillingState = request.app.state.billing
    return state


State = Annotated[BillingState, Depends(_state)]
_FOR_CUSTOMER = (
    "The verified customer the request is made for: other customers' accounts and invoices then"
    " answer 404, as if they did not exist. Without it the request is the back office's."
)
CustomerId = Annotated[
    str | None,
    Header(alias="X-Customer-Id", min_length=1, max_length=40, description=_FOR_CUSTOMER),
]
RequiredCustomerId = Annotated[
    str,
    Header(
        alias="X-Customer-Id",
        min_length=1,
        max_length=40,
        description="The verified customer whose accounts are listed.",
    ),
]
AccountId = Annotated[
    str, Path(max_length=20, description="The account id, e.g. ACC-1001.", examples=["ACC-1001"])
]
InvoiceId = Annotated[
    str,
    Path(max_length=20, description="The invoice number, e.g. INV-5001.", examples=["INV-5001"]),
]
MemberEmail = Annotated[
    str,
    Path(
        min_length=3,
        max_length=254,
        pattern=r"^[^@\s/]+@[^@\s/]+$",
        description="The email address the member signs in with.",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Repeat a write safely: a repeated key replays the first answer.",
    ),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "The account, invoice or member does not exist."},
    422: {"model": ErrorBody, "description": "The request is malformed."},
}
WRITE: dict[int | str, dict[str, Any]] = {
    200: {"description": "Done (or replayed for a repeated key)."},
    **ERRORS,
    409: {"model": ErrorBody, "description": "A business rule refuses the change."},
}

"""The webhook outbox in the operator API: deliveries by status (the dead-letter list), replay,
and enabling an endpoint that answered 410 Gone (docs/webhooks.md)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from smart_support.escalation.outbox import WebhookRequestError, replay
from smart_support.server.errors import ApiError
from smart_support.server.rest import MAX_OFFSET, EngineDep, OperatorDep
from smart_support.store.records import WebhookDelivery

router = APIRouter()

DeliveryId = Annotated[str, Path(max_length=100, pattern=r"^[A-Za-z0-9_.:-]+$")]


class DeliveryOut(BaseModel):
    """One webhook delivery: what is sent to which endpoint, and how its attempts went."""

    id: str = Field(description="The `webhook-id` header (stable across retries).")
    endpoint: str
    event_type: str
    conversation_id: str | None
    status: Literal["pending", "delivered", "dead", "disabled"]
    attempts: int
    next_attempt_at: datetime
    last_status: int | None = Field(
        description="HTTP status of the last attempt; null: no answer (timeout, refused)."
    )
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None
    payload: dict[str, Any]

    @classmethod
    def of(cls, d: WebhookDelivery) -> DeliveryOut:
        return cls(
            id=d.id,
            endpoint=d.endpoint,
            event_type=d.event_type,
            conversation_id=d.conversation_id,
            status=d.status,
            attempts=d.attempts,
            next_attempt_at=d.next_attempt_at,
            last_status=d.last_status,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
            payload=d.payload,
        )


class DeliveriesPage(BaseModel):
    deliveries: list[DeliveryOut]
    next_offset: int | None = Field(description="Pass as `offset` for the next page; null: last.")


class EndpointIn(BaseModel):
    endpoint: str = Field(max_length=2000, description="The URL, as in WEBHOOK_URLS.")


class EndpointEnabled(BaseModel):
    endpoint: str
    requeued: int = Field(description="Its disabled deliveries, pending again.")


def _refused(exc: WebhookRequestError) -> ApiError:
    return ApiError(exc.code, exc.public_message)


@router.get("/api/v1/operator/webhooks/deliveries", tags=["operator"])
async def list_deliveries(
    engine: EngineDep,
    _: OperatorDep,
    status: Literal["pending", "delivered", "dead", "disabled"] | None = None,
    conversation_id: Annotated[str | None, Query(max_length=100)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> DeliveriesPage:
    """Webhook deliveries, newest first; `status=dead` is the dead-letter list."""
    found = await engine.store.list_webhook_deliveries(
        status, conversation_id=conversation_id, limit=limit + 1, offset=offset
    )
    return DeliveriesPage(
        deliveries=[DeliveryOut.of(d) for d in found[:limit]],
        next_offset=offset + limit if len(found) > limit else None,
    )


@router.post("/api/v1/operator/webhooks/deliveries/{delivery_id}/replay", tags=["operator"])
async def replay_delivery(
    delivery_id: DeliveryId, engine: EngineDep, _: OperatorDep
) -> DeliveryOut:
    """Send a dead or disabled delivery again, from the start of the retry schedule."""
    try:
        return DeliveryOut.of(await replay(engine.store, delivery_id))
    except WebhookRequestError as exc:
        raise _refused(exc) from None


@router.post("/api/v1/operator/webhooks/endpoints/enable", tags=["operator"])
async def enable_endpoint(body: EndpointIn, engine: EngineDep, _: OperatorDep) -> EndpointEnabled:
    """Send to an endpoint again after it answered 410 Gone; its disabled deliveries are pending
    again."""
    requeued = await engine.store.enable_webhook_endpoint(body.endpoint, datetime.now(UTC))
    return EndpointEnabled(endpoint=body.endpoint, requeued=requeued)

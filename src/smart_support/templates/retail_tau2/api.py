"""The tau2-bench retail tools served over HTTP, with an OpenAPI document to import.

One endpoint per tau2 tool (`tools.py`), its operationId the tool's name: READ and GENERIC tools
that change nothing are GETs, WRITE tools are POSTs that honour an `Idempotency-Key` (a repeated
key answers the first response and changes nothing). Order ids such as `#W0000000` travel
percent-encoded in paths (`/orders/%23W0000000`). A tool's `ValueError` is a 400 (404 for the
"... not found" lookups) whose `detail` is tau2's error string.

`GET /_state/hash` (the database hash as tau2 computes it) and `POST /_state/reset` (a fresh copy
of db.json) are for grading and hidden from the OpenAPI document, so agents never see them.

Run it: `uvicorn smart_support.templates.retail_tau2.api:app --port 8002`.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from fastapi import Body, FastAPI, Header, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from smart_support.templates.retail_tau2.db import RetailDB, load_raw
from smart_support.templates.retail_tau2.tools import RetailTools

ORDER_ID = Path(
    description="The order id, such as '#W0000000' (the '#' is part of it; percent-encode it).",
    examples=["#W0000000"],
)
USER_ID = Path(description="The user id, such as 'sara_doe_496'.", examples=["sara_doe_496"])
IDEMPOTENCY = Header(
    default=None,
    alias="Idempotency-Key",
    description="Repeating a key returns the first answer and changes nothing.",
)


class CancelRequest(BaseModel):
    reason: str = Field(
        description="The reason for cancellation: 'no longer needed' or 'ordered by mistake'."
    )


class AddressRequest(BaseModel):
    address1: str = Field(description="The first line of the address, such as '123 Main St'.")
    address2: str = Field(description="The second line of the address, such as 'Apt 1' or ''.")
    city: str = Field(description="The city, such as 'San Francisco'.")
    state: str = Field(description="The state, such as 'CA'.")
    country: str = Field(description="The country, such as 'USA'.")
    zip: str = Field(description="The zip code, such as '12345'.")


class ItemsRequest(BaseModel):
    item_ids: list[str] = Field(
        description="The item ids to change, each such as '1008292230'; may repeat."
    )
    new_item_ids: list[str] = Field(
        description="The new item ids, position by position, each a variant of the same product."
    )
    payment_method_id: str = Field(
        description="Pays or receives the price difference, such as 'gift_card_0000000'."
    )


class ReturnRequest(BaseModel):
    item_ids: list[str] = Field(description="The item ids to return; may repeat.")
    payment_method_id: str = Field(
        description="The original payment method or a gift card, which receives the refund."
    )


class PaymentRequest(BaseModel):
    payment_method_id: str = Field(
        description="The new payment method, such as 'credit_card_0000000'."
    )


class TransferRequest(BaseModel):
    summary: str = Field(description="A summary of the customer's issue.")


class _World:
    """The database behind the API and the answers of the idempotency keys seen so far."""

    def __init__(self) -> None:
        self._raw = load_raw()
        self.lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        self.tools = RetailTools(RetailDB.model_validate(self._raw))
        self.answers: dict[str, JSONResponse] = {}


def _answer(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return result


def create_app() -> FastAPI:
    """The retail API over a fresh copy of tau2's db.json."""
    app = FastAPI(
        title="tau2-bench retail",
        version="1.0.0",
        description=(
            "An online retail store: users, their orders (pending, processed, delivered...), "
            "products and their item variants. Data and behaviour from tau2-bench (MIT licence, "
            "Sierra Research)."
        ),
    )
    world = _World()
    app.state.world = world

    def run(tool: str, **arguments: Any) -> Any:
        with world.lock:
            try:
                return _answer(world.tools.use_tool(tool, **arguments))
            except ValueError as exc:
                message = str(exc)
                status = 404 if message.endswith(("not found", "not found.")) else 400
                return JSONResponse({"detail": message}, status_code=status)

    def write(tool: str, key: str | None, **arguments: Any) -> Any:
        if key is not None and key in world.answers:
            return world.answers[key]
        result = run(tool, **arguments)
        response = (
            result if isinstance(result, JSONResponse) else JSONResponse(result, status_code=200)
        )
        if key is not None:
            world.answers[key] = response
        return response

    @app.get("/users/by-email", operation_id="find_user_id_by_email", tags=["users"])
    def find_user_id_by_email(
        email: str = Query(description="The customer's email, such as 'something@example.com'."),
    ) -> Any:
        """Find a user id by email (the first way to authenticate a customer)."""
        return run("find_user_id_by_email", email=email)

    @app.get("/users/by-name-zip", operation_id="find_user_id_by_name_zip", tags=["users"])
    def find_user_id_by_name_zip(
        first_name: str = Query(description="The customer's first name, such as 'John'."),
        last_name: str = Query(description="The customer's last name, such as 'Doe'."),
        zip: str = Query(description="The customer's zip code, such as '12345'."),
    ) -> Any:
        """Find a user id by first name, last name and zip code, when the customer cannot give
        their email."""
        return run("find_user_id_by_name_zip", first_name=first_name, last_name=last_name, zip=zip)

    @app.get("/users/{user_id}", operation_id="get_user_details", tags=["users"])
    def get_user_details(user_id: str = USER_ID) -> Any:
        """Get a user's details: name, address, email, payment methods and order ids."""
        return run("get_user_details", user_id=user_id)

    @app.post("/users/{user_id}/address", operation_id="modify_user_address", tags=["users"])
    def modify_user_address(
        body: AddressRequest, user_id: str = USER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Modify the default address of a user."""
        return write("modify_user_address", key, user_id=user_id, **body.model_dump())

    @app.get("/orders/{order_id}", operation_id="get_order_details", tags=["orders"])
    def get_order_details(order_id: str = ORDER_ID) -> Any:
        """Get the status and details of an order."""
        return run("get_order_details", order_id=order_id)

    @app.post("/orders/{order_id}/cancel", operation_id="cancel_pending_order", tags=["orders"])
    def cancel_pending_order(
        body: CancelRequest, order_id: str = ORDER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Cancel a pending order; the payment is refunded (to a gift card at once, otherwise in
        5-7 business days)."""
        return write("cancel_pending_order", key, order_id=order_id, reason=body.reason)

    @app.post(
        "/orders/{order_id}/address", operation_id="modify_pending_order_address", tags=["orders"]
    )
    def modify_pending_order_address(
        body: AddressRequest, order_id: str = ORDER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Modify the shipping address of a pending order."""
        return write("modify_pending_order_address", key, order_id=order_id, **body.model_dump())

    @app.post(
        "/orders/{order_id}/items", operation_id="modify_pending_order_items", tags=["orders"]
    )
    def modify_pending_order_items(
        body: ItemsRequest, order_id: str = ORDER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Modify items of a pending order to other variants of the same products; once per
        order."""
        return write("modify_pending_order_items", key, order_id=order_id, **body.model_dump())

    @app.post(
        "/orders/{order_id}/payment", operation_id="modify_pending_order_payment", tags=["orders"]
    )
    def modify_pending_order_payment(
        body: PaymentRequest, order_id: str = ORDER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Modify the payment method of a pending order."""
        return write(
            "modify_pending_order_payment",
            key,
            order_id=order_id,
            payment_method_id=body.payment_method_id,
        )

    @app.post(
        "/orders/{order_id}/return", operation_id="return_delivered_order_items", tags=["orders"]
    )
    def return_delivered_order_items(
        body: ReturnRequest, order_id: str = ORDER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Return items of a delivered order (status 'return requested')."""
        return write("return_delivered_order_items", key, order_id=order_id, **body.model_dump())

    @app.post(
        "/orders/{order_id}/exchange",
        operation_id="exchange_delivered_order_items",
        tags=["orders"],
    )
    def exchange_delivered_order_items(
        body: ItemsRequest, order_id: str = ORDER_ID, key: str | None = IDEMPOTENCY
    ) -> Any:
        """Exchange items of a delivered order for other variants of the same products."""
        return write("exchange_delivered_order_items", key, order_id=order_id, **body.model_dump())

    @app.get("/products", operation_id="list_all_product_types", tags=["products"])
    def list_all_product_types() -> Any:
        """List the name and product id of all 50 product types."""
        result = run("list_all_product_types")
        return json.loads(result) if isinstance(result, str) else result

    @app.get("/products/{product_id}", operation_id="get_product_details", tags=["products"])
    def get_product_details(
        product_id: str = Path(description="The product id, such as '6086499569'."),
    ) -> Any:
        """Get a product's details and the inventory of its item variants."""
        return run("get_product_details", product_id=product_id)

    @app.get("/items/{item_id}", operation_id="get_item_details", tags=["products"])
    def get_item_details(
        item_id: str = Path(description="The item id, such as '6086499569'."),
    ) -> Any:
        """Get the inventory details of an item (one variant of a product)."""
        return run("get_item_details", item_id=item_id)

    @app.get("/calculate", operation_id="calculate", tags=["tools"])
    def calculate(
        expression: str = Query(
            description="A mathematical expression such as '2 + 2': numbers, + - * /, "
            "parentheses and spaces."
        ),
    ) -> Any:
        """Calculate the result of a mathematical expression."""
        return run("calculate", expression=expression)

    @app.post("/transfer", operation_id="transfer_to_human_agents", tags=["tools"])
    def transfer_to_human_agents(body: TransferRequest = Body()) -> Any:
        """Transfer the customer to a human agent with a summary of their issue: only when they
        ask for one, or the policy and tools cannot solve their issue."""
        return run("transfer_to_human_agents", summary=body.summary)

    @app.get("/_state/hash", include_in_schema=False)
    def state_hash() -> dict[str, str]:
        with world.lock:
            return {"hash": world.tools.get_db_hash()}

    @app.post("/_state/reset", include_in_schema=False)
    def state_reset() -> dict[str, str]:
        with world.lock:
            world.reset()
            return {"hash": world.tools.get_db_hash()}

    return app


app = create_app()

"""The demo shop's HTTP API: FastAPI routes, each with an operationId, errors as {error, reason}.

Reads: find a customer by email, order details, tracking, product search. Writes: cancel an order,
change its shipping address, start a return; each honours an `Idempotency-Key` header.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Header, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from smart_support.demo.shop.data import DEFAULT_SEED
from smart_support.demo.shop.models import (
    AddressChange,
    CancelRequest,
    ChangeResult,
    CustomerWithOrders,
    ErrorBody,
    Order,
    Product,
    ProductSearchResult,
    ReturnRequest,
    Tracking,
)
from smart_support.demo.shop.store import ShopRefusal, ShopState

logger = logging.getLogger("smart_support.demo")


MAX_BODY_BYTES = 16 * 1024


def _current_shop(request: Request) -> ShopState:
    # Read per request so a test harness can swap in a fresh dataset without a restart.
    shop: ShopState = request.app.state.shop
    return shop


Shop = Annotated[ShopState, Depends(_current_shop)]
CustomerId = Annotated[
    int | None,
    Header(
        alias="X-Customer-Id",
        ge=1,
        description="The verified customer the request is made for: other customers' orders and"
        " accounts then answer 404, as if they did not exist.",
    ),
]
OrderId = Annotated[int, Path(description="The order number, e.g. 1042.")]
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
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "The order or customer does not exist."},
    422: {"model": ErrorBody, "description": "The request is malformed."},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    409: {"model": ErrorBody, "description": "A business rule refuses the change."},
}
_WRITE_OK: dict[int | str, dict[str, Any]] = {
    200: {"model": ChangeResult, "description": "Done (or replayed for a repeated key)."}
}


def create_app(*, today: date | None = None, seed: int = DEFAULT_SEED) -> FastAPI:
    """Build a shop with a fresh in-memory dataset.

    Args:
        today: The shop's "today" for the 30-day return window; the dataset's day by default.
        seed: Seed of the generated dataset; the same seed always gives the same data.

    Returns:
        The FastAPI application; its state is lost when the process ends.
    """
    app = FastAPI(
        title="Demo Shop API",
        version="1.0.0",
        description=(
            "A small online shop for the Smart Support demo. State is kept in memory: "
            "restarting the shop resets every order."
        ),
    )
    app.state.shop = ShopState(today=today, seed=seed)
    _install_error_handlers(app)

    @app.middleware("http")
    async def limit_body_size(request: Request, call_next: Any) -> Any:
        # Every legitimate body here is a few hundred bytes; refuse floods before parsing them.
        declared = request.headers.get("content-length", "0")
        if not declared.isdigit() or int(declared) > MAX_BODY_BYTES:
            return JSONResponse(
                {
                    "error": "payload_too_large",
                    "reason": f"request bodies are limited to {MAX_BODY_BYTES} bytes",
                },
                status_code=413,
            )
        return await call_next(request)

    @app.get("/health", operation_id="health", summary="Is the shop up?")
    async def health(shop: Shop) -> dict[str, str]:
        return {"status": "ok", "today": shop.today.isoformat()}

    @app.get(
        "/customers",
        operation_id="find_customer_by_email",
        summary="Find a customer by email address, with their order history.",
        response_model=CustomerWithOrders,
        responses=_ERRORS,
    )
    async def find_customer(
        shop: Shop,
        email: Annotated[
            str, Query(min_length=3, max_length=254, pattern=r"^\s*[^@\s]+@[^@\s]+\s*$")
        ],
        customer_id: CustomerId = None,
    ) -> CustomerWithOrders:
        return shop.customer(email, customer_id)

    @app.get(
        "/orders/{order_id}",
        operation_id="get_order",
        summary="Get an order: status, items, totals, payment, address and shipment.",
        response_model=Order,
        responses=_ERRORS,
    )
    async def get_order(shop: Shop, order_id: OrderId, customer_id: CustomerId = None) -> Order:
        return shop.order(order_id, customer_id)

    @app.get(
        "/orders/{order_id}/tracking",
        operation_id="get_order_tracking",
        summary="Track an order's shipment: carrier, tracking number, estimated delivery.",
        response_model=Tracking,
        responses=_ERRORS,
    )
    async def get_tracking(
        shop: Shop, order_id: OrderId, customer_id: CustomerId = None
    ) -> Tracking:
        return shop.tracking(order_id, customer_id)

    @app.get(
        "/products",
        operation_id="search_products",
        summary="Search the catalogue by text (name, category, description, variant).",
        response_model=ProductSearchResult,
        responses={422: _ERRORS[422]},
    )
    async def search_products(
        shop: Shop,
        q: Annotated[str, Query(min_length=1, max_length=200, description="Words to look for.")],
        limit: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> ProductSearchResult:
        return shop.search_products(q, limit)

    @app.get(
        "/products/{product_id}",
        operation_id="get_product",
        summary="Get one product with its variants, prices and stock.",
        response_model=Product,
        responses=_ERRORS,
    )
    async def get_product(shop: Shop, product_id: Annotated[str, Path(max_length=20)]) -> Product:
        product = shop.data.products.get(product_id.upper())
        if product is None:
            raise ShopRefusal(404, "product_not_found", f"product {product_id} does not exist")
        return product

    @app.post(
        "/orders/{order_id}/cancel",
        operation_id="cancel_order",
        summary="Cancel an order that has not shipped yet (pending or processing).",
        responses={**_WRITE_OK, **_WRITE_ERRORS},
    )
    async def cancel_order(
        shop: Shop,
        order_id: OrderId,
        idempotency_key: IdempotencyKey = None,
        body: CancelRequest | None = None,
        customer_id: CustomerId = None,
    ) -> JSONResponse:
        reason = body.reason if body else None
        return _answer(
            shop.idempotent(
                idempotency_key,
                f"POST /orders/{order_id}/cancel",
                {"reason": reason},
                lambda: shop.cancel(order_id, reason, customer_id),
            )
        )

    @app.post(
        "/orders/{order_id}/shipping-address",
        operation_id="change_shipping_address",
        summary="Change the shipping address of an order that has not shipped yet.",
        responses={**_WRITE_OK, **_WRITE_ERRORS},
    )
    async def change_shipping_address(
        shop: Shop,
        order_id: OrderId,
        body: AddressChange,
        idempotency_key: IdempotencyKey = None,
        customer_id: CustomerId = None,
    ) -> JSONResponse:
        return _answer(
            shop.idempotent(
                idempotency_key,
                f"POST /orders/{order_id}/shipping-address",
                body.model_dump(),
                lambda: shop.change_address(order_id, body, customer_id),
            )
        )

    @app.post(
        "/orders/{order_id}/returns",
        operation_id="start_return",
        summary="Start a return for a delivered order, within 30 days of delivery.",
        responses={**_WRITE_OK, **_WRITE_ERRORS},
    )
    async def start_return(
        shop: Shop,
        order_id: OrderId,
        body: ReturnRequest,
        idempotency_key: IdempotencyKey = None,
        customer_id: CustomerId = None,
    ) -> JSONResponse:
        return _answer(
            shop.idempotent(
                idempotency_key,
                f"POST /orders/{order_id}/returns",
                body.model_dump(),
                lambda: shop.start_return(order_id, body.reason, customer_id),
            )
        )

    return app


def _answer(result: tuple[int, dict[str, Any], bool]) -> JSONResponse:
    status, body, replayed = result
    headers = {"Idempotent-Replayed": "true"} if replayed else None
    return JSONResponse(body, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ShopRefusal)
    async def refused(request: Request, exc: ShopRefusal) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = [_describe(error) for error in exc.errors()]
        return JSONResponse(
            {"error": "invalid_request", "reason": "; ".join(reasons)}, status_code=422
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            error, reason = "not_found", f"there is no {request.url.path} in this API"
        elif exc.status_code == 405:
            error = "method_not_allowed"
            reason = f"{request.method} is not allowed on {request.url.path}"
        else:
            error, reason = "http_error", str(exc.detail)
        return JSONResponse(
            {"error": error, "reason": reason},
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )


def _describe(error: Any) -> str:
    """One readable line per validation error, naming the field and what is wrong."""
    if error.get("type") == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "malformed")
        return f"the request body is not valid JSON ({detail})"
    loc = [str(part) for part in error.get("loc", ())]
    where = ".".join(loc[1:]) or "body"
    if loc and loc[0] in ("path", "query", "header"):
        where = f"{where} (in the {loc[0]})"
    kind = error.get("type")
    if kind == "extra_forbidden":
        return f"{where}: unknown field"
    if kind in ("model_attributes_type", "dict_type", "model_type") and where == "body":
        return "the request body must be a JSON object"
    if kind == "string_pattern_mismatch":
        return f"{where}: contains characters that are not allowed here"
    return f"{where}: {error.get('msg', 'invalid')}"

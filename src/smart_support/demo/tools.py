"""The demo agents' Python tools: they call the demo shop's HTTP API through the egress guard.

Each tool's docstring first line is what a model reads to pick it, so the lines are distinct and
name the facts the tool returns. Reads return the shop's facts with `"ok": True`. A refusal by the
shop (unknown order, already shipped, return window closed...) comes back as
`{"ok": False, "error": "<the shop's reason>"}` so the agent can tell the customer; a shop that is
down or times out raises `ToolError`. Write tools send the runtime's idempotency key as the
`Idempotency-Key` header, so a retried call never acts twice.
"""

from __future__ import annotations

import logging
from typing import Any

from smart_support.egress import HTTPError, TimeoutException, async_client
from smart_support.errors import SmartSupportError, ToolError
from smart_support.tools.context import current_tool_context

logger = logging.getLogger("smart_support.demo")

_BAD_ORDER_ID = "an order number is a whole number such as 1042"
#: The header that tells the shop which verified customer a request is made for.
CUSTOMER_HEADER = "X-Customer-Id"


async def get_order_status(order_id: int) -> dict[str, Any]:
    """Look up an order's status and details: items, total, payment, shipping address and dates.

    Args:
        order_id: The order number, e.g. 1042.
    """
    number = _order_number(order_id)
    if number is None:
        return {"ok": False, "error": _BAD_ORDER_ID}
    order = await _call("GET", f"/orders/{number}")
    if not order["ok"]:
        return order
    shipment = order.get("shipment") or {}
    facts: dict[str, Any] = {
        "ok": True,
        "order_id": order["id"],
        "status": order["status"],
        "placed_at": order["placed_at"],
        "items": [
            {
                "product": item["product_name"],
                "variant": item["variant"],
                "quantity": item["quantity"],
                "line_total": item["line_total"],
            }
            for item in order["items"]
        ],
        "shipping_cost": order["shipping_cost"],
        "total": order["total"],
        "currency": order["currency"],
        "payment_method": order["payment_method"],
        "shipping_address": order["shipping_address"],
        "customer_email": order["customer_email"],
    }
    for key in ("carrier", "tracking_number", "shipped_on", "estimated_delivery", "delivered_on"):
        if shipment.get(key):
            facts[key] = shipment[key]
    if order.get("cancellation"):
        facts["cancellation"] = order["cancellation"]
    if order.get("return_info"):
        facts["return"] = order["return_info"]
    return facts


async def track_order(order_id: int) -> dict[str, Any]:
    """Track the shipment of an order: carrier, tracking number, latest scan, estimated delivery.

    Args:
        order_id: The order number, e.g. 1050.
    """
    number = _order_number(order_id)
    if number is None:
        return {"ok": False, "error": _BAD_ORDER_ID}
    return await _call("GET", f"/orders/{number}/tracking")


async def verify_customer(
    email: str, order_id: int | None = None, postal_code: str | None = None
) -> dict[str, Any]:
    """Verify who the customer is: the email address on their account plus one of their order
    numbers or the postal code of their address.

    Args:
        email: The email address on the customer's account.
        order_id: One of the customer's order numbers, e.g. 1042.
        postal_code: The postal or ZIP code of the customer's saved address.
    """
    number = _order_number(order_id) if order_id is not None else None
    if number is None and not postal_code:
        return {"ok": False, "error": "an order number or a postal code is needed as well"}
    found = await _call("GET", "/customers", params={"email": email}, as_customer=False)
    if not found["ok"]:
        return {"ok": False, "error": "the details do not match"}
    orders = {order["id"] for order in found["orders"]}
    address = found.get("default_address") or {}
    postcode_ok = bool(postal_code) and _same_postcode(postal_code, address.get("postal_code"))
    if not (number in orders or postcode_ok):
        return {"ok": False, "error": "the details do not match"}
    customer = {"customer_id": str(found["id"]), "email": found["email"], "name": found["name"]}
    return {"ok": True, "customer": customer}


def _same_postcode(given: str | None, stored: Any) -> bool:
    def norm(value: Any) -> str:
        return "".join(str(value or "").split()).upper()

    return bool(norm(given)) and norm(given) == norm(stored)


async def find_customer(email: str) -> dict[str, Any]:
    """Find the customer's account: name, saved address, payment methods and their orders.

    Args:
        email: The customer's email address.
    """
    found = await _call("GET", "/customers", params={"email": email})
    if not found["ok"]:
        return found
    return {
        "ok": True,
        "customer_id": found["id"],
        "name": found["name"],
        "email": found["email"],
        "member_since": found["member_since"],
        "default_address": found["default_address"],
        "payment_methods": [method["label"] for method in found["payment_methods"]],
        "order_count": len(found["orders"]),
        "recent_orders": found["orders"][:10],
    }


async def search_products(query: str) -> dict[str, Any]:
    """Search the product catalogue by keywords: names, prices, sizes, colours and stock.

    Args:
        query: Words describing the product, e.g. "rain jacket" or "black sneakers".
    """
    found = await _call("GET", "/products", params={"q": query, "limit": 5})
    if not found["ok"]:
        return found
    return {
        "ok": True,
        "query": found["query"],
        "total": found["total"],
        "products": [
            {
                "id": product["id"],
                "name": product["name"],
                "category": product["category"],
                "description": product["description"],
                "currency": product["currency"],
                "variants": product["variants"],
            }
            for product in found["results"]
        ],
    }


async def cancel_order(order_id: int, reason: str | None = None) -> dict[str, Any]:
    """Cancel an order that has not shipped yet and refund it to the original payment method.

    Args:
        order_id: The order number to cancel.
        reason: Why the customer cancels, in their words (optional).
    """
    number = _order_number(order_id)
    if number is None:
        return {"ok": False, "error": _BAD_ORDER_ID}
    body = {"reason": reason} if reason else None
    return await _call("POST", f"/orders/{number}/cancel", json=body, write=True)


async def change_shipping_address(
    order_id: int, street: str, city: str, postal_code: str, country: str
) -> dict[str, Any]:
    """Change the delivery address (street, city, postal code, country) of an order not yet shipped.

    Args:
        order_id: The order number whose parcel should go elsewhere.
        street: Street and house number.
        city: City.
        postal_code: Postal or ZIP code.
        country: Country, e.g. "US" or "Germany".
    """
    number = _order_number(order_id)
    if number is None:
        return {"ok": False, "error": _BAD_ORDER_ID}
    body = {"street": street, "city": city, "postal_code": postal_code, "country": country}
    return await _call("POST", f"/orders/{number}/shipping-address", json=body, write=True)


async def start_return(order_id: int, reason: str) -> dict[str, Any]:
    """Start a return for a delivered order (within 30 days of delivery) and get the return label.

    Args:
        order_id: The order number to return.
        reason: Why the customer returns it, e.g. "too small" or "arrived damaged".
    """
    number = _order_number(order_id)
    if number is None:
        return {"ok": False, "error": _BAD_ORDER_ID}
    return await _call("POST", f"/orders/{number}/returns", json={"reason": reason}, write=True)


def _order_number(order_id: object) -> int | None:
    """Accept 1042, "1042" or "#1042"; anything else is not an order number."""
    if isinstance(order_id, bool):
        return None
    if isinstance(order_id, int):
        return order_id
    text = str(order_id).strip().lstrip("#")
    return int(text) if text.isdigit() and len(text) < 12 else None


async def _call(
    method: str,
    path: str,
    *,
    params: dict[str, Any] | None = None,
    json: dict[str, Any] | None = None,
    write: bool = False,
    as_customer: bool = True,
) -> dict[str, Any]:
    """One request to the shop; 4xx becomes {"ok": False, "error": reason}, failures ToolError.

    With a verified customer the request carries `X-Customer-Id`, and the shop refuses that
    customer any order or account but their own (defence in depth beside the tool guard)."""
    ctx = current_tool_context()
    base_url = ctx.settings.shop_url.rstrip("/")
    headers = {"Accept": "application/json"}
    if write and ctx.idempotency_key:
        headers["Idempotency-Key"] = ctx.idempotency_key
    if as_customer and ctx.identity is not None and ctx.identity.customer_id:
        headers[CUSTOMER_HEADER] = ctx.identity.customer_id
    try:
        async with async_client(ctx.settings, base_url=base_url, headers=headers) as client:
            response = await client.request(method, path, params=params, json=json)
    except SmartSupportError:
        raise  # the egress guard's refusal says who is at fault already
    except TimeoutException as exc:
        raise ToolError(f"the shop API at {base_url} is not reachable: it timed out") from exc
    except HTTPError as exc:
        detail = str(exc) or type(exc).__name__
        raise ToolError(f"the shop API at {base_url} is not reachable: {detail}") from exc
    if response.status_code >= 500:
        raise ToolError(
            f"the shop API at {base_url} failed: HTTP {response.status_code} on {method} {path}"
        )
    try:
        body = response.json()
    except ValueError as exc:
        raise ToolError(
            f"the shop API at {base_url} answered {method} {path} with something that is not JSON"
        ) from exc
    if not isinstance(body, dict):
        raise ToolError(f"the shop API at {base_url} answered {method} {path} with a non-object")
    if response.status_code >= 400:
        reason = body.get("reason") or body.get("error") or f"HTTP {response.status_code}"
        logger.info("shop refused %s %s: %s", method, path, response.status_code)
        return {"ok": False, "error": str(reason), "status_code": response.status_code}
    return {"ok": True, **body}

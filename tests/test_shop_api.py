"""The demo shop's read API, its readable errors, its OpenAPI spec and its deterministic data."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator

import httpx
import pytest

from shop_fixture import free_port, running_shop, shop_process  # noqa: F401
from smart_support.demo.shop import DEMO_EMAIL, create_app, shop_today
from smart_support.demo.shop.data import build_dataset


@pytest.fixture
def shop(running_shop: str) -> Iterator[httpx.Client]:  # noqa: F811
    with httpx.Client(base_url=running_shop, trust_env=False) as client:
        yield client


def test_order_1042_starts_cancellable(shop: httpx.Client) -> None:
    order = shop.get("/orders/1042").json()
    assert order["status"] in ("pending", "processing")
    assert order["shipment"] is None
    assert order["customer_email"] == DEMO_EMAIL
    assert order["total"] == round(order["subtotal"] + order["shipping_cost"], 2)
    assert order["subtotal"] == round(sum(item["line_total"] for item in order["items"]), 2)


def test_order_1050_is_shipped_with_a_tracking_number(shop: httpx.Client) -> None:
    tracking = shop.get("/orders/1050/tracking").json()
    assert tracking["status"] == "shipped"
    assert tracking["shipped"] is True
    assert tracking["carrier"] == "UPS"
    assert tracking["tracking_number"] == "1Z4F2A9E0312345678"
    assert tracking["tracking_url"].endswith(tracking["tracking_number"])
    today = shop.get("/health").json()["today"]
    assert today == shop_today().isoformat()
    assert tracking["estimated_delivery"] > today
    assert tracking["delivered_on"] is None
    assert tracking["latest_event"] == tracking["events"][-1]


def test_tracking_an_order_that_has_not_shipped_says_so(shop: httpx.Client) -> None:
    tracking = shop.get("/orders/1042/tracking").json()
    assert tracking["shipped"] is False
    assert tracking["tracking_number"] is None
    assert "has not shipped yet" in tracking["message"]


def test_a_customer_is_found_by_email_whatever_its_case(shop: httpx.Client) -> None:
    answer = shop.get("/customers", params={"email": "  Maya.Chen@Example.com "})
    assert answer.status_code == 200
    customer = answer.json()
    assert customer["name"] == "Maya Chen"
    ids = [order["id"] for order in customer["orders"]]
    assert {1042, 1050, 1060, 1070} <= set(ids)
    placed = [order["placed_at"] for order in customer["orders"]]
    assert placed == sorted(placed, reverse=True)


def test_an_unknown_email_gets_a_readable_404(shop: httpx.Client) -> None:
    answer = shop.get("/customers", params={"email": "nobody@example.com"})
    assert answer.status_code == 404
    assert answer.json() == {
        "error": "customer_not_found",
        "reason": "no customer has the email address nobody@example.com",
    }


@pytest.mark.parametrize("email", ["not-an-email", "a@b@c", ""])
def test_a_malformed_email_is_refused(shop: httpx.Client, email: str) -> None:
    answer = shop.get("/customers", params={"email": email})
    assert answer.status_code == 422
    assert answer.json()["reason"].startswith("email (in the query): ")


def test_product_search_ranks_name_matches_first(shop: httpx.Client) -> None:
    found = shop.get("/products", params={"q": "running shoes"}).json()
    assert found["results"][0]["name"] == "Cloudstep Running Shoes"
    assert found["total"] >= 3  # every shoe matches "shoes"
    assert all(result["variants"] for result in found["results"])


def test_product_search_without_a_match_is_empty_not_an_error(shop: httpx.Client) -> None:
    found = shop.get("/products", params={"q": "submarine"}).json()
    assert found == {"query": "submarine", "total": 0, "results": []}


def test_product_search_honours_the_limit(shop: httpx.Client) -> None:
    found = shop.get("/products", params={"q": "black", "limit": 2}).json()
    assert found["total"] > 2
    assert len(found["results"]) == 2


def test_an_unknown_order_gets_a_readable_404(shop: httpx.Client) -> None:
    answer = shop.get("/orders/99999")
    assert answer.status_code == 404
    assert answer.json() == {"error": "order_not_found", "reason": "order 99999 does not exist"}
    assert shop.post("/orders/99999/cancel").json()["reason"] == "order 99999 does not exist"


def test_a_non_numeric_order_id_is_refused(shop: httpx.Client) -> None:
    answer = shop.get("/orders/1042abc")
    assert answer.status_code == 422
    assert answer.json()["reason"].startswith("order_id (in the path): ")


def test_a_malformed_json_body_is_refused_and_changes_nothing(shop: httpx.Client) -> None:
    answer = shop.post(
        "/orders/1042/returns",
        content=b'{"reason": "too small"',
        headers={"Content-Type": "application/json"},
    )
    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"
    assert "not valid JSON" in answer.json()["reason"]
    assert shop.get("/orders/1042").json()["status"] == "processing"


@pytest.mark.parametrize("body", [[], "a string", 42, {"reason": ["a", "list"]}])
def test_a_body_of_the_wrong_shape_is_refused(shop: httpx.Client, body: object) -> None:
    answer = shop.post("/orders/1060/returns", json=body)
    assert answer.status_code == 422
    assert answer.json()["reason"]
    assert shop.get("/orders/1060").json()["status"] == "delivered"


def test_an_unknown_field_is_refused_by_name(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1042/cancel", json={"reason": "x", "refund": 1000})
    assert answer.status_code == 422
    assert answer.json()["reason"] == "refund: unknown field"


def test_an_unknown_route_and_a_wrong_method_get_readable_errors(shop: httpx.Client) -> None:
    missing = shop.get("/admin/export")
    assert missing.status_code == 404
    assert missing.json() == {
        "error": "not_found",
        "reason": "there is no /admin/export in this API",
    }
    wrong = shop.delete("/orders/1042")
    assert wrong.status_code == 405
    assert wrong.json()["reason"] == "DELETE is not allowed on /orders/1042"


def test_every_route_in_the_openapi_spec_has_an_operation_id(shop: httpx.Client) -> None:
    spec = shop.get("/openapi.json").json()
    operations = [op for path in spec["paths"].values() for op in path.values()]
    ids = [op.get("operationId") for op in operations]
    assert None not in ids
    assert len(ids) == len(set(ids))
    assert {"get_order", "get_order_tracking", "cancel_order", "start_return"} <= set(ids)
    assert "find_customer_by_email" in ids and "change_shipping_address" in ids


def test_two_shops_generate_identical_data() -> None:
    first, second = build_dataset(), build_dataset()
    assert first == second
    assert len(first.orders) == 1000 and min(first.orders) == 1000 and max(first.orders) == 1999
    assert len(first.customers) == 300
    assert len({c.email for c in first.customers.values()}) == 300
    app_a, app_b = create_app(), create_app()
    assert app_a.state.shop.data == app_b.state.shop.data


def test_the_dataset_covers_every_status_realistically() -> None:
    today = shop_today()
    data = build_dataset(today=today)
    statuses = {order.status for order in data.orders.values()}
    assert statuses == {"pending", "processing", "shipped", "delivered", "cancelled", "returned"}
    for order in data.orders.values():
        shipped = order.status in {"shipped", "delivered", "returned"}
        assert (order.shipment is not None) == shipped, order.id
        assert order.placed_at.date() <= today
        if order.shipment:
            assert order.shipment.shipped_on >= order.placed_at.date(), order.id
            delivered = order.shipment.delivered_on
            assert (delivered is not None) == (order.status != "shipped"), order.id
            assert delivered is None or order.shipment.shipped_on <= delivered <= today
        if order.cancellation:
            assert order.cancellation.cancelled_on <= today, order.id
        if order.return_info:
            assert order.shipment and order.shipment.delivered_on
            assert order.shipment.delivered_on <= order.return_info.started_on <= today


def test_another_seed_gives_other_data() -> None:
    assert build_dataset(seed=1).orders[1500] != build_dataset().orders[1500]


def test_the_shop_command_serves_the_api_until_stopped() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "smart_support.cli", "shop", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        answer = None
        for _ in range(600):  # wait for start-up; fail if the process dies instead
            if process.poll() is not None:
                pytest.fail(f"the shop command exited: {process.stderr.read()!r}")  # type: ignore[union-attr]
            try:
                answer = httpx.get(f"http://127.0.0.1:{port}/orders/1050", trust_env=False)
                break
            except httpx.ConnectError:
                time.sleep(0.05)
        assert answer is not None and answer.json()["status"] == "shipped"
    finally:
        process.terminate()
        process.wait()


def test_an_oversized_body_is_refused_before_it_is_parsed(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1060/returns", json={"reason": "x" * 20_000})
    assert answer.status_code == 413
    assert answer.json()["error"] == "payload_too_large"
    assert shop.get("/orders/1060").json()["status"] == "delivered"


def test_an_overlong_reason_under_the_size_limit_is_refused_by_name(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1060/returns", json={"reason": "x" * 501})
    assert answer.status_code == 422
    assert answer.json()["reason"] == "reason: String should have at most 500 characters"

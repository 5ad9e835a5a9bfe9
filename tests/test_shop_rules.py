"""The demo shop's business rules and idempotency, over real HTTP against a running shop."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta

import httpx
import pytest

from shop_fixture import running_shop, shop_process, shop_server  # noqa: F401
from smart_support.demo.shop import shop_today

NEW_ADDRESS = {
    "street": "12 Harbour Road",
    "city": "Portland",
    "postal_code": "97201",
    "country": "US",
}


@pytest.fixture
def shop(running_shop: str) -> Iterator[httpx.Client]:  # noqa: F811
    with httpx.Client(base_url=running_shop, trust_env=False) as client:
        yield client


def shops_day(shop: httpx.Client) -> date:
    """The day the shop's rules run on (its /health says)."""
    return date.fromisoformat(shop.get("/health").json()["today"])


def status_of(shop: httpx.Client, order_id: int) -> str:
    return str(shop.get(f"/orders/{order_id}").json()["status"])


# --- cancel ------------------------------------------------------------------------------------


@pytest.mark.parametrize("order_id", [1001, 1042])
def test_an_order_that_has_not_shipped_can_be_cancelled(shop: httpx.Client, order_id: int) -> None:
    before = shop.get(f"/orders/{order_id}").json()
    assert before["status"] in ("pending", "processing")

    answer = shop.post(f"/orders/{order_id}/cancel", json={"reason": "ordered by mistake"})

    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "cancelled"
    assert body["cancellation"]["refund_amount"] == before["total"]
    assert body["cancellation"]["refund_to"] == before["payment_method"]
    assert body["cancellation"]["reason"] == "ordered by mistake"
    assert status_of(shop, order_id) == "cancelled"


def test_an_order_can_be_cancelled_without_a_body(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1042/cancel")
    assert answer.status_code == 200
    assert status_of(shop, 1042) == "cancelled"


def test_an_order_that_has_shipped_cannot_be_cancelled(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1050/cancel")

    assert answer.status_code == 409
    assert answer.json() == {
        "error": "order_already_shipped",
        "reason": "order 1050 has already shipped and can no longer be cancelled",
    }
    assert status_of(shop, 1050) == "shipped"


def test_a_delivered_order_cannot_be_cancelled(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1060/cancel")
    assert answer.status_code == 409
    assert status_of(shop, 1060) == "delivered"


def test_a_cancelled_order_cannot_be_cancelled_again(shop: httpx.Client) -> None:
    assert shop.post("/orders/1042/cancel").status_code == 200
    again = shop.post("/orders/1042/cancel")
    assert again.status_code == 409
    assert (
        again.json()["reason"] == "order 1042 is already cancelled and can no longer be cancelled"
    )


# --- change the shipping address ---------------------------------------------------------------


def test_the_address_of_an_order_that_has_not_shipped_can_change(shop: httpx.Client) -> None:
    before = shop.get("/orders/1042").json()["shipping_address"]

    answer = shop.post("/orders/1042/shipping-address", json=NEW_ADDRESS)

    assert answer.status_code == 200
    assert answer.json()["previous_address"] == before
    after = shop.get("/orders/1042").json()["shipping_address"]
    assert {key: after[key] for key in NEW_ADDRESS} == NEW_ADDRESS
    assert after["recipient"] == before["recipient"]


def test_the_address_of_a_shipped_order_cannot_change(shop: httpx.Client) -> None:
    before = shop.get("/orders/1050").json()["shipping_address"]

    answer = shop.post("/orders/1050/shipping-address", json=NEW_ADDRESS)

    assert answer.status_code == 409
    assert "1050 has already shipped" in answer.json()["reason"]
    assert shop.get("/orders/1050").json()["shipping_address"] == before


def test_a_cancelled_order_cannot_be_re_addressed(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1080/shipping-address", json=NEW_ADDRESS)
    assert answer.status_code == 409
    assert answer.json()["error"] == "order_cancelled"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("street", ""),
        ("postal_code", "97201; DROP TABLE"),
        ("country", "U\x00S"),
        ("city", "x" * 81),
    ],
)
def test_a_malformed_address_is_refused_with_the_field_named(
    shop: httpx.Client, field: str, value: str
) -> None:
    before = shop.get("/orders/1042").json()["shipping_address"]

    answer = shop.post("/orders/1042/shipping-address", json={**NEW_ADDRESS, field: value})

    assert answer.status_code == 422
    assert answer.json()["error"] == "invalid_request"
    assert answer.json()["reason"].startswith(f"{field}: ")
    assert shop.get("/orders/1042").json()["shipping_address"] == before


# --- returns -----------------------------------------------------------------------------------


@pytest.mark.parametrize("order_id", [1060, 1061])
def test_a_delivered_order_inside_the_return_window_can_be_returned(
    shop: httpx.Client, order_id: int
) -> None:
    order = shop.get(f"/orders/{order_id}").json()
    delivered = date.fromisoformat(order["shipment"]["delivered_on"])
    today = shops_day(shop)
    assert (today - delivered).days <= 30

    answer = shop.post(f"/orders/{order_id}/returns", json={"reason": "too small"})

    assert answer.status_code == 200
    started = answer.json()["return"]
    assert started["return_id"] == f"R-{order_id}"
    assert started["refund_amount"] == order["total"]
    assert date.fromisoformat(started["drop_off_by"]) > today
    assert status_of(shop, order_id) == "returned"


@pytest.mark.parametrize("order_id", [1070, 1071])
def test_an_order_delivered_more_than_30_days_ago_cannot_be_returned(
    shop: httpx.Client, order_id: int
) -> None:
    delivered = date.fromisoformat(
        shop.get(f"/orders/{order_id}").json()["shipment"]["delivered_on"]
    )
    assert (shops_day(shop) - delivered).days > 30

    answer = shop.post(f"/orders/{order_id}/returns", json={"reason": "changed my mind"})

    assert answer.status_code == 409
    assert answer.json()["error"] == "return_window_closed"
    closed = (delivered + timedelta(days=30)).isoformat()
    assert f"the return window closed on {closed}" in answer.json()["reason"]
    assert status_of(shop, order_id) == "delivered"


@pytest.mark.parametrize("order_id", [1042, 1050])
def test_an_order_that_has_not_arrived_cannot_be_returned(
    shop: httpx.Client, order_id: int
) -> None:
    before = status_of(shop, order_id)
    answer = shop.post(f"/orders/{order_id}/returns", json={"reason": "too small"})
    assert answer.status_code == 409
    assert answer.json()["error"] == "order_not_delivered"
    assert status_of(shop, order_id) == before


def test_an_order_already_returned_cannot_be_returned_twice(shop: httpx.Client) -> None:
    answer = shop.post("/orders/1090/returns", json={"reason": "too small"})
    assert answer.status_code == 409
    assert "R-1090" in answer.json()["reason"]


def test_the_return_window_follows_the_shops_clock() -> None:
    later = shop_today() + timedelta(days=19)  # 1060 was delivered 12 days before the data's day
    with (
        shop_server(today=later) as server,
        httpx.Client(base_url=server.url, trust_env=False) as client,
    ):
        answer = client.post("/orders/1060/returns", json={"reason": "too small"})
    assert answer.status_code == 409
    assert answer.json()["error"] == "return_window_closed"


# --- idempotency -------------------------------------------------------------------------------


def test_a_repeated_idempotency_key_replays_the_first_answer_and_changes_nothing(
    shop: httpx.Client,
) -> None:
    headers = {"Idempotency-Key": "cancel-1042-a"}
    first = shop.post("/orders/1042/cancel", json={"reason": "late"}, headers=headers)
    second = shop.post("/orders/1042/cancel", json={"reason": "late"}, headers=headers)

    assert first.status_code == second.status_code == 200
    assert second.json() == first.json()
    assert second.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    # without the key the same request reaches the rules again and is refused
    assert shop.post("/orders/1042/cancel", json={"reason": "late"}).status_code == 409


def test_a_repeated_return_with_the_same_key_starts_only_one_return(shop: httpx.Client) -> None:
    headers = {"Idempotency-Key": "return-1060"}
    first = shop.post("/orders/1060/returns", json={"reason": "too small"}, headers=headers)
    second = shop.post("/orders/1060/returns", json={"reason": "too small"}, headers=headers)
    assert first.status_code == second.status_code == 200
    assert second.json()["return"] == first.json()["return"]


def test_a_repeated_refusal_replays_the_refusal(shop: httpx.Client) -> None:
    headers = {"Idempotency-Key": "cancel-1050"}
    first = shop.post("/orders/1050/cancel", headers=headers)
    second = shop.post("/orders/1050/cancel", headers=headers)
    assert first.status_code == second.status_code == 409
    assert second.json() == first.json()


def test_the_same_key_with_a_different_body_is_refused(shop: httpx.Client) -> None:
    headers = {"Idempotency-Key": "addr-1042"}
    assert shop.post("/orders/1042/shipping-address", json=NEW_ADDRESS, headers=headers).is_success
    other = {**NEW_ADDRESS, "street": "99 Other Street"}

    answer = shop.post("/orders/1042/shipping-address", json=other, headers=headers)

    assert answer.status_code == 422
    assert answer.json()["error"] == "idempotency_key_reused"
    assert "'addr-1042' was already used for a different request" in answer.json()["reason"]
    assert shop.get("/orders/1042").json()["shipping_address"]["street"] == NEW_ADDRESS["street"]


def test_the_same_key_on_another_order_is_refused(shop: httpx.Client) -> None:
    headers = {"Idempotency-Key": "one-key"}
    assert shop.post("/orders/1042/cancel", headers=headers).status_code == 200

    answer = shop.post("/orders/1001/cancel", headers=headers)

    assert answer.status_code == 422
    assert "POST /orders/1042/cancel" in answer.json()["reason"]
    assert status_of(shop, 1001) == "pending"


@pytest.mark.parametrize("key", ["", "x" * 256, "has space"])
def test_a_malformed_idempotency_key_is_refused(shop: httpx.Client, key: str) -> None:
    answer = shop.post("/orders/1042/cancel", headers={"Idempotency-Key": key})
    assert answer.status_code == 422
    assert "Idempotency-Key" in answer.json()["reason"]
    assert status_of(shop, 1042) == "processing"


def test_a_fresh_start_forgets_every_write() -> None:
    with shop_server() as server, httpx.Client(base_url=server.url, trust_env=False) as client:
        assert client.post("/orders/1042/cancel").status_code == 200
    with shop_server() as server, httpx.Client(base_url=server.url, trust_env=False) as client:
        assert client.get("/orders/1042").json()["status"] == "processing"


@pytest.mark.parametrize("attempt", [1, 2])
def test_each_test_gets_a_fresh_dataset(shop: httpx.Client, attempt: int) -> None:
    assert status_of(shop, 1042) == "processing"
    assert shop.post("/orders/1042/cancel").status_code == 200

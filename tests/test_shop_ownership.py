"""The demo shop enforces ownership on its own when told the customer (`X-Customer-Id`): defence
in depth beside the tool guard. Another customer's order answers exactly like a missing one."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from shop_fixture import running_shop, shop_process  # noqa: F401

MAYA, CHIARA = "1", "3"  # order 1042 is Maya Chen's


@pytest.fixture
def shop(running_shop: str) -> Iterator[httpx.Client]:  # noqa: F811
    with httpx.Client(base_url=running_shop, timeout=10) as client:
        yield client


def test_the_owner_reads_her_order_and_another_customer_gets_the_missing_orders_answer(
    shop: httpx.Client,
) -> None:
    mine = shop.get("/orders/1042", headers={"X-Customer-Id": MAYA})
    theirs = shop.get("/orders/1042", headers={"X-Customer-Id": CHIARA})
    missing = shop.get("/orders/99999", headers={"X-Customer-Id": CHIARA})

    assert mine.status_code == 200 and mine.json()["customer_email"] == "maya.chen@example.com"
    assert theirs.status_code == missing.status_code == 404
    assert theirs.json()["reason"] == "order 1042 does not exist"
    assert theirs.json().keys() == missing.json().keys()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/orders/1042/cancel", None),
        (
            "POST",
            "/orders/1042/shipping-address",
            {"street": "1 Evil St", "city": "Nowhere", "postal_code": "00000", "country": "US"},
        ),
        ("GET", "/orders/1042/tracking", None),
    ],
)
def test_another_customer_can_neither_change_nor_track_the_order(
    shop: httpx.Client, method: str, path: str, body: dict | None
) -> None:
    refused = shop.request(method, path, json=body, headers={"X-Customer-Id": CHIARA})

    assert refused.status_code == 404
    assert shop.get("/orders/1042").json()["status"] == "processing"


def test_an_account_is_found_only_for_its_own_customer(shop: httpx.Client) -> None:
    params = {"email": "maya.chen@example.com"}
    own = shop.get("/customers", params=params, headers={"X-Customer-Id": MAYA})
    other = shop.get("/customers", params=params, headers={"X-Customer-Id": CHIARA})

    assert own.status_code == 200 and own.json()["name"] == "Maya Chen"
    assert other.status_code == 404


def test_without_the_header_the_shop_answers_as_before(shop: httpx.Client) -> None:
    assert shop.get("/orders/1042").status_code == 200

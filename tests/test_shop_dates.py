"""The demo shop's dates follow today's date: the demo's stories hold on any day it runs."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from smart_support.demo.shop import create_app, shop_today
from smart_support.demo.shop.data import RETURN_WINDOW_DAYS, build_dataset
from smart_support.demo.shop.store import ShopRefusal, ShopState

DAYS = [
    date(2026, 11, 16),  # the day the fixed dataset used to be generated around
    date(2027, 1, 1),  # a year boundary inside every window
    date(2028, 2, 29),  # a leap day
    date(2031, 7, 15),
]


def test_a_new_shop_generates_its_data_around_today() -> None:
    state = ShopState()
    assert state.today == shop_today()
    placed = state.data.orders[1001].placed_at.date()
    assert placed == shop_today()  # 1001 is placed "today"
    assert create_app().state.shop.today == shop_today()


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_the_notable_orders_keep_their_story_on_any_day(today: date) -> None:
    orders = build_dataset(today=today).orders
    assert orders[1001].status == "pending" and orders[1001].placed_at.date() == today
    assert orders[1042].status == "processing" and orders[1042].shipment is None
    shipment = orders[1050].shipment
    assert orders[1050].status == "shipped" and shipment is not None
    assert shipment.shipped_on == today - timedelta(days=2)
    assert shipment.estimated_delivery > today and shipment.delivered_on is None
    for order_id, days_ago in {1060: 12, 1061: 30, 1070: 45, 1071: 31}.items():
        delivered = orders[order_id].shipment
        assert delivered is not None and delivered.delivered_on == today - timedelta(days=days_ago)
    assert orders[1080].status == "cancelled" and orders[1090].status == "returned"
    for order in orders.values():
        assert order.placed_at.date() <= today, order.id


@pytest.mark.parametrize("today", DAYS, ids=str)
def test_the_shops_rules_agree_with_its_data_on_any_day(
    today: date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("smart_support.demo.shop.store.shop_today", lambda: today)
    state = ShopState()
    assert state.today == today
    assert state.cancel(1042, "ordered by mistake", None)  # still cancellable
    for order_id in (1060, 1061):  # inside the window, 1061 on its last day
        assert state.start_return(order_id, "too small", None)
    for order_id in (1070, 1071):
        with pytest.raises(ShopRefusal) as refused:
            state.start_return(order_id, "changed my mind", None)
        assert refused.value.error == "return_window_closed"
    with pytest.raises(ShopRefusal) as refused:
        state.cancel(1050, None, None)
    assert refused.value.error == "order_already_shipped"
    assert RETURN_WINDOW_DAYS == 30

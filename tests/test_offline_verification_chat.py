"""An anonymous customer verifies in the conversation, end to end: `smart-support chat` as a real
process with piped stdin, the offline model, the demo agents, the tool guard and the real demo
shop over HTTP (the `running_shop` fixture of tests/shop_fixture.py, fresh data per test)."""

from __future__ import annotations

import json
import sqlite3

import httpx

from chat_process import run_chat
from smart_support.demo.shop import DEMO_EMAIL


def anonymous_chat(lines: list[str], shop_url: str, tmp_path) -> str:
    """The chat without `--as`, one message per line."""
    return run_chat(lines, shop_url, tmp_path)


def turns(out: str) -> dict[str, str]:
    """What the chat printed after each customer message, keyed by the message."""
    found = {}
    for block in out.split("you> ")[1:]:
        message, _, rest = block.partition("\n")
        found[message] = rest
    return found


def tool_calls(tmp_path) -> list[tuple[str, dict]]:
    """The tool calls the chat made, from its event log (the terminal shows only labels)."""
    with sqlite3.connect(tmp_path / "chat.db") as db:
        rows = db.execute(
            "SELECT data FROM events WHERE kind = 'tool_activity' ORDER BY conversation_id, seq"
        ).fetchall()
    started = [json.loads(data) for (data,) in rows]
    return [(d["tool"], d["args"]) for d in started if d["status"] == "started"]


def order(shop_url: str, order_id: int) -> dict:
    return httpx.get(f"{shop_url}/orders/{order_id}", timeout=5).json()


def test_an_anonymous_customer_verifies_and_gets_the_answer_to_the_first_question(
    running_shop, tmp_path
):
    status = order(running_shop, 1042)["status"]
    details = f"{DEMO_EMAIL}, order 1042"
    lines = ["What's the status of order 1042?", details, "when will it arrive?", "Cancel it"]
    out = turns(anonymous_chat([*lines, "approve"], running_shop, tmp_path))
    first = out["What's the status of order 1042?"]
    assert "Orders team> Before I can look at anything personal" in first
    assert "Sorry" not in first
    verifying = out[details]
    assert "· Checking your details" in verifying
    assert "(verified: Maya Chen)" in verifying
    assert "(verified: Maya Chen)" in verifying
    assert f"Order 1042 is {status}" in verifying
    calls = tool_calls(tmp_path)
    assert calls[:4] == [
        ("get_order_status", {"order_id": 1042}),
        ("verify_customer", {"email": DEMO_EMAIL, "order_id": 1042}),
        ("get_order_status", {"order_id": 1042}),
        ("get_order_status", {"order_id": 1042}),
    ]
    assert "Order 1042" in out["when will it arrive?"]
    assert "APPROVAL NEEDED: Cancel order 1042" in out["Cancel it"]
    assert "approval approved" in out["approve"]
    assert order(running_shop, 1042)["status"] == "cancelled"


def test_the_zip_code_of_the_account_verifies_as_well_as_an_order_number(running_shop, tmp_path):
    account = httpx.get(f"{running_shop}/customers", params={"email": DEMO_EMAIL}, timeout=5)
    postal_code = account.json()["default_address"]["postal_code"]
    details = f"it's {DEMO_EMAIL} and my zip is {postal_code}"
    out = turns(anonymous_chat(["Where is my order 1050?", details], running_shop, tmp_path))
    verifying = out[details]
    assert ("verify_customer", {"email": DEMO_EMAIL, "postal_code": postal_code}) in tool_calls(
        tmp_path
    )
    assert "(verified: Maya Chen)" in verifying
    tracking = httpx.get(f"{running_shop}/orders/1050/tracking", timeout=5).json()
    assert tracking["tracking_number"] in verifying


def test_wrong_details_say_how_many_attempts_are_left_and_ask_again(running_shop, tmp_path):
    wrong, right = f"{DEMO_EMAIL}, order 4242", f"{DEMO_EMAIL}, order 1042"
    out = turns(
        anonymous_chat(["What's the status of order 1042?", wrong, right], running_shop, tmp_path)
    )
    failed = out[wrong]
    assert "· Checking your details" in failed
    assert "4 attempts left." in failed
    assert failed.rstrip().endswith("one of your order numbers.")  # asked again
    assert "Sorry" not in failed
    assert "(verified: Maya Chen)" in out[right]
    assert "Order 1042 is" in out[right]


def test_details_given_with_the_first_request_verify_without_being_asked_for(
    running_shop, tmp_path
):
    first = f"I'm {DEMO_EMAIL}, what's the status of order 1042?"
    out = turns(anonymous_chat([first], running_shop, tmp_path))[first]
    assert ("verify_customer", {"email": DEMO_EMAIL, "order_id": 1042}) in tool_calls(tmp_path)
    assert "(verified: Maya Chen)" in out
    assert "Before I can look at anything personal" not in out
    assert f"Order 1042 is {order(running_shop, 1042)['status']}" in out

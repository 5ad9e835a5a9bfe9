"""The demo end to end: `smart-support chat` with piped stdin, the offline model, the demo
agents and the real demo shop over HTTP."""

from __future__ import annotations

import os
import subprocess
import sys
from urllib.parse import urlsplit

import httpx
import pytest


def chat(lines: list[str], shop_url: str, tmp_path) -> str:
    """Run the terminal chat as a real process, one message per line; return what it printed."""
    port = urlsplit(shop_url).port
    env = {
        **os.environ,
        "LLM_PROVIDER": "offline",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'chat.db'}",
        "SHOP_URL": shop_url,
        "EGRESS_ALLOWLIST": f"127.0.0.1:{port}",
    }
    env.pop("AGENTS_FILE", None)
    process = subprocess.run(
        [sys.executable, "-m", "smart_support.cli", "chat"],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    return process.stdout


def order(shop_url: str, order_id: int) -> dict:
    return httpx.get(f"{shop_url}/orders/{order_id}", timeout=5).json()


@pytest.fixture
def shop(running_shop):
    return running_shop


def test_the_status_question_gets_the_real_status_from_the_shop(shop, tmp_path):
    status = order(shop, 1042)["status"]
    out = chat(["What's the status of order 1042?"], shop, tmp_path)
    assert "model: offline model" in out
    assert "orders>" in out
    assert status in out.lower()


def test_an_approved_cancellation_cancels_order_1042_in_the_shop(shop, tmp_path):
    out = chat(["Cancel order 1042", "approve"], shop, tmp_path)
    assert "APPROVAL NEEDED" in out
    assert "approval approved" in out
    assert order(shop, 1042)["status"] == "cancelled"
    assert "cancelled" in out.split("approval approved", 1)[1].lower()


def test_a_rejected_cancellation_leaves_order_1042_open(shop, tmp_path):
    before = order(shop, 1042)["status"]
    out = chat(["Cancel order 1042", "reject"], shop, tmp_path)
    assert "approval rejected" in out
    assert order(shop, 1042)["status"] == before != "cancelled"


def test_a_follow_up_about_another_order_uses_tracking(shop, tmp_path):
    out = chat(["What's the status of order 1042?", "and where is my order 1050?"], shop, tmp_path)
    second = out.split("and where is my order 1050?", 1)[1]
    assert "track_order(order_id=1050)" in second
    tracking = httpx.get(f"{shop}/orders/1050/tracking", timeout=5).json()
    assert tracking["tracking_number"] in second


def test_how_to_return_an_item_is_answered_by_the_faq_agent(shop, tmp_path):
    out = chat(["how do I return an item?"], shop, tmp_path)
    assert "faq>" in out
    assert "30 days" in out


def test_asking_for_a_person_reaches_escalation(shop, tmp_path):
    out = chat(["I want to talk to a person"], shop, tmp_path)
    assert "(handed to escalation)" in out
    assert "hand_off_to_human(" in out
    assert "passed this conversation to our support team" in out


def test_cancelling_a_shipped_order_is_not_offered_for_approval(shop, tmp_path):
    out = chat(["Cancel order 1050"], shop, tmp_path)
    assert "APPROVAL NEEDED" not in out
    expected = (
        'orders> Not asked: "Cancel order 1050" needs status to be pending or processing, '
        "but it is shipped now"
    )
    assert expected in out
    assert order(shop, 1050)["status"] == "shipped"

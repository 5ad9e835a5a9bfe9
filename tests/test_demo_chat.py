"""The demo end to end: `smart-support chat` with piped stdin, the offline model, the demo
agents and the real demo shop over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from chat_process import run_chat
from shop_fixture import free_port
from smart_support.demo.shop import DEMO_EMAIL


def chat(lines: list[str], shop_url: str, tmp_path) -> str:
    """The chat as the demo customer Maya Chen."""
    return run_chat(lines, shop_url, tmp_path, "--as", DEMO_EMAIL)


def order(shop_url: str, order_id: int) -> dict:
    return httpx.get(f"{shop_url}/orders/{order_id}", timeout=5).json()


@pytest.fixture
def shop(running_shop):
    return running_shop


def test_the_status_question_gets_the_real_status_from_the_shop(shop, tmp_path):
    status = order(shop, 1042)["status"]
    out = chat(["What's the status of order 1042?"], shop, tmp_path)
    assert "model: offline model" in out
    assert "Orders team>" in out
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
    assert "· Checking our records" in second and "track_order" not in second
    tracking = httpx.get(f"{shop}/orders/1050/tracking", timeout=5).json()
    assert tracking["tracking_number"] in second


def test_how_to_return_an_item_is_answered_by_the_faq_agent(shop, tmp_path):
    out = chat(["how do I return an item?"], shop, tmp_path)
    assert "Help center>" in out
    assert "30 days" in out


def test_asking_for_a_person_reaches_escalation(shop, tmp_path):
    out = chat(["I want to talk to a person"], shop, tmp_path)
    assert "(handed to Support team)" in out
    assert "Support team> " in out and "hand_off_to_human" not in out
    assert "passed this conversation to our support team" in out


def test_cancelling_a_shipped_order_is_not_offered_for_approval(shop, tmp_path):
    out = chat(["Cancel order 1050"], shop, tmp_path)
    assert "APPROVAL NEEDED" not in out
    expected = (
        'Orders team> Not asked: "Cancel order 1050" needs status to be pending or processing, '
        "but it is shipped now"
    )
    assert expected in out
    assert order(shop, 1050)["status"] == "shipped"


def fresh_chat(
    lines: list[str], cwd: Path, *options: str, **env_overrides: str
) -> subprocess.CompletedProcess:
    """`smart-support chat` as a new user runs it: no shop running, no allowlist, no settings."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"AGENTS_FILE", "EGRESS_ALLOWLIST", "DATABASE_URL", "SHOP_URL"}
    }
    env.update({"LLM_PROVIDER": "auto", **env_overrides})
    script = Path(sys.executable).parent / "smart-support"
    return subprocess.run(
        [str(script), "chat", *options],
        input="\n".join(lines) + "\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_readme_chat_works_on_a_fresh_install_by_starting_the_demo_shop(tmp_path):
    port = free_port()  # SHOP_URL's default port may be taken by someone's running demo
    shop_url = f"http://127.0.0.1:{port}"
    process = fresh_chat(["What's the status of order 1042?"], tmp_path, SHOP_URL=shop_url)
    assert process.returncode == 0, process.stderr
    assert f"started the demo shop on {shop_url}" in process.stdout
    assert "Orders team> " in process.stdout
    assert "egress" not in process.stdout + process.stderr
    assert "Traceback" not in process.stdout + process.stderr
    assert process.stderr == ""
    assert (tmp_path / "data" / "smart-support.db").exists()
    assert not port_is_open(port), "the shop the chat started stops with the chat"


def test_a_demo_customer_gets_the_status_from_the_shop_the_chat_started(tmp_path):
    port = free_port()
    process = fresh_chat(
        ["What's the status of order 1042?"],
        tmp_path,
        "--as",
        DEMO_EMAIL,
        SHOP_URL=f"http://127.0.0.1:{port}",
    )
    assert process.returncode == 0, process.stderr
    assert "started the demo shop" in process.stdout
    assert "Order 1042 is processing" in process.stdout
    assert process.stderr == ""


def test_a_running_demo_shop_is_used_and_allowlisted_without_settings(shop, tmp_path):
    process = fresh_chat(
        ["What's the status of order 1042?"], tmp_path, "--as", DEMO_EMAIL, SHOP_URL=shop
    )
    assert process.returncode == 0, process.stderr
    assert "started the demo shop" not in process.stdout
    assert "Order 1042 is processing" in process.stdout
    assert port_is_open(urlsplit(shop).port or 80)


def test_a_shop_address_taken_by_something_else_is_one_line_saying_what_to_run(tmp_path):
    with socket.socket() as squatter:  # listens but never answers HTTP
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(8)
        port = squatter.getsockname()[1]
        process = fresh_chat(
            ["hello"],
            tmp_path,
            SHOP_URL=f"http://127.0.0.1:{port}",
            EGRESS_TIMEOUT_SECONDS="0.5",
        )
    assert process.returncode == 2
    assert process.stderr.splitlines() == [
        f"error: the demo shop is not running at http://127.0.0.1:{port} and did not start:"
        f" start it with `smart-support shop --host 127.0.0.1 --port {port}` in another terminal"
    ]


FAILING_TOOL = '''
async def get_order_status(order_id: int) -> dict:
    """The status of an order.

    Args:
        order_id: The order number.
    """
    raise RuntimeError("the order database exploded")
'''

FAILING_AGENTS = """
agents:
  - name: orders
    description: Order status questions.
    role: fallback
    examples:
      - What's the status of order 1042?
    tools:
      - python: failing_tools:get_order_status
        access: read
"""


def test_a_failing_tool_shows_the_customer_one_sentence_and_logs_the_traceback(tmp_path):
    (tmp_path / "failing_tools.py").write_text(FAILING_TOOL, encoding="utf-8")
    (tmp_path / "agents.yaml").write_text(FAILING_AGENTS, encoding="utf-8")
    process = fresh_chat(
        ["What's the status of order 1042?"],
        tmp_path,
        AGENTS_FILE="agents.yaml",
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    )
    assert process.returncode == 0, process.stderr
    assert "something went wrong on our side" in process.stdout
    assert "get_order_status" not in process.stdout
    assert "exploded" not in process.stdout
    assert "Traceback" not in process.stdout + process.stderr
    assert process.stderr.splitlines() == [
        "error: tool get_order_status raised unexpectedly (details in data/chat.log)"
    ]
    log = (tmp_path / "data" / "chat.log").read_text(encoding="utf-8")
    assert "Traceback (most recent call last)" in log
    assert "RuntimeError: the order database exploded" in log


def test_an_unreachable_database_stops_the_chat_with_one_line_and_logs_the_cause(tmp_path):
    (tmp_path / "agents.yaml").write_text(FAILING_AGENTS, encoding="utf-8")
    (tmp_path / "failing_tools.py").write_text(FAILING_TOOL, encoding="utf-8")
    port = free_port()
    process = fresh_chat(
        ["hello"],
        tmp_path,
        AGENTS_FILE="agents.yaml",
        PYTHONPATH=os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
        DATABASE_URL=f"postgresql://postgres@127.0.0.1:{port}/nothing",
    )
    assert process.returncode == 1
    assert process.stderr.splitlines() == [
        "error: We can't save your conversation right now, so your message was not sent."
        " Please send it again in a moment. (details in chat.log)"
    ]
    log = (tmp_path / "chat.log").read_text(encoding="utf-8")
    assert "PostgreSQL unavailable" in log and "Traceback" in log

"""kill -9 of a real server process at every step boundary around an approved write, then a
restart (issue 15, item 5): no write reaches the API twice, and every customer learns how their
request ended: done, failed, or "outcome unknown" (never silence, a hang or a bare error).

Each run is one customer of the demo shop (signed identity, the demo agents, the offline model)
who asks to cancel one of their open orders, on a fresh order each run, and approves. The server
process dies at the boundary armed for the run: a fail point (`runtime/failpoints.py`) after
the decision is stored, after the ledger intent, after the tool returned; or the shop itself
kills it while it holds the call (`fault_api.GatedShop`), before or after changing the order. A
new process starts (its `Engine.recover()` resumes the conversation), the customer reconnects
with `resume` and reads the outcome from the transcript. One process start per run: the process
that recovered run N serves run N+1 and dies in it. Processes are forked from a server that has
imported the product once (`fault_zygote.py`): a start then costs the engine's opening and
recovery, not seconds of imports.

Each boundary is proven hit, not assumed: the process ended by SIGKILL, its last log line names
the fail point (or the shop did the killing), and the database and the shop hold exactly the
state that boundary leaves (the decision without an intent, an intent without a call...).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import psycopg
import pytest
import websockets

from chat_client import Chat, connect
from fault_api import Delivery, GatedShop, ServerProcess, Zygote, arm, start_server
from shop_fixture import shop_server
from smart_support.demo.shop.data import build_dataset, shop_today
from smart_support.runtime.approvals import REJECTED, UNKNOWN
from smart_support.runtime.failpoints import ENV, armed, failpoint

SECRET = "fault-kill-test-identity-secret-0123456789"
RUNS_PER_BOUNDARY = 10
#: Guards against a hang only (a server that did not die, a socket that stays silent).
WAIT = 60.0


@dataclass(frozen=True)
class Boundary:
    """Where the process dies, and what a restart must make of it."""

    name: str
    #: The fail point armed for the run; None when the shop kills the process mid-call.
    failpoint: str | None
    #: The shop kills the process after changing the order (else before its rules run).
    after_write: bool
    #: The ledger entry the dead process left: None (no intent yet) or "started".
    left: str | None
    #: What the dead process's call did at the shop: None (no request), "held" (killed before
    #: the rules ran) or "executed".
    at_the_api: str | None
    #: What the customer reads after the restart.
    outcome: str


BOUNDARIES = [
    Boundary("after_decision", "after_decision", False, None, None, "succeeded"),
    Boundary("after_intent", "after_intent", False, "started", None, "unknown"),
    Boundary("during_call", None, False, "started", "held", "unknown"),
    Boundary("during_call_after_write", None, True, "started", "executed", "unknown"),
    Boundary("after_call", "after_call", False, "started", "executed", "unknown"),
]

#: Outcomes seen and duplicate writes counted at the API, per boundary, for the summary
#: printed at the end of the module.
SUMMARY: dict[str, tuple[Counter[str], int]] = {}


@dataclass(frozen=True)
class Customer:
    order_id: int
    identity: str


@dataclass(frozen=True)
class Approved:
    """A run up to the kill: the conversation, its token and the approval the customer gave."""

    conversation_id: str
    token: str
    approval_id: str
    #: Frames the customer got after approving, until the socket died.
    frames: list[dict[str, Any]]


def open_orders() -> list[Customer]:
    """One customer per open order of the demo dataset (83 of them), each order used once."""
    data = build_dataset(today=shop_today())
    customers = {c.id: c for c in data.customers.values()}
    found = []
    for order in sorted(data.orders.values(), key=lambda o: o.id):
        if order.status in ("pending", "processing"):
            person = customers[order.customer_id]
            claims = {"sub": str(person.id), "email": person.email, "name": person.name}
            token = jwt.encode({**claims, "exp": time.time() + 3600}, SECRET, algorithm="HS256")
            found.append(Customer(order.id, token))
    return found


async def ask_and_approve(url: str, customer: Customer, decision: str = "approve") -> Approved:
    """Start a conversation, ask to cancel the order, approve (or `decision`); read until the
    socket dies."""
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(type="start", identity=customer.identity)
        started = await chat.recv()
        assert started["type"] == "conversation" and started["verified"], started
        frames = await chat.say(
            f"Please cancel order {customer.order_id}", "approval_requested", "reply_end", "error"
        )
        request = frames[-1]
        assert request["type"] == "approval_requested", frames
        await chat.send(type="decision", approval_id=request["approval_id"], decision=decision)
        after: list[dict[str, Any]] = []
        try:
            while True:
                after.append(await asyncio.wait_for(chat.ws.recv(), WAIT))
        except websockets.ConnectionClosed:
            pass
        except TimeoutError:
            raise AssertionError(f"the server did not die; the customer saw {after}") from None
    return Approved(started["conversation_id"], started["token"], request["approval_id"], after)


async def read_after_restart(url: str, approved: Approved) -> dict[str, Any]:
    """Reconnect to the conversation (another process now) and return its transcript frame."""
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(
            type="resume", conversation_id=approved.conversation_id, token=approved.token
        )
        resumed = await chat.recv()
        assert resumed["type"] == "conversation" and resumed["resumed"], resumed
        transcript = await chat.recv()
        assert transcript["type"] == "transcript", transcript
        return transcript


def outcome_of(transcript: dict[str, Any], order_id: int) -> str:
    """What the customer was told after approving: succeeded, failed, unknown, or nothing."""
    events = transcript["events"]
    asked = max(i for i, e in enumerate(events) if e["kind"] == "approval_requested")
    later = events[asked + 1 :]
    replies = [e["data"]["text"] for e in later if e["kind"] == "reply_end"]
    results = [e["data"]["status"] for e in later if e["kind"] == "tool_activity"]
    unknown = UNKNOWN.format(action=f"Cancel order {order_id}")
    if any(unknown in reply for reply in replies):
        return "unknown"
    if (
        replies
        and "succeeded" in results
        and f"order {order_id} is cancelled" in replies[-1].lower()
    ):
        return "succeeded"
    if replies and "failed" in results:
        return "failed"
    return "no outcome"


def ledger(database_url: str, approval_id: str) -> tuple[str | None, str | None]:
    """The approval's status and its ledger entry's (None: no intent written)."""
    with psycopg.connect(database_url) as conn:
        approval = conn.execute(
            "SELECT status FROM approvals WHERE id = %s", (approval_id,)
        ).fetchone()
        action = conn.execute(
            "SELECT status FROM actions WHERE approval_id = %s", (approval_id,)
        ).fetchone()
    return (approval[0] if approval else None), (action[0] if action else None)


def duplicates(deliveries: list[Delivery]) -> int:
    """Writes that reached the API once too often: a key delivered again, or an order
    changed again (whatever the key)."""
    keys = Counter(d.key for d in deliveries)
    orders = Counter(d.order_id for d in deliveries if d.executed)
    return sum(n - 1 for n in keys.values()) + sum(n - 1 for n in orders.values())


def customer_visible_text(transcript: dict[str, Any]) -> str:
    return repr([e["data"] for e in transcript["events"]])


@pytest.fixture
def shop() -> Iterator[GatedShop]:
    with shop_server() as server:
        yield GatedShop(server)


@dataclass
class Lane:
    """Server processes one after the other on one database and shop, and their fail points."""

    zygote: Zygote
    failpoints: Path
    logs: Path
    started: int = 0

    def start(self) -> ServerProcess:
        server = start_server(self.zygote, self.logs / f"server-{self.started}.log")
        self.started += 1
        return server


@pytest.fixture
def lane(pg_url: str, shop: GatedShop, tmp_path: Path) -> Iterator[Lane]:
    failpoints = tmp_path / "failpoints"
    arm(failpoints)
    env = {
        **os.environ,
        "DATABASE_URL": pg_url,
        "LLM_PROVIDER": "offline",
        "SHOP_URL": shop.url,
        "EGRESS_ALLOWLIST": shop.url.removeprefix("http://"),
        "IDENTITY_SECRET": SECRET,
        ENV: str(failpoints),
    }
    env.pop("AGENTS_FILE", None)  # the demo agents, identity rules included
    zygote = Zygote(env)
    try:
        yield Lane(zygote, failpoints, tmp_path)
    finally:
        zygote.close()  # kills the server left


@pytest.fixture(scope="module", autouse=True)
def summary(request: pytest.FixtureRequest) -> Iterator[None]:
    """Print runs and outcomes per boundary once the module is done (shown with -q too)."""
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or capture is None or not SUMMARY:
        return
    with capture.global_and_fixture_disabled():
        _report(reporter)


def _report(reporter: Any) -> None:
    reporter.write_line("")
    reporter.write_line("kill -9 around an approved write (runs per boundary, outcomes):")
    for name, (outcomes, duplicates) in SUMMARY.items():
        shown = ", ".join(f"{kind} {count}" for kind, count in sorted(outcomes.items()))
        runs = sum(outcomes.values())
        reporter.write_line(f"  {name}: {runs} runs: {shown}; {duplicates} duplicate writes")
    total = sum(sum(outcomes.values()) for outcomes, _ in SUMMARY.values())
    duplicates = sum(duplicates for _, duplicates in SUMMARY.values())
    reporter.write_line(f"  total: {total} runs, {duplicates} duplicate writes at the API")


@pytest.mark.parametrize("boundary", BOUNDARIES, ids=[b.name for b in BOUNDARIES])
def test_a_server_killed_around_an_approved_write_never_repeats_it_and_tells_the_outcome(
    boundary: Boundary, lane: Lane, pg_url: str, shop: GatedShop
) -> None:
    failpoints = lane.failpoints
    offset = BOUNDARIES.index(boundary) * RUNS_PER_BOUNDARY  # other orders for each boundary
    customers = open_orders()[offset : offset + RUNS_PER_BOUNDARY]
    assert len(customers) == RUNS_PER_BOUNDARY
    outcomes: Counter[str] = Counter()
    server = lane.start()
    try:
        for run, customer in enumerate(customers, start=1):
            order = customer.order_id
            if boundary.failpoint is not None:
                arm(failpoints, boundary.failpoint)
            else:
                shop.kill_during_next_cancellation(server, after_write=boundary.after_write)
            approved = asyncio.run(ask_and_approve(server.url, customer))

            # It died at the boundary, and there.
            assert server.wait_dead() == -9, f"run {run}: not killed:\n{server.log_text()}"
            arm(failpoints)
            shop.disarm()
            said = server.log_text()
            if boundary.failpoint is not None:
                assert f"fail point {boundary.failpoint} is armed" in said, said[-3000:]
            approval, action = ledger(pg_url, approved.approval_id)
            assert (approval, action) == ("approved", boundary.left), f"run {run}"
            calls = [d for d in shop.deliveries if d.order_id == order]
            expected_calls = {
                None: [],
                "held": [(approved.approval_id, None)],
                "executed": [(approved.approval_id, 200)],
            }[boundary.at_the_api]
            assert [(d.key, d.status) for d in calls] == expected_calls, f"run {run}"
            cancelled_at_death = shop.order_status(order) == "cancelled"
            assert cancelled_at_death == (boundary.at_the_api == "executed"), f"run {run}"

            # A new process recovers the conversation; the customer reads how it ended.
            server = lane.start()
            transcript = asyncio.run(read_after_restart(server.url, approved))
            outcome = outcome_of(transcript, order)
            outcomes[outcome] += 1
            assert outcome == boundary.outcome, f"run {run}: {transcript['events']}"
            assert transcript["pending_approvals"] == [], "nothing is left waiting"
            resolved = [
                e["data"]["status"]
                for e in transcript["events"]
                if e["kind"] == "approval_resolved"
                and e["data"]["approval_id"] == approved.approval_id
            ]
            assert resolved == ["approved"], f"run {run}: the decision is logged once"
            shown = customer_visible_text(transcript)
            for secret in ("Traceback", "127.0.0.1", "cancel_order", "smart_support"):
                assert secret not in shown, f"run {run}: the customer saw {secret!r}"

            _, action_now = ledger(pg_url, approved.approval_id)
            assert action_now == ("succeeded" if outcome == "succeeded" else "unknown")
            executions = [d for d in shop.deliveries if d.order_id == order and d.executed]
            once = boundary.outcome == "succeeded" or boundary.at_the_api == "executed"
            assert len(executions) == (1 if once else 0), f"run {run}: {shop.deliveries}"
            assert (shop.order_status(order) == "cancelled") == once, f"run {run}"
    finally:
        SUMMARY[boundary.name] = (outcomes, duplicates(shop.deliveries))

    # Across the runs: no write reached the API twice, by key or by order.
    assert all(d.key for d in shop.deliveries), "every write carries its Idempotency-Key"
    assert duplicates(shop.deliveries) == 0, shop.deliveries
    assert sum(outcomes.values()) == RUNS_PER_BOUNDARY


def test_a_fail_point_file_arms_the_names_it_lists_and_nothing_else(tmp_path: Path) -> None:
    listing = tmp_path / "failpoints"
    listing.write_text("after_intent\n  after_call  # the next one\n\n# after_decision\n")
    assert armed(str(listing)) == {"after_intent", "after_call"}
    assert armed(str(tmp_path / "missing")) == set(), "a missing file arms nothing"


def test_without_the_variable_a_fail_point_returns_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import smart_support.runtime.failpoints as failpoints

    monkeypatch.delenv(ENV, raising=False)
    assert failpoints._FILE is None  # read at import: this process never had it
    failpoint("after_intent")  # still alive


def test_a_server_killed_after_a_rejection_is_stored_tells_the_customer_after_the_restart(
    lane: Lane, pg_url: str, shop: GatedShop
) -> None:
    """Not an approved write, but the same boundary: the customer must not have to write
    again to learn that nothing was changed."""
    customer = open_orders()[-1]
    server = lane.start()
    arm(lane.failpoints, "after_decision")
    rejected = asyncio.run(ask_and_approve(server.url, customer, "reject"))
    assert server.wait_dead() == -9
    arm(lane.failpoints)
    assert ledger(pg_url, rejected.approval_id) == ("rejected", None)

    server = lane.start()
    transcript = asyncio.run(read_after_restart(server.url, rejected))

    assert shop.deliveries == [] and shop.order_status(customer.order_id) != "cancelled"
    declined = REJECTED.format(action=f"Cancel order {customer.order_id}")
    replies = [e["data"]["text"] for e in transcript["events"] if e["kind"] == "reply_end"]
    assert any(declined in reply for reply in replies), transcript["events"]


async def approve_one_then_ask_another(url: str, customer: Customer, second: int) -> Approved:
    """Cancel the customer's order (approved, done), then ask to cancel `second` and leave
    that approval waiting."""
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(type="start", identity=customer.identity)
        started = await chat.recv()
        first = await chat.say(f"Please cancel order {customer.order_id}", "approval_requested")
        await chat.send(type="decision", approval_id=first[-1]["approval_id"], decision="approve")
        await chat.until("reply_end", "error")
        waiting = await chat.say(f"Please cancel order {second} too", "approval_requested")
    return Approved(started["conversation_id"], started["token"], waiting[-1]["approval_id"], [])


def test_a_restart_does_not_ask_again_for_an_approval_that_is_still_pending(
    lane: Lane, shop: GatedShop
) -> None:
    """Recovery resumes only a step paused for the decided approval: a conversation whose
    first cancellation is done and whose second waits is left waiting, asked once."""
    maya = next(c for c in open_orders() if c.order_id == 1042)
    server = lane.start()
    waiting = asyncio.run(approve_one_then_ask_another(server.url, maya, 1001))
    server.kill()
    server = lane.start()
    transcript = asyncio.run(read_after_restart(server.url, waiting))

    assert shop.order_status(1042) == "cancelled" and shop.order_status(1001) != "cancelled"
    assert [a["approval_id"] for a in transcript["pending_approvals"]] == [waiting.approval_id]
    asked = [
        e
        for e in transcript["events"]
        if e["kind"] == "approval_requested" and e["data"]["approval_id"] == waiting.approval_id
    ]
    assert len(asked) == 1, f"asked {len(asked)} times"

"""Escalation webhooks end to end: the outbox on real SQLite and PostgreSQL, the delivery worker
posting through the egress guard to a real HTTP receiver on loopback, signatures checked by the
verifier we document, the operator's REST and CLI, and a hand-off through the real chat server."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from chat_client import Chat, anonymous_agents_file, connect
from smart_support.escalation import DeliveryWorker, WebhookVerificationError, sign, verify
from smart_support.escalation.outbox import escalation_messages, messages
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings
from smart_support.store import Store, create_store

SECRET = "whsec_" + base64.b64encode(b"a secret of thirty-two bytes!!!!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"the next secret, also 32 bytes..").decode()
FAST = [0.05, 0.1, 0.2]
OPERATOR = "operator-token-for-tests"
WAIT = 30.0


class Receiver:
    """A helpdesk's webhook endpoint on loopback: records every request, answers what it is
    told (200, 503, 410, or too slowly), and can be stopped and started again on its port."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.answer = 200
        self.delay = 0.0
        self.extra_headers: dict[str, str] = {}
        self.lock = threading.Lock()
        self.port = 0
        self._server: ThreadingHTTPServer | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    @property
    def hostport(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(receiver.delay)
                status = receiver.answer
                with receiver.lock:
                    receiver.requests.append(
                        {"headers": dict(self.headers.items()), "body": body, "status": status}
                    )
                self.send_response(status)
                for name, value in receiver.extra_headers.items():
                    self.send_header(name, value)
                self.send_header("content-length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        server.allow_reuse_address = True
        self.port = server.server_address[1]
        self._server = server
        threading.Thread(target=server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def delivered(self) -> list[dict[str, Any]]:
        """The requests it answered 2xx, in arrival order."""
        with self.lock:
            return [r for r in self.requests if 200 <= r["status"] < 300]

    def ids(self) -> list[str]:
        return [r["headers"]["webhook-id"] for r in self.delivered()]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.stop()


def hook_settings(database_url: str, receiver: Receiver, **extra: Any) -> Settings:
    extra.setdefault("webhook_retry_schedule", FAST)
    extra.setdefault("egress_allowlist", [receiver.hostport])
    extra.setdefault("webhook_secrets", [SECRET])
    extra.setdefault("webhook_timeout_seconds", 2)
    return Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        llm_provider="offline",
        webhook_urls=[receiver.url],
        public_url="https://support.example.com",
        **extra,
    )


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    opened = create_store(database_url)
    await opened.setup()
    yield opened
    await opened.close()


async def a_conversation(store: Store, cid: str, *said: str) -> None:
    await store.create_conversation(cid, "token-hash")
    for text in said:
        await store.append_event(cid, "customer_message", None, {"text": text})


async def hand_off(store: Store, settings: Settings, cid: str, reason: str) -> None:
    """What `hand_off_to_human(reason)` does (runtime/handoff.py)."""
    webhooks = await escalation_messages(store, settings, cid, reason, "support")
    await store.escalate(cid, webhooks, agent="support", handoff={"reason": reason})


async def deliver_until(worker: DeliveryWorker, done: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not done():
        assert time.monotonic() < deadline, "the deliveries did not finish in time"
        if not await worker.run_once():
            await asyncio.sleep(0.02)


async def test_a_hand_off_reaches_the_receiver_signed_and_verified(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(database_url, receiver)
    await a_conversation(store, "c-1", "where is my parcel?", "I want to talk to a person")
    await hand_off(store, settings, "c-1", "the customer asks for a person")
    worker = DeliveryWorker(store, settings)
    await deliver_until(worker, lambda: len(receiver.delivered()) == 1)
    await worker.aclose()

    request = receiver.delivered()[0]
    verify(request["body"], request["headers"], [SECRET])
    body = json.loads(request["body"])
    assert body["type"] == "conversation.escalated"
    data = body["data"]
    assert data["conversation_id"] == "c-1"
    assert data["reason"] == "the customer asks for a person"
    assert "the customer asks for a person" in data["summary"]
    assert [m["text"] for m in data["last_messages"]] == [
        "where is my parcel?",
        "I want to talk to a person",
    ]
    assert data["replay_url"] == (
        "https://support.example.com/api/v1/operator/conversations/c-1/events"
    )
    stored = await store.get_webhook_delivery(request["headers"]["webhook-id"])
    assert stored is not None and stored.status == "delivered" and stored.attempts == 1
    conversation = await store.get_conversation("c-1")
    assert conversation is not None and conversation.escalated
    assert [e.kind for e in await store.events("c-1")][-1] == "handoff"


async def test_a_receiver_down_for_a_while_gets_everything_once_and_in_order_when_back(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(
        database_url,
        receiver,
        webhook_events=["conversation.escalated", "conversation.closed"],
        webhook_retry_schedule=[0.05, 0.1, 0.2, 0.3, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5],
    )
    written: dict[str, list[str]] = {}
    for n in range(3):
        cid = f"c-{n}"
        await a_conversation(store, cid, "a person please")
        await hand_off(store, settings, cid, "first")
        for step in range(3):
            data = {"conversation_id": cid, "step": step}
            await store.enqueue_webhooks(messages(settings, "conversation.closed", cid, data))
        written[cid] = [
            d.id for d in reversed(await store.list_webhook_deliveries(conversation_id=cid))
        ]
    worker = DeliveryWorker(store, settings)
    receiver.answer = 503  # up, but failing
    await deliver_until(worker, lambda: len(receiver.requests) >= 4)
    receiver.stop()  # then down: connections refused
    for _ in range(5):
        await worker.run_once()
        await asyncio.sleep(0.05)
    receiver.answer = 200
    receiver.start()  # back, on the same port
    total = sum(len(ids) for ids in written.values())
    await deliver_until(worker, lambda: len(receiver.delivered()) >= total)
    await asyncio.sleep(0.3)
    await worker.run_once()
    await worker.aclose()

    ids = receiver.ids()
    assert len(ids) == len(set(ids)) == total, "each webhook delivered exactly once"
    for cid, expected in written.items():
        assert [i for i in ids if i in expected] == expected, f"{cid} out of order"
    assert any(r["status"] == 503 for r in receiver.requests)
    assert not await store.list_webhook_deliveries("pending")


async def test_an_endpoint_that_answers_410_is_disabled_until_an_operator_enables_it(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(database_url, receiver)
    await a_conversation(store, "c-1", "help")
    await a_conversation(store, "c-2", "help")
    await hand_off(store, settings, "c-1", "one")
    receiver.answer = 410
    worker = DeliveryWorker(store, settings)
    await deliver_until(worker, lambda: len(receiver.requests) == 1)
    await hand_off(store, settings, "c-2", "two")  # written disabled: the endpoint is gone
    assert await worker.run_once() == 0
    assert len(receiver.requests) == 1, "nothing more is sent to a gone endpoint"
    disabled = await store.list_webhook_deliveries("disabled")
    assert {d.conversation_id for d in disabled} == {"c-1", "c-2"}
    assert [e.endpoint for e in await store.disabled_webhook_endpoints()] == [receiver.url]

    receiver.answer = 200
    assert await store.enable_webhook_endpoint(receiver.url, datetime.now(UTC)) == 2
    await deliver_until(worker, lambda: len(receiver.delivered()) == 2)
    await worker.aclose()
    assert not await store.disabled_webhook_endpoints()


async def test_a_crash_between_the_hand_off_and_its_delivery_loses_nothing(
    database_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(database_url, receiver)
    first = create_store(database_url)
    await first.setup()
    await a_conversation(first, "c-1", "a person please")
    await hand_off(first, settings, "c-1", "before the crash")
    # A worker takes the row, then its process dies before sending it.
    now = datetime.now(UTC)
    held = await first.claim_webhooks("dead-worker", now + timedelta(seconds=0.3), now)
    assert len(held) == 1
    await first.close()

    second = create_store(database_url)  # a new process on the same database
    await second.setup()
    worker = DeliveryWorker(second, settings)
    assert await worker.run_once() == 0, "the dead worker's lease still holds"
    await asyncio.sleep(0.35)
    await deliver_until(worker, lambda: len(receiver.delivered()) == 1)
    await worker.aclose()
    await second.close()
    assert json.loads(receiver.delivered()[0]["body"])["data"]["reason"] == "before the crash"


async def test_two_workers_on_one_postgresql_never_deliver_the_same_row(
    pg_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(pg_url, receiver)
    stores = [create_store(pg_url), create_store(pg_url)]
    for s in stores:
        await s.setup()
    for n in range(30):
        await a_conversation(stores[0], f"c-{n}", "a person")
        await hand_off(stores[0], settings, f"c-{n}", "busy")
    receiver.delay = 0.02
    workers = [DeliveryWorker(s, settings, batch=4) for s in stores]
    await asyncio.gather(*(deliver_until(w, lambda: len(receiver.requests) >= 30) for w in workers))
    await asyncio.sleep(0.2)
    for w in workers:
        await w.run_once()
        await w.aclose()
    for s in stores:
        await s.close()
    ids = [r["headers"]["webhook-id"] for r in receiver.requests]
    assert len(ids) == len(set(ids)) == 30, "no delivery was attempted twice"


def signed(body: bytes, secrets: list[str], msg_id: str = "msg_1", at: int | None = None) -> dict:
    return sign(msg_id, body, secrets, at)


def test_a_tampered_body_a_wrong_secret_and_a_stale_timestamp_are_rejected() -> None:
    body = b'{"type":"conversation.escalated","data":{"conversation_id":"c-1"}}'
    headers = signed(body, [SECRET])
    verify(body, headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(body.replace(b"c-1", b"c-2"), headers, SECRET)
    with pytest.raises(WebhookVerificationError, match="no signature matches"):
        verify(body, headers, NEW_SECRET)
    stale = signed(body, [SECRET], at=int(time.time()) - 301)
    with pytest.raises(WebhookVerificationError, match="too old"):
        verify(body, stale, SECRET)
    future = signed(body, [SECRET], at=int(time.time()) + 301)
    with pytest.raises(WebhookVerificationError, match="future"):
        verify(body, future, SECRET)
    with pytest.raises(WebhookVerificationError, match="missing"):
        verify(body, {"webhook-id": "msg_1"}, SECRET)
    forged = {**headers, "webhook-id": "msg_2"}  # a replay under another id
    with pytest.raises(WebhookVerificationError):
        verify(body, forged, SECRET)


def test_the_signature_is_the_standard_webhooks_one() -> None:
    # The example of the Standard Webhooks specification.
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    headers = sign("msg_p5jXN8AQM9LWM0D4loKWxJek", body, [secret], 1614265330)
    assert headers["webhook-signature"] == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


async def test_during_a_rotation_either_secret_verifies_what_was_sent(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(database_url, receiver, webhook_secrets=[NEW_SECRET, SECRET])
    await a_conversation(store, "c-1", "a person please")
    await hand_off(store, settings, "c-1", "rotation")
    worker = DeliveryWorker(store, settings)
    await deliver_until(worker, lambda: len(receiver.delivered()) == 1)
    await worker.aclose()
    request = receiver.delivered()[0]
    assert len(request["headers"]["webhook-signature"].split()) == 2
    verify(request["body"], request["headers"], [SECRET])  # a receiver not yet rotated
    verify(request["body"], request["headers"], [NEW_SECRET])  # one already rotated
    with pytest.raises(WebhookVerificationError):
        verify(request["body"], request["headers"], ["whsec_" + base64.b64encode(b"x").decode()])


def server_settings(database_url: str, shop_url: str, receiver: Receiver, **extra: Any) -> Settings:
    shop = httpx.URL(shop_url)
    return hook_settings(
        database_url,
        receiver,
        shop_url=shop_url,
        agents_file=anonymous_agents_file(),
        operator_token=OPERATOR,
        egress_allowlist=[f"{shop.host}:{shop.port}", receiver.hostport],
        **extra,
    )


async def until(condition: Callable[[], Any]) -> Any:
    deadline = time.monotonic() + WAIT
    while not (found := await condition()):
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.05)
    return found


async def test_asking_for_a_person_in_the_chat_reaches_the_receiver_once(
    database_url: str, running_shop: str, receiver: Receiver
) -> None:
    settings = server_settings(database_url, running_shop, receiver)
    with serve_in_thread(settings) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            frames = await chat.say("I want to talk to a person")
        assert frames[-1]["type"] == "reply_end", frames

        async def arrived() -> bool:
            return bool(receiver.delivered())

        await until(arrived)
        await asyncio.sleep(ROUTED_WAIT)
    request = receiver.delivered()[0]
    verify(request["body"], request["headers"], SECRET)
    data = json.loads(request["body"])["data"]
    assert data["conversation_id"] == started["conversation_id"]
    assert data["last_messages"][-1]["text"] == "I want to talk to a person"
    assert data["reason"] != "the customer was routed to the escalation agent", (
        "the agent's hand-off completed the router's webhook with its reason"
    )
    assert len(receiver.requests) == 1, "one webhook per hand-off"


#: Longer than the router's grace (escalation.outbox.ROUTED_GRACE_SECONDS): a second webhook
#: would have been sent by then.
ROUTED_WAIT = 3.5


async def test_a_dead_delivery_is_listed_and_replayed_over_rest_and_then_delivered(
    sqlite_url: str, running_shop: str, receiver: Receiver
) -> None:
    settings = server_settings(sqlite_url, running_shop, receiver)
    receiver.answer = 503
    auth = {"authorization": f"Bearer {OPERATOR}"}
    with serve_in_thread(settings) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            await chat.start()
            await chat.say("I want to talk to a person")
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=10) as client:

            async def dead() -> list[dict[str, Any]]:
                page = await client.get("/api/v1/operator/webhooks/deliveries?status=dead")
                return list(page.json()["deliveries"])

            letters = await until(dead)
            assert len(receiver.requests) == 1 + len(FAST), "tried through the whole schedule"
            assert letters[0]["attempts"] == 1 + len(FAST)
            assert letters[0]["last_status"] == 503
            receiver.answer = 200
            replayed = await client.post(
                f"/api/v1/operator/webhooks/deliveries/{letters[0]['id']}/replay"
            )
            assert replayed.status_code == 200, replayed.text
            assert replayed.json()["status"] == "pending"
            assert replayed.json()["attempts"] == 0
            await until(lambda: asyncio.sleep(0, bool(receiver.delivered())))
            again = await client.post(
                f"/api/v1/operator/webhooks/deliveries/{letters[0]['id']}/replay"
            )
            assert again.status_code == 400  # delivered: nothing to replay
            unknown = await client.post("/api/v1/operator/webhooks/deliveries/msg_nope/replay")
            assert unknown.status_code == 404
            anonymous = await client.get(
                "/api/v1/operator/webhooks/deliveries", headers={"authorization": ""}
            )
            assert anonymous.status_code == 401
    assert receiver.ids() == [letters[0]["id"]]


async def test_the_cli_lists_dead_letters_and_replays_one(
    sqlite_url: str, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    from smart_support.cli import main

    settings = hook_settings(sqlite_url, receiver, webhook_retry_schedule=[0.01])
    store = create_store(sqlite_url)
    await store.setup()
    await a_conversation(store, "c-1", "a person")
    await hand_off(store, settings, "c-1", "cli")
    receiver.answer = 500
    worker = DeliveryWorker(store, settings)

    async def is_dead() -> bool:
        await worker.run_once()
        return bool(await store.list_webhook_deliveries("dead"))

    await until(is_dead)
    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    runner = CliRunner()
    listed = await asyncio.to_thread(runner.invoke, main, ["webhooks", "list-dead"])
    assert listed.exit_code == 0, listed.output
    delivery_id = listed.output.split("\t", 1)[0]
    assert delivery_id.startswith("msg_") and "HTTP 500" in listed.output
    replayed = await asyncio.to_thread(runner.invoke, main, ["webhooks", "replay", delivery_id])
    assert replayed.exit_code == 0, replayed.output
    receiver.answer = 200
    await deliver_until(worker, lambda: receiver.ids() == [delivery_id])
    await worker.aclose()
    await store.close()


async def test_approvals_and_a_close_are_sent_only_to_a_helpdesk_that_opted_in(
    sqlite_url: str, running_shop: str, receiver: Receiver
) -> None:
    default = server_settings(sqlite_url, running_shop, receiver)
    assert messages(default, "approval.requested", "c-1", {}) == [], "not opted in by default"
    settings = server_settings(
        sqlite_url,
        running_shop,
        receiver,
        webhook_events=["approval.requested", "approval.decided", "conversation.closed"],
    )
    auth = {"authorization": f"Bearer {OPERATOR}"}
    with serve_in_thread(settings) as url:
        async with connect(url) as ws:
            chat = Chat(ws)
            started = await chat.start()
            request = await chat.say("Cancel order 1042", "approval_requested", "error")
            assert request[-1]["type"] == "approval_requested", request
            await chat.send(
                type="decision", approval_id=request[-1]["approval_id"], decision="reject"
            )
            await chat.until("reply_end", "error")
        cid = started["conversation_id"]
        async with httpx.AsyncClient(base_url=url, headers=auth, timeout=10) as client:
            closed = await client.post(f"/api/v1/operator/conversations/{cid}/close")
            assert closed.status_code == 200, closed.text

        async def three() -> bool:
            return len(receiver.delivered()) >= 3

        await until(three)
    bodies = []
    for r in receiver.delivered():
        verify(r["body"], r["headers"], SECRET)
        bodies.append(json.loads(r["body"]))
    assert [b["type"] for b in bodies] == [
        "approval.requested",
        "approval.decided",
        "conversation.closed",
    ]
    assert bodies[0]["data"]["approval_id"] == request[-1]["approval_id"]
    assert bodies[1]["data"]["status"] == "rejected"
    assert bodies[2]["data"]["conversation_id"] == cid
    assert "args" not in bodies[0]["data"], "the arguments may hold personal data"


async def test_a_slow_receiver_is_retried_and_a_retry_after_is_honoured(
    store: Store, database_url: str, receiver: Receiver
) -> None:
    settings = hook_settings(
        database_url, receiver, webhook_timeout_seconds=0.2, webhook_retry_schedule=[0.05, 5]
    )
    await a_conversation(store, "c-1", "a person")
    await hand_off(store, settings, "c-1", "slow")
    worker = DeliveryWorker(store, settings)
    receiver.delay = 0.5  # answers after the timeout
    assert await worker.run_once() == 1
    [row] = await store.list_webhook_deliveries("pending")
    assert row.attempts == 1 and row.last_status is None
    assert row.last_error is not None and "no answer within" in row.last_error
    receiver.delay = 0.0
    receiver.answer = 429
    receiver.extra_headers = {"retry-after": "3"}
    await asyncio.sleep(0.1)
    assert await worker.run_once() == 1
    [row] = await store.list_webhook_deliveries("pending")
    wait = (row.next_attempt_at - row.updated_at).total_seconds()
    assert 2.9 <= wait <= 5 * 1.2, "the receiver's Retry-After, not the 50 ms of the schedule"
    await worker.aclose()


def test_the_cli_verifies_a_received_webhook_and_refuses_a_tampered_one(tmp_path: Any) -> None:
    from smart_support.cli import main

    body = b'{"type":"conversation.escalated","data":{}}'
    headers = sign("msg_cli", body, [SECRET])
    good, bad = tmp_path / "good.json", tmp_path / "bad.json"
    good.write_bytes(body)
    bad.write_bytes(body.replace(b"{}", b'{"x":1}'))
    args = [f"-H{name}: {value}" for name, value in headers.items()] + ["--secret", SECRET]
    runner = CliRunner()
    ok = runner.invoke(main, ["webhooks", "verify", str(good), *args])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.output) == {"valid": True, "webhook-id": "msg_cli"}
    refused = runner.invoke(main, ["webhooks", "verify", str(bad), *args])
    assert refused.exit_code == 1
    assert "no signature matches" in refused.output

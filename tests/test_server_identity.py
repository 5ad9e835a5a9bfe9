"""Customer identity over the chat socket and the demo picker's endpoints: a real server (the demo
agents with their identity rules, the offline model) and the real demo shop."""

from __future__ import annotations

import time

import httpx
import jwt
import pytest

from chat_client import Chat, ServerFactory, connect, of_type, order_status
from smart_support.registry.validate import demo_agents_file

pytest_plugins = ["server_fixture"]

SECRET = "server-identity-test-secret-0123456789"
MAYA, CHIARA = "maya.chen@example.com", "chiara.anderson@example.com"


def signed(claims: dict, key: str = SECRET, ttl: float = 600) -> str:
    return jwt.encode({**claims, "exp": time.time() + ttl}, key, algorithm="HS256")


def maya(key: str = SECRET, ttl: float = 600) -> str:
    return signed({"sub": "1", "email": MAYA, "name": "Maya Chen"}, key, ttl)


@pytest.fixture
def url(start_server: ServerFactory):
    with start_server(
        agents_file=demo_agents_file(), identity_secret=SECRET, demo_identities=True
    ) as base:
        yield base


async def test_a_signed_customer_is_verified_and_reads_their_own_order(url: str) -> None:
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(type="start", identity=maya())
        conversation = await chat.recv()
        frames = await chat.say("What's the status of order 1042?")

    assert (conversation["verified"], conversation["customer"]) == (True, "Maya Chen")
    reply = of_type(frames, "reply_end")[0]["text"]
    assert "processing" in reply.lower()


async def test_another_customers_order_is_not_found_and_never_offered_for_approval(
    url: str, running_shop: str
) -> None:
    chiara = signed({"sub": "3", "email": CHIARA, "name": "Chiara Anderson"})
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(type="start", identity=chiara)
        await chat.recv()
        status = await chat.say("What's the status of order 1042?")
        cancel = await chat.say("Cancel order 1042", "approval_requested", "reply_end", "error")

    assert "processing" not in of_type(status, "reply_end")[0]["text"].lower()
    assert "maya" not in str(status + cancel).lower()
    assert not of_type(cancel, "approval_requested")
    assert await order_status(running_shop, 1042) == "processing"


@pytest.mark.parametrize(
    "token",
    [maya(key="x" * 40), maya(ttl=-3600), "not-a-jwt"],
    ids=["forged", "expired", "garbage"],
)
async def test_an_untrustworthy_identity_starts_no_conversation(url: str, token: str) -> None:
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(type="start", identity=token)
        refused = await chat.recv()
        anonymous = await chat.start()  # the socket stays usable

    assert refused["type"] == "error" and refused["code"] == "identity_refused"
    assert "reload" in refused["message"] and "signature" not in refused["message"]
    assert anonymous["verified"] is False and anonymous["customer"] is None


async def test_an_anonymous_visitor_is_asked_to_verify_first(url: str) -> None:
    async with connect(url) as socket:
        chat = Chat(socket)
        conversation = await chat.start()
        frames = await chat.say("What's the status of order 1042?")

    assert conversation["verified"] is False
    reply = of_type(frames, "reply_end")[0]["text"]
    assert "email address on your account" in reply
    assert "processing" not in reply.lower() and "maya" not in reply.lower()


async def test_a_resumed_conversation_says_who_the_customer_is(url: str) -> None:
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(type="start", identity=maya())
        first = await chat.recv()
    async with connect(url) as socket:
        chat = Chat(socket)
        await chat.send(
            type="resume", conversation_id=first["conversation_id"], token=first["token"]
        )
        again = await chat.recv()
        transcript = await chat.recv()

    assert (again["resumed"], again["verified"], again["customer"]) == (True, True, "Maya Chen")
    kinds = [entry["kind"] for entry in transcript["events"]]
    assert "customer_verified" in kinds


async def test_the_demo_picker_signs_identities_only_of_demo_customers(url: str) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        customers = (await client.get("/api/v1/demo/customers")).json()
        issued = await client.post("/api/v1/demo/identity", json={"email": MAYA})
        unknown = await client.post("/api/v1/demo/identity", json={"email": "who@example.com"})
        hostile = await client.post("/api/v1/demo/identity", json={"email": "a\u0000@b"})

    assert customers[0]["email"] == MAYA and 1042 in customers[0]["orders"]
    claims = jwt.decode(issued.json()["identity"], SECRET, algorithms=["HS256"])
    assert (claims["sub"], claims["email"]) == ("1", MAYA)
    assert unknown.status_code == 404 and hostile.status_code == 400


async def test_without_demo_identities_the_picker_endpoints_do_not_exist(
    start_server: ServerFactory,
) -> None:
    with start_server(identity_secret=SECRET) as base:
        async with httpx.AsyncClient(base_url=base) as client:
            listed = await client.get("/api/v1/demo/customers")
            issued = await client.post("/api/v1/demo/identity", json={"email": MAYA})

    assert listed.status_code == 404 and issued.status_code == 404

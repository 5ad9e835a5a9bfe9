"""Imports as background jobs, over real HTTP and a real WebSocket: a job goes from queued to
ready with a draft, its progress reaches the operator socket in order, the socket refuses anyone
without the operator token, a refused spec URL ends the job failed with the reason, and a
restart of the server in the middle of an import does not leave the job running.

The chat server runs on loopback with the demo shop (SQLite; the job flow also on PostgreSQL).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import ClientConnection

from chat_client import ServerFactory, server_settings
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings
from smart_support.store import open_persistence

pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-import-jobs"
CORPUS = Path(__file__).parent / "data" / "openapi"
IMPORTS = "/api/v1/operator/imports"
JOBS = "/api/v1/operator/import-jobs"
#: The order a job takes its statuses in (a job may skip some; none comes back).
ORDER = ["queued", "fetching", "validating", "parsing", "classifying", "ready"]
RUNNING = ("fetching", "validating", "parsing", "classifying")
#: Guards against a hang only.
TIMEOUT = 90.0


def operator(url: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {OPERATOR}"}, timeout=TIMEOUT
    )


def socket_url(url: str) -> str:
    return url.replace("http://", "ws://", 1) + "/ws/v1/operator"


@pytest.fixture(params=["sqlite", "postgres"])
def jobs_server(
    request: pytest.FixtureRequest, start_server: ServerFactory, running_shop: str
) -> Iterator[str]:
    """The chat server on SQLite (the usual fixture) or on a fresh PostgreSQL database."""
    if request.param == "sqlite":
        with start_server(operator_token=OPERATOR) as url:
            yield url
        return
    pg_url = request.getfixturevalue("pg_url")
    with serve_in_thread(server_settings(pg_url, running_shop, operator_token=OPERATOR)) as url:
        yield url


@pytest.fixture
def operator_url(start_server: ServerFactory) -> Iterator[str]:
    with start_server(operator_token=OPERATOR) as url:
        yield url


async def receive(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), TIMEOUT))
    return frame


async def until(
    client: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...] = ("ready", "failed")
) -> dict[str, Any]:
    """Poll the job until it has one of `statuses` (by default: until it has ended)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await client.get(f"{JOBS}/{job_id}")).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.02)
    raise AssertionError(f"job {job_id} never got to {statuses}")


def in_order(statuses: list[str]) -> bool:
    """Whether the statuses never go back (repeats are progress of the same status)."""
    positions = [ORDER.index(s) for s in statuses]
    return positions == sorted(positions)


async def test_a_job_goes_from_queued_to_ready_with_a_draft(
    jobs_server: str, running_shop: str
) -> None:
    async with operator(jobs_server) as client:
        response = await client.post(IMPORTS, json={"url": f"{running_shop}/openapi.json"})
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued["status"] == "queued" and queued["id"].startswith("job_")
        assert response.headers["location"] == f"{JOBS}/{queued['id']}"
        job = await until(client, queued["id"])
        assert job["status"] == "ready", job
        assert job["error"] is None and job["attempts"] == 1
        assert job["done"] == job["total"] > 0
        draft = (await client.get(f"{IMPORTS}/{job['draft_id']}")).json()
        listed = (await client.get(JOBS)).json()
    assert draft["status"] == "draft" and draft["counts"]["operations"] == job["total"]
    assert "cancel_order" in {op["name"] for op in draft["report"]["operations"]}
    assert [j["id"] for j in listed] == [queued["id"]]


async def test_progress_frames_arrive_on_the_operator_socket_in_order(
    jobs_server: str, running_shop: str
) -> None:
    async with websockets.connect(socket_url(jobs_server)) as socket:
        await socket.send(json.dumps({"type": "auth", "token": OPERATOR}))
        assert (await receive(socket)) == {"type": "operator_ready", "jobs": []}
        async with operator(jobs_server) as client:
            response = await client.post(IMPORTS, json={"url": f"{running_shop}/openapi.json"})
        job_id = response.json()["id"]
        frames = []
        while not frames or frames[-1]["status"] not in ("ready", "failed"):
            frame = await receive(socket)
            assert frame["type"] == "import_progress" and frame["job_id"] == job_id
            frames.append(frame)
        await socket.send(json.dumps({"type": "ping"}))
        assert (await receive(socket))["type"] == "pong"
    statuses = [f["status"] for f in frames]
    assert statuses[0] == "queued" and statuses[-1] == "ready", statuses
    assert in_order(statuses), statuses
    assert {"fetching", "parsing", "classifying"} <= set(statuses)
    classifying = [f for f in frames if f["status"] == "classifying"]
    assert classifying[-1]["done"] == classifying[-1]["total"] > 0
    assert frames[-1]["draft_id"].startswith("imp_") and frames[-1]["error"] is None


async def test_the_token_in_the_upgrade_request_also_opens_the_operator_socket(
    operator_url: str,
) -> None:
    headers = {"Authorization": f"Bearer {OPERATOR}"}
    async with websockets.connect(socket_url(operator_url), additional_headers=headers) as socket:
        assert (await receive(socket))["type"] == "operator_ready"


@pytest.mark.parametrize(
    ("headers", "first_frame"),
    [
        ({}, {"type": "auth", "token": "wrong"}),
        ({}, {"type": "ping"}),
        ({}, {"type": "auth"}),
        ({}, "not json"),
        ({"Authorization": "Bearer wrong"}, None),
        ({"Authorization": f"Basic {OPERATOR}"}, None),
    ],
)
async def test_an_operator_socket_without_the_token_is_refused(
    operator_url: str, headers: dict[str, str], first_frame: Any
) -> None:
    async with websockets.connect(socket_url(operator_url), additional_headers=headers) as socket:
        if first_frame is not None:
            text = first_frame if isinstance(first_frame, str) else json.dumps(first_frame)
            await socket.send(text)
        refusal = await receive(socket)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await receive(socket)
    assert refusal["type"] == "error" and refusal["code"] == "unauthorized"
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008


async def test_an_operator_socket_is_refused_when_no_operator_token_is_configured(
    start_server: ServerFactory,
) -> None:
    with start_server() as url:
        async with websockets.connect(socket_url(url)) as socket:
            refusal = await receive(socket)  # at once, before any frame
            with pytest.raises(websockets.ConnectionClosed):
                await receive(socket)
    assert refusal["code"] == "operator_disabled"


async def test_a_job_whose_spec_url_is_refused_ends_failed_with_the_reason(
    operator_url: str,
) -> None:
    async with operator(operator_url) as client:
        response = await client.post(IMPORTS, json={"url": "http://10.1.2.3/openapi.json"})
        assert response.status_code == 202, response.text
        job = await until(client, response.json()["id"])
        broken = await client.post(IMPORTS, json={"document": {"hello": "world"}})
        broken_job = await until(client, broken.json()["id"])
    assert job["status"] == "failed" and job["error_code"] == "spec_refused"
    assert job["error"].startswith("The spec's address was refused") and job["draft_id"] is None
    assert broken_job["status"] == "failed" and broken_job["error_code"] == "spec_error"


async def test_jobs_need_the_operator_token_and_unknown_jobs_are_not_found(
    operator_url: str,
) -> None:
    async with httpx.AsyncClient(base_url=operator_url, timeout=TIMEOUT) as anonymous:
        refused = [await anonymous.get(JOBS), await anonymous.get(f"{JOBS}/job_x")]
    async with operator(operator_url) as client:
        missing = await client.get(f"{JOBS}/job_missing")
        bad_id = await client.get(f"{JOBS}/not%20an%20id")
    assert {r.status_code for r in refused} == {401}
    assert missing.status_code == 404 and "job_missing" in missing.json()["message"]
    assert bad_id.status_code == 400


async def test_a_restart_during_an_import_resumes_the_job_never_leaving_it_running(
    start_server: ServerFactory,
) -> None:
    # The largest corpus spec but one: 614 operations, seconds of validation and conversion.
    document = (CORPUS / "adobe-commerce-admin-2.4.9.yaml").read_text()
    with start_server(operator_token=OPERATOR) as url:
        async with websockets.connect(socket_url(url)) as socket:
            await socket.send(json.dumps({"type": "auth", "token": OPERATOR}))
            await receive(socket)
            async with operator(url) as client:
                response = await client.post(
                    IMPORTS, json={"document": document, "remote_refs": False}
                )
            job_id = response.json()["id"]
            # Stop the server once the job is past reading the document, mid-conversion.
            while (await receive(socket))["status"] not in ("validating", "parsing"):
                pass
    with start_server(operator_token=OPERATOR) as url:
        async with operator(url) as client:
            job = await until(client, job_id)
            draft = await client.get(f"{IMPORTS}/{job['draft_id']}") if job["draft_id"] else None
    if job["status"] == "failed":  # allowed, with the reason; never left running
        assert job["error_code"] == "interrupted", job
        return
    assert job["status"] == "ready" and job["attempts"] == 2, job
    assert draft is not None and draft.json()["counts"]["operations"] == 614


async def test_a_job_interrupted_twice_fails_as_interrupted(start_server: ServerFactory) -> None:
    document = (CORPUS / "adobe-commerce-admin-2.4.9.yaml").read_text()
    job_id = ""
    for attempt in range(2):  # stopped as soon as a worker took the job, twice
        with start_server(operator_token=OPERATOR) as url:
            async with operator(url) as client:
                if attempt == 0:
                    job_id = (await client.post(IMPORTS, json={"document": document})).json()["id"]
                await until(client, job_id, RUNNING)
    with start_server(operator_token=OPERATOR) as url:
        async with operator(url) as client:
            job = await until(client, job_id)
    assert job["status"] == "failed" and job["error_code"] == "interrupted", job
    assert "interrupted by a restart" in job["error"]


async def test_a_draft_keeps_how_it_was_imported_for_whoever_makes_it_live(
    start_server: ServerFactory, sqlite_url: str, running_shop: str
) -> None:
    body = {
        "url": f"{running_shop}/openapi.json",
        "server": "https://shop.example.com/v2/",
        "remote_refs": False,
        "auth": {"type": "api_key", "in": "header", "name": "X-Key", "value_env": "SHOP_KEY"},
    }
    with start_server(operator_token=OPERATOR) as url:
        async with operator(url) as client:
            response = await client.post(IMPORTS, params={"wait": "true"}, json=body)
            refused = await client.post(
                IMPORTS, json={**body, "auth": {"type": "bearer", "token_env": "sk live 123"}}
            )
    assert response.status_code == 201, response.text
    assert response.json()["options"]["auth"]["value_env"] == "SHOP_KEY"
    # Only names of environment variables are taken, never a secret's value.
    assert refused.status_code == 400 and "token_env" in refused.json()["message"]
    settings = Settings(_env_file=None, database_url=sqlite_url)  # type: ignore[call-arg]
    async with open_persistence(settings) as persistence:
        draft = await persistence.store.get_import(response.json()["id"])
    assert draft is not None and draft.options == {
        "server": "https://shop.example.com/v2",
        "remote_refs": False,
        "auth": {"type": "api_key", "in": "header", "name": "X-Key", "value_env": "SHOP_KEY"},
    }

"""The REST API against its own OpenAPI document, by schemathesis, over real HTTP (issue 15).

The server runs on loopback (`serve_in_thread`) on a PostgreSQL database of this module,
seeded with a conversation holding a pending approval, an approved action and an import
draft, so that the generated requests meet real records as well as unknown ids. Three
passes over every operation the document lists:

* with the operator token: every check schemathesis has (no 5xx, status codes, content
  types, headers and bodies as documented, invalid data refused, valid data accepted);
* without it: no operator endpoint (`/api/v1/operator/...`, `/metrics`) answers anything but
  a refusal, and the refusal holds nothing but `{code, message}`;
* on a server without OPERATOR_TOKEN: the operator API is off (404 `operator_disabled`),
  token or not.

Bounded for CI: a few examples per operation, derandomized (the same cases every run), no
deadline (the machine is shared).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.specs.openapi.checks import positive_data_acceptance, status_code_conformance

from chat_client import Chat, cancel_order_1042, connect, server_settings
from pg_admin import PG_ADMIN_URL
from shop_fixture import ShopServer
from smart_support.server.app import create_app
from smart_support.server.background import serve_in_thread
from smart_support.settings import Settings

OPERATOR = "op-secret-token-for-schemathesis"
AUTH = {"Authorization": f"Bearer {OPERATOR}"}
#: Examples per operation and pass: enough to reach every parameter, few enough for CI.
EXAMPLES = 25
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def served_document() -> dict[str, Any]:
    """The OpenAPI document the server answers at /openapi.json (checked to be the same in
    `test_the_document_tested_is_the_one_the_server_serves`). Built from the app at import,
    because schemathesis parametrizes at collection; `from_fixture` would load it from the
    running server, but it breaks on pytest 9 (it sets `Function._nodeid`, which is gone)."""
    app_settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url="sqlite:///unused-by-an-app-never-started.db",
        operator_token=OPERATOR,
    )
    return create_app(app_settings).openapi()


DOCUMENT = served_document()


def loaded(*, token: bool) -> Any:
    """The document as schemathesis sees it, with or without the operator token as the
    credentials of its `operator` security scheme (without: schemathesis makes tokens up).

    `allow-extra-parameters` off: unknown query parameters are ignored, as FastAPI and most
    HTTP APIs do, so a request with one is not "invalid data" the server must refuse.
    """
    config: dict[str, Any] = {"generation": {"allow-extra-parameters": False}}
    if token:
        config["auth"] = {"openapi": {"operator": {"bearer": OPERATOR}}}
    return schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(config))


SCHEMA = loaded(token=True)
NO_TOKEN = loaded(token=False)


def is_operator_only(path: str) -> bool:
    return path.startswith("/api/v1/operator/") or path == "/metrics"


@pytest.fixture(scope="module")
def module_database() -> Iterator[str]:
    """A PostgreSQL database for this module's servers, dropped afterwards."""
    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def api_url(module_database: str, shop_process: ShopServer) -> Iterator[str]:
    shop_process.reset()
    app_settings = server_settings(module_database, shop_process.url, operator_token=OPERATOR)
    with serve_in_thread(app_settings) as url:
        yield url


SPEC = {
    "openapi": "3.0.3",
    "info": {"title": "Tiny", "version": "1"},
    "servers": [{"url": "http://127.0.0.1:9"}],
    "paths": {
        "/orders/{id}": {
            "get": {
                "operationId": "getOrder",
                "summary": "Look up an order",
                "parameters": [
                    {"name": "id", "in": "path", "required": True, "schema": {"type": "integer"}}
                ],
                "responses": {"200": {"description": "the order"}},
            }
        }
    },
}


@pytest.fixture(scope="module")
def known_ids(api_url: str) -> dict[str, str]:
    """Real records for the generated requests to meet: path parameter name -> id."""
    return asyncio.run(seed(api_url))


async def seed(api_url: str) -> dict[str, str]:
    async with (
        connect(api_url) as ws,
        httpx.AsyncClient(base_url=api_url, headers=AUTH, timeout=60) as op,
    ):
        chat = Chat(ws)
        started = await chat.start()
        first = await cancel_order_1042(chat)
        decided = await op.post(
            f"/api/v1/operator/approvals/{first['approval_id']}/decision",
            json={"decision": "approve", "operator": "sam"},
        )
        assert decided.status_code == 200, decided.text
        await chat.until("reply_end", "error")
        pending = await chat.say("Cancel order 1001", "approval_requested", "reply_end", "error")
        assert pending[-1]["type"] == "approval_requested", pending
        imported = await op.post("/api/v1/operator/imports?wait=true", json={"document": SPEC})
        assert imported.status_code == 201, imported.text
        jobs = await op.get("/api/v1/operator/import-jobs")
        assert jobs.status_code == 200, jobs.text
    return {
        "conversation_id": started["conversation_id"],
        "approval_id": pending[-1]["approval_id"],
        "import_id": imported.json()["id"],
        "job_id": jobs.json()[0]["id"],
    }


@pytest.fixture(scope="module")
def disabled_url(module_database: str, shop_process: ShopServer) -> Iterator[str]:
    with serve_in_thread(server_settings(module_database, shop_process.url)) as url:
        yield url


def with_known_ids(case: Case, known: dict[str, str]) -> Case | None:
    """The same case aimed at real records, or None when it has no path parameter we know."""
    params = case.path_parameters or {}
    if case.method.upper() != case.operation.method.upper():
        return None  # a probe with a method the path does not have (405 checks)
    if not params or not set(params) <= set(known):
        return None
    return case.operation.Case(
        method=case.method,
        path_parameters={name: known[name] for name in params},
        query=case.query,
        headers=case.headers,
        body=case.body,
        media_type=case.media_type,
    )


def test_the_document_tested_is_the_one_the_server_serves(api_url: str) -> None:
    served = httpx.get(f"{api_url}/openapi.json")
    assert served.status_code == 200
    assert served.json() == DOCUMENT


# What schemathesis found, asked again by hand: generated cases may change with its version.
FOUND: list[tuple[str, str, int, str | None]] = [
    # (method, path, status, Allow) -- a 64-bit offset once reached PostgreSQL: a 500.
    ("GET", "/api/v1/operator/webhooks/deliveries?offset=5332714713862352404480", 400, None),
    # A number is not an ISO datetime (pydantic read it as seconds since 1970).
    ("GET", "/api/v1/operator/analytics?until=0.5", 400, None),
    ("GET", "/api/v1/operator/conversations?since=1700000000", 400, None),
    # A 405 says what would work; the web UI's mount at / once said 404, or GET, HEAD.
    ("OPTIONS", "/api/v1/operator/conversations/x/close", 405, "POST"),
    ("GET", "/api/v1/operator/imports/x/accept", 405, "POST"),
    ("TRACE", "/healthz", 405, "GET, HEAD"),
    ("DELETE", "/api/v1/info", 405, "GET, HEAD"),
]


def test_what_schemathesis_found_is_refused_in_words_with_the_right_status(api_url: str) -> None:
    with httpx.Client(base_url=api_url, headers=AUTH) as client:
        for method, path, status, allow in FOUND:
            response = client.request(method, path)
            assert response.status_code == status, (method, path, response.text[:200])
            assert set(response.json()) == {"code", "message"}, response.text[:200]
            assert response.headers.get("allow") == allow, (method, path)


#: Checks that are wrong for an operation, each for a reason its documentation gives.
EXCLUDED: dict[str, tuple[list[Any], str]] = {
    # docs/protocol.md: "`since` not before `until` is 400 bad_request"; a relation between
    # two parameters that the document's schemas cannot say, so a schema-valid pair is refused.
    "/api/v1/operator/analytics": ([positive_data_acceptance], "since must be before until"),
    "/api/v1/operator/analytics.csv": ([positive_data_acceptance], "since must be before until"),
    # docs/protocol.md: an import's body has "{"url": ...} or {"document": ...}", exactly one
    # of the two (and an http(s) URL): a rule between fields its schema does not say.
    "/api/v1/operator/imports": ([positive_data_acceptance], "exactly one of url, document"),
    # server/demo.py: both demo endpoints answer 404 unless DEMO_IDENTITIES is on, and
    # `/identity` 404 for an email of no demo customer; demo.py does not declare that 404.
    "/api/v1/demo/customers": ([status_code_conformance], "404 unless DEMO_IDENTITIES"),
    "/api/v1/demo/identity": ([status_code_conformance], "404 unless DEMO_IDENTITIES"),
}


@SCHEMA.parametrize()
@BOUNDED
def test_every_operation_answers_as_its_document_says_with_the_operator_token(
    case: Case, api_url: str, known_ids: dict[str, str]
) -> None:
    excluded, _why = EXCLUDED.get(case.path, ([], ""))
    case.call_and_validate(base_url=api_url, excluded_checks=excluded)
    aimed = with_known_ids(case, known_ids)
    if aimed is not None:
        aimed.call_and_validate(base_url=api_url, excluded_checks=excluded)


@NO_TOKEN.parametrize()
@BOUNDED
def test_no_operator_endpoint_answers_without_the_operator_token(case: Case, api_url: str) -> None:
    response = case.call(base_url=api_url)
    assert response.status_code < 500, (case.method, case.formatted_path, response.text[:300])
    if not is_operator_only(case.path):
        return
    # Refused before the handler ran: unauthorized, a body the server could not even read, or
    # a method the path does not have (schemathesis probes those too).
    assert response.status_code in (400, 401, 405, 413), (case.method, case.formatted_path)
    assert set(response.json()) == {"code", "message"}, response.text[:300]


@SCHEMA.parametrize()
@BOUNDED
def test_without_operator_token_configured_the_operator_api_is_off(
    case: Case, disabled_url: str
) -> None:
    if not case.path.startswith("/api/v1/operator/"):
        return
    response = case.call(base_url=disabled_url)
    assert response.status_code in (400, 404, 405, 413), (case.method, case.formatted_path)
    body = response.json()
    assert set(body) == {"code", "message"}, body
    if response.status_code == 404:
        assert body["code"] == "operator_disabled", body

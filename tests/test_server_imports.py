"""`POST /api/v1/operator/imports` over real HTTP: a spec by URL or as a document, the report back.

The chat server runs on loopback with the demo shop; the operator imports the shop's own spec
from its URL, and corpus specs as documents; hostile requests get clear errors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from chat_client import ServerFactory
from smart_support.openapi.load import MAX_BYTES
from smart_support.server.errors import MAX_BODY_BYTES

pytest_plugins = ["server_fixture"]

OPERATOR = "op-secret-token-for-imports"
CORPUS = Path(__file__).parent / "data" / "openapi"
IMPORTS = "/api/v1/operator/imports"


@pytest.fixture
def operator_url(start_server: ServerFactory) -> Iterator[str]:
    with start_server(operator_token=OPERATOR) as url:
        yield url


def operator(url: str, token: str = OPERATOR) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=60)


async def test_an_operator_imports_the_shops_spec_by_url_and_gets_its_tools(
    operator_url: str, running_shop: str
) -> None:
    async with operator(operator_url) as client:
        response = await client.post(IMPORTS, json={"url": f"{running_shop}/openapi.json"})
    assert response.status_code == 200, response.text
    report = response.json()
    access = {op["name"]: op["access"] for op in report["operations"]}
    assert access["get_order"] == "read" and access["cancel_order"] == "write"
    assert report["skipped"] == []
    cancel = next(op for op in report["operations"] if op["name"] == "cancel_order")
    assert {"order_id", "reason"} <= set(cancel["input_schema"]["properties"])


async def test_a_document_as_json_with_a_server_url_is_imported_against_that_server(
    operator_url: str, running_shop: str
) -> None:
    async with operator(operator_url) as client:
        spec = (await client.get(f"{running_shop}/openapi.json")).json()
        response = await client.post(
            IMPORTS, json={"document": spec, "server": "https://shop.example.com/v2"}
        )
    assert response.status_code == 200, response.text
    servers = {op["server"] for op in response.json()["operations"]}
    assert servers == {"https://shop.example.com/v2"}


async def test_a_yaml_document_as_text_and_the_largest_corpus_spec_import(
    operator_url: str,
) -> None:
    yaml_text = (CORPUS / "swagger-petstore-1.0.27-SNAPSHOT.yaml").read_text()
    square = json.loads((CORPUS / "square-2.0.json").read_text())
    async with operator(operator_url) as client:
        petstore = await client.post(IMPORTS, json={"document": yaml_text})
        largest = await client.post(IMPORTS, json={"document": square, "remote_refs": False})
    assert petstore.status_code == 200, petstore.text
    assert "updatePet" in {op["name"] for op in petstore.json()["operations"]}
    assert largest.status_code == 200, largest.text
    assert len(largest.json()["operations"]) > 200
    assert len(json.dumps(square)) > MAX_BODY_BYTES  # over the limit of every other endpoint


async def test_without_the_token_a_large_body_is_refused_as_unauthorized_not_read(
    operator_url: str,
) -> None:
    body = json.dumps({"document": "x" * 1_000_000})
    async with operator(operator_url, token="wrong") as client:
        response = await client.post(
            IMPORTS, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.status_code == 401
    assert response.json()["code"] == "unauthorized"


async def test_a_body_over_the_spec_limit_is_refused_and_other_endpoints_keep_their_limit(
    operator_url: str,
) -> None:
    async with operator(operator_url) as client:
        huge = await client.post(
            IMPORTS,
            content=b"{" + b" " * (MAX_BYTES + 100 * 1024) + b"}",
            headers={"Content-Type": "application/json"},
        )
        other = await client.post(
            "/api/v1/operator/approvals/x/decision",
            content=b" " * (MAX_BODY_BYTES + 1),
            headers={"Content-Type": "application/json"},
        )
    assert huge.status_code == other.status_code == 413
    assert huge.json()["code"] == "body_too_large"


async def test_a_spec_url_on_a_private_address_is_refused_by_the_egress_guard(
    operator_url: str,
) -> None:
    async with operator(operator_url) as client:
        metadata = await client.post(
            IMPORTS, json={"url": "http://169.254.169.254/latest/openapi.json"}
        )
        private = await client.post(IMPORTS, json={"url": "http://10.1.2.3/openapi.json"})
    for response in (metadata, private):
        assert response.status_code == 422
        body = response.json()
        assert body["code"] == "spec_refused"
        assert body["message"].startswith("The spec's address was refused")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"not json at all {", "bad_request"),
        (b"[1, 2]", "bad_request"),
        (json.dumps({}).encode(), "bad_request"),
        (json.dumps({"url": "https://a.example/x", "document": {}}).encode(), "bad_request"),
        (json.dumps({"url": "file:///etc/passwd"}).encode(), "bad_request"),
        (json.dumps({"document": {"hello": "world"}}).encode(), "spec_error"),
        (json.dumps({"document": "a: &a [1,1]\nb: &b [*a,*a]\n" * 1}).encode(), "spec_error"),
        (
            json.dumps({"document": {"openapi": "3.0.0"}, "server": "ftp://x"}).encode(),
            "bad_request",
        ),
    ],
)
async def test_bad_requests_get_a_clear_error_code(
    operator_url: str, body: bytes, expected: str
) -> None:
    async with operator(operator_url) as client:
        response = await client.post(
            IMPORTS, content=body, headers={"Content-Type": "application/json"}
        )
    assert response.json()["code"] == expected, response.text
    assert response.status_code == (400 if expected == "bad_request" else 422)
    assert "Traceback" not in response.text


async def test_an_alias_bomb_in_a_yaml_document_is_refused(operator_url: str) -> None:
    bomb = "a: &a [" + ",".join(["x"] * 9) + "]\n"
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        bomb += f"{level}: &{level} [" + ",".join([f"*{previous}"] * 9) + "]\n"
    async with operator(operator_url) as client:
        response = await client.post(IMPORTS, json={"document": bomb})
    assert response.status_code == 422
    assert "alias" in response.json()["message"]

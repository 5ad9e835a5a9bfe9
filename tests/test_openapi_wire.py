"""Imported tools put the exact request on the wire, through the egress guard, and specs load
from URLs only through it.

A loopback server records every request (method, raw path, query, headers, body) and serves the
documents and redirects a test gives it.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest
import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from smart_support.errors import EgressRefused, ToolError
from smart_support.openapi import ImportResult, SpecError, import_spec
from smart_support.settings import Settings
from smart_support.tools import ToolContext, tool_context

CORPUS = Path(__file__).parent / "data" / "openapi"


@dataclass
class Recorded:
    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class Recorder:
    url: str
    hostport: str
    requests: list[Recorded] = field(default_factory=list)
    #: path -> (status, body, headers) answered instead of the default `{"ok": "yes"}`.
    answers: dict[str, tuple[int, bytes, dict[str, str]]] = field(default_factory=dict)

    def last(self) -> Recorded:
        return self.requests[-1]


class _QuietServer(uvicorn.Server):
    def install_signal_handlers(self) -> None:
        pass


@pytest.fixture(scope="module")
def recorder_server() -> Iterator[Recorder]:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    rec = Recorder(url=f"http://127.0.0.1:{port}", hostport=f"127.0.0.1:{port}")

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        request = Request(scope, receive)
        body = await request.body()
        raw_path = scope["raw_path"].decode("ascii")
        rec.requests.append(
            Recorded(
                method=request.method,
                path=raw_path,
                query=parse_qsl(scope["query_string"].decode("ascii"), keep_blank_values=True),
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
            )
        )
        if raw_path.startswith("/slow"):
            await asyncio.sleep(1.0)
        status, content, headers = rec.answers.get(raw_path, (200, b'{"ok": "yes"}', {}))
        await Response(
            content,
            status_code=status,
            headers=headers,
            media_type=headers.get("content-type", "application/json"),
        )(scope, receive, send)

    server = _QuietServer(uvicorn.Config(app, log_level="warning", lifespan="off", loop="asyncio"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.005)
    try:
        yield rec
    finally:
        server.should_exit = True
        thread.join()
        sock.close()


@pytest.fixture
def recorder(recorder_server: Recorder) -> Recorder:
    recorder_server.requests.clear()
    recorder_server.answers.clear()
    return recorder_server


def settings_for(rec: Recorder) -> Settings:
    return Settings(egress_allowlist=[rec.hostport])


def imported(source: str, rec: Recorder, **kwargs: Any) -> ImportResult:
    return asyncio.run(
        import_spec(
            source, settings_for(rec), server=rec.url + "/base", remote_refs=False, **kwargs
        )
    )


def call(
    result: ImportResult,
    tool_name: str,
    rec: Recorder,
    key: str | None = "key-1",
    /,
    **arguments: Any,
) -> Any:
    tool = next(op.tool for op in result.operations if op.name == tool_name)

    async def run() -> Any:
        with tool_context(ToolContext(settings_for(rec), idempotency_key=key)):
            return await tool.ainvoke(arguments)

    return asyncio.run(run())


def test_a_get_puts_path_and_query_on_the_wire(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "swagger-petstore-1.0.27-SNAPSHOT.yaml"), recorder)
    assert call(result, "getPetById", recorder, petId=7) == {"ok": "yes"}
    sent = recorder.last()
    assert (sent.method, sent.path, sent.query) == ("GET", "/base/pet/7", [])
    assert "idempotency-key" not in sent.headers  # reads never carry it
    call(result, "findPetsByStatus", recorder, status="sold")
    assert recorder.last().query == [("status", "sold")]


def test_a_json_write_sends_the_body_and_the_idempotency_key(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "swagger-petstore-1.0.27-SNAPSHOT.yaml"), recorder)
    call(result, "addPet", recorder, name="Rex", photoUrls=["u1"], status="available")
    sent = recorder.last()
    assert (sent.method, sent.path) == ("POST", "/base/pet")
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["idempotency-key"] == "key-1"
    assert json.loads(sent.body) == {"name": "Rex", "photoUrls": ["u1"], "status": "available"}
    call(result, "deleteOrder", recorder, orderId=5)
    assert (recorder.last().method, recorder.last().path) == ("DELETE", "/base/store/order/5")


def test_a_form_body_is_form_encoded(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "twilio-conversations-v1-1.0.0.json"), recorder)
    call(result, "CreateConversation", recorder, FriendlyName="Help & more", State="active")
    sent = recorder.last()
    assert (sent.method, sent.path) == ("POST", "/base/v1/Conversations")
    assert sent.headers["content-type"] == "application/x-www-form-urlencoded"
    assert parse_qsl(sent.body.decode()) == [("FriendlyName", "Help & more"), ("State", "active")]


def test_nested_objects_in_a_form_body_are_bracketed(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "chargebee-v1-2026-06-12.json"), recorder)
    address = {"first_name": "Maya", "city": "Lyon"}
    call(result, "create_a_customer", recorder, email="m@example.com", billing_address=address)
    sent = recorder.last()
    assert (sent.method, sent.path) == ("POST", "/base/customers")
    assert parse_qsl(sent.body.decode()) == [
        ("email", "m@example.com"),
        ("billing_address[first_name]", "Maya"),
        ("billing_address[city]", "Lyon"),
    ]


def test_swagger_2_query_parameters_and_headers_arrive(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "oai-petstore-v2.0.json"), recorder)
    call(result, "listPets", recorder, limit=3)
    assert (recorder.last().path, recorder.last().query) == ("/base/pets", [("limit", "3")])
    paypal = imported(str(CORPUS / "paypal-checkout-orders-2.13.json"), recorder)
    call(paypal, "orders_get", recorder, id="5O1", fields="payment_source")
    sent = recorder.last()
    assert (sent.method, sent.path, sent.query) == (
        "GET",
        "/base/v2/checkout/orders/5O1",
        [("fields", "payment_source")],
    )


def test_a_header_parameter_is_sent_as_a_header(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "intercom-2.14.yaml"), recorder)
    report = next(op.report() for op in result.operations if op.name == "retrieveConversation")
    assert {
        "name": "Intercom-Version",
        "in": "header",
        "original": "Intercom-Version",
        "required": False,
    } in report["parameters"]
    call(
        result,
        "retrieveConversation",
        recorder,
        **{"Intercom-Version": "2.14", "conversation_id": 123},
    )
    sent = recorder.last()
    assert sent.path == "/base/conversations/123" and sent.headers["intercom-version"] == "2.14"


STYLES = {
    "openapi": "3.1.0",
    "info": {"title": "styles", "version": "1"},
    "paths": {
        "/orders/{order_id}": {
            "parameters": [
                {"name": "order_id", "in": "path", "required": True, "schema": {"type": "string"}}
            ],
            "post": {
                "operationId": "update order",
                "parameters": [
                    {
                        "name": "tags",
                        "in": "query",
                        "schema": {"type": "array", "items": {"type": "string"}},
                    },
                    {
                        "name": "ids",
                        "in": "query",
                        "explode": False,
                        "schema": {"type": "array", "items": {"type": "integer"}},
                    },
                    {
                        "name": "filter",
                        "in": "query",
                        "style": "deepObject",
                        "schema": {"type": "object"},
                    },
                    {"name": "session", "in": "cookie", "schema": {"type": "string"}},
                    {"name": "Authorization", "in": "header", "schema": {"type": "string"}},
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["tags"],
                                "properties": {
                                    "tags": {"type": ["array", "null"]},
                                    "note": {"type": "string"},
                                },
                            }
                        }
                    },
                },
            },
        }
    },
}


def test_path_ids_array_styles_cookies_and_a_renamed_body_property(
    recorder: Recorder, tmp_path: Path
) -> None:
    spec = tmp_path / "styles.json"
    spec.write_text(json.dumps(STYLES))
    result = imported(str(spec), recorder)
    [op] = result.operations
    assert op.name == "update_order"
    params = {p["name"]: p for p in op.report()["parameters"]}
    assert params["body_tags"] == {
        "name": "body_tags",
        "in": "body",
        "original": "tags",
        "required": True,
    }
    assert "Authorization" not in params  # auth headers are never the model's to fill
    assert op.input_schema["properties"]["body_tags"]["type"] == ["array", "null"]
    call(
        result,
        "update_order",
        recorder,
        order_id="#W123/4",
        tags=["a", "b"],
        ids=[1, 2],
        filter={"status": "open"},
        session="s 1",
        body_tags=["x"],
        note="n",
    )
    sent = recorder.last()
    assert sent.path == "/base/orders/%23W123%2F4"
    assert sent.query == [("tags", "a"), ("tags", "b"), ("ids", "1,2"), ("filter[status]", "open")]
    assert sent.headers["cookie"] == "session=s%201"
    assert json.loads(sent.body) == {"tags": ["x"], "note": "n"}


def test_a_non_2xx_answer_is_returned_to_the_agent(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "oai-petstore-v2.0.json"), recorder)
    recorder.answers["/base/pets/9"] = (404, b'{"message": "no such pet"}', {})
    assert call(result, "showPetById", recorder, petId="9") == {
        "ok": False,
        "status": 404,
        "error": {"message": "no such pet"},
    }


def test_a_large_result_is_trimmed_and_says_so(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "oai-petstore-v2.0.json"), recorder)
    recorder.answers["/base/pets"] = (
        200,
        json.dumps([{"id": i, "name": "x" * 100} for i in range(1000)]).encode(),
        {},
    )
    answer = call(result, "listPets", recorder)
    assert answer["trimmed"] is True and "cut" in answer["note"]
    assert 0 < len(answer["data"]) < 1000 and len(json.dumps(answer)) < 17_000


def test_a_refused_connection_is_a_tool_error(recorder: Recorder) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = asyncio.run(
        import_spec(
            str(CORPUS / "oai-petstore-v2.0.json"), Settings(), server=f"http://127.0.0.1:{port}"
        )
    )
    tool = result.operations[0].tool

    async def run() -> Any:
        with tool_context(ToolContext(Settings(egress_allowlist=[f"127.0.0.1:{port}"]))):
            return await tool.ainvoke({})

    with pytest.raises(ToolError, match="request failed"):
        asyncio.run(run())


def test_a_timeout_is_a_tool_error(recorder: Recorder) -> None:
    result = asyncio.run(
        import_spec(
            str(CORPUS / "oai-petstore-v2.0.json"), Settings(), server=recorder.url + "/slow"
        )
    )
    tool = result.operations[0].tool
    settings = Settings(egress_allowlist=[recorder.hostport], egress_timeout_seconds=0.2)

    async def run() -> Any:
        with tool_context(ToolContext(settings)):
            return await tool.ainvoke({})

    with pytest.raises(ToolError, match="did not answer in time"):
        asyncio.run(run())


def test_a_server_on_a_private_address_is_refused_at_call_time(
    recorder: Recorder, tmp_path: Path
) -> None:
    spec = tmp_path / "private.json"
    spec.write_text(json.dumps({**STYLES, "servers": [{"url": "http://10.0.0.7/api"}]}))
    result = asyncio.run(import_spec(str(spec), settings_for(recorder)))
    assert result.operations[0].operation.server == "http://10.0.0.7/api"
    with pytest.raises(ToolError, match="refused"):
        call(result, "update_order", recorder, order_id="1")
    assert recorder.requests == []


def test_a_spec_is_fetched_from_a_url_with_relative_refs_and_servers(recorder: Recorder) -> None:
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "remote", "version": "1"},
        "servers": [{"url": "/api"}],
        "paths": {
            "/items/{id}": {
                "get": {"operationId": "getItem", "parameters": [{"$ref": "common.json#/id"}]}
            }
        },
    }
    recorder.answers["/specs/spec.json"] = (200, json.dumps(spec).encode(), {})
    recorder.answers["/specs/common.json"] = (
        200,
        b'{"id": {"name": "id", "in": "path", "required": true, "schema": {"type": "string"}}}',
        {},
    )
    result = asyncio.run(import_spec(recorder.url + "/specs/spec.json", settings_for(recorder)))
    [op] = result.operations
    assert op.operation.server == recorder.url + "/api"
    assert [p["original"] for p in op.report()["parameters"]] == ["id"]


def test_a_remote_spec_may_not_reference_local_files(recorder: Recorder) -> None:
    spec = {**STYLES, "components": {"schemas": {"x": {"$ref": "file:///etc/passwd"}}}}
    recorder.answers["/evil.json"] = (200, json.dumps(spec).encode(), {})
    result = asyncio.run(import_spec(recorder.url + "/evil.json", settings_for(recorder)))
    assert any("may not reference local files" in w for w in result.warnings)


def test_a_spec_url_redirecting_to_a_private_address_is_refused(recorder: Recorder) -> None:
    recorder.answers["/moved.json"] = (302, b"", {"location": "http://10.1.2.3/spec.json"})
    with pytest.raises(EgressRefused):
        asyncio.run(import_spec(recorder.url + "/moved.json", settings_for(recorder)))
    assert [r.path for r in recorder.requests] == ["/moved.json"]


def test_a_spec_url_on_a_metadata_address_is_refused_before_any_request() -> None:
    with pytest.raises(EgressRefused):
        asyncio.run(import_spec("http://169.254.169.254/latest/openapi.json", Settings()))


def test_a_spec_url_answering_an_error_says_so(recorder: Recorder) -> None:
    recorder.answers["/gone.json"] = (404, b"{}", {})
    with pytest.raises(SpecError, match="HTTP 404"):
        asyncio.run(import_spec(recorder.url + "/gone.json", settings_for(recorder)))


def test_swagger_2_form_data_is_form_encoded_and_file_uploads_are_skipped(
    recorder: Recorder, tmp_path: Path
) -> None:
    form = {"in": "formData", "type": "string"}
    spec = {
        "swagger": "2.0",
        "info": {"title": "forms", "version": "1"},
        "host": "api.example.com",
        "consumes": ["application/x-www-form-urlencoded"],
        "paths": {
            "/tickets": {
                "post": {
                    "operationId": "createTicket",
                    "parameters": [
                        {**form, "name": "subject", "required": True},
                        {**form, "name": "tags", "type": "array", "items": {"type": "string"}},
                        {
                            **form,
                            "name": "cc",
                            "type": "array",
                            "items": {"type": "string"},
                            "collectionFormat": "multi",
                        },
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            },
            "/tickets/{id}/files": {
                "post": {
                    "operationId": "attach",
                    "consumes": ["multipart/form-data"],
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "type": "string"},
                        {"name": "file", "in": "formData", "type": "file"},
                    ],
                    "responses": {"200": {"description": "ok"}},
                }
            },
        },
    }
    path = tmp_path / "forms.json"
    path.write_text(json.dumps(spec))
    result = imported(str(path), recorder)
    assert [op.name for op in result.operations] == ["createTicket"]
    assert result.skipped == [
        {
            "operation": "attach",
            "reason": "multipart/form-data bodies (file uploads) are not supported yet",
        }
    ]
    call(result, "createTicket", recorder, subject="Broken", tags=["a", "b"], cc=["x", "y"])
    sent = recorder.last()
    assert (sent.method, sent.path) == ("POST", "/base/tickets")
    assert parse_qsl(sent.body.decode()) == [  # collectionFormat: csv by default, then multi
        ("subject", "Broken"),
        ("tags", "a,b"),
        ("cc", "x"),
        ("cc", "y"),
    ]


def test_a_header_value_with_a_line_break_cannot_inject_a_header(recorder: Recorder) -> None:
    result = imported(str(CORPUS / "intercom-2.14.yaml"), recorder)
    with pytest.raises(ToolError):
        call(
            result,
            "retrieveConversation",
            recorder,
            **{"Intercom-Version": "2.14\r\nX-Evil: 1", "conversation_id": 1},
        )
    assert recorder.requests == []


def test_openapi_3_0_schemas_become_json_schema(recorder: Recorder, tmp_path: Path) -> None:
    number = {"type": "number", "minimum": 0, "exclusiveMinimum": True, "nullable": True}
    spec = {
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1"},
        "paths": {
            "/a": {
                "get": {
                    "operationId": "a",
                    "parameters": [{"name": "n", "in": "query", "schema": number}],
                }
            }
        },
    }
    path = tmp_path / "a.json"
    path.write_text(json.dumps(spec))
    [op] = imported(str(path), recorder).operations
    assert op.input_schema["properties"]["n"] == {"type": ["number", "null"], "exclusiveMinimum": 0}


def test_a_whole_body_patch_and_api_key_headers_left_to_auth(recorder: Recorder) -> None:
    paypal = imported(str(CORPUS / "paypal-checkout-orders-2.13.json"), recorder)
    patch = [{"op": "replace", "path": "/intent", "value": "CAPTURE"}]
    call(paypal, "orders_patch", recorder, id="5O1", body=patch)
    sent = recorder.last()
    assert (sent.method, sent.path, json.loads(sent.body)) == (
        "PATCH",
        "/base/v2/checkout/orders/5O1",
        patch,
    )
    petstore = imported(str(CORPUS / "swagger-petstore-1.0.27-SNAPSHOT.yaml"), recorder)
    delete = next(op for op in petstore.operations if op.name == "deletePet")
    assert [p["original"] for p in delete.report()["parameters"]] == ["petId"]  # not `api_key`


def test_callback_and_webhook_urls_of_a_spec_are_never_called(
    recorder: Recorder, tmp_path: Path
) -> None:
    hook = f"{recorder.url}/hook-called"
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "subscriptions", "version": "1"},
        "paths": {
            "/subscribe": {
                "post": {
                    "operationId": "subscribe",
                    "requestBody": {
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {"callbackUrl": {"type": "string"}},
                                }
                            }
                        }
                    },
                    "callbacks": {
                        "onEvent": {
                            "{$request.body#/callbackUrl}": {
                                "post": {"operationId": "callbackEvent", "responses": {}}
                            },
                            hook: {"post": {"operationId": "fixedCallback", "responses": {}}},
                        }
                    },
                    "responses": {"201": {"description": "subscribed"}},
                }
            }
        },
        "webhooks": {"newPet": {"post": {"operationId": "newPetHook", "responses": {}}}},
    }
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = imported(str(path), recorder)
    assert [op.name for op in result.operations] == ["subscribe"]
    call(result, "subscribe", recorder, callbackUrl=hook)
    assert [r.path for r in recorder.requests] == ["/base/subscribe"]

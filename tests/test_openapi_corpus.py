"""Every corpus spec imports: each operation a tool or skipped with a reason, names valid and
unique, and every parameter and top-level body property of the spec in the tool's input.

The expectation is computed from the raw document with a small independent reader (its own
`$ref` follower, `smart_support.openapi.completeness`, shared with bench/openapi_import.py), not
with the converter's code.
"""

from __future__ import annotations

import asyncio
import json
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from smart_support.openapi import ImportResult, import_spec
from smart_support.openapi.completeness import expected_inputs, missing_inputs
from smart_support.settings import Settings

CORPUS = Path(__file__).parent / "data" / "openapi"
SPECS = sorted(p.name for p in CORPUS.iterdir() if p.suffix in (".json", ".yaml"))


@cache
def imported(name: str) -> ImportResult:
    # Absolute remote refs (square's CDN) are not followed here: the tests stay on loopback.
    return asyncio.run(import_spec(str(CORPUS / name), Settings(), remote_refs=False))


@cache
def raw(name: str) -> Any:
    text = (CORPUS / name).read_text(encoding="utf-8")
    return json.loads(text) if name.endswith(".json") else yaml.load(text, Loader=yaml.CSafeLoader)


@pytest.mark.parametrize("name", SPECS)
def test_every_operation_of_a_corpus_spec_is_a_tool_or_skipped_with_a_reason(name: str) -> None:
    result = imported(name)
    ops = expected_inputs(raw(name))
    assert len(result.operations) + len(result.skipped) == len(ops)
    assert all(s["reason"] for s in result.skipped)
    names = [op.name for op in result.operations]
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n) for n in names), names
    assert len(set(names)) == len(names)
    assert {op.tool.name for op in result.operations} == set(names)


@pytest.mark.parametrize("name", SPECS)
def test_every_parameter_and_body_property_is_in_the_tools_input(name: str) -> None:
    result = imported(name)
    missing = {tool: m for tool, m in missing_inputs(result, raw(name)).items() if m}
    assert not missing, missing
    for op in result.operations:
        report = op.report()
        assert set(report["input_schema"]["properties"]) == {
            p["name"] for p in report["parameters"]
        }
        assert all(
            p in report["input_schema"]["properties"]
            for p in report["input_schema"].get("required", [])
        )


@pytest.mark.parametrize("name", SPECS)
def test_access_is_read_for_get_head_options_and_write_otherwise(name: str) -> None:
    for op in imported(name).operations:
        report = op.report()
        assert report["access"] == (
            "read" if report["method"] in ("GET", "HEAD", "OPTIONS") else "write"
        )
        assert op.tool.metadata == {
            "access": report["access"],
            "summary": None,
            "source": f"openapi:{report['method']} {report['path']}",
        }


def test_names_are_stable_when_the_same_spec_is_imported_again() -> None:
    first = [op.name for op in imported("paypal-checkout-orders-2.13.json").operations]
    again = asyncio.run(
        import_spec(str(CORPUS / "paypal-checkout-orders-2.13.json"), Settings(), remote_refs=False)
    )
    assert [op.name for op in again.operations] == first
    assert "orders_create" in first  # `orders.create`: the dot is not a valid tool name character


def test_adobes_long_operation_ids_are_cut_with_a_hash_and_stay_unique() -> None:
    names = [op.name for op in imported("adobe-commerce-admin-2.4.9.yaml").operations]
    assert max(len(n) for n in names) <= 64
    assert len(names) == 614


def test_operations_without_an_operation_id_are_named_from_method_and_path() -> None:
    names = {op.operation.label: op.name for op in imported("oai-uber-v2.0.json").operations}
    assert names["GET /products"] == "get_products"
    assert names["GET /estimates/price"] == "get_estimates_price"


def test_unsupported_bodies_are_skipped_with_the_reason() -> None:
    skipped = {s["operation"]: s["reason"] for s in imported("square-2.0.json").skipped}
    assert "multipart/form-data" in skipped["CreateCatalogImage"]


def test_a_spec_with_only_webhooks_gives_no_tools_and_no_error() -> None:
    assert imported("oai-webhook-example-v3.1.yaml").operations == []


def test_servers_come_from_the_spec_in_every_version() -> None:
    assert (
        imported("oai-petstore-v2.0.json").operations[0].operation.server
        == "http://petstore.swagger.io/v1"
    )  # schemes: [http]
    assert (
        imported("ote-godaddy-abuse-1.0.0.yaml").operations[0].operation.server
        == "https://api.ote-godaddy.com"
    )
    chargebee = imported("chargebee-v1-2026-06-12.json")
    assert chargebee.operations[0].operation.server == "https://demo.chargebee.com:443/api/v1"
    assert any("uses variables" in w for w in chargebee.warnings)
    petstore = imported("swagger-petstore-1.0.27-SNAPSHOT.yaml")
    assert petstore.operations[0].operation.server == "https://petstore3.swagger.io/api/v3"


def test_a_relative_server_of_a_local_spec_is_reported_for_the_operator(tmp_path: Path) -> None:
    spec = tmp_path / "relative.yaml"
    spec.write_text(
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\nservers: [{url: /api/v3}]\n"
        "paths: {/a: {get: {operationId: a}}}\n"
    )
    result = asyncio.run(import_spec(str(spec), Settings()))
    assert result.operations[0].operation.server is None
    assert any("relative to a local spec: set the server URL" in w for w in result.warnings)


def test_validator_findings_are_warnings_with_a_json_pointer() -> None:
    warnings = imported("square-2.0.json").warnings
    assert any(w.startswith("/paths/~1oauth2~1revoke/post/security") for w in warnings), warnings
    assert len(imported("square-2.0.json").operations) > 300


def test_form_bodies_keep_their_properties() -> None:
    ops = {op.name: op for op in imported("twilio-conversations-v1-1.0.0.json").operations}
    create = ops["CreateConversation"]
    assert create.operation.body is not None and create.operation.body.encoding == "form"
    assert "FriendlyName" in create.input_schema["properties"]


def test_type_arrays_and_composition_are_kept_as_json_schema() -> None:
    ops = {op.name: op for op in imported("oai-petstore-expanded-v3.0.yaml").operations}
    assert ops["addPet"].input_schema["required"] == ["name"]
    pet = ops["addPet"].operation.body
    assert pet is not None and set(pet.properties) == {"name", "tag"}  # NewPet via allOf of Pet


@pytest.mark.parametrize("name", SPECS)
def test_every_tool_input_is_a_valid_json_schema_object(name: str) -> None:
    for op in imported(name).operations:
        Draft202012Validator.check_schema(op.input_schema)
        assert op.input_schema["type"] == "object"


def test_operation_servers_beat_path_servers_which_beat_the_specs(tmp_path: Path) -> None:
    param = {"name": "id", "in": "query", "description": "path level", "schema": {"type": "string"}}
    spec = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "servers": [
            {
                "url": "https://{region}.api.example.com/v1",
                "variables": {"region": {"default": "eu"}},
            }
        ],
        "components": {"parameters": {"Id": {**param, "description": "operation level"}}},
        "paths": {
            "/a": {
                "servers": [{"url": "https://paths.example.com"}],
                "parameters": [param],
                "get": {"operationId": "a", "parameters": [{"$ref": "#/components/parameters/Id"}]},
                "put": {"operationId": "b", "servers": [{"url": "https://ops.example.com/x/"}]},
            },
            "/c": {
                "get": {"operationId": "c", "servers": [{"url": "https://{tenant}.example.com"}]}
            },
        },
    }
    path = tmp_path / "servers.json"
    path.write_text(json.dumps(spec))
    result = asyncio.run(import_spec(str(path), Settings()))
    ops = {op.name: op.operation for op in result.operations}
    assert ops["a"].server == "https://paths.example.com"
    assert ops["b"].server == "https://ops.example.com/x"
    assert ops["c"].server == "https://eu.api.example.com/v1"  # {tenant} has no default
    assert any("{tenant} has no default" in w for w in result.warnings)
    assert [(p.name, p.description) for p in ops["a"].parameters] == [("id", "operation level")]

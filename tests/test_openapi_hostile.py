"""Hostile documents get a clear error or a safe result, and nothing the guard refuses is fetched.

(Network-facing cases, such as a spec URL that redirects to a private address or a server on a
private address, are in test_openapi_wire.py, next to the loopback server they need.)
"""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from smart_support.cli import main
from smart_support.errors import ConfigError
from smart_support.openapi import ImportResult, SpecError, import_spec, parse_document
from smart_support.openapi.load import MAX_BYTES
from smart_support.settings import Settings


def spec_with(paths: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"openapi": "3.0.3", "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def import_file(
    tmp_path: Path, spec: dict[str, Any] | str, name: str = "spec.json"
) -> ImportResult:
    path = tmp_path / name
    path.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    return asyncio.run(import_spec(str(path), Settings()))


BOMB = """
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_a_yaml_alias_bomb_is_refused_before_it_expands() -> None:
    with pytest.raises(SpecError, match="alias bomb"):
        parse_document(BOMB, "bomb.yaml")


def test_many_aliases_are_refused() -> None:
    text = "a: &a x\nb: [" + ",".join(["*a"] * 10_001) + "]\n"
    with pytest.raises(SpecError, match="aliases"):
        parse_document(text, "aliases.yaml")


@pytest.mark.parametrize(
    "text",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        "a: " + "[" * 10_000 + "]" * 10_000,
    ],
    ids=["json-arrays", "json-objects", "yaml-flow"],
)
def test_10000_deep_nesting_is_refused(text: str) -> None:
    with pytest.raises(SpecError, match="nest"):  # ours, or libyaml's own flow-level limit
        parse_document(text, "deep")


def test_deep_block_yaml_is_refused() -> None:
    text = "- " * 10_000 + "x\n"  # block sequences nested 10,000 deep in 20 kB
    with pytest.raises(SpecError, match="nested deeper"):
        parse_document(text, "deep.yaml")


def test_a_document_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    big.write_text('{"x": "' + "a" * (MAX_BYTES + 1) + '"}')
    with pytest.raises(SpecError, match="limit") as caught:
        asyncio.run(import_spec(str(big), Settings()))
    assert isinstance(caught.value, ConfigError) and "big.json" in str(caught.value)


def test_yaml_tags_that_build_python_objects_are_refused() -> None:
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_document("a: !!python/object/apply:os.system ['true']\n", "evil.yaml")


def test_a_document_that_is_not_openapi_says_so(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match=r"not an OpenAPI 3\.0/3\.1 or Swagger 2\.0"):
        import_file(tmp_path, {"swagger": "1.2", "paths": {}})
    with pytest.raises(SpecError, match="cannot read"):
        asyncio.run(import_spec(str(tmp_path / "missing.yaml"), Settings()))


PARAM_REF = {
    "/a": {"get": {"operationId": "a", "parameters": [{"$ref": "REF"}]}},
    "/b": {"get": {"operationId": "b"}},
}


def with_ref(ref: str) -> dict[str, Any]:
    return spec_with(json.loads(json.dumps(PARAM_REF).replace("REF", ref)))


def test_a_ref_to_etc_passwd_is_not_read(tmp_path: Path) -> None:
    result = import_file(tmp_path, with_ref("file:///etc/passwd#/x"))
    assert any(
        "'file:///etc/passwd#/x' not followed: a local reference must stay inside" in w
        for w in result.warnings
    )
    assert [op.name for op in result.operations] == ["b"]
    assert result.skipped == [
        {
            "operation": "a",
            "reason": "$ref 'file:///etc/passwd#/x' points into a document that was not loaded",
        }
    ]


def test_relative_refs_resolve_inside_the_folder_and_never_outside(tmp_path: Path) -> None:
    folder = tmp_path / "api"
    folder.mkdir()
    (folder / "common.yaml").write_text("id: {name: id, in: query, schema: {type: string}}\n")
    (tmp_path / "secret.yaml").write_text("id: {name: stolen, in: query}\n")
    (folder / "link.yaml").symlink_to(tmp_path / "secret.yaml")
    ok = import_file(folder, with_ref("common.yaml#/id"))
    assert ok.operations[0].report()["parameters"][0]["original"] == "id"
    for ref in ("../secret.yaml#/id", "link.yaml#/id"):
        result = import_file(folder, with_ref(ref))
        assert any("must stay inside the spec's folder" in w for w in result.warnings), ref
        assert [op.name for op in result.operations] == ["b"]


def test_a_ref_to_a_metadata_address_is_refused_by_the_egress_guard(tmp_path: Path) -> None:
    result = import_file(tmp_path, with_ref("http://169.254.169.254/latest/meta-data#/x"))
    assert any("refused by the egress guard" in w for w in result.warnings), result.warnings
    assert [op.name for op in result.operations] == ["b"]


@pytest.mark.parametrize(
    "operation_id",
    ["../../etc/passwd", "commande été 🚀 ⁄ ﹒", "x" * 300, "", "....", "get_a"],
)
def test_any_operation_id_becomes_a_valid_unique_name(tmp_path: Path, operation_id: str) -> None:
    paths = {"/a": {"get": {"operationId": operation_id}, "post": {"operationId": operation_id}}}
    paths["/b"] = {"get": {"operationId": "get_a"}}
    names = [op.name for op in import_file(tmp_path, spec_with(paths)).operations]
    assert all(re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", n) for n in names), names
    assert len(set(names)) == 3


def test_a_recursive_schema_is_cut_at_a_bounded_depth(tmp_path: Path) -> None:
    node = {
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "children": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}},
        },
    }
    spec = spec_with(
        {
            "/n": {
                "post": {
                    "operationId": "n",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Node"}}
                        }
                    },
                }
            }
        },
        components={"schemas": {"Node": node, "Loop": {"$ref": "#/components/schemas/Loop"}}},
    )
    [op] = import_file(tmp_path, spec).operations
    children = op.input_schema["properties"]["children"]
    inner = children["items"]["properties"]["children"]["items"]  # Node inside Node: cut there
    assert inner == {"type": "object", "description": "Node (nested further; shape omitted)"}
    loop = spec_with(
        {
            "/l": {
                "get": {"operationId": "l", "parameters": [{"$ref": "#/components/schemas/Loop"}]}
            }
        },
        components=spec["components"],
    )
    result = import_file(tmp_path, loop, "loop.json")
    assert result.skipped and "loop of references" in result.skipped[0]["reason"]


def test_the_cli_imports_from_stdin_and_prints_the_report() -> None:
    spec = spec_with(
        {
            "/orders/{id}": {
                "get": {
                    "operationId": "get order",
                    "parameters": [
                        {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
                    ],
                }
            }
        },
        servers=[{"url": "https://api.example.com"}],
    )
    out = CliRunner().invoke(main, ["import", "-", "--json"], input=json.dumps(spec))
    assert out.exit_code == 0, out.output
    report = json.loads(out.output)
    assert set(report) >= {"operations", "warnings", "skipped"}
    [op] = report["operations"]
    assert {k: op[k] for k in ("name", "method", "path", "access", "enabled")} == {
        "name": "get_order",
        "method": "GET",
        "path": "/orders/{id}",
        "access": "read",
        "enabled": True,
    }
    [param] = op["parameters"]
    assert {k: param[k] for k in ("name", "in", "original", "required", "role")} == {
        "name": "id",
        "in": "path",
        "original": "id",
        "required": True,
        "role": "customer",
    }
    assert param["decision"]["source"] == "rule" and param["decision"]["reason"]
    assert op["input_schema"] == {
        "type": "object",
        "properties": {"id": {"type": "string"}},
        "required": ["id"],
    }


def test_the_cli_says_who_is_at_fault_for_a_bad_spec() -> None:
    out = CliRunner().invoke(main, ["import", "-"], input="a: [unclosed\n")
    assert out.exit_code == 2
    assert "stdin: not valid YAML" in out.output


@pytest.mark.parametrize(
    "operation",
    [
        {"operationId": "x", "parameters": 7},
        {"operationId": "x", "parameters": [{"name": "a", "in": "query", "schema": 5}]},
        {"operationId": "x", "requestBody": {"content": {"application/json": 3}}},
        {"operationId": "x", "requestBody": {"$ref": "#/nowhere"}},
        {"operationId": ["not", "a", "string"]},
    ],
)
def test_a_malformed_operation_is_skipped_and_the_others_import(
    tmp_path: Path, operation: dict[str, Any]
) -> None:
    result = import_file(
        tmp_path,
        spec_with({"/bad": {"post": operation}, "/good": {"get": {"operationId": "good"}}}),
    )
    names = [op.name for op in result.operations]
    assert "good" in names
    assert len(names) + len(result.skipped) == 2
    assert all(s["reason"] for s in result.skipped)


def test_an_undeclared_path_parameter_becomes_a_required_argument(tmp_path: Path) -> None:
    result = import_file(
        tmp_path, spec_with({"/orders/{order_id}": {"get": {"operationId": "get_order"}}})
    )
    [op] = result.operations
    assert op.input_schema["required"] == ["order_id"]


@pytest.mark.parametrize(
    "servers",
    [
        "x",
        [5],
        [{"url": 5}],
        [{"url": "https://{a}.example.com", "variables": {"a": "no"}}],
        [{"url": "ftp://x"}],
    ],
)
def test_malformed_servers_leave_the_server_for_the_operator_to_set(
    tmp_path: Path, servers: Any
) -> None:
    result = import_file(
        tmp_path, spec_with({"/a": {"get": {"operationId": "a"}}}, servers=servers)
    )
    assert [op.name for op in result.operations] == ["a"]
    assert result.operations[0].operation.server is None or result.operations[
        0
    ].operation.server.startswith("http")


def test_the_cli_summary_lists_tools_with_their_access_and_a_refused_url_exits_1() -> None:
    petstore = str(Path(__file__).parent / "data" / "openapi" / "oai-petstore-v2.0.json")
    out = CliRunner().invoke(main, ["import", petstore])
    assert out.exit_code == 0, out.output
    assert "3 tools (2 read, 1 write), 1 agents, 1 left out, 0 skipped" in out.output
    assert re.search(r"write +createPets +POST /pets", out.output)
    refused = CliRunner().invoke(main, ["import", "http://169.254.169.254/openapi.json"])
    assert refused.exit_code == 1
    assert refused.output.startswith("refused: ")


def test_aliases_chained_into_deep_nesting_are_refused() -> None:
    lines = ["a0: &a0 [x]"] + [f"a{i}: &a{i} [*a{i - 1}]" for i in range(1, 1500)]
    with pytest.raises(SpecError, match="nested deeper than 200 levels"):
        parse_document("\n".join(lines), "chain.yaml")

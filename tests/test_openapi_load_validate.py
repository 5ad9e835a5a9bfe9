"""The spec loader's fast paths give what the safe parsers give, and the validator's own checks
report each finding at its JSON pointer without stopping the import.

YAML: a spec without anchors, aliases, tags or complex keys is built in one pass over the parser's
events; everything else takes the checked path through SafeLoader. Both must give exactly the
values (and types: a date, a bool, an int) that `yaml.SafeLoader` gives. JSON: the nesting depth
is measured on the text before `json.loads` runs, with strings removed by one linear pattern.
"""

from __future__ import annotations

import asyncio
import datetime
import importlib
import json
import math
import random
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from smart_support.openapi import SpecError, import_spec, parse_document
from smart_support.openapi.validate import findings
from smart_support.settings import Settings

# `smart_support.openapi.load` is shadowed by the `load` function the package exports.
loader = importlib.import_module("smart_support.openapi.load")
MAX_DEPTH: int = loader.MAX_DEPTH

CORPUS = Path(__file__).parent / "data" / "openapi"
YAML_SPECS = sorted(p.name for p in CORPUS.iterdir() if p.suffix == ".yaml")


def typed(value: Any) -> Any:
    """A comparable form that keeps types and key order: 1, True, 1.0 and "1" all differ."""
    if isinstance(value, dict):
        return ("map", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("seq", [typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def safe_load(text: str, big: bool = False) -> Any:
    # The pure-Python SafeLoader takes seconds on a megabyte spec; CSafeLoader is the same
    # constructor over libyaml's parser (the one the fast path reads events from).
    return yaml.load(text, Loader=yaml.CSafeLoader if big else yaml.SafeLoader)


def path_taken(text: str) -> str:
    built = loader._build(text, "t.yaml")
    return "full" if built is loader._FULL else "empty" if built is loader._EMPTY else "fast"


# --- YAML: the fast path against SafeLoader ------------------------------------------------


@pytest.mark.parametrize("name", YAML_SPECS)
def test_every_yaml_spec_of_the_corpus_takes_the_fast_path_and_gives_what_safeloader_gives(
    name: str,
) -> None:
    text = (CORPUS / name).read_text(encoding="utf-8")
    assert path_taken(text) == "fast"
    expected = safe_load(text, big=len(text) > 500_000)
    assert typed(parse_document(text, name)) == typed(expected)


EDGE_CASES: dict[str, tuple[str, str]] = {
    # name: (path, text)
    "anchor and alias": ("full", "a: &x {b: 1, c: [2]}\nd: *x\n"),
    "anchored scalar": ("full", "a: &x 1\nb: *x\n"),
    "merge key": ("full", "base: &b {x: 1, y: 1}\nd:\n  <<: *b\n  y: 2\n"),
    "!!str tag": ("full", "a: !!str 123\nb: !!str yes\n"),
    "!!binary tag": ("full", "a: !!binary aGVsbG8=\n"),
    "!!int and !!float tags": ("full", "a: !!int '7'\nb: !!float '1'\n"),
    "the non-specific tag !": ("fast", "a: ! 123\nb: ! {c: 1}\n"),
    "a %TAG directive": ("fast", "%TAG !e! tag:example.com,2000:\n---\na: 1\n"),
    "literal and folded blocks": (
        "fast",
        "a: |\n  line1\n  line2\nb: >\n  folded\n  text\n\n  para\n"
        "c: |-\n  x\nd: >+\n  keep\n\ne: 1\n",
    ),
    "plain and quoted multi-line": ("fast", "a: one\n  two\nb: 'x\n\n  y'\nc: \"p\\\n  q\"\n"),
    "dates and timestamps": (
        "fast",
        "a: 2024-01-01\nb: 2024-01-01T10:00:00Z\nc: 2001-12-14 21:59:43.10 -5\nd: '2024-01-01'\n"
        "e: 2024-1-1\n",
    ),
    "yaml 1.1 booleans": (
        "fast",
        "a: yes\nb: no\nc: on\nd: off\ne: y\nf: n\ng: True\nh: FALSE\ni: Yes\nj: NO\nk: On\n",
    ),
    "octal-looking and other ints": (
        "fast",
        "a: 0755\nb: 0o755\nc: 0x1F\nd: 0b101\ne: 1_000\nf: 1:30\ng: 08\nh: +12\ni: -0\nj: 010\n",
    ),
    "floats": (
        "fast",
        "a: 1.5\nb: 1e3\nc: 1.0e+3\nd: .inf\ne: -.Inf\nf: .5\ng: 1_0.5\nh: 190:20:30.15\n"
        "i: .nan\nj: 1.2.3\n",
    ),
    "nulls and empty values": (
        "fast",
        "a: null\nb: ~\nc:\nd: Null\ne: NULL\nf: ''\ng: [~, null]\n~: x\nh: {i: }\nj: []\nk: {}\n",
    ),
    "unicode": ("fast", 'é: "caf\\u00e9 🚀"\nb: 日本語\nc: \'\\u00e9\'\n"\\t": tab\n'),
    "duplicate keys": ("fast", "a: 1\nb: 2\na: 3\n"),
    "keys that are the same value": ("fast", "yes: 1\n1: 2\ntrue: 3\non: 4\n1.0: 5\n"),
    "number, bool, date and null keys": (
        "fast",
        "200: ok\n'404': nf\n1.5: f\non: b\n2024-01-01: d\n~: n\n",
    ),
    "quoted lookalikes": ("fast", "a: 'yes'\nb: \"1\"\nc: \"null\"\nd: '2024-01-01'\ne: '0755'\n"),
    "flow collections in block": ("fast", "a: {b: [1, {c: d}], e: [yes, ~]}\nf: [a, 'b', {}]\n"),
    "a root sequence": ("fast", "- a\n- - b\n  - c\n- {d: e}\n- \n"),
    "a root scalar": ("fast", "hello\n"),
    "a root null": ("fast", "~\n"),
    "explicit document markers": ("fast", "---\na: 1\n...\n"),
    "an explicit document with nothing in it": ("fast", "---\n"),
    "comments": ("fast", "# head\na: 1 # tail\nb: '# not a comment'\n"),
}


@pytest.mark.parametrize("name", EDGE_CASES)
def test_an_edge_case_takes_its_path_and_gives_what_safeloader_gives(name: str) -> None:
    path, text = EDGE_CASES[name]
    assert path_taken(text) == path
    got = typed(parse_document(text, "t.yaml"))
    assert got == typed(yaml.load(text, Loader=yaml.SafeLoader))
    assert got == typed(yaml.load(text, Loader=yaml.CSafeLoader))


def test_yaml_1_1_scalars_keep_the_meaning_safeloader_gives_them() -> None:
    spec = parse_document(
        "date: 2024-01-01\nyes: on\nmode: 0755\nport: 1:30\nnothing: ~\nempty:\nword: 'no'\n"
        "version: 3.10\n",
        "t.yaml",
    )
    assert spec == {
        "date": datetime.date(2024, 1, 1),
        True: True,
        "mode": 493,
        "port": 90,
        "nothing": None,
        "empty": None,
        "word": "no",
        "version": 3.1,
    }


def test_a_duplicate_key_keeps_its_first_place_and_its_last_value() -> None:
    spec = parse_document("a: 1\nb: 2\na: {c: 3}\n", "t.yaml")
    assert list(spec.items()) == [("a", {"c": 3}), ("b", 2)]


def test_the_remembered_scalar_tags_tell_quoted_from_plain() -> None:
    spec = parse_document("a: 123\nb: '123'\nc: 123\nd: \"123\"\ne: [123, '123']\n", "t.yaml")
    assert spec == {"a": 123, "b": "123", "c": 123, "d": "123", "e": [123, "123"]}


@pytest.mark.parametrize(
    "text",
    [
        "? [a, b]\n: 1\n",
        "? {a: 1}\n: 1\n",
        "a: =\n",
        "a: <<\n",
        "a: 1\n---\nb: 2\n",
        "a: !!python/name:os.system\n",
        "a: [1, 2\n",
        "a: *nowhere\n",
    ],
    ids=[
        "sequence key",
        "mapping key",
        "value tag",
        "merge as a value",
        "two documents",
        "python tag",
        "unclosed",
        "unknown alias",
    ],
)
def test_what_safeloader_refuses_is_a_spec_error(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        yaml.load(text, Loader=yaml.SafeLoader)
    with pytest.raises(SpecError, match="not valid YAML"):
        parse_document(text, "t.yaml")


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_yaml_document_is_refused(text: str) -> None:
    with pytest.raises(SpecError, match="empty"):
        parse_document(text, "t.yaml")


def test_the_fast_path_accepts_the_nesting_limit_and_refuses_one_more() -> None:
    def nested(levels: int) -> str:
        return "".join("  " * i + "a:\n" for i in range(levels - 1)) + "  " * levels + "a: 1\n"

    at_limit = nested(MAX_DEPTH)
    assert path_taken(at_limit) == "fast"
    assert typed(parse_document(at_limit, "t.yaml")) == typed(safe_load(at_limit))
    with pytest.raises(SpecError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_document(nested(MAX_DEPTH + 1), "t.yaml")


#: Plain scalars that YAML 1.1 resolves to every implicit type, and look-alikes that stay strings.
TOKENS = [
    "yes", "No", "on", "OFF", "y", "n", "true", "False", "~", "null", "Null",
    "2024-01-01", "2001-12-14t21:59:43.10-05:00", "2024-1-1",
    "0755", "0o17", "0x1F", "0b101", "1_000", "1:30", "190:20:30.15", "08", "-0", "+12", "200",
    "1e3", "1.0e+3", ".inf", "-.Inf", "3.14", "3.10", "1.2.3",
    "string", "object", "application/json", "é", "日本", "a b", "x-y", "$ref", "#/a/b",
    "'quoted'", '"dq"', "'yes'", '"123"', '"\\u00e9"', "'it''s'", "\"a\\\"b\"",
]  # fmt: skip


def random_yaml(rng: random.Random) -> str:
    """A block-style document of random plain and quoted scalars, flow collections and blocks."""
    lines: list[str] = []

    def scalar() -> str:
        return rng.choice(TOKENS)

    def flow(depth: int) -> str:
        if depth > 2 or rng.random() < 0.5:
            return scalar()
        if rng.random() < 0.5:
            return "[" + ", ".join(flow(depth + 1) for _ in range(rng.randint(0, 3))) + "]"
        items = (f"{scalar()}: {flow(depth + 1)}" for _ in range(rng.randint(0, 3)))
        return "{" + ", ".join(items) + "}"

    def block(indent: int, depth: int, as_sequence: bool) -> None:
        pad = " " * indent
        for _ in range(rng.randint(1, 4)):
            lead = f"{pad}-" if as_sequence else f"{pad}{scalar()}:"
            roll = rng.random()
            if depth < 4 and roll < 0.3:
                lines.append(lead)
                block(indent + 2, depth + 1, rng.random() < 0.4)
            elif roll < 0.4:
                lines.append(f"{lead} {rng.choice(['|', '>', '|-', '>+'])}")
                lines.extend(f"{pad}  {scalar()} {scalar()}" for _ in range(rng.randint(1, 3)))
            elif roll < 0.45:
                lines.append(lead)  # an empty value: null
            else:
                lines.append(f"{lead} {flow(0)}")

    block(0, 0, rng.random() < 0.2)
    return "\n".join(lines) + "\n"


def test_random_documents_give_what_safeloader_gives() -> None:
    rng = random.Random(20240101)
    fast = 0
    for _ in range(400):
        text = random_yaml(rng)
        try:
            expected = yaml.load(text, Loader=yaml.SafeLoader)
        except yaml.YAMLError:
            with pytest.raises(SpecError):
                parse_document(text, "t.yaml")
            continue
        if expected is None:  # nothing but comments (a key `#/a/b:` is one)
            with pytest.raises(SpecError, match="empty"):
                parse_document(text, "t.yaml")
            continue
        assert typed(parse_document(text, "t.yaml")) == typed(expected), text
        fast += path_taken(text) == "fast"
    assert fast > 300  # the documents did exercise the fast path


# --- JSON: the nesting depth check -----------------------------------------------------------


def arrays(levels: int, inner: str = "1") -> str:
    return "[" * levels + inner + "]" * levels


def objects(levels: int, inner: str = "1") -> str:
    return '{"a":' * levels + inner + "}" * levels


@pytest.mark.parametrize("nest", [arrays, objects], ids=["arrays", "objects"])
def test_json_at_the_nesting_limit_parses_and_one_level_more_is_refused(nest: Any) -> None:
    at_limit = nest(MAX_DEPTH)
    assert parse_document(at_limit, "t.json") == json.loads(at_limit)
    over = nest(MAX_DEPTH + 1)
    json.loads(over)  # the parser itself would take it: the refusal is the check's
    with pytest.raises(SpecError, match=f"nested deeper than {MAX_DEPTH} levels"):
        parse_document(over, "t.json")


def test_mixed_json_nesting_counts_objects_and_arrays_alike() -> None:
    text = '{"a": [' * (MAX_DEPTH // 2) + "1" + "]}" * (MAX_DEPTH // 2)
    assert parse_document(text, "t.json") == json.loads(text)
    with pytest.raises(SpecError, match="nested deeper"):
        parse_document("[" + text + "]", "t.json")


def test_siblings_do_not_add_up_to_depth() -> None:
    text = "[" + ",".join([arrays(MAX_DEPTH - 1)] * 50) + "]"
    assert parse_document(text, "t.json") == json.loads(text)


@pytest.mark.parametrize(
    "inside",
    ["[" * 1000, "{" * 1000, '\\"' + "[" * 1000, "[{" * 500 + '\\"', "\\\\" * 3 + "[" * 300],
    ids=["brackets", "braces", "after an escaped quote", "before an escaped quote", "after \\\\"],
)
def test_brackets_inside_a_json_string_are_not_depth(inside: str) -> None:
    text = '{"description": "' + inside + '", "x": [1]}'
    assert parse_document(text, "t.json") == json.loads(text)


def test_brackets_after_a_string_ending_in_an_escaped_backslash_are_depth() -> None:
    text = '["a\\\\", ' + arrays(MAX_DEPTH) + "]"  # the string is `a\`: it ends at the quote
    assert json.loads(text)[0] == "a\\"
    with pytest.raises(SpecError, match="nested deeper"):
        parse_document(text, "t.json")


def depth_of(value: Any) -> int:
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def test_random_json_is_refused_exactly_when_it_nests_over_the_limit() -> None:
    rng = random.Random(7)
    alphabet = '"\\[]{}/a é\n'

    def string() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))

    def shallow(levels: int) -> Any:
        if levels == 0:
            return rng.choice([string(), 1, None, True, [], {}])
        return [shallow(levels - 1)] if rng.random() < 0.5 else {string(): shallow(levels - 1)}

    def deep(levels: int) -> Any:
        node = shallow(0)
        for _ in range(levels):  # one deep branch, with shallow siblings full of brackets
            items = [node, shallow(rng.randint(0, 2)), string()]
            rng.shuffle(items)
            node = (
                items if rng.random() < 0.5 else {string() + str(i): v for i, v in enumerate(items)}
            )
        return node

    levels = [MAX_DEPTH - 2, MAX_DEPTH - 1, MAX_DEPTH, MAX_DEPTH + 1, MAX_DEPTH + 5, 3]
    for _ in range(10):
        for level in levels:
            document = deep(level)
            text = json.dumps(document, ensure_ascii=rng.random() < 0.5)
            if depth_of(document) > MAX_DEPTH:
                with pytest.raises(SpecError, match="nested deeper"):
                    parse_document(text, "t.json")
            else:
                assert parse_document(text, "t.json") == json.loads(text)


def timed(text: str) -> tuple[float, Any]:
    start = time.perf_counter()
    try:
        result: Any = parse_document(text, "t.json")
    except SpecError as exc:
        result = exc
    return time.perf_counter() - start, result


@pytest.mark.parametrize(
    "run",
    ['\\"', '\\\\\\"', '\\\\"'],
    ids=["backslash-quote", "3 backslashes-quote", "\\\\ then quote"],
)
def test_a_megabyte_run_of_backslashes_and_quotes_is_checked_in_linear_time(run: str) -> None:
    body = run * (1_000_000 // len(run))
    baseline_text = '["' + "a" * len(body) + '"]'
    baseline, _ = timed(baseline_text)
    # The old pattern retried from every quote to the end of the text: hours for a megabyte.
    for text in ('["' + body + '"]', '["' + body, "[" + body, '{"a": "' + body + '"}'):
        elapsed, result = timed(text)
        assert elapsed < 50 * baseline + 2.0, (elapsed, baseline)
        try:
            expected = json.loads(text)
        except json.JSONDecodeError:
            assert isinstance(result, SpecError) and "not valid JSON" in str(result)
        else:
            assert result == expected


def test_an_unterminated_json_string_hides_no_depth_from_json_loads() -> None:
    text = '["unterminated ' + "[" * 10_000
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_document(text, "t.json")


# --- Validation: the findings and their JSON pointers ---------------------------------------


OK = {"200": {"description": "ok"}}


def spec_3(paths: Any, version: str = "3.0.3", **extra: Any) -> dict[str, Any]:
    return {"openapi": version, "info": {"title": "t", "version": "1"}, "paths": paths, **extra}


def spec_2(paths: Any) -> dict[str, Any]:
    return {"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": paths}


def test_a_dangling_local_ref_is_reported_at_its_pointer() -> None:
    spec = spec_3(
        {
            "/a": {
                "get": {
                    "operationId": "a",
                    "parameters": [{"$ref": "#/components/parameters/Nope"}],
                    "responses": OK,
                }
            }
        }
    )
    assert findings(spec) == [
        "/paths/~1a/get/parameters/0/$ref: '#/components/parameters/Nope' does not resolve"
    ]


def test_a_ref_that_resolves_a_property_named_ref_and_example_data_are_not_findings() -> None:
    schema = {
        "type": "object",
        "properties": {"$ref": {"type": "string"}},
        "example": {"$ref": "#/not/a/reference"},
    }
    spec = spec_3(
        {
            "/a": {
                "post": {
                    "operationId": "a",
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/S"}}
                        }
                    },
                    "responses": OK,
                }
            }
        },
        components={"schemas": {"S": schema}},
    )
    assert findings(spec) == []


def test_an_undeclared_path_template_parameter_is_reported_at_its_operation() -> None:
    declared = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    spec = spec_3(
        {"/a/{id}/{x}": {"get": {"operationId": "a", "parameters": [declared], "responses": OK}}}
    )
    assert findings(spec) == [
        "/paths/~1a~1{id}~1{x}/get: path parameter 'x' of '/a/{id}/{x}' is not declared"
    ]


def test_path_parameters_declared_on_the_path_item_or_through_a_ref_are_declared() -> None:
    param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    spec = spec_3(
        {
            "/a/{id}": {"parameters": [param], "get": {"operationId": "a", "responses": OK}},
            "/b/{id}": {
                "get": {
                    "operationId": "b",
                    "parameters": [{"$ref": "#/components/parameters/Id"}],
                    "responses": OK,
                }
            },
        },
        components={"parameters": {"Id": param}},
    )
    assert findings(spec) == []


def test_a_duplicate_operation_id_is_reported_at_the_second_use() -> None:
    spec = spec_3(
        {
            "/a": {"get": {"operationId": "same", "responses": OK}},
            "/b": {"post": {"operationId": "same", "responses": OK}},
        }
    )
    assert findings(spec) == [
        "/paths/~1b/post/operationId: 'same' is also the operationId of GET /a"
    ]


def test_pointers_escape_tilde_and_slash() -> None:
    spec = spec_3({"/a~b/{x}": {"get": {"operationId": "a", "responses": OK}}})
    assert findings(spec) == [
        "/paths/~1a~0b~1{x}/get: path parameter 'x' of '/a~b/{x}' is not declared"
    ]


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_paths_that_are_not_an_object_are_a_structural_finding(version: str) -> None:
    assert findings(spec_3([1, 2], version)) == ["/paths: Input should be a valid dictionary"]


@pytest.mark.parametrize("version", ["3.0.3", "3.1.0"])
def test_a_parameter_without_in_is_reported_at_the_parameter(version: str) -> None:
    param = {"name": "q", "schema": {"type": "string"}}
    spec = spec_3(
        {"/a": {"get": {"operationId": "a", "parameters": [param], "responses": OK}}}, version
    )
    assert findings(spec) == ["/paths/~1a/get/parameters/0: 'in' is required"]


def test_a_swagger_2_schema_error_is_reported_at_its_pointer() -> None:
    param = {"name": "q", "in": "nowhere", "type": "string"}
    spec = spec_2({"/a": {"get": {"parameters": [param], "responses": OK}}})
    [finding] = findings(spec)
    assert finding.startswith("/paths/~1a/get/parameters/0: ")
    # jsonschema's own words ("... of the given schemas", or "... of the schemas listed" since
    # 4.24): the validator's message is passed on as it is, at the pointer.
    assert "is not valid under any of the" in finding and "nowhere" in finding


def number_keyed(header: str) -> str:
    return (
        f"{header}\ninfo: {{title: t, version: '1'}}\npaths:\n  /a:\n    get:\n"
        "      operationId: a\n      responses:\n        200:\n          description: ok\n"
        "        404: {description: not found}\n"
    )


@pytest.mark.parametrize(
    "header", ["openapi: 3.0.3", "openapi: 3.1.0", "swagger: '2.0'"], ids=["3.0", "3.1", "2.0"]
)
def test_a_yaml_number_key_for_a_response_code_is_not_a_finding(header: str) -> None:
    spec = parse_document(number_keyed(header), "t.yaml")
    assert 200 in spec["paths"]["/a"]["get"]["responses"]  # a number, as YAML reads it
    assert findings(spec) == []


@pytest.mark.parametrize("header", ["openapi: 3.0.3", "swagger: '2.0'"], ids=["3.0", "2.0"])
def test_an_error_beside_number_keys_is_still_found_and_the_spec_is_left_as_it_was(
    header: str,
) -> None:
    text = number_keyed(header).replace("{description: not found}", "{}")
    spec = parse_document(text, "t.yaml")
    found = findings(spec)
    assert len(found) == 1 and found[0].startswith("/paths/~1a/get/responses/404: "), found
    assert list(spec["paths"]["/a"]["get"]["responses"]) == [200, 404]


@pytest.mark.parametrize(
    "name",
    [
        "oai-petstore-expanded-v3.0.yaml",
        "oai-petstore-v2.0.json",
        "swagger-petstore-1.0.27-SNAPSHOT.yaml",
        "oai-webhook-example-v3.1.yaml",
    ],
)
def test_a_valid_spec_has_no_findings(name: str) -> None:
    assert findings(parse_document((CORPUS / name).read_text(encoding="utf-8"), name)) == []


def test_the_import_goes_on_with_findings_as_warnings(tmp_path: Path) -> None:
    spec = spec_3(
        {
            "/orders/{id}": {"get": {"operationId": "getOrder", "responses": OK}},
            "/orders": {
                "get": {
                    "operationId": "getOrder",
                    "parameters": [{"$ref": "#/components/parameters/Missing"}],
                    "responses": OK,
                },
                "post": {
                    "operationId": "createOrder",
                    "parameters": [{"name": "q", "schema": {"type": "string"}}],
                    "responses": OK,
                },
            },
        },
        servers=[{"url": "https://api.example.com"}],
    )
    path = tmp_path / "spec.json"
    path.write_text(json.dumps(spec))
    result = asyncio.run(import_spec(str(path), Settings()))
    assert set(findings(spec)) <= set(result.warnings)
    assert "/paths/~1orders/post/parameters/0: 'in' is required" in result.warnings
    assert any("'#/components/parameters/Missing' does not resolve" in w for w in result.warnings)
    assert any(
        "path parameter 'id' of '/orders/{id}' is not declared" in w for w in result.warnings
    )
    assert any("'getOrder' is also the operationId" in w for w in result.warnings)
    # What can still be called is imported; only the operation whose parameter is missing is not.
    imported = {(op.operation.method, op.operation.path): op for op in result.operations}
    assert set(imported) == {("get", "/orders/{id}"), ("post", "/orders")}
    assert imported["get", "/orders/{id}"].input_schema["required"] == ["id"]
    assert [s["operation"] for s in result.skipped] == ["getOrder"]


def test_a_yaml_spec_in_flow_style_parses_and_a_flow_style_bomb_is_still_refused() -> None:
    assert parse_document("{openapi: 3.0.0, info: {title: t, version: '1'}}", "flow.yaml") == {
        "openapi": "3.0.0",
        "info": {"title": "t", "version": "1"},
    }
    levels = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for level in "bcdefghij":
        previous = chr(ord(level) - 1)
        levels.append(f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 9) + "]")
    with pytest.raises(SpecError, match="alias"):
        parse_document("{" + ", ".join(levels) + "}", "bomb.yaml")
    with pytest.raises(SpecError, match="not valid JSON"):
        parse_document('{"a": [1,}', "broken.json")

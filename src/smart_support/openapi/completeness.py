"""What a complete import must offer: every parameter and top-level body property of a spec.

`expected_inputs(spec)` reads the raw document with its own small `$ref` follower (local refs
only), independent of the converter, so a test or a benchmark can check the converter against
it: `missing_inputs(result, spec)` names, per tool, what the spec has and the tool's input lacks.
Auth headers and API keys travel with the import's auth and content negotiation with the HTTP
layer, so they are not expected as arguments.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from smart_support.openapi.importer import ImportResult

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
#: Headers the HTTP layer sets (not arguments).
OWNED_HEADERS = {
    "authorization",
    "accept",
    "content-type",
    "content-length",
    "host",
    "cookie",
    "idempotency-key",
}

#: An operation's inputs: {(location, original name)}; ("body", "") is a body taken whole.
Inputs = set[tuple[str, str]]


def follow(spec: Any, value: Any) -> Any:
    """The value a chain of local `$ref`s names (None when it leaves the document or dangles)."""
    for _ in range(50):
        if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
            return value
        ref = value["$ref"]
        if not ref.startswith("#/"):
            return None
        value = spec
        for part in ref[2:].split("/"):
            value = (
                value.get(part.replace("~1", "/").replace("~0", "~"))
                if isinstance(value, dict)
                else None
            )
    return None


def body_properties(spec: Any, schema: Any) -> set[str] | None:
    """Top-level property names of an object body (allOf merged); None when not an object."""
    schema = follow(spec, schema)
    if not isinstance(schema, dict):
        return None
    variants = [
        v
        for v in schema.get("oneOf") or schema.get("anyOf") or []
        if not (isinstance(v, dict) and v.get("type") == "null")
    ]
    if len(variants) == 1 and "properties" not in schema:  # one real variant: that object
        return body_properties(spec, variants[0])
    names = set((schema.get("properties") or {}).keys())
    for part in schema.get("allOf") or []:
        names |= body_properties(spec, part) or set()
    return names or None


def expected_inputs(spec: Any) -> dict[tuple[str, str], Inputs]:
    """(METHOD, path) -> {(in, original)} for every operation of the raw spec."""
    swagger = "swagger" in spec
    schemes = (
        (spec.get("components") or {}).get("securitySchemes")
        or spec.get("securityDefinitions")
        or {}
    )
    # API keys travel with the import's auth, not as arguments; Accept-* is content negotiation.
    keys = {
        (s.get("in"), str(s.get("name")).lower())
        for s in schemes.values()
        if isinstance(s, dict) and s.get("type") == "apiKey"
    }
    out: dict[tuple[str, str], Inputs] = {}
    for path, item in (spec.get("paths") or {}).items():
        item = follow(spec, item) or {}
        for method in METHODS:
            op = item.get(method)
            if isinstance(op, dict):
                out[(method.upper(), str(path))] = _operation_inputs(spec, item, op, swagger, keys)
    return out


def _operation_inputs(
    spec: Any, item: dict[str, Any], op: dict[str, Any], swagger: bool, keys: set[Any]
) -> Inputs:
    wanted: Inputs = set()
    body_schema: Any = None
    for param in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
        param = follow(spec, param) or {}
        where, name = param.get("in"), param.get("name")
        if not isinstance(where, str) or not isinstance(name, str):
            continue  # not a parameter anyone could send
        if where == "body":
            body_schema = param.get("schema")
        elif where == "formData":
            wanted.add(("body", name))
        elif (where, str(name).lower()) in keys:
            continue
        elif where in ("path", "query", "cookie") or (
            where == "header"
            and name.lower() not in OWNED_HEADERS
            and not name.lower().startswith("accept-")
        ):
            wanted.add((where, name))
    if not swagger and op.get("requestBody"):
        content = (follow(spec, op["requestBody"]) or {}).get("content") or {}
        for media_type, media in content.items():
            if "json" in media_type or "form-urlencoded" in media_type or media_type == "*/*":
                body_schema = (media or {}).get("schema")
                break
    if body_schema is not None:
        props = body_properties(spec, body_schema)
        wanted |= {("body", p) for p in props} if props else {("body", "")}
    return wanted


def missing_inputs(result: ImportResult, spec: Any) -> dict[str, Inputs]:
    """Tool name -> the spec's inputs of its operation that the tool does not take."""
    ops = expected_inputs(spec)
    out: dict[str, Inputs] = {}
    for op in result.operations:
        found = {(b.location, b.original) for b in op.bindings}
        out[op.name] = ops.get((op.operation.method.upper(), op.operation.path), set()) - found
    return out

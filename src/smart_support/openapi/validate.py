"""Validation of a spec: findings are warnings with a JSON pointer, never a refusal on their own.

Real specs break the rules (a `security` of the wrong type, a dangling `$ref`); the import keeps
every operation that can still be called. Two passes, both bounded in time by the document's size:

- structure: OpenAPI 3.0 / 3.1 against openapi-pydantic's models (pydantic-core, tens of
  milliseconds for a 3 MB spec); Swagger 2.0 against its JSON Schema with openapi-spec-validator
  (the only pass of that library we run: its keyword pass walks every schema through a slow
  reference resolver, seconds on a large spec, and duplicates the checks below and the reader's);
- references and operations, our own: every local `$ref` resolves, every `{name}` of a path
  template is declared as a path parameter, no operationId is used twice.

Nothing here reaches the network or follows a reference out of the document: external documents
were fetched by `load`, through the egress guard, and are checked by the reader as it uses them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

#: Findings beyond this are counted, not listed.
MAX_FINDINGS = 50
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_TEMPLATE = re.compile(r"{([^{}/]+)}")


def pointer(parts: Any) -> str:
    """A JSON pointer (RFC 6901) for a path of keys and indexes."""
    return (
        "/" + "/".join(str(p).replace("~", "~0").replace("/", "~1") for p in parts) if parts else ""
    )


def findings(spec: Any) -> list[str]:
    """The findings as `"<json pointer>: message"` lines (at most MAX_FINDINGS + 1)."""
    if not isinstance(spec, dict):
        return ["/: not an OpenAPI 3.0/3.1 or Swagger 2.0 document the validator recognises"]
    version = str(spec.get("openapi") or spec.get("swagger") or "")
    out: list[str] = []
    try:
        if version.startswith(("3.0", "3.1")):
            out.extend(_structure_3(spec, version[:3]))
        elif version.startswith("2."):
            out.extend(_structure_2(spec))
        else:
            out.append("/: not an OpenAPI 3.0/3.1 or Swagger 2.0 document the validator recognises")
        out.extend(_references(spec))
        out.extend(_operations(spec))
    except RecursionError:
        out.append("/: the validator gave up (too deeply nested); validation is incomplete")
    unique = list(dict.fromkeys(out))
    if len(unique) > MAX_FINDINGS:
        return [
            *unique[:MAX_FINDINGS],
            f"/: more than {MAX_FINDINGS} findings; the rest are not listed",
        ]
    return unique


def _structure_3(spec: dict[str, Any], version: str) -> list[str]:
    """OpenAPI 3.0 / 3.1 structure, one finding per place (the first message of a union's)."""
    from pydantic import ValidationError

    if version == "3.1":
        from openapi_pydantic.v3.v3_1 import OpenAPI
    else:
        from openapi_pydantic.v3.v3_0 import OpenAPI  # type: ignore[assignment]
    try:
        OpenAPI.model_validate(spec)
    except ValidationError as exc:
        by_place: dict[str, str] = {}
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = error["loc"]
            if len(loc) > 1 and loc[-1] == "[key]" and isinstance(loc[-2], int):
                continue  # YAML's `200:` is a number key; every reader takes it as "200"
            where, message = _locate(spec, error["loc"], error["type"], error["msg"])
            by_place.setdefault(where, message)
        return [f"{where}: {message[:300]}" for where, message in by_place.items()]
    return []


def _locate(spec: Any, loc: tuple[Any, ...], kind: str, message: str) -> tuple[str, str]:
    """The JSON pointer of a pydantic error location (model and union tags skipped)."""
    node, parts = spec, []
    rest: list[Any] = []
    for part in loc:
        found = (isinstance(node, dict) and part in node) or (
            isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)
        )
        if found:
            node = node[part]
            parts.append(part)
        else:
            rest.append(part)  # a union branch or model name, or a field that is not there
    if kind == "missing" and rest:
        message = f"{rest[-1]!r} is required"
    return pointer(parts) or "/", message


def _structure_2(spec: dict[str, Any]) -> list[str]:
    """Swagger 2.0 against its JSON Schema (openapi-spec-validator's schema pass)."""
    from openapi_spec_validator.validation.validators import OpenAPIV2SpecValidator

    out: list[str] = []
    try:
        for error in OpenAPIV2SpecValidator.schema_validator.iter_errors(_string_keys(spec)):
            where = pointer(list(getattr(error, "absolute_path", []) or []))
            out.append(f"{where or '/'}: {str(error.message)[:300]}")
            if len(out) > MAX_FINDINGS:
                break  # the rest would cost seconds on a large spec
    except Exception as exc:  # the validator's own failure is a finding, not the import's
        out.append(f"/: validation stopped early: {type(exc).__name__}: {str(exc)[:200]}")
    return out


def _string_keys(spec: Any) -> Any:
    """The document with YAML's number keys (`200:`) as strings, as every reader takes them: the
    Swagger 2.0 schema matches keys against patterns, and a number there stops the validator."""
    if all(isinstance(key, str) for _, item in _walk(spec) for key in item):
        return spec

    def fresh(item: Any) -> Any:
        return {} if isinstance(item, dict) else [] if isinstance(item, list) else item

    root = fresh(spec)
    stack: list[tuple[Any, Any]] = [(spec, root)]
    while stack:  # iteratively: no recursion limit
        old, new = stack.pop()
        pairs = old.items() if isinstance(old, dict) else enumerate(old)
        for key, value in pairs:
            child = fresh(value)
            if isinstance(new, dict):
                new[key if isinstance(key, str) else str(key)] = child
            else:
                new.append(child)
            if child is not value:
                stack.append((value, child))
    return root


def _walk(value: Any) -> Iterator[tuple[list[Any], dict[str, Any]]]:
    """Every object in the document, with its path (iteratively: no recursion limit)."""
    stack: list[tuple[list[Any], Any]] = [([], value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, dict):
            yield path, item
            stack.extend(([*path, k], v) for k, v in item.items() if isinstance(v, (dict, list)))
        elif isinstance(item, list):
            stack.extend(([*path, i], v) for i, v in enumerate(item) if isinstance(v, (dict, list)))


def _resolves(spec: Any, ref: str) -> bool:
    node = spec
    for raw in ref[1:].lstrip("/").split("/") if ref.strip("#/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return False
    return True


def _in_example(path: list[Any]) -> bool:
    return any(p == "example" and path[i - 1 : i] != ["properties"] for i, p in enumerate(path))


def _references(spec: dict[str, Any]) -> Iterator[str]:
    """Local `$ref`s that point nowhere (external ones were checked when they were fetched)."""
    known: dict[str, bool] = {}
    for path, item in _walk(spec):
        ref = item.get("$ref")
        if not isinstance(ref, str) or not ref.startswith("#"):
            continue
        if path[-1:] == ["properties"] or _in_example(path):
            continue  # a property named "$ref", or example data: not references
        if ref not in known:
            known[ref] = _resolves(spec, ref)
        if not known[ref]:
            yield f"{pointer([*path, '$ref'])}: {ref!r} does not resolve"


def _local(spec: dict[str, Any], value: Any) -> Any:
    for _ in range(32):
        if not (isinstance(value, dict) and isinstance(value.get("$ref"), str)):
            return value
        ref = value["$ref"]
        if not ref.startswith("#") or not _resolves(spec, ref):
            return None
        node: Any = spec
        for raw in ref[1:].lstrip("/").split("/") if ref.strip("#/") else []:
            part = raw.replace("~1", "/").replace("~0", "~")
            node = node[int(part)] if isinstance(node, list) else node[part]
        value = node
    return None


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _operations(spec: dict[str, Any]) -> Iterator[str]:
    """Undeclared path template parameters and operationIds used twice."""
    paths = spec.get("paths")
    if not isinstance(paths, dict):
        return
    seen: dict[str, str] = {}
    for path, item in paths.items():
        item = _local(spec, item)
        if not isinstance(item, dict):
            continue
        shared = _list(item.get("parameters"))
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            where = pointer(["paths", path, method])
            own = _list(op.get("parameters"))
            declared: set[Any] = set()
            unresolved = False
            for param in [*shared, *own]:
                param = _local(spec, param)
                if param is None:
                    unresolved = True  # a dangling or external ref: said elsewhere
                elif isinstance(param, dict) and param.get("in") == "path":
                    declared.add(param.get("name"))
            for name in _TEMPLATE.findall(str(path)):
                if name not in declared and not unresolved:
                    yield f"{where}: path parameter {name!r} of {path!r} is not declared"
            op_id = op.get("operationId")
            if isinstance(op_id, str):
                label = f"{method.upper()} {path}"
                if op_id in seen:
                    yield f"{where}/operationId: {op_id!r} is also the operationId of {seen[op_id]}"
                else:
                    seen[op_id] = label

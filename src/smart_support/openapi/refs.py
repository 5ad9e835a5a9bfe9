"""`$ref` resolution, lazily and per use: nothing is inlined until an operation needs it.

Local pointers (`#/components/...`), pointers into the external documents `load` fetched, cycles
cut at a bounded depth. Resolved schemas are cached by reference (when no cycle was cut inside
them) and shared between operations, so memory grows with what the imported operations use, not
with the size of the spec's component library.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urldefrag

from smart_support.openapi.load import Documents, external_location

#: How deep a schema is expanded for a tool's input (nested objects beyond it become `{}`).
MAX_SCHEMA_DEPTH = 12
#: How many `$ref` hops a chain of references may take before it counts as broken.
MAX_REF_HOPS = 32

#: Schema keywords kept in a tool's input schema (documentation noise and XML hints dropped).
_DROPPED = {"example", "examples", "xml", "externalDocs", "discriminator", "readOnly", "deprecated"}


class RefError(ValueError):
    """A `$ref` that cannot be followed (dangling, not fetched, or a loop of references)."""


class Resolver:
    """Follows `$ref`s within the loaded documents."""

    def __init__(self, documents: Documents) -> None:
        self.documents = documents
        self._cache: dict[str, Any] = {}
        self.cut: set[str] = set()

    def lookup(self, ref: str, base: str) -> tuple[Any, str, str]:
        """The value a `$ref` names, the document it lives in, and its absolute key.

        Raises:
            RefError: The reference does not resolve.
        """
        where = external_location(ref, base) or base
        fragment = urldefrag(ref)[1] if "#" in ref else ""
        doc = self.documents.docs.get(where)
        if doc is None:
            raise RefError(f"$ref {ref!r} points into a document that was not loaded")
        node = doc
        for raw in fragment.lstrip("/").split("/") if fragment.strip("/") else []:
            part = unquote(raw).replace("~1", "/").replace("~0", "~")
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise RefError(f"$ref {ref!r} does not exist in the document")
        return node, where, f"{where}#{fragment}"

    def deref(self, value: Any, base: str) -> tuple[Any, str]:
        """Follow a chain of `$ref`s to a value that is not a reference."""
        hops = 0
        while isinstance(value, dict) and isinstance(value.get("$ref"), str):
            hops += 1
            if hops > MAX_REF_HOPS:
                raise RefError(f"$ref {value['$ref']!r} is a loop of references")
            value, base, _ = self.lookup(value["$ref"], base)
        return value, base

    def schema(self, schema: Any, base: str, *, depth: int = 0) -> Any:
        """A self-contained copy of `schema` for a tool's input: refs inlined, cycles cut."""
        result, _ = self._schema(schema, base, depth, ())
        return result

    def _schema(
        self, schema: Any, base: str, depth: int, stack: tuple[str, ...]
    ) -> tuple[Any, bool]:
        """Returns (schema, whether a cut happened inside it, which makes it context-dependent)."""
        if isinstance(schema, list):
            items = [self._schema(item, base, depth, stack) for item in schema]
            return [item for item, _ in items], any(cut for _, cut in items)
        if not isinstance(schema, dict):
            return schema, False
        ref = schema.get("$ref")
        if isinstance(ref, str):
            try:
                target, where, key = self.lookup(ref, base)
            except RefError as exc:
                return {"description": f"(unresolved: {exc})"}, False
            if key in stack or depth >= MAX_SCHEMA_DEPTH:
                self.cut.add(key)
                name = key.rsplit("/", 1)[-1]
                return {
                    "type": "object",
                    "description": f"{name} (nested further; shape omitted)",
                }, True
            cached = self._cache.get(key)
            if cached is not None:
                return cached, False
            result, cut = self._schema(target, where, depth, (*stack, key))
            if isinstance(result, dict) and len(schema) > 1:  # 3.1 allows siblings of $ref
                siblings, sib_cut = self._schema(
                    {k: v for k, v in schema.items() if k != "$ref"}, base, depth, stack
                )
                result = {**result, **siblings}
                cut = cut or sib_cut
            if not cut:
                self._cache[key] = result
            return result, cut
        if depth >= MAX_SCHEMA_DEPTH:
            return {"description": "(nested further; shape omitted)"}, True
        out: dict[str, Any] = {}
        cut = False
        for key, value in schema.items():
            if key in _DROPPED or key.startswith("x-"):
                continue
            if key == "properties" and isinstance(value, dict):
                props = {}
                for name, sub in value.items():
                    props[name], c = self._schema(sub, base, depth + 1, stack)
                    cut = cut or c
                out[key] = props
            elif key in (
                "items",
                "additionalProperties",
                "not",
                "allOf",
                "oneOf",
                "anyOf",
                "prefixItems",
            ):
                out[key], c = self._schema(value, base, depth + 1, stack)
                cut = cut or c
            else:
                out[key] = value
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            # 3.0 / Swagger: a flag on minimum / maximum; JSON Schema: the bound itself.
            if isinstance(out.get(bound), bool) and out.pop(bound) and limit in out:
                out[bound] = out.pop(limit)
        if out.pop("nullable", False) is True and isinstance(out.get("type"), str):
            out["type"] = [out["type"], "null"]  # 3.0 nullability as 3.1 / JSON Schema says it
        return out, cut

    def properties(self, schema: Any, base: str) -> tuple[dict[str, Any], list[str], bool]:
        """The top-level properties and required names of an object schema (allOf merged).

        Returns (properties, required, is_object). `is_object` is False for arrays, scalars and
        schemas whose shape is only `oneOf`/`anyOf` (those travel as one `body` argument).
        """
        try:
            schema, base = self.deref(schema, base)
        except RefError:
            return {}, [], False
        if not isinstance(schema, dict):
            return {}, [], False
        variants = schema.get("anyOf") or schema.get("oneOf")
        if isinstance(variants, list) and "properties" not in schema:
            # `anyOf: [Thing, {type: null}]` (an optional body, as FastAPI writes it): use Thing.
            real = [v for v in variants if not (isinstance(v, dict) and v.get("type") == "null")]
            if len(real) == 1:
                return self.properties(real[0], base)
        props: dict[str, Any] = {}
        required: list[str] = []
        is_object = schema.get("type") in ("object", None) and (
            "properties" in schema or "allOf" in schema or schema.get("type") == "object"
        )
        for part in schema.get("allOf") or []:
            sub_props, sub_req, sub_obj = self.properties(part, base)
            props.update(sub_props)
            required.extend(sub_req)
            is_object = is_object or sub_obj
        for name, sub in (schema.get("properties") or {}).items():
            props[name] = (sub, base)
        required.extend(r for r in schema.get("required") or [] if isinstance(r, str))
        if isinstance(schema.get("type"), list) and "object" in schema["type"]:
            is_object = True
        return props, list(dict.fromkeys(required)), bool(is_object)

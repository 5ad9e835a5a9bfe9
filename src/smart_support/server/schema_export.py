"""The chat protocol's JSON schemas, and what is generated from them.

`python -m smart_support.server.schema_export` rewrites the generated section of
`docs/protocol.md` and `web/src/protocol.ts` (the web UI's frame types) from the pydantic models
of `smart_support.server.protocol`, and `web/src/console/api-types.ts` (the operator console's
REST types) from the REST models (`rest_models`); `--check` only reports drift (exit 1); `--json`
prints the schemas. Tests fail when any of these files is stale.

The TypeScript comes from a small generator of ours rather than json-schema-to-typescript: the
schemas pydantic writes for these frames use a handful of constructs (objects, `const`, `enum`,
`anyOf`, arrays, `$ref`), and keeping Node out of the loop lets a Python test check for drift.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, TypeAdapter

from smart_support.server.protocol import (
    CLIENT_FRAMES,
    OPERATOR_CLIENT_FRAMES,
    OPERATOR_SERVER_FRAMES,
    SERVER_FRAMES,
    ClientFrame,
    OperatorClientFrame,
    OperatorServerFrame,
    ServerFrame,
)

#: The unions of each socket: the chat (`/ws/v1`) and the operator's (`/ws/v1/operator`).
UNIONS: dict[str, Any] = {
    "ClientFrame": (ClientFrame, "validation"),
    "ServerFrame": (ServerFrame, "serialization"),
    "OperatorClientFrame": (OperatorClientFrame, "validation"),
    "OperatorServerFrame": (OperatorServerFrame, "serialization"),
}

ROOT = Path(__file__).resolve().parents[3]
DOC = ROOT / "docs" / "protocol.md"
TYPESCRIPT = ROOT / "web" / "src" / "protocol.ts"
REST_TYPESCRIPT = ROOT / "web" / "src" / "console" / "api-types.ts"

BEGIN_MARK = "<!-- generated schemas: begin (python -m smart_support.server.schema_export) -->"
END_MARK = "<!-- generated schemas: end -->"


def schemas() -> dict[str, Any]:
    """One JSON schema document: the frame unions of both sockets (`UNIONS`) and every model
    in `$defs`.

    Server frames use the serialisation schema: what the server sends always has every field.
    """
    document: dict[str, Any] = {"$defs": {}}
    for name, (union, mode) in UNIONS.items():
        schema = TypeAdapter(union).json_schema(mode=mode, ref_template="#/$defs/{model}")
        definitions = schema.pop("$defs")
        if mode == "serialization":
            for definition in definitions.values():
                if "properties" in definition:
                    definition["required"] = list(definition["properties"])
        document["$defs"].update(definitions)
        document[name] = schema
    return document


# docs/protocol.md --------------------------------------------------------------------------------


def _tag(model: type[BaseModel]) -> str:
    field = model.model_fields["type"]
    return str(field.default) if field.default is not None else model.__name__


def schemas_markdown() -> str:
    """The JSON schema of every frame, as the generated section of docs/protocol.md."""
    parts = [BEGIN_MARK, ""]
    for title, frames, mode in (
        ("Client frames", CLIENT_FRAMES, "validation"),
        ("Server frames", SERVER_FRAMES, "serialization"),
        ("Operator socket: client frames", OPERATOR_CLIENT_FRAMES, "validation"),
        ("Operator socket: server frames", OPERATOR_SERVER_FRAMES, "serialization"),
    ):
        parts += [f"### {title}", ""]
        for model in frames:
            schema = model.model_json_schema(mode=mode)  # type: ignore[arg-type]
            tag = schema["properties"]["type"].get("const") or _tag(model)
            parts += [
                f"#### `{tag}` ({model.__name__})",
                "",
                "```json",
                json.dumps(schema, indent=2, sort_keys=True),
                "```",
                "",
            ]
    parts.append(END_MARK)
    return "\n".join(parts)


def updated_doc(text: str) -> str:
    """`text` (docs/protocol.md) with its generated section replaced."""
    head, _, rest = text.partition(BEGIN_MARK)
    if not rest:  # the section marker of an older generator
        head, _, rest = text.partition(BEGIN_MARK.replace("schema_export", "protocol"))
    _, _, tail = rest.partition(END_MARK)
    return head + schemas_markdown() + tail


# web/src/protocol.ts -----------------------------------------------------------------------------


def _ts(schema: dict[str, Any] | bool) -> str:
    """The TypeScript type of a JSON schema (the subset pydantic writes for our frames)."""
    if schema is True:
        return "unknown"
    assert isinstance(schema, dict)
    if not set(schema) - {"description", "title", "default"}:  # `Any`
        return "unknown"
    if "$ref" in schema:
        return str(schema["$ref"].rsplit("/", 1)[1])
    if "const" in schema:
        return json.dumps(schema["const"])
    if "enum" in schema:
        return " | ".join(json.dumps(v) for v in schema["enum"])
    for key in ("anyOf", "oneOf"):
        if key in schema:
            return " | ".join(dict.fromkeys(_ts(s) for s in schema[key]))
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(_ts({**schema, "type": k}) for k in kind)
    if kind == "array":
        item = _ts(schema.get("items", {}))
        return f"({item})[]" if "|" in item else f"{item}[]"
    if kind == "object":
        if "properties" in schema:
            raise ValueError("nested object schemas need a model of their own ($ref)")
        return f"Record<string, {_ts(schema.get('additionalProperties', True))}>"
    simple = {"string": "string", "integer": "number", "number": "number", "boolean": "boolean"}
    if kind in simple:
        return simple[kind]
    if kind == "null":
        return "null"
    raise ValueError(f"no TypeScript for the schema {schema!r}")


def _doc(text: str | None, indent: str = "") -> list[str]:
    if not text:
        return []
    lines = text.strip().splitlines()
    if len(lines) == 1:
        return [f"{indent}/** {lines[0]} */"]
    return [f"{indent}/**", *(f"{indent} * {line}".rstrip() for line in lines), f"{indent} */"]


def _interfaces(definitions: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for name, definition in sorted(definitions.items()):
        if "properties" not in definition:  # an enum or alias: a type of its own
            out += _doc(definition.get("description"))
            out += [f"export type {name} = {_ts(definition)};", ""]
            continue
        required = set(definition.get("required", []))
        out += _doc(definition.get("description"))
        out.append(f"export interface {name} {{")
        for field, spec in definition["properties"].items():
            out += _doc(spec.get("description"), "  ")
            optional = "" if field in required else "?"
            out.append(f"  {field}{optional}: {_ts(spec)};")
        out += ["}", ""]
    return out


def typescript() -> str:
    """web/src/protocol.ts: an interface per model, and the ClientFrame / ServerFrame unions."""
    document = schemas()
    out = [
        "// Frames of the chat WebSocket, version 1 (`/ws/v1`), and of the operator socket",
        "// (`/ws/v1/operator`). See docs/protocol.md.",
        "// GENERATED from the server's pydantic models: do not edit. Regenerate with",
        "//   python -m smart_support.server.schema_export",
        "",
    ]
    out += _interfaces(document["$defs"])
    for union in UNIONS:
        members = [_ts(s) for s in document[union]["oneOf"]]
        out.append(f"export type {union} =")
        out += [f"  | {m}" for m in members[:-1]]
        out += [f"  | {members[-1]};", ""]
    return "\n".join(out).rstrip() + "\n"


# web/src/console/api-types.ts --------------------------------------------------------------------


def rest_models() -> list[tuple[type[BaseModel], str]]:
    """The REST answers (serialisation schema) and bodies (validation) the console uses."""
    from smart_support.analytics import Analytics
    from smart_support.replay import ConversationSummary, EventPage
    from smart_support.server.import_drafts import (
        ChangeIn,
        DiffOut,
        ImportDraftHead,
        ImportDraftOut,
        LiveOut,
    )
    from smart_support.server.import_jobs import ImportJobOut
    from smart_support.server.people import Escalations, HandedBack, Held, Sent
    from smart_support.server.rest import (
        ClosedConversation,
        ConversationOut,
        DecisionIn,
        DecisionOut,
        OperatorApproval,
    )
    from smart_support.server.webhooks import DeliveriesPage, EndpointEnabled

    answers: list[type[BaseModel]] = [
        OperatorApproval,
        DecisionOut,
        ConversationOut,
        ClosedConversation,
        EventPage,
        ConversationSummary,
        Analytics,
        ImportJobOut,
        ImportDraftHead,
        ImportDraftOut,
        DiffOut,
        LiveOut,
        Escalations,
        Held,
        Sent,
        HandedBack,
        DeliveriesPage,
        EndpointEnabled,
    ]
    bodies: list[type[BaseModel]] = [DecisionIn, ChangeIn]
    return [(m, "serialization") for m in answers] + [(m, "validation") for m in bodies]


def rest_typescript() -> str:
    """web/src/console/api-types.ts: an interface per REST model the operator console reads."""
    definitions: dict[str, Any] = {}
    for model, mode in rest_models():
        schema = model.model_json_schema(mode=mode, ref_template="#/$defs/{model}")  # type: ignore[arg-type]
        nested = schema.pop("$defs", {})
        for definition in (*nested.values(), schema):
            if mode == "serialization" and "properties" in definition:
                definition["required"] = list(definition["properties"])
        definitions.update(nested)
        definitions[model.__name__] = schema
    out = [
        "// The operator REST API's answers and bodies as the console uses them. See",
        "// docs/protocol.md.",
        "// GENERATED from the server's pydantic models: do not edit. Regenerate with",
        "//   python -m smart_support.server.schema_export",
        "",
        *_interfaces(definitions),
    ]
    return "\n".join(out).rstrip() + "\n"


def main(argv: list[str]) -> int:
    if "--json" in argv:
        print(json.dumps(schemas(), indent=2, sort_keys=True))
        return 0
    wanted = {
        DOC: updated_doc(DOC.read_text(encoding="utf-8")),
        TYPESCRIPT: typescript(),
        REST_TYPESCRIPT: rest_typescript(),
    }
    stale = [p for p, text in wanted.items() if not p.exists() or p.read_text("utf-8") != text]
    if "--check" in argv:
        for path in stale:
            print(f"stale: {path.relative_to(ROOT)}", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(wanted[path], encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))

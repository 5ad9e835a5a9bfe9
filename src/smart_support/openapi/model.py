"""One internal model of an operation, whatever the spec's version (Swagger 2.0, OpenAPI 3.0/3.1).

`operations(documents)` reads every operation under `paths` into `Operation`s: method, path,
server URL, merged parameters and the request body, with `$ref`s resolved only for what an
operation uses. An operation that cannot be called is listed in `skipped` with the reason.
"""

from __future__ import annotations

import re
from typing import Any, Literal
from urllib.parse import urljoin

from pydantic import BaseModel, Field

from smart_support.openapi.refs import RefError, Resolver

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
Location = Literal["path", "query", "header", "cookie"]
BodyEncoding = Literal["json", "form"]

#: Headers the HTTP layer owns: never an argument for the model.
RESERVED_HEADERS = {
    "authorization",
    "accept",
    "content-type",
    "content-length",
    "host",
    "cookie",
    "idempotency-key",
}


class Unsupported(ValueError):
    """An operation this version of the importer cannot call (the reason is reported)."""


class Parameter(BaseModel):
    """A path, query, header or cookie parameter, its schema inlined."""

    name: str
    location: Location
    required: bool = False
    description: str = ""
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    style: str = ""
    explode: bool = False

    model_config = {"populate_by_name": True}


class Body(BaseModel):
    """A request body: JSON or form-urlencoded, as an object's properties or as a whole value."""

    encoding: BodyEncoding
    media_type: str
    required: bool = False
    #: Top-level properties (name -> inlined schema) when the body is an object.
    properties: dict[str, dict[str, Any]] = Field(default_factory=dict)
    required_properties: list[str] = Field(default_factory=list)
    #: Swagger 2.0 formData arrays: property -> delimiter when not sent as repeated fields
    #: (collectionFormat csv, ssv, tsv, pipes; `multi` repeats the field).
    delimiters: dict[str, str] = Field(default_factory=dict)
    #: The whole schema when the body is not an object with properties (arrays, oneOf...).
    whole: dict[str, Any] | None = None
    description: str = ""


class Operation(BaseModel):
    """One callable operation of an API."""

    method: str
    path: str
    operation_id: str | None = None
    summary: str = ""
    description: str = ""
    server: str | None = None
    parameters: list[Parameter] = Field(default_factory=list)
    body: Body | None = None
    tags: list[str] = Field(default_factory=list)
    deprecated: bool = False
    #: The security requirement: alternatives, each the names of the schemes it needs together
    #: (`[]` = no credentials needed); the operation's own, else the spec's.
    security: list[list[str]] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.method.upper()} {self.path}"


class Extraction(BaseModel):
    operations: list[Operation] = Field(default_factory=list)
    skipped: list[dict[str, str]] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)


def _api_keys(spec: Any) -> set[tuple[str, str]]:
    """(location, lower-case name) of every API key security scheme (2.0 and 3.x)."""
    schemes: Any = (spec.get("components") or {}).get("securitySchemes") or spec.get(
        "securityDefinitions"
    )
    found: set[tuple[str, str]] = set()
    for scheme in schemes.values() if isinstance(schemes, dict) else []:
        if isinstance(scheme, dict) and scheme.get("type") == "apiKey":
            found.add((str(scheme.get("in")), str(scheme.get("name", "")).lower()))
    return found


def security_schemes(spec: Any) -> dict[str, dict[str, Any]]:
    """The spec's security schemes by name (`components.securitySchemes` or Swagger's
    `securityDefinitions`), each as declared."""
    schemes: Any = (spec.get("components") or {}).get("securitySchemes") or spec.get(
        "securityDefinitions"
    )
    if not isinstance(schemes, dict):
        return {}
    return {str(k): v for k, v in schemes.items() if isinstance(v, dict)}


def _security(raw: Any) -> list[list[str]]:
    if not isinstance(raw, list):
        return []
    return [sorted(map(str, r)) for r in raw if isinstance(r, dict)]


def spec_version(spec: Any) -> str:
    if isinstance(spec, dict):
        if str(spec.get("swagger", "")).startswith("2."):
            return "2.0"
        version = str(spec.get("openapi", ""))
        if version.startswith(("3.0", "3.1")):
            return version[:3]
    return ""


def servers(
    spec: dict[str, Any], level: Any, root: str, warnings: list[str], where: str
) -> str | None:
    """The first usable server URL of a `servers` list (variables filled with their defaults)."""
    if not isinstance(level, list) or not level:
        return None
    first = level[0] if isinstance(level[0], dict) else {}
    url = str(first.get("url", ""))
    variables = first.get("variables")
    variables = variables if isinstance(variables, dict) else {}
    for name in re.findall(r"{([^}]+)}", url):
        variable = variables.get(name)
        default = variable.get("default") if isinstance(variable, dict) else None
        if default is None:
            warnings.append(
                f"{where}: server variable {{{name}}} has no default: set the server URL"
            )
            return None
        url = url.replace("{" + name + "}", str(default))
    if variables:
        names = ", ".join(sorted(map(str, variables)))
        warnings.append(
            f"{where}: server {first.get('url')!r} uses variables ({names}); defaults used: {url}"
        )
    return _absolute(url, root, warnings, where)


def _absolute(url: str, root: str, warnings: list[str], where: str) -> str | None:
    if url.startswith(("http://", "https://")):
        return url.rstrip("/")
    if root.startswith(("http://", "https://")):
        return urljoin(root, url).rstrip("/")
    if url.startswith("//"):
        return ("https:" + url).rstrip("/")
    warnings.append(
        f"{where}: server {url or '(none)'!r} is relative to a local spec: set the server URL"
    )
    return None


def swagger_server(spec: dict[str, Any], root: str, warnings: list[str]) -> str | None:
    host = spec.get("host")
    base_path = str(spec.get("basePath") or "")
    schemes = [s for s in spec.get("schemes") or [] if s in ("https", "http")]
    scheme = "https" if "https" in schemes or not schemes else "http"
    if not isinstance(host, str) or not host or "/" in host:
        return _absolute(base_path, root, warnings, "host")
    return f"{scheme}://{host}{base_path}".rstrip("/")


def operations(resolver: Resolver, *, server_override: str | None = None) -> Extraction:
    """Every operation of the spec, in document order."""
    documents = resolver.documents
    spec = documents.spec
    root = documents.root
    version = spec_version(spec)
    out = Extraction()
    if version == "2.0":
        default_server = swagger_server(spec, root, out.warnings)
    else:
        default_server = servers(
            spec, spec.get("servers") or [{"url": "/"}], root, out.warnings, "servers"
        )
    paths = spec.get("paths") or {}
    if not isinstance(paths, dict):
        out.warnings.append("paths: not an object; no operations")
        return out
    for path, item in paths.items():
        label = str(path)
        try:
            item, base = resolver.deref(item, root)
        except (RefError, Unsupported) as exc:
            out.skipped.append({"operation": label, "reason": str(exc)})
            continue
        if not isinstance(item, dict):
            continue
        path_server = servers(
            spec, item.get("servers"), root, out.warnings, f"paths.{path}.servers"
        )
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            name = f"{method.upper()} {path}"
            try:
                op_server = servers(spec, op.get("servers"), root, out.warnings, f"{name} servers")
                server = server_override or op_server or path_server or default_server
                out.operations.append(
                    _operation(resolver, version, method, str(path), item, op, server, base)
                )
            except (RefError, Unsupported) as exc:
                out.skipped.append(
                    {"operation": str(op.get("operationId") or name), "reason": str(exc)}
                )
            except (TypeError, ValueError, AttributeError, KeyError) as exc:
                # A value of the wrong type somewhere in the operation: skip it, keep the rest.
                reason = f"the operation is malformed ({type(exc).__name__}: {str(exc)[:200]})"
                out.skipped.append(
                    {"operation": str(op.get("operationId") or name), "reason": reason}
                )
    return out


def _operation(
    resolver: Resolver,
    version: str,
    method: str,
    path: str,
    item: dict[str, Any],
    op: dict[str, Any],
    server: str | None,
    base: str,
) -> Operation:
    merged: dict[tuple[str, str], tuple[dict[str, Any], str]] = {}
    for raw in [*(item.get("parameters") or []), *(op.get("parameters") or [])]:
        param, where = resolver.deref(raw, base)
        if isinstance(param, dict) and "name" in param and "in" in param:
            merged[(str(param["in"]), str(param["name"]))] = (param, where)  # operation level wins
    params: list[Parameter] = []
    body: Body | None = None
    form: dict[str, dict[str, Any]] = {}
    form_required: list[str] = []
    delimiters: dict[str, str] = {}
    for (location, name), (param, where) in merged.items():
        if location == "body":
            body = _body_from_schema(
                resolver,
                "json",
                "application/json",
                param.get("schema") or {},
                where,
                bool(param.get("required")),
            )
            continue
        if location == "formData":
            form[name] = _swagger_schema(param)
            fmt = param.get("collectionFormat", "csv")
            if fmt != "multi":
                delimiters[name] = {"ssv": " ", "tsv": "\t", "pipes": "|"}.get(fmt, ",")
            if param.get("required"):
                form_required.append(name)
            continue
        if location not in ("path", "query", "header", "cookie"):
            continue
        if location == "header" and (
            name.lower() in RESERVED_HEADERS or name.lower().startswith("accept-")
        ):
            continue
        if (location, name.lower()) in _api_keys(resolver.documents.spec):
            continue  # the API key travels with the import's auth, never through the model
        schema = param.get("schema") if version != "2.0" else _swagger_schema(param)
        if schema is None and isinstance(param.get("content"), dict):  # 3.x parameter with content
            first: Any = next(iter(param["content"].values()), {})
            schema = first.get("schema") if isinstance(first, dict) else None
        style, explode = _style(version, location, param)
        params.append(
            Parameter(
                name=name,
                location=location,  # type: ignore[arg-type]
                required=bool(param.get("required")) or location == "path",
                description=str(param.get("description") or "")[:1000],
                schema=resolver.schema(schema or {}, where),
                style=style,
                explode=explode,
            )
        )
    declared = {p.name for p in params if p.location == "path"}
    for missing in re.findall(r"{([^}/]+)}", path):
        if missing not in declared:  # real specs forget them; the URL needs them anyway
            declared.add(missing)
            params.append(
                Parameter(
                    name=missing,
                    location="path",
                    required=True,
                    description="(not declared in the spec)",
                    schema={"type": "string"},
                    style="simple",
                )
            )
    if form:
        consumes = op.get("consumes") or resolver.documents.spec.get("consumes") or []
        files = any(schema.get("format") == "binary" for schema in form.values())
        if files or (consumes and "application/x-www-form-urlencoded" not in consumes):
            raise Unsupported("multipart/form-data bodies (file uploads) are not supported yet")
        body = Body(
            encoding="form",
            media_type="application/x-www-form-urlencoded",
            properties=form,
            required_properties=form_required,
            delimiters=delimiters,
            required=bool(form_required),
        )
    if version != "2.0" and op.get("requestBody") is not None:
        body = _request_body(resolver, op["requestBody"], base)
    return Operation(
        method=method,
        path=path,
        operation_id=str(op["operationId"]) if op.get("operationId") is not None else None,
        summary=str(op.get("summary") or "")[:300],
        description=str(op.get("description") or "")[:1000],
        server=server,
        parameters=params,
        body=body,
        tags=[str(t) for t in op.get("tags") or []],
        deprecated=bool(op.get("deprecated")),
        security=_security(
            op["security"] if "security" in op else resolver.documents.spec.get("security")
        ),
    )


def _swagger_schema(param: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "type",
        "format",
        "items",
        "enum",
        "default",
        "minimum",
        "maximum",
        "pattern",
        "maxLength",
        "minLength",
    )
    schema = {k: param[k] for k in keys if k in param}
    if schema.get("type") == "file":
        schema = {"type": "string", "format": "binary"}
    return schema


def _style(version: str, location: str, param: dict[str, Any]) -> tuple[str, bool]:
    if version == "2.0":
        fmt = param.get("collectionFormat", "csv")
        return {
            "csv": "form",
            "ssv": "spaceDelimited",
            "pipes": "pipeDelimited",
            "tsv": "tabDelimited",
            "multi": "form",
        }.get(fmt, "form"), fmt == "multi"
    default = {"query": "form", "cookie": "form"}.get(location, "simple")
    style = str(param.get("style") or default)
    return style, bool(param.get("explode", style == "form"))


def _request_body(resolver: Resolver, raw: Any, base: str) -> Body | None:
    body, where = resolver.deref(raw, base)
    content = body.get("content") if isinstance(body, dict) else None
    if not isinstance(content, dict):
        return None
    encoding: BodyEncoding
    for media_type, media in content.items():
        kind = media_type.split(";")[0].strip().lower()
        if kind in ("application/json", "*/*", "application/*") or kind.endswith("+json"):
            encoding = "json"
        elif kind == "application/x-www-form-urlencoded":
            encoding = "form"
        else:
            continue
        schema = (media or {}).get("schema") or {} if isinstance(media, dict) else {}
        return _body_from_schema(
            resolver,
            encoding,
            media_type,
            schema,
            where,
            bool(body.get("required")),
            str(body.get("description") or ""),
        )  # type: ignore[arg-type]
    kinds = ", ".join(content)
    raise Unsupported(
        f"request body type not supported yet ({kinds}); JSON and form-urlencoded are"
    )


def _body_from_schema(
    resolver: Resolver,
    encoding: BodyEncoding,
    media_type: str,
    schema: Any,
    base: str,
    required: bool,
    description: str = "",
) -> Body:
    props, req, is_object = resolver.properties(schema, base)
    if is_object and props:
        return Body(
            encoding=encoding,
            media_type=media_type,
            required=required,
            properties={name: resolver.schema(sub, where) for name, (sub, where) in props.items()},
            required_properties=req,
            description=description[:1000],
        )
    return Body(
        encoding=encoding,
        media_type=media_type,
        required=required,
        whole=resolver.schema(schema, base),
        description=description[:1000],
    )

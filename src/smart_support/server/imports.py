"""`POST /api/v1/operator/imports`: import an OpenAPI or Swagger spec from a URL or a document.

The operator sends `{"url": "https://..."}` (fetched through the egress guard, with its size and
time limits) or `{"document": {...} | "yaml or json text"}`, optionally with `server` (the URL to
call instead of the spec's servers) and `name`. The import is stored as a draft (answered 201,
with its report, the same as `smart-support import SOURCE --json`); nothing of it reaches an
agent until an operator accepts it (server/import_drafts.py). The token is checked before the
body is read: only an operator may send a body larger than the rest of the API allows (up to
the spec size limit). Parsing and validation run in a worker thread, a few at a time, so chats
stay responsive.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Request
from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from smart_support.errors import EgressRefused
from smart_support.openapi.classify import classify
from smart_support.openapi.importer import ImportResult, convert
from smart_support.openapi.load import MAX_BYTES, SpecError, load, load_parsed, parse_document
from smart_support.registry.schema import check_http_url
from smart_support.runtime.activation import keep_document
from smart_support.server.errors import ApiError
from smart_support.server.import_drafts import (
    PATH,
    ImportDraftOut,
    OperatorName,
    answer,
    by,
    carry_decisions,
)
from smart_support.server.protocol import storable
from smart_support.server.rest import EngineDep, OperatorDep
from smart_support.settings import Settings

log = logging.getLogger("smart_support.server")

router = APIRouter()

#: The largest request body of this endpoint: the spec size limit plus room for the envelope.
MAX_IMPORT_BODY_BYTES = MAX_BYTES + 64 * 1024
#: Imports parsed at the same time; more wait their turn.
CONCURRENT_IMPORTS = 2
_running = asyncio.Semaphore(CONCURRENT_IMPORTS)


class ImportIn(BaseModel):
    """What to import: exactly one of `url` and `document`."""

    url: str | None = Field(None, max_length=2048, description="An http(s) URL of the spec.")
    document: dict[str, Any] | str | None = Field(
        None, description="The spec itself: a JSON object, or JSON or YAML text."
    )
    server: str | None = Field(
        None, max_length=2048, description="Call this server URL instead of the spec's servers."
    )
    remote_refs: bool = Field(
        True, description="Follow `$ref`s to absolute URLs (through the egress guard)."
    )
    name: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable)] | None = (
        Field(None, description="What the console calls the draft; the spec's title if absent.")
    )
    operator: OperatorName | None = Field(None, description="Recorded as `operator:<name>`.")

    @model_validator(mode="after")
    def _one_source(self) -> ImportIn:
        if (self.url is None) == (self.document is None):
            raise ValueError("send exactly one of `url` and `document`")
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError("`url` must be an http:// or https:// URL")
        check_http_url(self.server)
        return self


def _envelope(body: bytes) -> ImportIn:
    try:
        data = parse_document(body, "request")
        return ImportIn.model_validate(data)
    except SpecError as exc:
        raise ApiError("bad_request", f"The request body is not a JSON object: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise ApiError("bad_request", f"Invalid request ({where}: {first['msg']}).") from None


async def _import(request: ImportIn, settings: Settings) -> tuple[ImportResult, str]:
    """The import and the spec's title (the source when it has none)."""
    server = request.server.rstrip("/") if request.server else None
    if request.url is not None:
        documents = await load(request.url, settings, remote_refs=request.remote_refs)
        source = request.url
    else:
        spec = request.document
        if isinstance(spec, str):
            spec = await asyncio.to_thread(parse_document, spec, "document")
        documents = await load_parsed(spec, settings, remote_refs=request.remote_refs)
        source = "document"
    result = await asyncio.to_thread(convert, documents, server=server, source=source)
    info = documents.spec.get("info") if isinstance(documents.spec, dict) else None
    title = info.get("title") if isinstance(info, dict) else None
    if not isinstance(title, str) or not title.strip():
        return result, source
    try:
        return result, storable(title.strip()[:200])
    except ValueError:
        return result, source


def counts(report: dict[str, Any]) -> dict[str, int]:
    """The numbers a listing of drafts shows instead of the report."""
    operations = report["operations"]
    return {
        "operations": len(operations),
        "read": sum(op["access"] == "read" for op in operations),
        "write": sum(op["access"] == "write" for op in operations),
        "warnings": len(report["warnings"]),
        "skipped": len(report["skipped"]),
    }


@router.post(PATH, tags=["operator"], status_code=201)
async def operator_import(
    request: Request, engine: EngineDep, operator: OperatorDep
) -> ImportDraftOut:
    """Import a spec into a new draft; the answer is the draft with the import's report
    (`operations`, `warnings`, `skipped`, `auth`)."""
    body = await request.body()
    wanted = _envelope(body)
    settings: Settings = request.app.state.settings
    async with _running:
        try:
            result, title = await _import(wanted, settings)
        except EgressRefused as exc:
            raise ApiError(
                "spec_refused", f"The spec's address was refused: {exc.detail}"
            ) from None
        except SpecError as exc:
            raise ApiError("spec_error", f"The spec cannot be imported: {exc}") from None
    report = result.report()
    proposal = await asyncio.to_thread(classify, result)
    draft = await engine.store.create_import(
        f"imp_{secrets.token_urlsafe(12)}",
        name=wanted.name or title,
        source=result.source,
        report=keep_document(report, wanted.document),  # to activate it later
        counts=counts(report),
        proposal=proposal.model_dump(mode="json", by_alias=True),
        created_by=by(operator, wanted.operator),
    )
    await carry_decisions(engine, draft)  # from the accepted version of the same name
    log.info(
        "import %s of %s: %d tools, %d skipped",
        draft.id,
        result.source,
        len(result.operations),
        len(result.skipped),
    )
    return await answer(engine, draft)

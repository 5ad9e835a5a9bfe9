"""`POST /api/v1/operator/imports`: import an OpenAPI or Swagger spec from a URL or a document.

The operator sends `{"url": "https://..."}` (fetched through the egress guard, with its size and
time limits) or `{"document": {...} | "yaml or json text"}`, optionally with `server` (the URL to
call instead of the spec's servers). The answer is the import's report, the same as
`smart-support import SOURCE --json`. The token is checked before the body is read: only an
operator may send a body larger than the rest of the API allows (up to the spec size limit).
Parsing and validation run in a worker thread, a few at a time, so chats stay responsive.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field, ValidationError, model_validator

from smart_support.errors import EgressRefused
from smart_support.openapi.importer import ImportResult, convert
from smart_support.openapi.load import MAX_BYTES, SpecError, load, load_parsed, parse_document
from smart_support.registry.schema import check_http_url
from smart_support.server.errors import ApiError
from smart_support.server.rest import OperatorDep
from smart_support.settings import Settings

log = logging.getLogger("smart_support.server")

router = APIRouter()

PATH = "/api/v1/operator/imports"
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


async def _import(request: ImportIn, settings: Settings) -> ImportResult:
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
    return await asyncio.to_thread(convert, documents, server=server, source=source)


@router.post(PATH, tags=["operator"])
async def operator_import(request: Request, _: OperatorDep) -> dict[str, Any]:
    """Import a spec; the answer is the report: `operations`, `warnings` and `skipped`."""
    body = await request.body()
    wanted = _envelope(body)
    settings: Settings = request.app.state.settings
    async with _running:
        try:
            result = await _import(wanted, settings)
        except EgressRefused as exc:
            raise ApiError(
                "spec_refused", f"The spec's address was refused: {exc.detail}"
            ) from None
        except SpecError as exc:
            raise ApiError("spec_error", f"The spec cannot be imported: {exc}") from None
    log.info(
        "import of %s: %d tools, %d skipped",
        result.source,
        len(result.operations),
        len(result.skipped),
    )
    return result.report()

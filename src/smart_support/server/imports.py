"""`POST /api/v1/operator/imports`: import an OpenAPI or Swagger spec from a URL or a document.

The operator sends `{"url": "https://..."}` (fetched through the egress guard, with its size and
time limits) or `{"document": {...} | "yaml or json text"}`, optionally with `server` (the URL to
call instead of the spec's servers), `auth` (environment variable names) and `name`. The import
runs as a background job (server/import_jobs.py: answered 202 with the job, its progress on the
operator socket) and ends as a draft, with its report, the same as `smart-support import SOURCE
--json`; `?wait=true` answers 201 with that draft instead. Nothing of it reaches an agent until
an operator accepts it (server/import_drafts.py). The token is checked before the body is read:
only an operator may send a body larger than the rest of the API allows (up to the spec size
limit). Parsing and validation run in a worker thread, a few at a time, so chats stay responsive.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import AfterValidator, BaseModel, Field, ValidationError, model_validator

from smart_support.errors import EgressRefused
from smart_support.openapi.jobs import ImportProcesses
from smart_support.openapi.load import (
    MAX_BYTES,
    Documents,
    SpecError,
    load,
    load_parsed,
    parse_document,
)
from smart_support.registry.schema import AuthSpec, check_http_url
from smart_support.runtime.activation import keep_document
from smart_support.runtime.engine import Engine
from smart_support.server.errors import ApiError, error_responses
from smart_support.server.import_drafts import (
    PATH,
    ImportDraftOut,
    OperatorName,
    answer,
    by,
    carry_decisions,
)
from smart_support.server.import_jobs import (
    CONCURRENT_JOBS,
    JOBS_PATH,
    ImportJobOut,
    JobFailed,
    Progress,
    Runner,
    jobs_of,
)
from smart_support.server.protocol import storable
from smart_support.server.rest import EngineDep, OperatorDep
from smart_support.settings import Settings
from smart_support.store.records import ImportDraft

log = logging.getLogger("smart_support.server")

router = APIRouter()

#: Worker processes for every server of this process (started at the first import).
_PROCESSES = ImportProcesses(CONCURRENT_JOBS)

#: The largest request body of this endpoint: the spec size limit plus room for the envelope.
MAX_IMPORT_BODY_BYTES = MAX_BYTES + 64 * 1024


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
    auth: AuthSpec | None = Field(
        None,
        description="How the imported tools authenticate, naming the environment variables"
        " that hold the secrets (as `auth:` in agents.yaml); kept in the draft's options.",
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


async def _load(request: ImportIn, settings: Settings, progress: Progress) -> Documents:
    """The spec and the documents its `$ref`s name, through the egress guard."""
    if request.url is not None:
        progress.report("fetching", "fetching the spec")
        return await load(request.url, settings, remote_refs=request.remote_refs)
    progress.report("fetching", "reading the document")
    spec = request.document
    if isinstance(spec, str):
        spec = await asyncio.to_thread(parse_document, spec, "document")
    return await load_parsed(spec, settings, remote_refs=request.remote_refs)


def _title(documents: Documents, source: str) -> str:
    """The spec's title (the source when it has none)."""
    info = documents.spec.get("info") if isinstance(documents.spec, dict) else None
    title = info.get("title") if isinstance(info, dict) else None
    if not isinstance(title, str) or not title.strip():
        return source
    try:
        return storable(title.strip()[:200])
    except ValueError:
        return source


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


def options(request: ImportIn) -> dict[str, Any]:
    """What a draft keeps of how it was imported (ImportDraft.options): no secrets, only the
    names of the environment variables that hold them."""
    return {
        "server": request.server.rstrip("/") if request.server else None,
        "remote_refs": request.remote_refs,
        "auth": request.auth.model_dump(mode="json", by_alias=True) if request.auth else None,
    }


async def run_import(
    engine: Engine, settings: Settings, stored: dict[str, Any], created_by: str, progress: Progress
) -> ImportDraft:
    """Run one import job (`import_jobs.Runner`): load, convert, classify, store the draft.

    Raises:
        JobFailed: The spec's address was refused (`spec_refused`) or it cannot be imported
            (`spec_error`).
    """
    # At most import_jobs.CONCURRENT_JOBS of these run at once (the app's workers), each
    # converted and classified in a worker process (openapi/jobs.py), not in the chat's.
    wanted = ImportIn.model_validate(stored)
    source = wanted.url or "document"
    server = wanted.server.rstrip("/") if wanted.server else None
    try:
        documents = await _load(wanted, settings, progress)
        prepared = await _PROCESSES.prepare(
            secrets.token_hex(8), documents, server=server, source=source, progress=progress.report
        )
    except EgressRefused as exc:
        raise JobFailed("spec_refused", f"The spec's address was refused: {exc.detail}") from None
    except SpecError as exc:
        raise JobFailed("spec_error", f"The spec cannot be imported: {exc}") from None
    # Its last report may still be on its way from the worker process: this one is not.
    progress.report("classifying", "classified", prepared.operations, prepared.operations)
    report = keep_document(prepared.report, wanted.document)
    draft = await engine.store.create_import(
        f"imp_{secrets.token_urlsafe(12)}",
        name=wanted.name or _title(documents, source),
        source=prepared.source,
        report=report,
        counts=counts(report),
        proposal=prepared.proposal,
        created_by=created_by,
        options=options(wanted),
    )
    await carry_decisions(engine, draft)  # from the accepted version of the same name
    log.info(
        "import %s of %s: %d tools, %d skipped",
        draft.id,
        prepared.source,
        prepared.operations,
        prepared.skipped,
    )
    return draft


def runner(engine: Engine, settings: Settings) -> Runner:
    """The app's import jobs run `run_import` with its engine and settings."""

    async def run(stored: dict[str, Any], created_by: str, progress: Progress) -> ImportDraft:
        return await run_import(engine, settings, stored, created_by, progress)

    return run


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """`schema` with its `#/$defs/...` references replaced by what they name."""
    if isinstance(schema, dict):
        ref = schema.get("$ref", "")
        if ref.startswith("#/$defs/"):
            return _inlined(defs[ref.removeprefix("#/$defs/")], defs)
        return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


def _body_schema() -> dict[str, Any]:
    """ImportIn as the OpenAPI document's request body: the handler reads the body itself
    (after the token check), so FastAPI does not know it; clients and tests must."""
    schema = ImportIn.model_json_schema(ref_template="#/$defs/{model}")
    return {
        "required": True,
        "content": {"application/json": {"schema": _inlined(schema, schema.get("$defs", {}))}},
    }


@router.post(
    PATH,
    tags=["operator"],
    status_code=202,
    responses={
        201: {"model": ImportDraftOut, "description": "With `?wait=true`: the draft."},
        **error_responses(422),  # spec_error, spec_refused (with ?wait=true)
    },
    openapi_extra={"requestBody": _body_schema()},
)
async def operator_import(
    request: Request,
    response: Response,
    engine: EngineDep,
    operator: OperatorDep,
    wait: Annotated[bool, Query(description="Answer once the import has ended.")] = False,
) -> ImportJobOut | ImportDraftOut:
    """Queue an import of a spec (202, the job; `Location` is where to follow it, and the
    operator socket pushes its progress). With `?wait=true` the answer waits for the import:
    201 with the draft and its report (`operations`, `warnings`, `skipped`, `auth`), or the
    import's error (422 `spec_error`, `spec_refused`)."""
    body = await request.body()
    wanted = _envelope(body)
    jobs = jobs_of(request)
    job = await jobs.submit(
        wanted.model_dump(mode="json", by_alias=True), by(operator, wanted.operator)
    )
    if not wait:
        response.headers["Location"] = f"{JOBS_PATH}/{job.id}"
        return ImportJobOut.from_record(job)
    ended = await jobs.wait(job.id)
    if ended.status == "failed" or ended.draft_id is None:
        raise ApiError(ended.error_code or "internal_error", ended.error)
    draft = await engine.store.get_import(ended.draft_id)
    assert draft is not None  # drafts are never deleted
    response.status_code = 201
    return await answer(engine, draft)

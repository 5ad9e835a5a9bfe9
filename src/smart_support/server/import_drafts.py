"""Import drafts for the operator console: list, read, change, accept and discard them.

`POST /api/v1/operator/imports` (server/imports.py) stores every import as a draft; nothing of it
reaches an agent until an operator accepts it. A draft's current decisions are the classifier's
proposal (kept as it came, a JSON document whose shape is the classifier's) with the operators'
changes applied in order; the change log keeps who changed what, from which value, and when.

Marking a write operation `read` lets agents call it without anyone's approval, so it needs
`"confirm": true` (409 `confirmation_needed` without it) and shows as a warning on the draft.
Accepting makes the draft's agents live in the running server (runtime/activation.py): a draft
whose agents cannot go live answers 422 `activation_failed` and stays a draft. A new import of
a name that has an accepted version gets that version's decisions carried over
(`carry_decisions`), and `GET .../{id}/diff` shows what changed against it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from smart_support.openapi.classify.review import carried_changes, operations_diff
from smart_support.registry.schema import NAME_PATTERN
from smart_support.runtime import activation
from smart_support.server.errors import ApiError, error_responses
from smart_support.server.protocol import ID_PATTERN, storable
from smart_support.server.rest import OPERATOR_NAME, EngineDep, OperatorDep
from smart_support.store import rows
from smart_support.store.records import (
    ImportChange,
    ImportDraft,
    ImportDraftError,
    ImportStatus,
)

log = logging.getLogger("smart_support.server")

router = APIRouter()

PATH = "/api/v1/operator/imports"
ImportId = Annotated[str, Path(pattern=ID_PATTERN)]
OperatorName = Annotated[str, Field(pattern=OPERATOR_NAME, max_length=80), AfterValidator(storable)]

#: The values each field of an operation takes (`parameter.<name>.role` uses PARAMETER_ROLES).
ACCESS = ("read", "write")
#: The classifier's words (openapi/classify/decisions.py), copied rather than imported: the
#: draft keeps its proposal as a plain JSON document.
RELEVANCE = ("on", "off")
#: Who supplies a parameter: the customer in the chat, the verified customer's identity, or the
#: import's settings (hidden from the model).
PARAMETER_ROLES = ("customer", "identity", "config")
FIELDS = ("access", "relevance", "agent", "summary", "parameter.<name>.role")
MAX_SUMMARY_CHARS = 500


def by(operator: str, name: str | None) -> str:
    """Who acts, as approvals record it: `operator:<name>` when a name is given."""
    return f"operator:{name}" if name else operator


class ImportChangeOut(BaseModel):
    """One operator change of a draft, as stored."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    operation: str = Field(description="The operation's tool name.")
    field: str = Field(
        description="`access`, `relevance`, `agent`, `summary` or `parameter.<name>.role`."
    )
    value: Any
    previous: Any = Field(description="The field's value just before this change.")
    changed_by: str
    changed_at: datetime
    confirmed: bool = Field(description="The operator confirmed a write operation marked read.")


class ImportDraftHead(BaseModel):
    """A draft as listed: who imported what, its state, and how big it is (no report)."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    status: ImportStatus
    source: str = Field(description="The spec's URL, or `document` for one sent inline.")
    counts: dict[str, int] = Field(
        description="Operations, read and write ones, warnings and skipped operations."
    )
    change_count: int
    created_by: str
    created_at: datetime
    updated_at: datetime
    accepted_by: str | None = None
    accepted_at: datetime | None = None
    discarded_by: str | None = None
    discarded_at: datetime | None = None


class ImportDraftOut(ImportDraftHead):
    """A whole draft: its report, the proposal, every change, and the current overrides."""

    report: dict[str, Any] = Field(description="The import's report (`operations`, ...).")
    proposal: dict[str, Any] | None = Field(description="The classifier's proposal, if any.")
    changes: list[ImportChangeOut] = Field(description="Every change, oldest first.")
    overrides: dict[str, dict[str, Any]] = Field(
        description="The operators' current decisions: the last value per operation and field."
    )
    warnings: list[str] = Field(
        description="Decisions to look at twice, such as write operations marked read."
    )
    live_agents: list[str] = Field(
        default_factory=list,
        description="The agents this draft made live in the running server (once accepted).",
    )
    options: dict[str, Any] = Field(
        default_factory=dict,
        description="How it was imported: `server`, `remote_refs`, `auth` (variable names only).",
    )

    @classmethod
    def build(
        cls, draft: ImportDraft, changes: list[ImportChange], live_agents: list[str] | None = None
    ) -> ImportDraftOut:
        head = ImportDraftHead.model_validate(draft).model_dump()
        overrides: dict[str, dict[str, Any]] = {}
        last: dict[tuple[str, str], ImportChange] = {}
        for change in changes:
            overrides.setdefault(change.operation, {})[change.field] = change.value
            last[(change.operation, change.field)] = change
        warnings = [
            f"{c.operation} was write and is marked read by {c.changed_by}: agents will call"
            " it without asking anyone for approval."
            for (_, field), c in last.items()
            if field == "access" and c.value == "read" and c.confirmed
        ]
        return cls(
            **head,
            report={k: v for k, v in (draft.report or {}).items() if k != activation.DOCUMENT_KEY},
            proposal=draft.proposal,
            changes=[ImportChangeOut.model_validate(c) for c in changes],
            overrides=overrides,
            warnings=warnings,
            live_agents=live_agents or [],
            options=draft.options,
        )


class ChangeIn(BaseModel):
    """One decision of an operator about one operation of a draft."""

    model_config = ConfigDict(extra="forbid")

    operation: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(storable)]
    field: Annotated[str, Field(min_length=1, max_length=300), AfterValidator(storable)]
    value: Any = Field(description="The new value; its kind depends on `field`.")
    confirm: bool = Field(False, description="Confirm marking a write operation `read`.")
    operator: OperatorName | None = Field(None, description="Recorded as `operator:<name>`.")


class ActorIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    operator: OperatorName | None = Field(None, description="Recorded as `operator:<name>`.")


@contextmanager
def _answering() -> Iterator[None]:
    """Store refusals (unknown or closed draft) as `{"code", "message"}` answers."""
    try:
        yield
    except ImportDraftError as exc:
        raise ApiError(exc.code, exc.public_message) from None


async def _draft(engine: EngineDep, import_id: str) -> ImportDraft:
    draft = await engine.store.get_import(import_id)
    if draft is None:
        raise ApiError("import_not_found", f"There is no import {import_id}.")
    return draft


async def answer(engine: EngineDep, draft: ImportDraft) -> ImportDraftOut:
    live = engine.imports.of_draft(draft.id)
    changes = await engine.store.import_changes(draft.id)
    return ImportDraftOut.build(draft, changes, list(live.agents) if live else None)


def _operation(draft: ImportDraft, name: str) -> dict[str, Any]:
    operations = (draft.report or {}).get("operations", [])
    found = next((op for op in operations if op.get("name") == name), None)
    if found is None:
        sample = ", ".join(op.get("name", "?") for op in operations[:5])
        raise ApiError(
            "bad_change",
            f"Import {draft.id} has no operation {name!r}; operations are named by their tool"
            f" name in the report ({sample}{', ...' if len(operations) > 5 else ''}).",
        )
    return dict(found)


def _proposed(proposal: dict[str, Any] | None, operation: str, field: str) -> Any:
    """The proposal's value of a field, read leniently (the classifier owns its shape): an
    `operations` map or list of entries whose fields are plain values or `{"value": ...}`."""
    operations = (proposal or {}).get("operations")
    entry: Any = None
    if isinstance(operations, dict):
        entry = operations.get(operation)
    elif isinstance(operations, list):
        entry = next(
            (o for o in operations if isinstance(o, dict) and o.get("name") == operation), None
        )
    if field.startswith("parameter.") and isinstance(entry, dict):
        name = field.removeprefix("parameter.").removesuffix(".role")
        parameters = entry.get("parameters")
        if isinstance(parameters, dict):
            entry = parameters.get(name)
        elif isinstance(parameters, list):
            entry = next(
                (p for p in parameters if isinstance(p, dict) and p.get("name") == name), None
            )
        field = "role"
    if not isinstance(entry, dict):
        return None
    entry = entry.get(field)
    if isinstance(entry, dict) and "value" in entry:
        return entry["value"]
    return entry


def current_value(
    draft: ImportDraft, changes: list[ImportChange], operation: dict[str, Any], field: str
) -> Any:
    """A field's value now: the last change, else the proposal's, else the report's."""
    for change in reversed(changes):
        if change.operation == operation["name"] and change.field == field:
            return change.value
    proposed = _proposed(draft.proposal, operation["name"], field)
    if proposed is not None:
        return proposed
    return operation.get(field) if field in ("access", "summary") else None


def _checked_value(draft: ImportDraft, operation: dict[str, Any], field: str, value: Any) -> Any:
    """`value` if `field` of `operation` may take it; ApiError `bad_change` saying why not."""

    def refuse(why: str) -> ApiError:
        return ApiError("bad_change", f"{operation['name']}: {field} {why}.")

    if field == "access" or field == "relevance":
        allowed = ACCESS if field == "access" else RELEVANCE
        if value not in allowed:
            raise refuse(f"must be one of {', '.join(allowed)}")
    elif field == "agent":
        if value is not None and not (
            isinstance(value, str) and len(value) <= 64 and NAME_PATTERN.fullmatch(value)
        ):
            raise refuse("must be an agent name (a-z, 0-9 and _, starting with a letter) or null")
    elif field == "summary":
        if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_SUMMARY_CHARS:
            raise refuse(f"must be text of 1 to {MAX_SUMMARY_CHARS} characters")
        try:
            value = storable(value.strip())
        except ValueError as exc:
            raise refuse(str(exc)) from None
    elif field.startswith("parameter.") and field.endswith(".role"):
        name = field.removeprefix("parameter.").removesuffix(".role")
        names = [p.get("name") for p in operation.get("parameters", [])]
        if name not in names:
            listed = ", ".join(str(n) for n in names) or "none"
            raise refuse(f"names no parameter of this operation (its parameters: {listed})")
        if value not in PARAMETER_ROLES:
            raise refuse(f"must be one of {', '.join(PARAMETER_ROLES)}")
    else:
        raise ApiError(
            "bad_change",
            f"{field!r} is not a field an operator can change; use one of {', '.join(FIELDS)}.",
        )
    return value


@router.get(PATH, tags=["operator"])
async def list_drafts(
    engine: EngineDep,
    _: OperatorDep,
    status: Annotated[ImportStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[ImportDraftHead]:
    """Imports, newest first (optionally of one status), without their reports."""
    drafts = await engine.store.list_imports(status=status, limit=limit)
    return [ImportDraftHead.model_validate(d) for d in drafts]


class LiveImportOut(BaseModel):
    """An accepted import whose agents are live in this server."""

    import_id: str
    name: str = Field(description="The draft's name.")
    openapi: str = Field(description="Its name under `openapi:` in the live registry.")
    agents: list[str]
    tools: list[str]


class LiveOut(BaseModel):
    """What of the accepted imports is live in this server process."""

    imports: list[LiveImportOut]
    failed: dict[str, str] = Field(
        description="Accepted imports that did not go live at start: import id -> why."
    )


@router.get(PATH + "/live", tags=["operator"])
async def live_imports(engine: EngineDep, _: OperatorDep) -> LiveOut:
    """The accepted imports whose agents are live in this server, and those that failed."""
    return LiveOut(
        imports=[
            LiveImportOut(
                import_id=i.draft_id,
                name=i.draft_name,
                openapi=i.name,
                agents=list(i.agents),
                tools=list(i.tools),
            )
            for i in engine.imports.live.values()
        ],
        failed=dict(engine.imports.failed),
    )


@router.get(PATH + "/{import_id}", tags=["operator"])
async def get_draft(import_id: ImportId, engine: EngineDep, _: OperatorDep) -> ImportDraftOut:
    """One import: its report, the proposal, every change and the warnings."""
    return await answer(engine, await _draft(engine, import_id))


@router.post(
    PATH + "/{import_id}/changes",
    tags=["operator"],
    status_code=201,
    responses=error_responses(409),  # import_closed, confirmation_needed
)
async def change_draft(
    import_id: ImportId, body: ChangeIn, engine: EngineDep, operator: OperatorDep
) -> ImportDraftOut:
    """Change one decision of a draft; the answer is the draft with the change."""
    draft = await _draft(engine, import_id)
    if draft.status != "draft":  # the store refuses it too; say so before judging the change
        with _answering():
            raise rows.change_refused(import_id, draft)
    operation = _operation(draft, body.operation)
    value = _checked_value(draft, operation, body.field, body.value)
    changes = await engine.store.import_changes(import_id)
    previous = current_value(draft, changes, operation, body.field)
    needs_confirmation = body.field == "access" and value == "read" and previous == "write"
    if needs_confirmation and not body.confirm:
        raise ApiError(
            "confirmation_needed",
            f"{body.operation} is a write operation ({operation.get('method', '')}"
            f" {operation.get('path', '')}): marked read, agents would call it without asking"
            ' anyone for approval. Send the change again with "confirm": true to do it anyway.',
        )
    changed_by = by(operator, body.operator)
    with _answering():
        await engine.store.record_import_change(
            import_id,
            operation=body.operation,
            field=body.field,
            value=value,
            previous=previous,
            changed_by=changed_by,
            confirmed=needs_confirmation,
        )
    log.info("import %s: %s.%s changed by %s", import_id, body.operation, body.field, changed_by)
    return await answer(engine, await _draft(engine, import_id))


async def _close(
    engine: EngineDep,
    import_id: str,
    status: Literal["accepted", "discarded"],
    operator: str,
    body: ActorIn | None,
) -> ImportDraftOut:
    await _draft(engine, import_id)  # 404 before anything else
    who = by(operator, body.operator if body else None)
    with _answering():
        draft = await engine.store.set_import_status(import_id, status, who)
    log.info("import %s %s by %s", import_id, status, who)
    return await answer(engine, draft)


@router.post(
    PATH + "/{import_id}/accept",
    tags=["operator"],
    responses=error_responses(409, 422),  # import_closed; activation_failed
)
async def accept_draft(
    import_id: ImportId, engine: EngineDep, operator: OperatorDep, body: ActorIn | None = None
) -> ImportDraftOut:
    """Accept a draft and make its agents live for new turns (`live_agents`); a conversation
    in progress keeps its agent. The agents are checked first (the spec fetched again, every
    operation found): if they cannot go live the answer is 422 `activation_failed` with the
    reason, and the draft stays a draft. Accepting a new version of an import's name replaces
    the live version's agents."""
    await _draft(engine, import_id)  # 404 before anything else
    who = by(operator, body.operator if body else None)
    with _answering():
        try:
            draft, live = await activation.accept(engine, import_id, who)
        except activation.ActivationError as exc:
            raise ApiError(exc.code, exc.public_message) from None
    log.info("import %s accepted by %s: agents %s live", import_id, who, ", ".join(live.agents))
    return await answer(engine, draft)


@router.post(
    PATH + "/{import_id}/discard",
    tags=["operator"],
    responses=error_responses(409),  # import_closed
)
async def discard_draft(
    import_id: ImportId, engine: EngineDep, operator: OperatorDep, body: ActorIn | None = None
) -> ImportDraftOut:
    """Discard a draft; it stays readable, and takes no more changes."""
    return await _close(engine, import_id, "discarded", operator, body)


# -- re-imports ------------------------------------------------------------------------------


class DiffOut(BaseModel):
    """A draft's operations against the live (accepted) version of the same name."""

    import_id: str
    against: str | None = Field(
        description="The accepted draft compared with; null when the name has none (all added)."
    )
    added: list[dict[str, Any]] = Field(description="`name`, `method`, `path` of each.")
    removed: list[dict[str, Any]]
    changed: list[dict[str, Any]] = Field(
        description="`name` and `fields`: per field (method, path, parameters, access) that"
        " differs, `{from, to}`."
    )
    unchanged: int
    carried: list[dict[str, Any]] = Field(
        description="The accepted version's decisions that apply to this draft (carried over"
        " when it was imported): `operation`, `field`, `value`, `changed_by`."
    )


async def accepted_of_name(
    engine: EngineDep, name: str, other_than: str | None = None
) -> ImportDraft | None:
    """The version of import NAME to compare with: the live one, else the last accepted."""
    live = engine.imports.live.get(name)
    if live is not None and live.draft_id != other_than:
        return await engine.store.get_import(live.draft_id)
    heads = await engine.store.list_imports(status="accepted", limit=200)
    named = [d for d in heads if d.name == name and d.id != other_than]
    if not named:
        return None
    latest = max(named, key=lambda d: (d.accepted_at or d.updated_at, d.id))
    return await engine.store.get_import(latest.id)


async def carry_decisions(engine: EngineDep, draft: ImportDraft) -> list[ImportChange]:
    """Record on a new DRAFT the decisions operators made on the accepted version of its name,
    for the operations it still has, as the same operators made them (a value the new
    operation cannot take, or one the proposal already has, is left out)."""
    earlier = await accepted_of_name(engine, draft.name, other_than=draft.id)
    if earlier is None or draft.status != "draft":
        return []
    existing = await engine.store.import_changes(draft.id)  # calling it twice adds nothing
    carried: list[ImportChange] = []
    earlier_changes = await engine.store.import_changes(earlier.id)
    for change in carried_changes(earlier_changes, draft.report or {}):
        operation = _operation(draft, change.operation)
        try:
            value = _checked_value(draft, operation, change.field, change.value)
        except ApiError:
            continue
        previous = current_value(draft, [*existing, *carried], operation, change.field)
        if previous == value:
            continue
        confirmed = change.field == "access" and value == "read" and previous == "write"
        if confirmed and not change.confirmed:
            continue  # it was read in the earlier version: it is a write now, not approved
        carried.append(
            await engine.store.record_import_change(
                draft.id,
                operation=change.operation,
                field=change.field,
                value=value,
                previous=previous,
                changed_by=change.changed_by,
                confirmed=confirmed,
            )
        )
    if carried:
        log.info("import %s: %d decisions carried from %s", draft.id, len(carried), earlier.id)
    return carried


@router.get(PATH + "/{import_id}/diff", tags=["operator"])
async def diff_draft(import_id: ImportId, engine: EngineDep, _: OperatorDep) -> DiffOut:
    """The draft's operations against the live (accepted) import of the same name: added,
    removed and changed ones, and the earlier decisions that were carried over."""
    draft = await _draft(engine, import_id)
    earlier = await accepted_of_name(engine, draft.name, other_than=draft.id)
    before = (earlier.report or {}) if earlier else {}
    diff = operations_diff(before, draft.report or {})
    carried = (
        carried_changes(await engine.store.import_changes(earlier.id), draft.report or {})
        if earlier
        else []
    )
    return DiffOut(
        import_id=draft.id,
        against=earlier.id if earlier else None,
        carried=[
            {
                "operation": c.operation,
                "field": c.field,
                "value": c.value,
                "changed_by": c.changed_by,
            }
            for c in carried
        ],
        **diff,
    )

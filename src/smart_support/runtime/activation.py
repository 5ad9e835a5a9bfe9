"""Accepted imports, live: the agents of every accepted import join the running registry.

The live registry is the base agents.yaml plus, for each accepted import (the latest accepted
draft of each name), the agents its reviewed proposal makes (`openapi.agents_file`), declared
under `openapi:` with the draft's source and server. Activating a draft builds that registry,
validates it (the registry loader's checks, then every tool resolved: the spec fetched and its
operations found) and only then swaps it in (`Engine.prepare` / `Engine.go_live`): a draft that
does not work never touches the running agents, and a turn in progress finishes on the graph it
started with. Generated agents never replace base agents: a name the base (or an earlier
import) has is prefixed with the import's name, as are tool names, and the generated fallback
agent is dropped (the base has one). At start the server activates every accepted import again,
each on its own if they do not all work together (`activate_accepted`).

A spec sent as a document has no address to fetch it from again: the import keeps it in the
draft's report under `DOCUMENT_KEY` (`keep_document`), and activation writes it to a file of the
engine's own temporary folder. A document whose `$ref`s name local files is refused: sent
inline, they were never followed, and a file source would follow them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from smart_support.errors import ConfigError, SmartSupportError
from smart_support.openapi.agents_file import agents_document, import_name
from smart_support.openapi.classify.decisions import Proposal
from smart_support.openapi.classify.review import current_proposal
from smart_support.openapi.importer import ImportResult
from smart_support.openapi.load import SpecError, parse_document
from smart_support.registry.loader import cross_checks
from smart_support.registry.schema import AgentSpec, OpenApiSpec, Registry
from smart_support.store.records import ImportChange, ImportDraft

if TYPE_CHECKING:
    from smart_support.runtime.engine import Engine

log = logging.getLogger("smart_support.engine")

#: The report key under which an import sent as a document keeps the document.
DOCUMENT_KEY = "document"
_MAX_NAME = 40


class ActivationError(SmartSupportError):
    """A draft whose agents cannot go live; the message says why (for operators)."""

    code = "activation_failed"

    def __init__(self, message: str) -> None:
        self.public_message = message
        super().__init__(message)


@dataclass(frozen=True)
class LiveImport:
    """An accepted draft whose agents are live."""

    draft_id: str
    draft_name: str
    #: Its name under `openapi:` (from the draft's name, valid and unique).
    name: str
    agents: tuple[str, ...]
    tools: tuple[str, ...]


@dataclass
class LiveImports:
    """What of the store's accepted imports is live in one engine."""

    base: Registry
    #: Live imports by draft name, in the order they went live.
    live: dict[str, LiveImport] = field(default_factory=dict)
    #: Accepted drafts that did not go live at start: draft id -> why.
    failed: dict[str, str] = field(default_factory=dict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _drafts: dict[str, tuple[ImportDraft, list[ImportChange]]] = field(default_factory=dict)
    _folder: tempfile.TemporaryDirectory[str] | None = None

    def of_draft(self, draft_id: str) -> LiveImport | None:
        return next((i for i in self.live.values() if i.draft_id == draft_id), None)

    def folder(self) -> Path:
        """Where documents are written for the toolkit to load; removed when the engine closes."""
        if self._folder is None:
            self._folder = tempfile.TemporaryDirectory(prefix="smart-support-imports-")
        return Path(self._folder.name)

    def close(self) -> None:
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def keep_document(report: dict[str, Any], document: Any) -> dict[str, Any]:
    """The report of an import, with the document it was sent as (None for a URL import)."""
    return report if document is None else {**report, DOCUMENT_KEY: document}


def _local_ref(node: Any, depth: int = 0) -> str | None:
    """The first `$ref` that names neither a place in the document nor an http(s) URL."""
    if depth > 200:
        return None
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and not ref.startswith(("#", "http://", "https://")):
            return ref
        items: Any = node.values()
    elif isinstance(node, list):
        items = node
    else:
        return None
    for item in items:
        found = _local_ref(item, depth + 1)
        if found is not None:
            return found
    return None


def _source(draft: ImportDraft, folder: Path) -> str:
    if draft.source != "document":
        return draft.source
    raw = (draft.report or {}).get(DOCUMENT_KEY)
    if raw is None:
        raise ConfigError(
            f"import {draft.name!r} was sent as a document that was not kept: import it again"
        )
    try:
        spec = parse_document(raw, "document") if isinstance(raw, str) else raw
    except SpecError as exc:
        raise ConfigError(f"import {draft.name!r}: its document cannot be read: {exc}") from None
    ref = _local_ref(spec)
    if ref is not None:
        raise ConfigError(f"import {draft.name!r}: the document refers to a local file ({ref!r})")
    path = folder / f"{draft.id}.json"
    path.write_text(json.dumps(spec), encoding="utf-8")
    return str(path)


def _unique(name: str, taken: set[str], limit: int = _MAX_NAME) -> str:
    if name not in taken and name != "help":
        return name
    for n in range(2, 1000):
        candidate = f"{name[: limit - len(str(n)) - 1]}_{n}"
        if candidate not in taken:
            return candidate
    raise ConfigError(f"no free name for {name!r}")


def _server(draft: ImportDraft) -> str | None:
    servers = {op.get("server") for op in (draft.report or {}).get("operations", [])}
    servers.discard(None)
    return str(servers.pop()) if len(servers) == 1 else None


def _generated(
    draft: ImportDraft,
    changes: Sequence[ImportChange],
    name: str,
    folder: Path,
    taken_agents: set[str],
    taken_tools: set[str],
) -> tuple[OpenApiSpec, list[AgentSpec], LiveImport]:
    """The `openapi:` declaration and the agents of one draft, named apart from what is taken."""
    if draft.proposal is None:
        raise ConfigError(f"import {draft.name!r} has no classification: import it again")
    proposal = current_proposal(Proposal.model_validate(draft.proposal), changes)
    report = draft.report or {}
    document = agents_document(
        ImportResult(source=draft.source, version=str(report.get("version", ""))),
        proposal,
        name=name,
        source=_source(draft, folder),
        server=_server(draft),
    )
    agents: list[AgentSpec] = []
    tools: list[str] = []
    for data in document["agents"]:
        if data.get("role") == "fallback":
            continue  # the base registry has its own
        data["name"] = _unique(
            data["name"] if data["name"] not in taken_agents else f"{name}_{data['name']}",
            taken_agents,
            64,
        )
        taken_agents.add(data["name"])
        renamed: dict[str, str] = {}
        for entry in data["tools"]:
            if entry["tool"] in taken_tools:
                renamed[entry["tool"]] = _unique(f"{name}_{entry['tool']}"[:64], taken_tools, 64)
                entry["name"] = renamed[entry["tool"]]
            shown = entry.get("name", entry["tool"])
            taken_tools.add(shown)
            tools.append(shown)
        for entry in data["tools"]:
            check = entry.get("check")
            if check is not None and check["tool"] in renamed:
                check["tool"] = renamed[check["tool"]]
        agents.append(AgentSpec.model_validate(data))
    if not agents:
        raise ConfigError(f"import {draft.name!r} leaves no operation for an agent")
    declared_data = document["openapi"][name]
    auth = (draft.options or {}).get("auth")
    if auth:  # the names of the variables holding the secrets, as the import was given
        declared_data["auth"] = auth
    declared = OpenApiSpec.model_validate(declared_data)
    live = LiveImport(draft.id, draft.name, name, tuple(a.name for a in agents), tuple(tools))
    return declared, agents, live


def compose(
    base: Registry,
    drafts: Sequence[tuple[ImportDraft, Sequence[ImportChange]]],
    folder: Path,
) -> tuple[Registry, list[LiveImport]]:
    """The base registry with the agents of `drafts` added, validated as agents.yaml is.

    Raises:
        ConfigError: A draft cannot make agents (no classification, a document not kept) or
            the combined registry does not validate.
    """
    taken_imports = set(base.openapi_imports)
    taken_agents = {a.name for a in base.agents}
    taken_tools = {t.declared_name for a in base.agents for t in a.tools if t.declared_name}
    agents, declared = list(base.spec.agents), dict(base.spec.openapi)
    lives: list[LiveImport] = []
    for draft, changes in drafts:
        name = _unique(import_name(draft.name, draft.source), taken_imports)
        taken_imports.add(name)
        try:
            spec, generated, live = _generated(
                draft, changes, name, folder, taken_agents, taken_tools
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"import {draft.name!r}: {where}: {first['msg']}") from None
        declared[name] = spec
        agents.extend(generated)
        lives.append(live)
    # The base's lines stay right: generated agents come after the file's own.
    registry = base.with_spec(base.spec.model_copy(update={"agents": agents, "openapi": declared}))
    errors = cross_checks(registry)  # the loader's checks across entries
    if errors:
        raise errors[0]
    return registry, lives


def _failure(draft: ImportDraft, exc: Exception) -> str:
    return f"The agents of import {draft.id} ({draft.name}) cannot go live: {exc}"


async def _go_live(
    engine: Engine, drafts: dict[str, tuple[ImportDraft, list[ImportChange]]]
) -> tuple[Any, list[LiveImport]]:
    """Compose and prepare; the prepared registry (not live yet) and its imports.

    Raises:
        ConfigError: It does not validate or a tool does not resolve; nothing changed.
    """
    imports = engine.imports
    registry, lives = compose(imports.base, list(drafts.values()), imports.folder())
    return await engine.prepare(registry), lives


def _commit(
    engine: Engine,
    prepared: Any,
    lives: list[LiveImport],
    drafts: dict[str, tuple[ImportDraft, list[ImportChange]]],
) -> None:
    engine.go_live(prepared)
    engine.imports.live = {live.draft_name: live for live in lives}
    engine.imports._drafts = drafts


async def accept(engine: Engine, import_id: str, who: str) -> tuple[ImportDraft, LiveImport]:
    """Accept a draft and make its agents live (the latest accepted draft of a name replaces
    the live one of that name). Accepting a live draft again returns it as it is; an accepted
    draft that is not live (it failed at start) is activated again.

    Raises:
        ActivationError: The agents cannot go live; the draft stays as it was, and so do the
            running agents.
        ImportNotFound, ImportClosed: From the store (an unknown or discarded draft).
    """
    store, imports = engine.store, engine.imports
    async with imports.lock:
        draft = await store.get_import(import_id)
        if draft is None or draft.status == "discarded":
            await store.set_import_status(import_id, "accepted", who)  # raises why not
            raise AssertionError("the store accepted a discarded draft")
        live = imports.of_draft(import_id)
        if draft.status == "accepted" and live is not None:
            return draft, live
        changes = await store.import_changes(import_id)
        drafts = {n: d for n, d in imports._drafts.items() if n != draft.name}
        drafts[draft.name] = (draft, changes)
        try:
            prepared, lives = await _go_live(engine, drafts)
        except (ConfigError, SpecError) as exc:
            log.warning("import %s not activated: %s", import_id, exc)
            raise ActivationError(_failure(draft, exc)) from None
        accepted = await store.set_import_status(import_id, "accepted", who)
        drafts[draft.name] = (accepted, changes)
        _commit(engine, prepared, lives, drafts)
        imports.failed.pop(import_id, None)
        live = imports.of_draft(import_id)
        assert live is not None
        log.info("import %s live: agents %s", import_id, ", ".join(live.agents))
        return accepted, live


async def activate_accepted(engine: Engine, limit: int = 200) -> list[LiveImport]:
    """At start: make the store's accepted imports live again (the latest accepted draft of
    each name, in the order they were accepted). If they do not all go live together, each is
    tried on its own after the others; one that fails is logged and left out
    (`engine.imports.failed`), and the server runs with the others."""
    store, imports = engine.store, engine.imports
    heads = await store.list_imports(status="accepted", limit=limit)
    latest: dict[str, ImportDraft] = {}
    for head in sorted(heads, key=lambda d: (d.accepted_at or d.updated_at, d.id)):
        latest[head.name] = head
    if not latest:
        return []
    wanted: dict[str, tuple[ImportDraft, list[ImportChange]]] = {}
    for name, head in latest.items():
        draft = await store.get_import(head.id)
        if draft is not None:
            wanted[name] = (draft, await store.import_changes(draft.id))
    async with imports.lock:
        try:
            prepared, lives = await _go_live(engine, wanted)
            _commit(engine, prepared, lives, wanted)
        except (ConfigError, SpecError):
            for name, pair in wanted.items():  # one at a time, to leave out only what fails
                trying = {**imports._drafts, name: pair}
                try:
                    prepared, lives = await _go_live(engine, trying)
                except (ConfigError, SpecError) as exc:
                    imports.failed[pair[0].id] = _failure(pair[0], exc)
                    log.error("%s", imports.failed[pair[0].id])
                    continue
                _commit(engine, prepared, lives, trying)
    for live in imports.live.values():
        log.info("import %s live again: agents %s", live.draft_id, ", ".join(live.agents))
    return list(imports.live.values())

"""Import drafts in the store: every test runs on a real SQLite file and on real PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from smart_support.settings import Settings
from smart_support.store import Persistence, Store, open_persistence
from smart_support.store.records import ImportClosed, ImportNotFound

REPORT: dict[str, Any] = {
    "source": "https://shop.example/openapi.json",
    "version": "3.0.3",
    "operations": [
        {"name": "get_order", "access": "read", "parameters": [{"name": "order_id"}]},
        {"name": "cancel_order", "access": "write", "parameters": [{"name": "order_id"}]},
    ],
    "warnings": ["één waarschuwing"],
    "skipped": [],
}
COUNTS = {"operations": 2, "write": 1, "warnings": 1, "skipped": 0}


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    settings = Settings(_env_file=None, database_url=database_url)  # type: ignore[call-arg]
    persistence: Persistence
    async with open_persistence(settings) as persistence:
        yield persistence.store


async def draft(store: Store, import_id: str = "imp-1", **changes: Any) -> Any:
    fields: dict[str, Any] = {
        "name": "Shop API",
        "source": "https://shop.example/openapi.json",
        "report": REPORT,
        "counts": COUNTS,
        "proposal": None,
        "created_by": "operator:ana",
    }
    return await store.create_import(import_id, **{**fields, **changes})


async def test_a_created_draft_reads_back_whole_and_lists_without_its_report(store: Store) -> None:
    created = await draft(store, proposal={"operations": {"get_order": {"access": "read"}}})
    assert created.status == "draft" and created.report == REPORT
    assert created.proposal == {"operations": {"get_order": {"access": "read"}}}
    assert created.created_by == "operator:ana" and created.created_at == created.updated_at
    assert created.counts == COUNTS and created.change_count == 0
    assert await store.get_import("imp-1") == created
    assert await store.get_import("nope") is None

    listed = await store.list_imports()
    assert [d.id for d in listed] == ["imp-1"]
    assert listed[0].report is None and listed[0].proposal is None
    assert listed[0].counts == COUNTS


async def test_a_draft_without_a_proposal_keeps_it_null(store: Store) -> None:
    created = await draft(store)
    assert created.proposal is None
    assert (await store.get_import(created.id)).proposal is None  # type: ignore[union-attr]


async def test_listing_is_newest_first_filtered_by_status_and_limited(store: Store) -> None:
    for n in range(3):
        await draft(store, f"imp-{n}")
    await store.set_import_status("imp-1", "discarded", "operator:bo")
    assert [d.id for d in await store.list_imports()] == ["imp-2", "imp-1", "imp-0"]
    assert [d.id for d in await store.list_imports(status="draft")] == ["imp-2", "imp-0"]
    assert [d.id for d in await store.list_imports(status="discarded")] == ["imp-1"]
    assert [d.id for d in await store.list_imports(limit=1)] == ["imp-2"]


async def test_changes_are_kept_in_order_with_who_and_what_they_replaced(store: Store) -> None:
    created = await draft(store)
    first = await store.record_import_change(
        "imp-1",
        operation="cancel_order",
        field="access",
        value="read",
        previous="write",
        changed_by="operator:ana",
        confirmed=True,
    )
    second = await store.record_import_change(
        "imp-1",
        operation="get_order",
        field="summary",
        value="Look up an order 📦",
        previous=None,
        changed_by="operator:bo",
    )
    assert (first.operation, first.field, first.value, first.previous) == (
        "cancel_order",
        "access",
        "read",
        "write",
    )
    assert first.confirmed and not second.confirmed
    assert second.previous is None and second.changed_by == "operator:bo"
    assert second.id > first.id
    assert await store.import_changes("imp-1") == [first, second]
    after = await store.get_import("imp-1")
    assert after is not None and after.change_count == 2
    assert after.updated_at == second.changed_at > created.updated_at
    assert after.proposal is None  # the proposal is never rewritten: changes are the state


async def test_json_values_of_any_shape_round_trip(store: Store) -> None:
    await draft(store)
    for value in (None, True, 3, ["a", "b"], {"nested": {"x": [1, None]}}):
        change = await store.record_import_change(
            "imp-1",
            operation="get_order",
            field="agent",
            value=value,
            previous=None,
            changed_by="operator",
        )
        assert change.value == value
    assert [c.value for c in await store.import_changes("imp-1")][-1] == {
        "nested": {"x": [1, None]}
    }


async def test_accepting_records_who_and_a_closed_draft_refuses_changes(store: Store) -> None:
    await draft(store)
    accepted = await store.set_import_status("imp-1", "accepted", "operator:ana")
    assert accepted.status == "accepted" and accepted.accepted_by == "operator:ana"
    assert accepted.accepted_at is not None and accepted.discarded_at is None
    again = await store.set_import_status("imp-1", "accepted", "operator:bo")
    assert again == accepted  # a retried accept changes nothing
    with pytest.raises(ImportClosed, match="accepted by operator:ana"):
        await store.set_import_status("imp-1", "discarded", "operator:bo")
    with pytest.raises(ImportClosed, match="takes no more changes"):
        await store.record_import_change(
            "imp-1",
            operation="get_order",
            field="access",
            value="write",
            previous="read",
            changed_by="operator:bo",
        )
    assert await store.import_changes("imp-1") == []


async def test_a_discarded_draft_cannot_be_accepted(store: Store) -> None:
    await draft(store)
    discarded = await store.set_import_status("imp-1", "discarded", "operator:bo")
    assert discarded.discarded_by == "operator:bo" and discarded.accepted_by is None
    with pytest.raises(ImportClosed, match="discarded by operator:bo"):
        await store.set_import_status("imp-1", "accepted", "operator:ana")
    current = await store.get_import("imp-1")
    assert current is not None and current.status == "discarded"


async def test_unknown_drafts_are_not_found(store: Store) -> None:
    with pytest.raises(ImportNotFound):
        await store.set_import_status("nope", "accepted", "operator")
    with pytest.raises(ImportNotFound):
        await store.record_import_change(
            "nope",
            operation="x",
            field="access",
            value="read",
            previous=None,
            changed_by="operator",
        )
    assert await store.import_changes("nope") == []


async def test_a_status_that_is_not_a_decision_is_a_programming_error(store: Store) -> None:
    await draft(store)
    with pytest.raises(ValueError, match="cannot set an import to 'draft'"):
        await store.set_import_status("imp-1", "draft", "operator")


async def test_changes_racing_an_accept_are_either_recorded_before_it_or_refused(
    store: Store,
) -> None:
    await draft(store)

    async def change(n: int) -> str:
        try:
            await store.record_import_change(
                "imp-1",
                operation="get_order",
                field="summary",
                value=f"v{n}",
                previous=None,
                changed_by="operator",
            )
        except ImportClosed:
            return "refused"
        return "recorded"

    outcomes = await asyncio.gather(
        *(change(n) for n in range(10)),
        store.set_import_status("imp-1", "accepted", "operator:ana"),
        *(change(n) for n in range(10, 20)),
    )
    accepted = await store.get_import("imp-1")
    assert accepted is not None and accepted.accepted_at is not None
    changes = await store.import_changes("imp-1")
    assert len(changes) == outcomes.count("recorded")  # a refused change left nothing behind


# -- options and import jobs (migration 4) ---------------------------------------------------


async def test_a_draft_keeps_its_options_and_older_drafts_have_none(store: Store) -> None:
    options = {"server": "https://api.example/v2", "remote_refs": False, "auth": None}
    created = await draft(store, options=options)
    plain = await draft(store, "imp-2")
    assert created.options == options
    assert (await store.get_import("imp-1")).options == options  # type: ignore[union-attr]
    assert plain.options == {}
    assert {d.id: d.options for d in await store.list_imports()}["imp-1"] == options


async def test_an_import_job_is_claimed_once_with_its_request_and_ends_once(store: Store) -> None:
    # Key order matters to an import (operations keep the spec's order): it survives storage.
    request = {"document": {"paths": {"/z": {}, "/a": {}, "/m": {}}}, "name": "Zoë \ud800"}
    job = await store.create_import_job("job-1", request=request, created_by="operator:ana")
    assert (job.status, job.attempts, job.request) == ("queued", 0, None)
    claimed = await store.claim_import_job()
    assert claimed is not None and claimed.id == "job-1" and claimed.status == "fetching"
    assert claimed.request == request and claimed.attempts == 1
    assert list(claimed.request["document"]["paths"]) == ["/z", "/a", "/m"]
    assert await store.claim_import_job() is None
    progress = await store.update_import_job("job-1", status="classifying", done=3, total=9)
    assert progress is not None and (progress.done, progress.total) == (3, 9)
    await draft(store, "imp-9")
    ready = await store.update_import_job("job-1", status="ready", draft_id="imp-9")
    assert ready is not None and ready.finished and ready.draft_id == "imp-9"
    assert await store.update_import_job("job-1", status="failed", error="late") is None
    stored = await store.get_import_job("job-1")
    assert stored is not None and stored.status == "ready" and stored.request is None
    assert await store.get_import_job("job-x") is None


async def test_jobs_interrupted_by_a_restart_run_again_once_then_fail(store: Store) -> None:
    for job_id in ("job-a", "job-b", "job-c"):
        await store.create_import_job(job_id, request={"url": "https://x"}, created_by="op")
    await store.claim_import_job()  # job-a: running when the "server stopped"
    recovered = await store.recover_import_jobs(max_attempts=2, error="interrupted")
    assert [(j.id, j.status) for j in recovered] == [("job-a", "queued")]
    again = await store.claim_import_job()
    assert again is not None and again.id == "job-a" and again.attempts == 2
    recovered = await store.recover_import_jobs(max_attempts=2, error="interrupted")
    assert [(j.id, j.status, j.error_code) for j in recovered] == [
        ("job-a", "failed", "interrupted")
    ]
    listed = await store.list_import_jobs()
    assert [j.id for j in listed][-1] == "job-a" and len(listed) == 3
    assert {j.id: j.status for j in listed} == {
        "job-a": "failed",
        "job-b": "queued",
        "job-c": "queued",
    }


async def test_with_several_servers_only_jobs_nobody_touched_lately_are_taken_as_interrupted(
    store: Store,
) -> None:
    for job_id in ("job-live", "job-dead"):
        await store.create_import_job(job_id, request={"url": "https://x"}, created_by="op")
    await store.claim_import_job()  # job-live, then job-dead: both running
    await store.claim_import_job()
    await asyncio.sleep(0.05)
    stale_before = datetime.now(UTC)
    await store.touch_import_job("job-live")  # its server is alive: its worker beats
    recovered = await store.recover_import_jobs(
        max_attempts=2, error="interrupted", stale_before=stale_before
    )
    assert [(j.id, j.status) for j in recovered] == [("job-dead", "queued")]
    live = await store.get_import_job("job-live")
    assert live is not None and live.status == "fetching"
    await store.touch_import_job("job-dead")  # a queued job is not running: nothing to touch
    assert (await store.claim_import_job()) is not None  # job-dead runs again, once

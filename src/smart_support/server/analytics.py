"""The analytics endpoints of the operator API: the figures of a window, as JSON and as CSV."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from smart_support.analytics import Analytics, Bucket, compute, csv_rows, window
from smart_support.server.errors import ApiError
from smart_support.server.protocol import IsoDatetime
from smart_support.server.rest import EngineDep, OperatorDep

router = APIRouter()

Since = Annotated[
    IsoDatetime | None,
    Query(description="ISO datetime, inclusive (UTC when naive); default: 30 days before until."),
]
Until = Annotated[
    IsoDatetime | None, Query(description="ISO datetime, exclusive (UTC when naive); default: now.")
]


async def _figures(
    engine: EngineDep, since: datetime | None, until: datetime | None, bucket: Bucket
) -> Analytics:
    start, end = window(since, until)
    if start >= end:
        raise ApiError("bad_request", "`since` must be before `until`.")
    return await compute(engine.store, start, end, bucket)


@router.get("/api/v1/operator/analytics", tags=["operator"])
async def operator_analytics(
    engine: EngineDep,
    _: OperatorDep,
    since: Since = None,
    until: Until = None,
    bucket: Bucket = "day",
) -> Analytics:
    """Conversations created in [since, until): turns, escalations, per-agent usage, approvals,
    tokens and cost (total, per agent, per model) and a series per bucket. Resolution figures
    are null until conversation outcomes exist."""
    return await _figures(engine, since, until, bucket)


@router.get(
    "/api/v1/operator/analytics.csv",
    tags=["operator"],
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}, "description": "section,name,metric,value"}},
)
async def operator_analytics_csv(
    engine: EngineDep,
    _: OperatorDep,
    since: Since = None,
    until: Until = None,
    bucket: Bucket = "day",
) -> Response:
    """The same figures as CSV: one `section,name,metric,value` row per figure."""
    figures = await _figures(engine, since, until, bucket)
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(csv_rows(figures))
    return Response(
        text.getvalue(),
        media_type="text/csv",
        headers={"Content-Disposition": 'attachment; filename="analytics.csv"'},
    )

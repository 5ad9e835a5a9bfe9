"""The operator socket (`/ws/v1/operator`): live progress of import jobs for the console.

The operator token comes in the upgrade request (`Authorization: Bearer ...`) or, because
browsers cannot set headers on a WebSocket, as the first frame `{"type": "auth", "token": ...}`
within AUTH_SECONDS. Anything else gets an `unauthorized` error frame and the socket is closed
with CLOSE_UNAUTHORIZED; with no OPERATOR_TOKEN configured every socket is refused
(`operator_disabled`). Once in, the socket gets `operator_ready` (the jobs not yet ended) and
then an `import_progress` frame for every change of every job; `ping` is answered with `pong`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from smart_support.server.errors import error_frame
from smart_support.server.import_jobs import ImportJobs, progress_frame
from smart_support.server.protocol import (
    MAX_FRAME_CHARS,
    OperatorAuthFrame,
    OperatorReadyFrame,
    PingFrame,
    PongFrame,
    operator_frame_adapter,
)
from smart_support.server.ws import origin_allowed

log = logging.getLogger("smart_support.server")

router = APIRouter()

#: Seconds a socket without the header has to send its `auth` frame.
AUTH_SECONDS = 10.0
#: Close code of a refused operator socket (policy violation, as for a refused origin).
CLOSE_UNAUTHORIZED = 1008
#: Jobs listed in `operator_ready` at most (newest first, those not yet ended).
READY_JOBS = 50


def _token_matches(presented: str, expected: str) -> bool:
    return secrets.compare_digest(presented.strip().encode(), expected.encode())


class _Sender:
    """Two tasks send on an operator socket (progress, pongs): one frame at a time."""

    def __init__(self, websocket: WebSocket) -> None:
        self.ws = websocket
        self._lock = asyncio.Lock()

    async def __call__(self, frame: BaseModel) -> None:
        text = json.dumps(frame.model_dump(mode="json"), separators=(",", ":"))
        async with self._lock:
            await self.ws.send_text(text)


async def _refuse(websocket: WebSocket, code: str, message: str | None = None) -> None:
    with contextlib.suppress(Exception):
        await _Sender(websocket)(error_frame(code, message))
        if websocket.application_state == WebSocketState.CONNECTED:
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason=code)


async def _authenticated(websocket: WebSocket, expected: str) -> bool:
    """Whether the header or the first frame carries the operator token."""
    scheme, _, presented = (websocket.headers.get("authorization") or "").partition(" ")
    if scheme:
        return scheme.lower() == "bearer" and _token_matches(presented, expected)
    try:
        text = await asyncio.wait_for(websocket.receive_text(), AUTH_SECONDS)
    except (TimeoutError, WebSocketDisconnect, KeyError, RuntimeError):
        return False  # KeyError: a binary frame has no text
    if len(text) > MAX_FRAME_CHARS:
        return False
    try:
        frame = operator_frame_adapter.validate_json(text)
    except (ValidationError, ValueError, RecursionError):
        return False
    return isinstance(frame, OperatorAuthFrame) and _token_matches(frame.token, expected)


async def _forward(websocket: WebSocket, send: _Sender, jobs: ImportJobs) -> None:
    async with jobs.subscribe() as updates:
        # Subscribed first: a change between the listing and the first update is not lost.
        listed = await jobs.store.list_import_jobs(READY_JOBS)
        ready = [progress_frame(j) for j in listed if not j.finished]
        await send(OperatorReadyFrame(jobs=ready))
        while (job := await updates.get()) is not None:
            await send(progress_frame(job))
    # The server stops, or this socket fell behind: the console reconnects and lists again.
    with contextlib.suppress(Exception):
        await websocket.close(code=1013, reason="reconnect")


async def _read(websocket: WebSocket, send: _Sender) -> None:
    while True:
        text = await websocket.receive_text()
        if len(text) > MAX_FRAME_CHARS:
            await send(error_frame("frame_too_large"))
            continue
        try:
            frame = operator_frame_adapter.validate_json(text)
        except (ValidationError, ValueError, RecursionError):
            await send(error_frame("bad_frame"))
            continue
        if isinstance(frame, PingFrame):
            await send(PongFrame())


@router.websocket("/ws/v1/operator")
async def operator_socket(websocket: WebSocket) -> None:
    """Import progress for operators: see docs/protocol.md."""
    if not origin_allowed(websocket):
        log.warning("refused an operator socket from origin %r", websocket.headers.get("origin"))
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason="origin not allowed")
        return
    await websocket.accept()
    expected = websocket.app.state.settings.operator_token
    if not expected:
        await _refuse(websocket, "operator_disabled")
        return
    if not await _authenticated(websocket, expected):
        log.warning("refused an operator socket without a valid token")
        await _refuse(websocket, "unauthorized", "A valid operator token is required.")
        return
    jobs: ImportJobs = websocket.app.state.import_jobs
    send = _Sender(websocket)
    forward = asyncio.create_task(_forward(websocket, send, jobs), name="operator-forward")
    read = asyncio.create_task(_read(websocket, send), name="operator-read")
    try:
        await asyncio.wait({forward, read}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (forward, read):
            task.cancel()
        for task in (forward, read):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


__all__ = ["AUTH_SECONDS", "CLOSE_UNAUTHORIZED", "router"]

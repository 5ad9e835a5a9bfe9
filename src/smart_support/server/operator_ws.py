"""The operator socket (`/ws/v1/operator`): live progress of import jobs for the console, and
the people who take conversations over (`escalation.people`).

The operator token comes in the upgrade request (`Authorization: Bearer ...`) or, because
browsers cannot set headers on a WebSocket, as the first frame `{"type": "auth", "token": ...}`
within AUTH_SECONDS. Anything else gets an `unauthorized` error frame and the socket is closed
with CLOSE_UNAUTHORIZED; with no OPERATOR_TOKEN configured every socket is refused
(`operator_disabled`). Once in, the socket gets `operator_ready` (the jobs not yet ended) and
then an `import_progress` frame for every change of every job, and `approval_requested` /
`approval_resolved` for every approval of any conversation created or ended in this process;
`ping` is answered with `pong`.

`take_over` makes the socket's person hold a conversation and follow it: the customer's messages
come as `customer_message` frames and the person's own as `person_message` (as the customer
sees them) until `hand_back` (or another operator's hand-back: `person_left`). Closing the
socket does not hand back: the conversation stays held until someone hands it back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from datetime import UTC, datetime

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from smart_support.errors import SmartSupportError
from smart_support.escalation import people
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import (
    ApprovalRequest,
    ApprovalRequested,
    ApprovalResolved,
    MessageAccepted,
)
from smart_support.server.errors import error_frame, frame_for
from smart_support.server.import_jobs import ImportJobs, progress_frame
from smart_support.server.protocol import (
    MAX_FRAME_CHARS,
    CustomerMessageFrame,
    ErrorFrame,
    HandBackFrame,
    OperatorApprovalRequestedFrame,
    OperatorApprovalResolvedFrame,
    OperatorAuthFrame,
    OperatorReadyFrame,
    PingFrame,
    PongFrame,
    SayFrame,
    TakeOverFrame,
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
#: Events of all conversations an operator socket may have unread before it is closed (1013).
LAG_EVENTS = 10_000


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


async def _approvals(websocket: WebSocket, engine: Engine, send: _Sender) -> None:
    """Every approval created or ended in this process, of any conversation, to this socket.
    The subscription gets every event (tokens too): a socket that falls LAG_EVENTS behind is
    closed with 1013, and the console reconnects and lists the approvals again."""
    async with engine.subscribe_all() as events:
        while events.qsize() <= LAG_EVENTS:
            event = await events.get()
            if isinstance(event, ApprovalRequested):
                record = await engine.store.get_approval(event.approval_id)
                if record is not None and record.status != "pending":
                    continue  # already decided: its `approval_resolved` follows
                await send(
                    OperatorApprovalRequestedFrame.from_record(record)
                    if record is not None
                    else OperatorApprovalRequestedFrame(
                        **event.model_dump(include=set(ApprovalRequest.model_fields)),
                        conversation_id=event.conversation_id,
                        status="pending",
                        created_at=datetime.now(UTC),
                    )
                )
            elif isinstance(event, ApprovalResolved):
                await send(
                    OperatorApprovalResolvedFrame(
                        approval_id=event.approval_id,
                        conversation_id=event.conversation_id,
                        status=event.status,
                        decided_by=event.decided_by,
                    )
                )
    with contextlib.suppress(Exception):
        await websocket.close(code=1013, reason="reconnect")


def _person_error(exc: Exception, conversation_id: str) -> ErrorFrame:
    """The operator reads who holds a conversation; anything unexpected stays generic."""
    if isinstance(exc, people.ConversationHeld):
        return ErrorFrame(code=exc.code, message=str(exc), conversation_id=conversation_id)
    if isinstance(exc, SmartSupportError):
        return ErrorFrame(
            code=exc.code, message=exc.public_message, conversation_id=conversation_id
        )
    return frame_for(exc, conversation_id)


class _Held:
    """The conversations this socket's people took over, each followed by a task that sends
    the customer's messages and the person events to the socket."""

    def __init__(self, engine: Engine, send: _Sender) -> None:
        self.engine, self.send = engine, send
        self.names: dict[str, str] = {}
        self._follow: dict[str, asyncio.Task[None]] = {}

    async def _forward(self, conversation_id: str, ready: asyncio.Event) -> None:
        async with self.engine.subscribe(conversation_id) as events:
            ready.set()
            async for event in events:
                if isinstance(event, MessageAccepted):
                    await self.send(
                        CustomerMessageFrame(
                            conversation_id=conversation_id, text=event.text, seq=event.seq
                        )
                    )
                elif isinstance(event, people.PersonMessage | people.PersonLeft):
                    await self.send(event)
                    if isinstance(event, people.PersonLeft):
                        break
        # handed back (here or elsewhere): this socket's person holds it no more
        if self._follow.get(conversation_id) is asyncio.current_task():
            self.names.pop(conversation_id, None)
            self._follow.pop(conversation_id, None)

    async def _stop(self, conversation_id: str) -> None:
        self.names.pop(conversation_id, None)
        task = self._follow.pop(conversation_id, None)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def take_over(self, frame: TakeOverFrame) -> None:
        conversation_id = frame.conversation_id
        if conversation_id not in self._follow:  # subscribed first: no message falls between
            ready = asyncio.Event()
            self._follow[conversation_id] = asyncio.create_task(
                self._forward(conversation_id, ready), name="operator-follow"
            )
            await ready.wait()
        try:
            joined = await people.take_over(self.engine, conversation_id, frame.name)
        except Exception as exc:
            if conversation_id not in self.names:
                await self._stop(conversation_id)
            await self.send(_person_error(exc, conversation_id))
            return
        self.names[conversation_id] = joined.name
        await self.send(joined)

    async def say(self, frame: SayFrame) -> None:
        name = self.names.get(frame.conversation_id)
        if name is None:
            await self.send(
                ErrorFrame(
                    code="not_held",
                    message="Take this conversation over on this socket first.",
                    conversation_id=frame.conversation_id,
                )
            )
            return
        try:  # the message comes back to this socket by subscription, as the customer's does
            await people.say(self.engine, frame.conversation_id, frame.text, name)
        except Exception as exc:
            await self.send(_person_error(exc, frame.conversation_id))

    async def hand_back(self, frame: HandBackFrame) -> None:
        following = frame.conversation_id in self._follow
        try:
            left = await people.hand_back(self.engine, frame.conversation_id)
        except Exception as exc:
            await self.send(_person_error(exc, frame.conversation_id))
            return
        if not following:  # a followed one gets `person_left` by subscription
            await self.send(left)

    async def close(self) -> None:
        for conversation_id in list(self._follow):
            await self._stop(conversation_id)


async def _read(websocket: WebSocket, send: _Sender, held: _Held) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(message.get("code", 1000))
        text = message.get("text")
        if text is None:  # a binary frame: answered like the chat socket answers it
            await send(error_frame("bad_frame", "Frames must be JSON text, not binary."))
            continue
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
        elif isinstance(frame, TakeOverFrame):
            await held.take_over(frame)
        elif isinstance(frame, SayFrame):
            await held.say(frame)
        elif isinstance(frame, HandBackFrame):
            await held.hand_back(frame)


@router.websocket("/ws/v1/operator")
async def operator_socket(websocket: WebSocket) -> None:
    """Import progress and taken-over conversations for operators: see docs/protocol.md."""
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
    held = _Held(websocket.app.state.engine, send)
    forward = asyncio.create_task(_forward(websocket, send, jobs), name="operator-forward")
    read = asyncio.create_task(_read(websocket, send, held), name="operator-read")
    approvals = asyncio.create_task(
        _approvals(websocket, websocket.app.state.engine, send), name="operator-approvals"
    )
    tasks = (forward, read, approvals)
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await held.close()


__all__ = ["AUTH_SECONDS", "CLOSE_UNAUTHORIZED", "router"]

"""The chat WebSocket (`/ws/v1`): one `ChatConnection` per socket.

A connection reads client frames, runs turns and decisions as background tasks owned by the app
(so a turn completes and is stored even when its socket goes away), and forwards the live events
of its conversation from `engine.subscribe` through a bounded send queue. A client that does not
read its frames fast enough fills its queue and is disconnected; nobody else waits for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Coroutine
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from pydantic import BaseModel, ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from smart_support.errors import IdentityError
from smart_support.identity import Identity, verify_identity_token
from smart_support.observability import metrics
from smart_support.observability.limits import RATE_LIMITED_MESSAGES, TOO_LONG_MESSAGE, Limits
from smart_support.observability.logs import bind_conversation
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import Event
from smart_support.runtime.feedback import MAX_COMMENT_CHARS, record_feedback
from smart_support.server.errors import error_frame, frame_for
from smart_support.server.protocol import (
    MAX_FRAME_CHARS,
    ConversationFrame,
    DecisionFrame,
    ErrorFrame,
    FeedbackFrame,
    FeedbackRecordedFrame,
    MessageFrame,
    PingFrame,
    PongFrame,
    ResumeFrame,
    StartFrame,
    TranscriptFrame,
    client_frame_adapter,
    to_frame,
)
from smart_support.settings import Settings

log = logging.getLogger("smart_support.server")

#: Frames waiting for one client; a client this far behind is disconnected.
SEND_QUEUE_FRAMES = 1024
#: Turns one connection may have running or waiting before `busy`.
MAX_QUEUED_TURNS = 3
#: Close code sent to a client whose queue overflowed ("try again later").
CLOSE_SLOW_CONSUMER = 1013
#: Close code of a socket refused because its IP has MAX_SOCKETS_PER_IP open (cf. HTTP 429).
CLOSE_TOO_MANY_SOCKETS = 4029

router = APIRouter()

_COMMENT_TOO_LONG = f"Please keep a comment under {MAX_COMMENT_CHARS} characters."


class TaskGroup:
    """Background work that outlives sockets (turns, decisions); awaited at shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def drain(self, seconds: float) -> None:
        """Let running turns finish for up to `seconds`, then cancel the rest."""
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=seconds)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


def _bad_frame_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"][1:]) or str(
        first["loc"][0] if first["loc"] else ""
    )
    if first["type"] == "union_tag_invalid":
        return "Unknown frame type."
    if first["type"] == "union_tag_not_found":
        return 'A frame needs a "type".'
    if where:
        return f"Invalid field {where[:60]!r}: {first['msg']}."
    return "That message could not be understood."


class ChatConnection:
    """One customer's socket: reads frames, writes frames, follows one conversation."""

    def __init__(
        self,
        websocket: WebSocket,
        engine: Engine,
        tasks: TaskGroup,
        settings: Settings,
        limits: Limits | None = None,
        client: str = "",
    ) -> None:
        self.ws = websocket
        self.engine = engine
        self.tasks = tasks
        self.settings = settings
        self.limits = limits or Limits.from_settings(settings)
        #: The client's IP (`request.client.host`: the proxy's, unless uvicorn trusts it).
        self.client = client
        self.conversation_id: str | None = None
        #: Customer messages of the followed conversation (MAX_CONVERSATION_TURNS).
        self._turn_count = 0
        self._queue: asyncio.Queue[str | None] = asyncio.Queue(SEND_QUEUE_FRAMES)
        self._closed = False
        self._follow: asyncio.Task[None] | None = None
        self._turns: set[asyncio.Task[None]] = set()

    # sending ---------------------------------------------------------------------------------

    def send(self, frame: BaseModel | dict[str, Any]) -> None:
        """Queue a frame without waiting; a full queue disconnects this client."""
        if self._closed:
            return
        data = frame.model_dump(mode="json") if isinstance(frame, BaseModel) else frame
        try:
            self._queue.put_nowait(json.dumps(data, separators=(",", ":")))
        except asyncio.QueueFull:
            log.warning(
                "disconnecting a slow client of conversation %s (send queue full)",
                self.conversation_id,
            )
            self._closed = True
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            asyncio.get_running_loop().create_task(self._close(CLOSE_SLOW_CONSUMER))

    async def _close(self, code: int) -> None:
        with contextlib.suppress(Exception):
            if self.ws.application_state == WebSocketState.CONNECTED:
                await self.ws.close(code=code, reason="send queue full")

    async def _writer(self) -> None:
        while True:
            text = await self._queue.get()
            if text is None:
                return
            try:
                await self.ws.send_text(text)
            except Exception:  # the peer went away; the reader notices too
                self._closed = True
                return

    # reading ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the socket until the client leaves."""
        writer = asyncio.create_task(self._writer(), name="ws-writer")
        try:
            while not self._closed:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    self.send(error_frame("bad_frame", "Frames must be JSON text, not binary."))
                    continue
                if len(text) > MAX_FRAME_CHARS:
                    self.send(error_frame("frame_too_large"))
                    continue
                try:
                    await self._handle(text)
                except Exception:  # a bug of ours: this frame fails, the socket carries on
                    log.exception(
                        "could not handle a frame of conversation %s", self.conversation_id
                    )
                    self.send(error_frame("internal_error", conversation_id=self.conversation_id))
        except WebSocketDisconnect:
            pass
        except RuntimeError:
            # `receive` after the close that the slow-client path sent: nothing more to read.
            if not self._closed:
                raise
        finally:
            self._closed = True
            if self._follow is not None:
                self._follow.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._follow
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer

    async def _handle(self, text: str) -> None:
        try:
            raw = json.loads(text)
        except ValueError:
            self.send(error_frame("bad_frame", "Frames must be JSON objects."))
            return
        except RecursionError:  # nesting deeper than the parser's stack, well under 16 KiB
            self.send(error_frame("bad_frame", "That message is nested too deeply."))
            return
        if not isinstance(raw, dict):
            self.send(error_frame("bad_frame", "Frames must be JSON objects."))
            return
        if "v" in raw and raw["v"] != 1:
            self.send(error_frame("unsupported_version"))
            return
        try:
            frame = client_frame_adapter.validate_python(raw)
        except RecursionError:
            self.send(error_frame("bad_frame", "That message is nested too deeply."))
            return
        except ValidationError as exc:
            too_long = any(e["type"] == "string_too_long" for e in exc.errors())
            if raw.get("type") == "message" and too_long:
                self.send(error_frame("message_too_long"))
            elif raw.get("type") == "feedback" and too_long:
                self.send(error_frame("bad_frame", _COMMENT_TOO_LONG))
            else:
                self.send(error_frame("bad_frame", _bad_frame_message(exc)))
            return
        if isinstance(frame, PingFrame):
            self.send(PongFrame())
        elif isinstance(frame, StartFrame):
            await self._start(frame)
        elif isinstance(frame, ResumeFrame):
            await self._resume(frame)
        elif isinstance(frame, MessageFrame):
            self._message(frame)
        elif isinstance(frame, DecisionFrame):
            self._decision(frame)
        elif isinstance(frame, FeedbackFrame):
            await self._feedback(frame)

    # conversation ----------------------------------------------------------------------------

    def _conversation_frame(
        self, conversation_id: str, token: str, resumed: bool, customer: Identity | None
    ) -> BaseModel:
        return ConversationFrame(
            conversation_id=conversation_id,
            token=token,
            model_label=self.engine.model_label,
            is_offline=self.engine.is_offline,
            resumed=resumed,
            welcome_message=self.settings.welcome_message,
            link_domains=self.settings.link_domains,
            verified=customer is not None,
            customer=customer.label if customer is not None else None,
        )

    async def _start(self, frame: StartFrame) -> None:
        if not self.limits.conversations.hit(self.client):
            metrics.RATE_LIMITED.labels("conversations").inc()
            log.warning("refused a new conversation from %s (rate limit)", self.client)
            self.send(error_frame("rate_limited", RATE_LIMITED_MESSAGES["conversations"]))
            return
        identity = None
        try:
            if frame.identity is not None:
                identity = verify_identity_token(frame.identity, self.settings)
            conversation_id, token = await self.engine.start_conversation(identity)
        except IdentityError as exc:
            log.warning("identity refused at start: %s", exc)  # the site's developer reads why
            self.send(frame_for(exc))
            return
        except Exception as exc:
            self.send(frame_for(exc))
            return
        bind_conversation(conversation_id)
        log.info(
            "conversation %s started (%s)", conversation_id, "verified" if identity else "anonymous"
        )
        self.send(self._conversation_frame(conversation_id, token, False, identity))
        await self._attach(conversation_id, with_transcript=False)

    async def _resume(self, frame: ResumeFrame) -> None:
        try:
            allowed = await self.engine.authorize(frame.conversation_id, frame.token)
        except Exception as exc:
            self.send(frame_for(exc))
            return
        if not allowed:
            self.send(error_frame("unauthorized"))
            return
        try:
            customer = await self.engine.customer(frame.conversation_id)
        except Exception as exc:
            self.send(frame_for(exc))
            return
        self.send(self._conversation_frame(frame.conversation_id, frame.token, True, customer))
        await self._attach(frame.conversation_id, with_transcript=True)

    async def _attach(self, conversation_id: str, *, with_transcript: bool) -> None:
        """Follow `conversation_id` (and stop following the previous one)."""
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._follow
        self.conversation_id = conversation_id
        self._turn_count = 0  # counted from the transcript, for a resumed one (`_forward`)
        bind_conversation(conversation_id)
        ready = asyncio.Event()
        self._follow = asyncio.create_task(
            self._forward(conversation_id, with_transcript, ready), name="ws-follow"
        )
        # Wait until subscribed, so that a message sent right after `conversation` is seen.
        waiter = asyncio.create_task(ready.wait())
        await asyncio.wait({waiter, self._follow}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()

    async def _forward(
        self, conversation_id: str, with_transcript: bool, ready: asyncio.Event
    ) -> None:
        try:
            async with self.engine.subscribe(conversation_id) as events:
                # Subscribe before reading the transcript: nothing falls between the two.
                if with_transcript:
                    records = await self.engine.transcript(conversation_id)
                    self._turn_count += sum(r.kind == "customer_message" for r in records)
                    pending = await self.engine.pending_approvals(conversation_id)
                    self.send(TranscriptFrame.build(conversation_id, records, pending))
                ready.set()
                await self._pump(events)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Not following any more: the client must resume (or start) again.
            if self.conversation_id == conversation_id:
                self.conversation_id = None
            self.send(frame_for(exc, conversation_id))
        finally:
            ready.set()

    async def _pump(self, events: AsyncIterator[Event]) -> None:
        async for event in events:
            self.send(to_frame(event))

    async def _drive(
        self, conversation_id: str, events: AsyncIterator[Event], *, turn: bool = False
    ) -> None:
        """Run a turn or a decision to its end. The engine publishes every event it yields,
        errors included, so they reach this socket (and every other one following the
        conversation) by subscription, once; what is yielded here is only drained."""
        bind_conversation(conversation_id)
        try:
            async for _ in metrics.observed(events, turn=turn):
                pass
        except Exception as exc:  # the engine turns failures into events; this is a bug
            self.send(frame_for(exc, conversation_id))

    # turns -----------------------------------------------------------------------------------

    def _message(self, frame: MessageFrame) -> None:
        conversation_id = self.conversation_id
        if conversation_id is None:
            self.send(error_frame("no_conversation"))
            return
        # The engine runs one turn at a time per conversation (a second one waits); a customer
        # may type ahead a little, but not queue up work without bound.
        self._turns = {t for t in self._turns if not t.done()}
        if len(self._turns) >= MAX_QUEUED_TURNS:
            self.send(error_frame("busy", conversation_id=conversation_id))
            return
        limits = self.limits
        if limits.max_turns and self._turn_count >= limits.max_turns:
            metrics.RATE_LIMITED.labels("turns").inc()
            self.send(error_frame("conversation_too_long", TOO_LONG_MESSAGE, conversation_id))
            return
        if not limits.messages.hit(conversation_id):
            metrics.RATE_LIMITED.labels("messages").inc()
            log.warning("refused a message of conversation %s (rate limit)", conversation_id)
            words = RATE_LIMITED_MESSAGES["messages"]
            self.send(error_frame("rate_limited", words, conversation_id))
            return
        self._turn_count += 1
        self._turns.add(
            self.tasks.spawn(
                self._run_turn(conversation_id, frame.text), name=f"turn-{conversation_id}"
            )
        )

    def _decision(self, frame: DecisionFrame) -> None:
        conversation_id = self.conversation_id
        if conversation_id is None:
            self.send(error_frame("no_conversation"))
            return
        self.tasks.spawn(
            self._run_decision(conversation_id, frame.approval_id, frame.decision == "approve"),
            name=f"decision-{frame.approval_id}",
        )

    async def _feedback(self, frame: FeedbackFrame) -> None:
        """Store the customer's rating of a reply (`runtime.feedback`) and acknowledge it to
        this socket. Not a turn: it runs inline, does not wait for one, and does not reopen a
        closed conversation."""
        conversation_id = self.conversation_id
        if conversation_id is None:
            self.send(error_frame("no_conversation"))
            return
        try:
            await record_feedback(
                self.engine.store, conversation_id, frame.reply_id, frame.rating, frame.comment
            )
        except Exception as exc:
            self.send(frame_for(exc, conversation_id))
            return
        self.send(
            FeedbackRecordedFrame(
                conversation_id=conversation_id, reply_id=frame.reply_id, rating=frame.rating
            )
        )

    async def _run_turn(self, conversation_id: str, text: str) -> None:
        await self._drive(conversation_id, self.engine.send(conversation_id, text), turn=True)

    async def _run_decision(self, conversation_id: str, approval_id: str, approve: bool) -> None:
        events = self.engine.decide(
            approval_id, approve, decided_by="customer", conversation_id=conversation_id
        )
        await self._drive(conversation_id, events)


def origin_allowed(websocket: WebSocket) -> bool:
    """Browsers send `Origin` on every WebSocket: accept the server's own pages, the origins the
    operator listed (ALLOWED_ORIGINS) and clients that send none (not a browser). Refusing other
    sites stops a foreign page from driving the chat in its visitors' browsers."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True
    parts = urlsplit(origin.strip().lower())
    # A page of this server has this server's scheme as well as its host and port: an http
    # page may not talk to a wss socket of the same host:port, nor an https page to a ws one.
    own_scheme = "https" if websocket.url.scheme == "wss" else "http"
    host = (websocket.headers.get("host") or "").lower()
    if parts.netloc and parts.netloc == host and parts.scheme == own_scheme:
        return True
    return origin.strip().rstrip("/").lower() in {
        o.strip().rstrip("/").lower() for o in websocket.app.state.settings.allowed_origins
    }


@router.websocket("/ws/v1")
async def chat_socket(websocket: WebSocket) -> None:
    """The customer chat: see docs/protocol.md."""
    if not origin_allowed(websocket):
        log.warning("refused a chat socket from origin %r", websocket.headers.get("origin"))
        await websocket.close(code=1008, reason="origin not allowed")
        return
    app = websocket.app
    limits: Limits = app.state.limits
    client = websocket.client.host if websocket.client else ""
    await websocket.accept()
    if not limits.sockets.acquire(client):
        metrics.RATE_LIMITED.labels("sockets").inc()
        log.warning("refused a chat socket from %s (MAX_SOCKETS_PER_IP open)", client)
        await websocket.close(code=CLOSE_TOO_MANY_SOCKETS, reason="too many sockets from you")
        return
    metrics.OPEN_SOCKETS.inc()
    try:
        connection = ChatConnection(
            websocket, app.state.engine, app.state.tasks, app.state.settings, limits, client
        )
        await connection.run()
    finally:
        metrics.OPEN_SOCKETS.dec()
        limits.sockets.release(client)


__all__ = ["ChatConnection", "ErrorFrame", "TaskGroup", "router"]

"""The conversation engine: the one object the terminal chat and the server talk to.

A turn: take the conversation's lock (one turn at a time, across processes on PostgreSQL), store
the customer's message in the event log (from then on it is accepted and will be answered), run
the graph and translate its stream into events. Events are published to live subscribers and,
except tokens, appended to the event log, which is the transcript and the replay source: each
step is one append with what an operator needs to understand it later (`runtime.events`), the
tokens and cost of the model calls made for it included (no append of their own).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, ToolMessage
from langgraph.types import Command

from smart_support.analytics.outcomes import OUTCOME_VERSION, outcome
from smart_support.errors import (
    ApprovalError,
    ConversationNotFound,
    ModelError,
    SmartSupportError,
    StoreUnavailable,
)
from smart_support.escalation import people
from smart_support.escalation.outbox import (
    closed_messages,
    decided_webhooks,
    routed_escalation,
)
from smart_support.fanout import Fanout, NoFanout, open_fanout
from smart_support.identity import Identity
from smart_support.models.offline import OfflineChatModel
from smart_support.models.provider import build_chat_model, model_label
from smart_support.registry import Registry, load_registry
from smart_support.registry.validate import demo_agents_file
from smart_support.runtime.activation import LiveImports
from smart_support.runtime.events import (
    AgentSelected,
    ApprovalRequested,
    ApprovalResolved,
    CustomerVerified,
    Event,
    MessageAccepted,
    ReplyEnd,
    RoutingDecision,
    Token,
    ToolActivity,
    TurnError,
    log_data,
    operator_detail,
)
from smart_support.runtime.failpoints import failpoint
from smart_support.runtime.graph import build_graph
from smart_support.runtime.guard import GUARD_MARK
from smart_support.runtime.routing import Reason, Router
from smart_support.runtime.usage import UsageRecorder
from smart_support.settings import Settings
from smart_support.store import Approval, Conversation, EventRecord, Store
from smart_support.store.persistence import is_store_unavailable, open_persistence
from smart_support.store.records import ApprovalStatus
from smart_support.tools import Toolkit, open_toolkit

log = logging.getLogger("smart_support.engine")

MAX_MESSAGE_CHARS = 4000
#: How far back a turn looks for customer messages that were stored but never answered.
BACKLOG_EVENTS = 20
UNANSWERED_NOTE = "{} Your message was saved and will be answered before your next one."
#: A rejection or expiry decided this long before a restart (beyond the approvals' lifetime)
#: is no longer looked for by `Engine.recover`.
RECOVER_DECIDED_SECONDS = 24 * 3600
#: How many checkpoints back a decision looks for the step its approval paused.
HISTORY_SEARCH = 200
_DECLINE = re.compile(
    r"^(no|nope|nah|no thanks|no thank you|leave it|don'?t|do not|never ?mind|forget it|stop|"
    r"reject|decline|cancel (that|it|this)|i changed my mind)\b",
    re.IGNORECASE,
)


def declines(text: str) -> bool:
    """Whether a message sent while an approval waits says no to it ("no, leave it")."""
    words = text.strip()
    return bool(_DECLINE.match(words)) and "?" not in words and len(words.split()) <= 8


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _customer_tools(registry: Registry, toolkit: Toolkit) -> set[str]:
    return {
        tool.name
        for agent in registry.agents
        for tool in toolkit.tools_for(agent.name)
        if (tool.metadata or {}).get("needs_customer")
    }


@dataclass(frozen=True)
class Prepared:
    """A registry whose tools are resolved and whose graph is built, ready to go live."""

    registry: Registry
    graph: Any
    customer_tools: set[str]


@dataclass(frozen=True)
class _Builder:
    """What `Engine.open` keeps to build another graph: its exit stack (toolkits opened later
    close with the engine) and the graph's other parts."""

    stack: AsyncExitStack
    build: Callable[[Registry, Toolkit], Any]


class Engine:
    """Routes each customer message to an agent, streams its reply, pauses writes for approval."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        registry: Registry,
        graph: Any,
        *,
        label: str,
        offline: bool,
    ) -> None:
        self.settings = settings
        self.store = store
        self.registry = registry
        self.graph = graph
        self.model_label = label
        self.is_offline = offline
        self._subscribers: dict[str, set[asyncio.Queue[Event]]] = {}
        self._all_subscribers: set[asyncio.Queue[Any]] = set()
        #: Carries this process's events to the other server processes (`smart_support.fanout`).
        self.fanout: Fanout = NoFanout()
        #: Tools that act on one customer's data: approving one needs the verified owner.
        self.customer_tools: set[str] = set()
        #: The verification tool, if agents.yaml names one.
        verify = registry.identity.verify
        self._verify_tool = verify.tool if verify is not None else None
        self._builder: _Builder | None = None
        #: The toolkits this engine opened (the first, then one per activated registry): their
        #: MCP sessions are what `/readyz` pings.
        self.toolkits: list[Toolkit] = []
        #: The accepted imports that are live (runtime/activation.py).
        self.imports = LiveImports(registry)

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        settings: Settings,
        *,
        model: BaseChatModel | None = None,
        router_model: BaseChatModel | None = None,
        registry: Registry | None = None,
    ) -> AsyncIterator[Engine]:
        """Open the store, checkpointer, MCP sessions and model once; close them on exit.

        `model`/`router_model` inject a LangChain chat model (tests, benchmarks)."""
        registry = registry or load_registry(settings.agents_file or demo_agents_file())
        if model is None:
            model = build_chat_model(settings)
            label, offline = model_label(settings), settings.resolved_provider() == "offline"
        else:
            offline = isinstance(model, OfflineChatModel)
            label = OfflineChatModel.label if offline else type(model).__name__
        if router_model is None:
            router_model = (
                build_chat_model(settings, router=True) if settings.router_model else model
            )
        async with AsyncExitStack() as stack:
            persistence = await stack.enter_async_context(open_persistence(settings))
            toolkit = await stack.enter_async_context(open_toolkit(registry, settings))
            chat_model, routing_model = model, router_model

            def build(registry: Registry, toolkit: Toolkit) -> Any:
                return build_graph(
                    registry=registry,
                    toolkit=toolkit,
                    model=chat_model,
                    router=Router(registry, routing_model),
                    store=persistence.store,
                    settings=settings,
                    checkpointer=persistence.checkpointer,
                )

            graph = build(registry, toolkit)
            engine = cls(settings, persistence.store, registry, graph, label=label, offline=offline)
            engine.customer_tools = _customer_tools(registry, toolkit)
            engine.toolkits.append(toolkit)
            engine._builder = _Builder(stack, build)
            engine.fanout = await stack.enter_async_context(
                open_fanout(settings, engine.deliver, engine.follows)
            )
            stack.callback(engine.imports.close)
            log.info(
                "engine ready: %s, %d agents, %s",
                label,
                len(registry.agents),
                "PostgreSQL" if settings.is_postgres else "SQLite",
            )
            await engine.recover()
            yield engine

    # activation ----------------------------------------------------------------------------

    async def prepare(self, registry: Registry) -> Prepared:
        """Resolve `registry`'s tools (imports loaded, MCP sessions opened) and build its graph,
        without touching what is live. The toolkit stays open until the engine closes.

        Raises:
            ConfigError: A tool does not resolve (an unreachable import or server, an operation
                the spec lacks...); nothing is left open then.
            RuntimeError: The engine was not opened with `Engine.open`.
        """
        if self._builder is None:
            raise RuntimeError("only an engine opened with Engine.open can activate a registry")
        toolkit = await self._builder.stack.enter_async_context(
            open_toolkit(registry, self.settings)
        )
        self.toolkits.append(toolkit)
        return Prepared(
            registry, self._builder.build(registry, toolkit), _customer_tools(registry, toolkit)
        )

    def go_live(self, prepared: Prepared) -> None:
        """Swap in a prepared registry, graph and customer tools at once (no await between
        them). New turns run on it; a turn in progress finishes on the graph it started with."""
        self.registry, self.graph = prepared.registry, prepared.graph
        self.customer_tools = prepared.customer_tools
        verify = prepared.registry.identity.verify
        self._verify_tool = verify.tool if verify is not None else None
        log.info("registry live: %d agents", len(prepared.registry.agents))

    async def activate(self, registry: Registry) -> None:
        """`prepare` then `go_live`: the registry is live only if all its tools resolve.

        Raises:
            ConfigError: As `prepare`; the running registry and graph are untouched then.
        """
        self.go_live(await self.prepare(registry))

    # conversations -------------------------------------------------------------------------

    async def start_conversation(self, identity: Identity | None = None) -> tuple[str, str]:
        """Create a conversation. Returns (conversation_id, customer_token); both unguessable.

        Args:
            identity: The customer, when the host site passed a signed identity (checked by
                `smart_support.identity.verify_identity_token`); anonymous otherwise.
        """
        conversation_id = secrets.token_urlsafe(18)
        token = secrets.token_urlsafe(24)
        await self.store.create_conversation(conversation_id, _token_hash(token))
        if identity is not None:
            await self.store.set_identity(conversation_id, identity.model_dump(mode="json"))
            await self._emit(
                CustomerVerified(
                    conversation_id=conversation_id, method=identity.method, customer=identity.label
                )
            )
        return conversation_id, token

    async def customer(self, conversation_id: str) -> Identity | None:
        """The conversation's verified customer; None while anonymous (or unknown id)."""
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None or conversation.identity is None:
            return None
        return Identity.model_validate(conversation.identity)

    async def authorize(self, conversation_id: str, token: str) -> bool:
        """True when `token` is the customer token issued for this conversation."""
        conversation = await self.store.get_conversation(conversation_id)
        return conversation is not None and hmac.compare_digest(
            conversation.token_hash, _token_hash(token)
        )

    async def transcript(self, conversation_id: str) -> list[EventRecord]:
        return await self.store.events(conversation_id)

    async def close_conversation(self, conversation_id: str) -> Conversation:
        """Close a conversation and store its outcome (`analytics.outcomes`) with the
        definition's version; returns it closed. Closing a closed one changes nothing. A later
        customer message reopens it (see `_turn`): its outcome is computed again at the next
        close. Raises ConversationNotFound."""
        conversation, _ = await self._close(conversation_id)
        return conversation

    async def _close(
        self, conversation_id: str, idle_before: datetime | None = None
    ) -> tuple[Conversation, bool]:
        """Close unless closed already (or, with `idle_before`, active since); returns the
        conversation and whether this call closed it."""
        async with self.store.conversation_lock(conversation_id):  # not in the middle of a turn
            conversation = await self.store.get_conversation(conversation_id)
            if conversation is None:
                raise ConversationNotFound()
            if conversation.closed_at is not None:
                return conversation, False
            events = await self.transcript(conversation_id)
            if idle_before is not None and events and events[-1].created_at >= idle_before:
                return conversation, False  # a message came in since it was found idle
            if conversation.held_by is not None:
                # Nobody is left holding a closed conversation: the customer is told the
                # person left, and a message that reopens it is answered by the agents.
                with contextlib.suppress(people.NotHeld):
                    await people.hand_back(self, conversation_id)
                events = await self.transcript(conversation_id)
            result = outcome(events, escalated=conversation.escalated)
            now = datetime.now(UTC)
            webhooks = closed_messages(self.settings, conversation, result, now)
            closed = await self.store.close_conversation(
                conversation_id, result, OUTCOME_VERSION, now, webhooks
            )
            if closed:
                log.info("conversation %s closed: %s", conversation_id, result)
            return await self.store.get_conversation(conversation_id) or conversation, closed

    async def close_idle(self, limit: int = 100) -> int:
        """Close up to `limit` conversations idle for `conversation_idle_seconds` (none when
        it is 0); returns how many closed."""
        idle = self.settings.conversation_idle_seconds
        if not idle:
            return 0
        before = datetime.now(UTC) - timedelta(seconds=idle)
        closed = 0
        for conversation_id in await self.store.idle_conversations(before, limit):
            _, done = await self._close(conversation_id, idle_before=before)
            closed += done
        return closed

    async def pending_approvals(self, conversation_id: str | None = None) -> list[Approval]:
        return await self.store.list_approvals(conversation_id, "pending")

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        return await self.store.list_conversations(limit, offset)

    @asynccontextmanager
    async def subscribe(self, conversation_id: str) -> AsyncIterator[AsyncIterator[Event]]:
        """Live events of one conversation from any source (send, decide, expiry, a person),
        in this process or another on the same PostgreSQL database (`smart_support.fanout`),
        for as long as the context is open."""
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self._subscribers.setdefault(conversation_id, set()).add(queue)

        async def events() -> AsyncIterator[Event]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            queues = self._subscribers.get(conversation_id, set())
            queues.discard(queue)
            if not queues:
                self._subscribers.pop(conversation_id, None)

    @asynccontextmanager
    async def subscribe_all(self) -> AsyncIterator[asyncio.Queue[Any]]:
        """Live events of every conversation, from this process and the others (the operator
        socket's approvals), as a queue, for as long as the context is open."""
        queue: asyncio.Queue[Any] = asyncio.Queue()
        self._all_subscribers.add(queue)
        try:
            yield queue
        finally:
            self._all_subscribers.discard(queue)

    def follows(self, conversation_id: str) -> bool:
        """Whether anything in this process follows the conversation's live events."""
        return bool(self._all_subscribers) or conversation_id in self._subscribers

    def deliver(self, event: Any) -> None:
        """Hand a live event to this process's subscribers (its own, or one another process
        published: `smart_support.fanout`)."""
        for queue in (*self._subscribers.get(event.conversation_id, ()), *self._all_subscribers):
            queue.put_nowait(event)

    async def _emit(self, event: Event) -> Event:
        """Deliver, publish to the other processes, then store (tokens are not stored; a
        message is stored before its event). Publishing queues; `_guarded` waits for it once,
        before it releases the conversation lock."""
        self.deliver(event)
        self.fanout.publish(event)
        if not isinstance(event, Token | MessageAccepted) and not event._stored:
            agent = getattr(event, "agent", None)
            await self.store.append_event(event.conversation_id, event.type, agent, log_data(event))
        return event

    async def publish(self, event: Any) -> None:
        """Store an event that no turn made (a person's join, message or leave:
        `escalation.people`) in the event log, then send it to the conversation's subscribers,
        in this process and the others.

        `event` is a pydantic model with `conversation_id` and a `type` tag (the log's kind);
        subscribers get it as it is, so they must know its type (the sockets do).
        """
        data = event.model_dump(mode="json")
        await self.store.append_event(event.conversation_id, event.type, None, data)
        self.deliver(event)
        self.fanout.publish(event)
        await self.fanout.flush()

    # turns ---------------------------------------------------------------------------------

    async def send(self, conversation_id: str, text: str) -> AsyncIterator[Event]:
        """Run one customer turn; yields its events. Turns on one conversation run one at a time
        (a second call waits). Errors end the stream with a TurnError event, never an exception."""
        text = (text or "").strip()
        if not text or len(text) > MAX_MESSAGE_CHARS:
            yield await self._emit_quietly(
                TurnError(
                    conversation_id=conversation_id,
                    code="bad_message",
                    message=f"A message must have 1 to {MAX_MESSAGE_CHARS} characters.",
                )
            )
            return
        async for event in self._guarded(conversation_id, self._turn(conversation_id, text)):
            yield event

    async def decide(
        self,
        approval_id: str,
        approve: bool,
        decided_by: str,
        conversation_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Approve or reject a pending approval and resume its conversation; yields the events.
        With `conversation_id` set, the approval must belong to it (customer decisions)."""
        try:
            approval = await self.store.get_approval(approval_id)
        except StoreUnavailable as exc:
            yield await self._emit_quietly(self._error(conversation_id or "", exc))
            return
        if approval is None or (conversation_id and approval.conversation_id != conversation_id):
            yield await self._emit_quietly(
                TurnError(
                    conversation_id=conversation_id or "",
                    code=ApprovalError.code,
                    message="There is no such approval in this conversation.",
                )
            )
            return
        needs_owner = bool(conversation_id) and approve and approval.tool in self.customer_tools
        if needs_owner and await self.customer(approval.conversation_id) is None:
            # only the verified owner of the conversation (or an operator) approves
            log.warning("approval %s: an unverified visitor tried to approve", approval.id)
            yield await self._emit_quietly(
                TurnError(
                    conversation_id=approval.conversation_id,
                    code=ApprovalError.code,
                    message="Only the verified account owner can approve this.",
                )
            )
            return
        status: ApprovalStatus = "approved" if approve else "rejected"
        async for event in self._guarded(
            approval.conversation_id, self._decision(approval, status, decided_by)
        ):
            yield event

    async def expire_due(self) -> int:
        """Cancel approvals past their expiry, tell their customers; returns how many."""
        expired = 0
        for approval in await self.store.due_approvals(datetime.now(UTC)):
            async for event in self._guarded(
                approval.conversation_id, self._decision(approval, "expired", "system")
            ):
                if isinstance(event, ApprovalResolved):
                    expired += 1
        return expired

    async def recover(self) -> None:
        """After a restart: resume the conversations whose approval was decided but whose
        paused step was not resumed (the process died in between, or in the step): the
        customer is told the outcome without writing again. An approved call that was
        interrupted mid-way is reported as outcome unknown, never repeated (the gate). Only a
        step still paused for that very approval is resumed: one paused for another, pending
        approval keeps waiting, and a step resumed already is not run twice."""
        since = datetime.now(UTC) - timedelta(
            seconds=self.settings.approval_ttl_seconds + RECOVER_DECIDED_SECONDS
        )
        resumed: set[str] = set()
        for approval in await self.store.unfinished_approvals(since):
            conversation_id = approval.conversation_id
            if conversation_id in resumed:
                continue
            state = await self.graph.aget_state(self._config(conversation_id))
            if not any((i.value or {}).get("approval_id") == approval.id for i in state.interrupts):
                continue
            log.warning("resuming conversation %s after a restart", conversation_id)
            resumed.add(conversation_id)
            async for _ in self._guarded(conversation_id, self._resume(conversation_id)):
                pass

    async def _guarded(
        self, conversation_id: str, events: AsyncIterator[Event]
    ) -> AsyncIterator[Event]:
        """Hold the conversation lock, publish each event, and turn failures into an event."""
        accepted = False
        failure: SmartSupportError
        cause: BaseException
        try:
            async with self.store.conversation_lock(conversation_id):
                try:
                    async for event in events:
                        accepted = accepted or isinstance(event, MessageAccepted)
                        yield await self._emit(event)
                finally:
                    # Sent to the other processes before the next holder of the lock (there,
                    # say) can publish: events of a conversation reach them in order.
                    await self.fanout.flush()
            return
        except SmartSupportError as exc:
            failure, cause = exc, exc
        except Exception as exc:  # a provider's or the checkpointer's own exception types
            cause = exc
            if is_store_unavailable(exc):
                log.warning("store unavailable in conversation %s: %r", conversation_id, exc)
                failure = StoreUnavailable()
            elif _is_model_failure(exc):
                log.warning("model failed in conversation %s: %r", conversation_id, exc)
                failure = ModelError()
            else:
                log.exception("turn failed in conversation %s", conversation_id)
                failure = SmartSupportError()
        error = self._error(conversation_id, failure)
        error.detail = operator_detail(cause)
        if accepted:  # the message is stored: it is answered together with the next one
            reason = (
                "Our database stopped answering before the reply was finished."
                if isinstance(failure, StoreUnavailable)
                else error.message
            )
            error = error.model_copy(update={"message": UNANSWERED_NOTE.format(reason)})
        yield await self._emit_quietly(error)

    async def _emit_quietly(self, event: Event) -> Event:
        try:
            return await self._emit(event)
        except SmartSupportError:  # store down or conversation unknown: published, not logged
            return event

    @staticmethod
    def _error(conversation_id: str, exc: SmartSupportError) -> TurnError:
        message = str(exc) if isinstance(exc, ApprovalError) and str(exc) else exc.public_message
        return TurnError(conversation_id=conversation_id, code=exc.code, message=message)

    async def _turn(self, conversation_id: str, text: str) -> AsyncIterator[Event]:
        graph = self.graph  # the whole turn runs on one graph, even if another goes live
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None:
            raise ConversationNotFound()
        if conversation.closed_at is not None:
            # A message reopens a closed conversation; its outcome waits for the next close.
            await self.store.reopen_conversation(conversation_id)
        held = conversation.held_by is not None  # a person answers (escalation.people)
        approvals = [] if held else await self.store.list_approvals(conversation_id, None)
        pending = [a for a in approvals if a.status == "pending"]
        if approvals and not pending:  # one decided elsewhere (another process) may not be
            async for event in self._resume(conversation_id, graph=graph):  # resumed yet
                yield event
        record = await self.store.append_event(
            conversation_id, "customer_message", None, {"text": text}
        )
        yield MessageAccepted(conversation_id=conversation_id, text=text, seq=record.seq)
        if held:  # the agents stay silent: the message reaches the person by subscription
            return
        if pending:
            events = self._while_pending(conversation_id, text, record.seq, pending, graph)
            async for event in events:
                yield event
            return
        for seq, earlier in await self._unanswered(conversation_id, record.seq):
            # A message stored before a turn failed gets its own answer first.
            events = self._run(
                conversation_id,
                {"messages": [HumanMessage(earlier, id=f"{conversation_id}:{seq}")]},
                agent=conversation.active_agent,
                graph=graph,
            )
            async for event in events:
                yield event
                if isinstance(event, ApprovalRequested):
                    return  # the new message waits behind this approval; it stays stored
            conversation = await self.store.get_conversation(conversation_id) or conversation
        human = HumanMessage(text, id=f"{conversation_id}:{record.seq}")
        async for event in self._run(
            conversation_id, {"messages": [human]}, agent=conversation.active_agent, graph=graph
        ):
            yield event

    async def _while_pending(
        self, conversation_id: str, text: str, seq: int, pending: list[Approval], graph: Any
    ) -> AsyncIterator[Event]:
        """A message while an approval waits: "no, leave it" declines it; anything else is
        answered aside, on a branch from before the paused step, so the approval keeps waiting
        (its paused step is resumed when it is decided). If the answer asks to approve another
        action ("actually cancel 1043 instead"), the waiting one is cancelled."""
        if declines(text):
            for approval in pending:
                async for event in self._decision(approval, "rejected", "customer", graph):
                    yield event
            return
        head = await graph.aget_state(self._config(conversation_id))
        base = head.parent_config if head.interrupts else head.config
        human = HumanMessage(text, id=f"{conversation_id}:{seq}")
        asked_again = False
        async for event in self._run(
            conversation_id,
            {"messages": [human]},
            agent=head.values.get("active_agent"),
            base=base,
            graph=graph,
        ):
            asked_again = asked_again or isinstance(event, ApprovalRequested)
            yield event
        if asked_again:
            for approval in pending:
                cancelled = await self.store.decide_approval(
                    approval.id,
                    "cancelled",
                    "customer",
                    datetime.now(UTC),
                    decided_webhooks(self.settings),
                    ApprovalResolved.row,
                )
                yield ApprovalResolved.stored(cancelled)

    async def _unanswered(self, conversation_id: str, seq: int) -> list[tuple[int, str]]:
        """Customer messages before `seq` that were stored but whose turn failed (the model or
        the database went away mid-turn): they go into the next turn, so none is lost. Message
        ids are stable, so one the checkpoint already holds is not added twice."""
        recent = await self.store.events(
            conversation_id, after_seq=max(0, seq - BACKLOG_EVENTS), limit=BACKLOG_EVENTS
        )
        waiting: list[tuple[int, str]] = []
        for record in recent:
            if record.seq >= seq:
                break
            if record.kind == "customer_message":
                waiting.append((record.seq, str(record.data.get("text", ""))))
            elif record.kind in (
                "reply_end",
                "approval_requested",
                "person_message",
                "person_left",
            ):
                waiting.clear()  # everything before an answer was answered (a person's too)
        return waiting

    async def _decision(
        self, approval: Approval, status: ApprovalStatus, decided_by: str, graph: Any = None
    ) -> AsyncIterator[Event]:
        graph = self.graph if graph is None else graph
        conversation_id = approval.conversation_id
        try:
            decided = await self.store.decide_approval(
                approval.id,
                status,
                decided_by,
                datetime.now(UTC),
                decided_webhooks(self.settings),
                ApprovalResolved.row,  # the event is written with the decision, not after it
            )
            failpoint("after_decision")  # stored, the paused step not resumed (tests only)
        except ApprovalError:
            current = await self.store.get_approval(approval.id)
            if current is None or current.status != "expired" or status == "expired":
                raise
            decided = current  # it expired before the decision: tell the customer so
            yield TurnError(
                conversation_id=conversation_id,
                code=ApprovalError.code,
                message="This approval expired before it was decided.",
            )
        yield ApprovalResolved.stored(decided)  # its row: the decision's transaction
        async for event in self._resume(conversation_id, approval.id, graph=graph):
            yield event

    async def _resume(
        self, conversation_id: str, approval_id: str | None = None, *, graph: Any = None
    ) -> AsyncIterator[Event]:
        """Resume the paused step: the conversation's latest, or (after messages answered
        aside) the one that paused for `approval_id`."""
        graph = self.graph if graph is None else graph
        state = await graph.aget_state(self._config(conversation_id))
        if not state.interrupts and approval_id is not None:
            async for snapshot in graph.aget_state_history(
                self._config(conversation_id), limit=HISTORY_SEARCH
            ):
                if any(
                    (i.value or {}).get("approval_id") == approval_id for i in snapshot.interrupts
                ):
                    state = snapshot
                    break
        if not state.interrupts:
            return
        resume: Command[Any] = Command(resume={i.id: {"decided": True} for i in state.interrupts})
        agent = state.values.get("active_agent")
        events = self._run(conversation_id, resume, agent=agent, base=state.config, graph=graph)
        async for event in events:
            yield event

    def _config(self, conversation_id: str, **extra: Any) -> dict[str, Any]:
        return {"configurable": {"thread_id": conversation_id}, **extra}

    async def _run(
        self,
        conversation_id: str,
        graph_input: Any,
        *,
        agent: str | None,
        base: Any = None,
        graph: Any = None,
    ) -> AsyncIterator[Event]:
        """Run the graph and translate its stream into events. `agent` is the conversation's
        active agent before this run; `base` the config of a checkpoint to run from (a branch)
        instead of the latest; `graph` the turn's graph (the live one when None)."""
        graph = self.graph if graph is None else graph
        recorder = UsageRecorder(self.store, conversation_id, self.settings.prices())
        config = self._config(conversation_id, callbacks=[recorder])
        if base is not None:
            config["configurable"] = {**base["configurable"], "thread_id": conversation_id}
        reply: list[str] = []
        last_text = ""
        interrupted: list[Any] = []
        async for part in graph.astream(
            graph_input,
            config,
            stream_mode=["messages", "updates"],
            subgraphs=True,
            version="v2",
            # Checkpoint when the run ends or pauses for an approval, not after every step: a
            # turn is short, and what must survive a crash inside it (the customer's message,
            # approvals, the action ledger) is in our own tables. Cuts checkpoint writes ~3x.
            durability="exit",
        ):
            kind, data = part["type"], part["data"]
            if kind == "updates":
                if "__interrupt__" in data:
                    interrupted.extend(data["__interrupt__"])
                    continue
                if not part["ns"] and "route" in data and data["route"]:
                    update = data["route"]
                    previous, agent = agent, update["active_agent"]
                    selected = await self._selected(
                        conversation_id, agent, previous, update.get("route_reason", "routed")
                    )
                    if update.get("route_decision"):
                        selected.decision = RoutingDecision.model_validate(update["route_decision"])
                    selected.model_calls = recorder.take()
                    yield selected
                    continue
                if not part["ns"]:
                    continue
                speaker = part["ns"][0].split(":", 1)[0]
                for node_update in data.values():
                    for message in (node_update or {}).get("messages", []) or []:
                        if isinstance(message, AIMessage) and not message.tool_calls:
                            last_text = message.text or last_text
                        elif isinstance(message, AIMessage):
                            for call in message.tool_calls:
                                yield ToolActivity(
                                    conversation_id=conversation_id,
                                    agent=speaker,
                                    tool=call["name"],
                                    call_id=call["id"] or "",
                                    status="started",
                                    args=call["args"],
                                    # the model step that asked for the calls, on the first
                                    model_calls=recorder.take(),
                                )
                continue
            chunk, meta = data
            node_agent = meta.get("lc_agent_name")
            if isinstance(chunk, AIMessageChunk) and meta.get("langgraph_node") == "model":
                if node_agent and chunk.text and not chunk.tool_call_chunks:
                    reply.append(chunk.text)
                    yield Token(conversation_id=conversation_id, agent=node_agent, text=chunk.text)
            elif isinstance(chunk, ToolMessage) and node_agent:
                if reply:
                    reply.append("\n\n")
                if chunk.name == self._verify_tool and chunk.status != "error":
                    customer = await self.customer(conversation_id)
                    if customer is not None:
                        yield CustomerVerified(
                            conversation_id=conversation_id,
                            method=customer.method,
                            customer=customer.label,
                        )
                yield _tool_result(conversation_id, node_agent, chunk)
        approval_ids = list(dict.fromkeys(item.value["approval_id"] for item in interrupted))
        for approval_id in approval_ids:
            approval = await self.store.get_approval(approval_id)
            if approval is not None and approval.status == "pending":
                yield ApprovalRequested.from_record(approval, model_calls=recorder.take())
        if not interrupted:
            final = agent or self.registry.fallback.name
            text = "".join(reply).strip() or last_text
            yield ReplyEnd(
                conversation_id=conversation_id,
                agent=final,
                text=text,
                model_calls=recorder.take(),
            )

    async def _selected(
        self, conversation_id: str, agent: str, previous: str | None, reason: Reason
    ) -> AgentSelected:
        if previous != agent:
            await self.store.set_active_agent(conversation_id, agent)
        registry = self.registry
        try:
            shown = registry.agent(agent).shown_name
        except KeyError:  # a turn on a graph that was live when it started
            shown = agent.replace("_", " ").capitalize()
        escalation = registry.escalation
        if escalation is not None and agent == escalation.name:
            await routed_escalation(self.store, self.settings, conversation_id, agent)
            reason = "escalation"
        return AgentSelected(
            conversation_id=conversation_id,
            agent=agent,
            previous=previous,
            reason=reason,
            display_name=shown,
        )


def _tool_result(conversation_id: str, agent: str, message: ToolMessage) -> ToolActivity:
    """A tool's answer as the event log keeps it: its result (trimmed), how long the tool ran
    and what it raised (`response_metadata` set by the tool guard), and the guard's kind when
    the guard wrote the answer."""
    ran = (message.response_metadata or {}).get(GUARD_MARK) or {}
    wrote = (message.additional_kwargs or {}).get(GUARD_MARK) or {}
    return ToolActivity(
        conversation_id=conversation_id,
        agent=agent,
        tool=message.name or "",
        call_id=message.tool_call_id,
        status="failed" if message.status == "error" else "succeeded",
        **ToolActivity.trimmed(message.text),
        duration_ms=ran.get("duration_ms"),
        error=ran.get("error"),
        guard=wrote.get("kind"),
    )


def _is_model_failure(exc: Exception) -> bool:
    """Provider SDK errors (timeouts, rate limits, outages) after the client's own retries."""
    seen: BaseException | None = exc
    while seen is not None:
        module = type(seen).__module__
        if module.startswith(_PROVIDER_MODULES) or isinstance(seen, TimeoutError):
            return True
        seen = seen.__cause__
    return False


_PROVIDER_MODULES = (
    "anthropic",
    "openai",
    "ollama",
    "langchain_anthropic",
    "langchain_openai",
    "langchain_ollama",
    "httpx",
    "httpcore",
)

"""The conversation engine: the one object the CLI chat and the server talk to.

STUB of the public surface (being implemented by the lead); signatures are the contract.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

from smart_support.runtime.events import Event
from smart_support.settings import Settings
from smart_support.store.base import Store
from smart_support.store.records import Approval, Conversation, EventRecord


class Engine:
    """Routes each customer message to an agent, streams its reply, pauses writes for approval."""

    settings: Settings
    store: Store
    #: "offline model" for the offline model, else "provider:model".
    model_label: str
    is_offline: bool

    @classmethod
    def open(
        cls,
        settings: Settings,
        *,
        model: Any = None,
        router_model: Any = None,
    ) -> AbstractAsyncContextManager[Engine]:
        """Open the store, checkpointer, MCP sessions and model once; close them on exit.

        `model`/`router_model` inject a LangChain chat model (tests, benchmarks)."""
        raise NotImplementedError

    async def start_conversation(self) -> tuple[str, str]:
        """Create a conversation. Returns (conversation_id, customer_token); both unguessable."""
        raise NotImplementedError

    async def authorize(self, conversation_id: str, token: str) -> bool:
        """True when `token` is the customer token issued for this conversation."""
        raise NotImplementedError

    def send(self, conversation_id: str, text: str) -> AsyncIterator[Event]:
        """Run one customer turn; yields its events. Turns on one conversation run one at a time
        (a second call waits). Errors end the stream with a TurnError event, never an exception."""
        raise NotImplementedError

    def decide(
        self,
        approval_id: str,
        approve: bool,
        decided_by: str,
        conversation_id: str | None = None,
    ) -> AsyncIterator[Event]:
        """Approve or reject a pending approval and resume its conversation; yields the events.
        With `conversation_id` set, the approval must belong to it (customer decisions)."""
        raise NotImplementedError

    def subscribe(self, conversation_id: str) -> AbstractAsyncContextManager[AsyncIterator[Event]]:
        """Live events of one conversation from any source in this process (send, decide,
        expiry), for as long as the context is open."""
        raise NotImplementedError

    async def transcript(self, conversation_id: str) -> list[EventRecord]:
        raise NotImplementedError

    async def pending_approvals(self, conversation_id: str | None = None) -> list[Approval]:
        raise NotImplementedError

    async def list_conversations(self, limit: int = 50, offset: int = 0) -> list[Conversation]:
        raise NotImplementedError

    async def expire_due(self) -> int:
        """Cancel approvals past their expiry, tell their customers; returns how many."""
        raise NotImplementedError

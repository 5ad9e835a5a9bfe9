"""The approval gate: no write tool runs without a human approval of its exact arguments.

The gate sits in `awrap_tool_call`, the one place every tool call of a `create_agent` agent passes
through, so it holds whatever the model emits (a direct write call, a call induced by a prompt
injection in a message or a tool result, parallel calls). For a write call it:

1. refuses every write call of a step but the first (one action is decided at a time);
2. records a pending approval (idempotent: the id derives from the conversation and tool call,
   because on resume LangGraph runs this code again from its first line) and pauses the
   conversation with `interrupt()`;
3. on resume reads the decision from the store (the source of truth, so a decision taken in
   another process counts), and only for `approved` with the same arguments hash goes on;
4. writes the intent to the action ledger under an idempotency key before calling, sends the key
   downstream through the ToolContext, and records the result. A ledger entry that was started
   but never finished means the process died mid-call: the outcome is reported as unknown and the
   call is not repeated.
"""

from __future__ import annotations

import json
import logging
import string
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp
from langgraph.types import Command, interrupt

from smart_support.errors import ToolError
from smart_support.runtime.checks import precheck
from smart_support.settings import Settings
from smart_support.store.base import Store, hash_args
from smart_support.store.records import ActionStatus, Approval
from smart_support.tools.context import ToolContext, tool_context

log = logging.getLogger("smart_support.approvals")

_NS = uuid.UUID("6f1c1f5e-3c1d-4a44-9a3f-5d1f2b7a9e10")

# What the agent gets instead of a result when a write does not run. Worded for the customer as
# much as for the model: a model may quote them, and the offline model does.
REJECTED = 'Not done: "{action}" was declined, so nothing was changed.'
EXPIRED = (
    'Not done: the approval for "{action}" expired before anyone decided, so nothing was '
    "changed. If you still want it, ask me to try again and I will check the current state "
    "first."
)
CANCELLED = 'Not done: the approval for "{action}" was cancelled, so nothing was changed.'
ONE_AT_A_TIME = (
    'Not done: only one action can wait for approval at a time, so "{action}" was not started. '
    "Ask again once the current one is decided."
)
ARGS_CHANGED = 'Not done: "{action}" differs from what was approved, so it was not run.'
UNKNOWN = (
    'Outcome unknown: the system stopped while "{action}" was running, so we cannot tell '
    "whether it took effect. It will not be repeated automatically; a person from our team "
    "can check it for you."
)


def access_of(tool: BaseTool | None) -> str:
    """A tool's access level from its metadata; undeclared (or unknown tool) counts as write."""
    level = ((tool.metadata or {}) if tool is not None else {}).get("access", "write")
    return "read" if level == "read" else "write"


def approval_id_for(conversation_id: str, tool_call_id: str) -> str:
    """The approval id of a tool call: stable across re-runs of the same step."""
    return str(uuid.uuid5(_NS, f"{conversation_id}/{tool_call_id}"))


def summarize(tool: str, args: dict[str, Any], template: str | None) -> str:
    """One line a person can read: the tool's summary template filled with the arguments."""
    if template:
        fields = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        values = {name: args.get(name, "?") for name in fields}
        try:
            return template.format(**values)
        except (ValueError, IndexError, KeyError):
            log.warning("summary template of %s does not format: %r", tool, template)
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{tool.replace('_', ' ').capitalize()} ({shown})"


class ApprovalGate(AgentMiddleware):  # type: ignore[type-arg]
    """Pauses every write tool call for approval and runs approved calls at most once."""

    def __init__(
        self, agent: str, tools: Sequence[BaseTool], store: Store, settings: Settings
    ) -> None:
        super().__init__()
        self.agent = agent
        self.store = store
        self.settings = settings
        #: tool name -> "read" | "write"; a tool without a declared level counts as write.
        self.access = {t.name: access_of(t) for t in tools}
        self._by_name = {t.name: t for t in tools}

    @property
    def name(self) -> str:
        return f"approval_gate_{self.agent}"

    async def awrap_tool_call(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    ) -> ToolMessage | Command[Any]:
        conversation_id = _conversation_id()
        call = request.tool_call
        tool = request.tool
        metadata = (tool.metadata or {}) if tool is not None else {}
        if self.access.get(call["name"], "write") == "read" and access_of(tool) == "read":
            with tool_context(ToolContext(self.settings, conversation_id=conversation_id)):
                return await _call(handler, request)

        name, call_id, args = call["name"], call["id"] or "", dict(call["args"])
        summary = summarize(name, args, metadata.get("summary"))
        if not self._first_write_of_step(request, call_id):
            return _refusal(call, ONE_AT_A_TIME, summary)

        approval = await self._pending_or_stored(
            conversation_id, name, call_id, args, summary, metadata.get("check")
        )
        if isinstance(approval, str):  # the pre-check found it cannot be done now
            return _message(call, approval, "error")
        while approval.status == "pending":
            interrupt({"approval_id": approval.id, "tool": name, "summary": approval.summary})
            approval = await self.store.get_approval(approval.id) or approval
            if approval.status == "pending":  # resumed without a decision: ask again
                log.warning("approval %s resumed while still pending", approval.id)
        if approval.status == "rejected":
            return _refusal(call, REJECTED, approval.summary)
        if approval.status == "expired":
            return _refusal(call, EXPIRED, approval.summary)
        if approval.status != "approved":
            return _refusal(call, CANCELLED, approval.summary)
        if approval.tool != name or approval.args_hash != hash_args(args):
            log.error("approval %s does not match the call being run; refused", approval.id)
            return _refusal(call, ARGS_CHANGED, summary)
        return await self._run_once(request, handler, approval, conversation_id)

    def _first_write_of_step(self, request: ToolCallRequest, call_id: str) -> bool:
        """True unless an earlier call of the same model step is also a write."""
        for message in reversed(request.state.get("messages", [])):
            if not isinstance(message, AIMessage):
                continue
            ids = [c.get("id") for c in message.tool_calls]
            if call_id in ids:
                earlier = message.tool_calls[: ids.index(call_id)]
                return all(self.access.get(c["name"], "write") == "read" for c in earlier)
        return True

    async def _pending_or_stored(
        self,
        conversation_id: str,
        name: str,
        call_id: str,
        args: dict[str, Any],
        summary: str,
        check: dict[str, Any] | None,
    ) -> Approval | str:
        """The approval of this call, created (after the pre-check) on first sight; or why the
        call is not offered for approval."""
        approval_id = approval_id_for(conversation_id, call_id)
        stored = await self.store.get_approval(approval_id)
        if stored is not None:
            return stored
        if check:
            ctx = ToolContext(self.settings, conversation_id=conversation_id)
            problem = await precheck(check, self._by_name, args, summary, ctx)
            if problem is not None:
                return problem
        now = datetime.now(UTC)
        return await self.store.create_approval(
            Approval(
                id=approval_id,
                conversation_id=conversation_id,
                agent=self.agent,
                tool=name,
                tool_call_id=call_id,
                args=args,
                args_hash=hash_args(args),
                summary=summary,
                status="pending",
                created_at=now,
                expires_at=now + timedelta(seconds=self.settings.approval_ttl_seconds),
            )
        )

    async def _run_once(
        self,
        request: ToolCallRequest,
        handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
        approval: Approval,
        conversation_id: str,
    ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        key = approval.id
        action, created = await self.store.begin_action(
            key, approval.id, conversation_id, approval.tool, approval.args, datetime.now(UTC)
        )
        if not created:
            if action.status == "succeeded":
                return _message(call, _text(action.result), "success")
            if action.status == "failed":
                return _message(call, _text(action.result), "error")
            if action.status == "started":
                await self.store.finish_action(key, "unknown", None, datetime.now(UTC))
            return _refusal(call, UNKNOWN, approval.summary)
        ctx = ToolContext(self.settings, conversation_id=conversation_id, idempotency_key=key)
        with tool_context(ctx):
            result = await _call(handler, request)
        if isinstance(result, ToolMessage):
            status: ActionStatus = "failed" if result.status == "error" else "succeeded"
            await self.store.finish_action(key, status, result.content, datetime.now(UTC))
        else:
            await self.store.finish_action(key, "succeeded", None, datetime.now(UTC))
        return result


async def _call(
    handler: Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]],
    request: ToolCallRequest,
) -> ToolMessage | Command[Any]:
    """Run the tool; a failing tool API becomes an error result the agent can explain."""
    call = request.tool_call
    try:
        return await handler(request)
    except GraphBubbleUp:
        raise  # interrupts and other control flow of LangGraph's own
    except ToolError as exc:
        log.warning("tool %s failed: %s", call["name"], exc)
        return _message(call, f"ERROR: {exc}", "error")
    except Exception:
        log.exception("tool %s raised unexpectedly", call["name"])
        return _message(call, f"ERROR: `{call['name']}` failed unexpectedly.", "error")


def _conversation_id() -> str:
    configurable = get_config().get("configurable", {})
    return str(configurable["thread_id"])


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


def _message(call: Any, content: str, status: str) -> ToolMessage:
    return ToolMessage(content=content, name=call["name"], tool_call_id=call["id"], status=status)


def _refusal(call: Any, template: str, action: str) -> ToolMessage:
    return _message(call, template.format(action=action), "error")

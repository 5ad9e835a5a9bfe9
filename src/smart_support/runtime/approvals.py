"""Approvals and the action ledger: what the tool guard does with a write.

- `request_approval` records a pending approval of the exact arguments (idempotent: the id
  derives from the conversation and tool call, because on resume LangGraph runs the guard again
  from its first line);
- `wait_for_decision` pauses the conversation with `interrupt()` and, on resume, reads the
  decision from the store (the source of truth, so a decision taken in another process counts);
- `refusal_for` says why a decided approval does not run (rejected, expired, changed arguments);
- `run_once` writes the intent to the ledger under an idempotency key before calling and records
  the result. A ledger entry that was started but never finished means the process died
  mid-call: the outcome is reported as unknown, listed for operators, and never repeated. A
  result the database could not take (an outage right after the call) is kept in memory and
  written at the next attempt, so a call that ran is never reported as unknown by this process.
"""

from __future__ import annotations

import json
import logging
import string
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from langchain.agents.middleware.types import ToolCallRequest
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langgraph.types import Command, interrupt

from smart_support.errors import ActionNotRecorded, StoreUnavailable
from smart_support.escalation.outbox import APPROVAL_REQUESTED, approval_messages
from smart_support.runtime.failpoints import failpoint
from smart_support.settings import Settings
from smart_support.store.base import Store, hash_args
from smart_support.store.records import ActionStatus, Approval

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
    "will check it and get back to you."
)

#: Results of calls that ran while the database could not record them: idempotency key ->
#: (status, content). Written at the next attempt on the same key.
_unsaved: dict[str, tuple[ActionStatus, Any]] = {}


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
        except (ValueError, IndexError, KeyError, AttributeError):
            log.warning("summary template of %s does not format: %r", tool, template)
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{tool.replace('_', ' ').capitalize()} ({shown})"


def json_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str)


async def request_approval(
    store: Store,
    settings: Settings,
    agent: str,
    conversation_id: str,
    tool: str,
    call_id: str,
    args: dict[str, Any],
    summary: str,
) -> Approval:
    """Record the pending approval of a call (or return the one already recorded), with its
    `approval.requested` webhooks in the same transaction."""
    now = datetime.now(UTC)
    approval = Approval(
        id=approval_id_for(conversation_id, call_id),
        conversation_id=conversation_id,
        agent=agent,
        tool=tool,
        tool_call_id=call_id,
        args=args,
        args_hash=hash_args(args),
        summary=summary,
        status="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.approval_ttl_seconds),
    )
    return await store.create_approval(
        approval, approval_messages(settings, APPROVAL_REQUESTED, approval)
    )


async def wait_for_decision(store: Store, approval: Approval) -> Approval:
    """Pause until the approval is decided; returns it as stored after the decision."""
    while approval.status == "pending":
        interrupt({"approval_id": approval.id, "tool": approval.tool, "summary": approval.summary})
        approval = await store.get_approval(approval.id) or approval
        if approval.status == "pending":  # resumed without a decision: ask again
            log.warning("approval %s resumed while still pending", approval.id)
    return approval


def refusal_for(approval: Approval, tool: str, args: dict[str, Any], summary: str) -> str | None:
    """Why a decided approval does not run; None when it is approved for exactly this call."""
    if approval.status == "rejected":
        return REJECTED.format(action=approval.summary)
    if approval.status == "expired":
        return EXPIRED.format(action=approval.summary)
    if approval.status != "approved":
        return CANCELLED.format(action=approval.summary)
    if approval.tool != tool or approval.args_hash != hash_args(args):
        log.error("approval %s does not match the call being run; refused", approval.id)
        return ARGS_CHANGED.format(action=summary)
    return None


async def run_once(
    store: Store,
    request: ToolCallRequest,
    approval: Approval,
    run: Callable[[ToolCallRequest, str], Awaitable[ToolMessage | Command[Any]]],
) -> ToolMessage | Command[Any]:
    """Run an approved call at most once, under the approval's idempotency key."""
    call = request.tool_call
    key = approval.id
    action, created = await store.begin_action(
        key, approval.id, approval.conversation_id, approval.tool, approval.args, datetime.now(UTC)
    )
    if not created:
        if action.status == "started" and key in _unsaved:
            saved_status, saved = _unsaved.pop(key)
            await store.finish_action(key, saved_status, saved, datetime.now(UTC))
            action = await store.get_action(key) or action
        if action.status == "succeeded":
            return _message(call, json_text(action.result), "success")
        if action.status == "failed":
            return _message(call, json_text(action.result), "error")
        if action.status == "started":
            await store.finish_action(key, "unknown", None, datetime.now(UTC))
            log.error(
                "action %s (%s) was interrupted mid-call: outcome unknown, listed for operators",
                key,
                approval.summary,
            )
        return _message(call, UNKNOWN.format(action=approval.summary), "error")
    failpoint("after_intent")  # created: the intent is stored, the call not made
    result = await run(request, key)
    failpoint("after_call")
    status: ActionStatus = "succeeded"
    content: Any = None
    if isinstance(result, ToolMessage):
        status = "failed" if result.status == "error" else "succeeded"
        content = result.content
    try:
        await store.finish_action(key, status, content, datetime.now(UTC))
    except StoreUnavailable as exc:
        _unsaved[key] = (status, content)
        log.error("action %s ran (%s) but the database could not record it yet", key, status)
        raise ActionNotRecorded(approval.summary, status == "succeeded") from exc
    return result


def _message(call: Any, content: str, status: str) -> ToolMessage:
    return ToolMessage(content=content, name=call["name"], tool_call_id=call["id"], status=status)

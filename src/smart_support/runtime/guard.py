"""The tool guard: the one path every tool call of every agent takes, with every rule on it.

It sits in `awrap_tool_call` of a middleware each `create_agent` agent has, so it holds whatever
the model emits: a direct call, one induced by a prompt injection in a message or tool result,
parallel calls, a tool name that does not exist, arguments it was told not to pass. In order:

1. **Known tools only.** A name the agent does not have is refused before anything is recorded,
   and the refusal names no tool.
2. **Identity.** A tool that handles one customer's data (`needs_customer`, `bind:`, `owner:`)
   is refused until the conversation's customer is verified: a signed identity from the host
   site, or the `identity.verify` tool. Bound arguments are filled from the verified claims,
   whatever the model passed (the model never sees them: `awrap_model_call` hides them from the
   tool schemas). The verification tool's answers set the identity or count a failed attempt.
3. **Reads** run at once; with an `owner:` rule their result reaches the model only if it is the
   customer's, else it reads as the API's own "not found" (no existence oracle).
4. **Writes** (and tools whose access is not `read`, checked now, not only at start-up): only the
   first of a model step; the pre-check (`check:`) runs through step 2-3 like any read; a pending
   approval of the exact arguments pauses the conversation (`interrupt()`); on resume the stored
   decision counts; an approved call is written to the ledger under an idempotency key before it
   runs and is never repeated (see `smart_support.runtime.approvals`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from langchain.agents.middleware import AgentMiddleware
from langchain.agents.middleware.types import ModelRequest, ModelResponse, ToolCallRequest
from langchain_core.messages import AIMessage, ToolMessage
from langchain_core.tools import BaseTool
from langgraph.config import get_config
from langgraph.errors import GraphBubbleUp
from langgraph.types import Command

from smart_support.errors import EgressRefused, ToolError
from smart_support.identity import Identity, identity_from_claims
from smart_support.identity.rules import (
    MissingClaim,
    bound_arguments,
    is_refusal,
    model_schema,
    owns,
    result_data,
)
from smart_support.observability import tracing
from smart_support.registry.schema import VerifySpec
from smart_support.runtime import approvals
from smart_support.runtime.checks import precheck
from smart_support.runtime.events import operator_detail
from smart_support.settings import Settings
from smart_support.store.base import Store
from smart_support.tools.context import ToolContext, tool_context

log = logging.getLogger("smart_support.guard")

Handler = Callable[[ToolCallRequest], Awaitable[ToolMessage | Command[Any]]]

# What the agent gets instead of a result when a call does not run. Worded for the customer as
# much as for the model (a model may quote them, and the offline model does); no tool names,
# hosts or internal details: those go to the log.
UNAVAILABLE = "Not done: I can't do that here, so nothing was looked up or changed."
SYSTEM_DOWN = (
    "Not available right now: the system behind this is not answering, so nothing was looked "
    "up or changed. Please try again in a few minutes."
)
SYSTEM_FAILED = (
    "Not done: something went wrong on our side, so nothing was looked up or changed. Please "
    "try again in a few minutes."
)
SIGN_IN_NEEDED = (
    "Not done: this needs a signed-in customer. Please sign in on the website and open the chat "
    "again."
)
#: The key of `ToolMessage.additional_kwargs` under which the guard marks its own results.
GUARD_MARK = "smart_support"
VERIFIED = "Verified: thank you, {name}. You are signed in for this conversation."
NOT_VERIFIED = (
    "Not verified: those details do not match our records. Please check the email address and "
    "the order number (or postal code) and try again. {left}"
)
TOO_MANY_ATTEMPTS = (
    "Not verified: there were too many attempts, so for your security no more can be made in "
    "this conversation. A person from our team can help."
)


class ToolGuard(AgentMiddleware):  # type: ignore[type-arg]
    """Known tools, identity binding and ownership, approvals and the ledger, for one agent."""

    def __init__(
        self,
        agent: str,
        tools: Sequence[BaseTool],
        store: Store,
        settings: Settings,
        verify: VerifySpec | None = None,
    ) -> None:
        super().__init__()
        self.agent = agent
        self.store = store
        self.settings = settings
        self.verify = verify
        self._by_name = {t.name: t for t in tools}
        #: What the model is shown of tools with bound arguments (those hidden).
        self._model_view = {
            t.name: model_schema(t, set(_meta(t).get("bind") or {}))
            for t in tools
            if _meta(t).get("bind")
        }

    @property
    def name(self) -> str:
        return f"tool_guard_{self.agent}"

    async def awrap_model_call(
        self,
        request: ModelRequest,  # type: ignore[type-arg]
        handler: Callable[[ModelRequest], Awaitable[ModelResponse]],  # type: ignore[type-arg]
    ) -> ModelResponse:  # type: ignore[type-arg]
        if not self._model_view:
            return await handler(request)
        shown = [
            self._model_view.get(t.name, t) if isinstance(t, BaseTool) else t for t in request.tools
        ]
        return await handler(request.override(tools=shown))

    async def awrap_tool_call(
        self, request: ToolCallRequest, handler: Handler
    ) -> ToolMessage | Command[Any]:
        conversation_id = _conversation_id()
        call = request.tool_call
        tool = self._by_name.get(call["name"])
        if tool is None or request.tool is None:
            log.warning(
                "conversation %s: the model called %r, which agent %s does not have; refused",
                conversation_id,
                call["name"],
                self.agent,
            )
            return _message(call, UNAVAILABLE, "error", "unknown_tool")
        meta = _meta(tool)
        verifying = self.verify is not None and tool.name == self.verify.tool
        identity, failures = None, 0
        if verifying or meta.get("needs_customer") or meta.get("bind") or meta.get("owner"):
            # Only tools that declare customer data learn who the customer is (least privilege;
            # it also spares the other calls a read of the conversation).
            identity, failures = await self._customer(conversation_id)
        ctx = ToolContext(self.settings, conversation_id=conversation_id, identity=identity)
        args, refusal = self._bind(tool, dict(call["args"]), identity, conversation_id)
        if refusal is not None:
            return _message(call, refusal[0], "error", refusal[1])
        if args != call["args"]:
            request = request.override(tool_call={**call, "args": args})
        if verifying:
            return await self._verification(request, handler, ctx, failures)
        if approvals.access_of(tool) == "read":
            return await self._read(request, handler, ctx)
        return await self._write(request, handler, ctx)

    # identity ------------------------------------------------------------------------------

    async def _customer(self, conversation_id: str) -> tuple[Identity | None, int]:
        conversation = await self.store.get_conversation(conversation_id)
        if conversation is None or conversation.identity is None:
            return None, conversation.verify_failures if conversation else 0
        return Identity.model_validate(conversation.identity), conversation.verify_failures

    def _bind(
        self,
        tool: BaseTool,
        args: dict[str, Any],
        identity: Identity | None,
        conversation_id: str,
    ) -> tuple[dict[str, Any], tuple[str, str] | None]:
        """The call's arguments with bound ones filled in; or why the call is refused (the
        sentence and its kind)."""
        meta = _meta(tool)
        if meta.get("needs_customer") and identity is None:
            if self.verify is not None:
                return args, (self.verify.ask, "verification_needed")
            return args, (SIGN_IN_NEEDED, "sign_in_needed")
        bind: Mapping[str, str] = meta.get("bind") or {}
        if not bind or identity is None:
            return args, None
        try:
            values = bound_arguments(bind, identity)
        except MissingClaim as exc:
            log.warning("conversation %s: identity has no %r claim", conversation_id, exc.claim)
            return args, (SYSTEM_FAILED, "system_failed")
        forced = {k for k, v in values.items() if k in args and args[k] != v}
        if forced:
            log.warning(
                "conversation %s: the model passed bound argument(s) %s to %s; replaced by the "
                "verified customer's",
                conversation_id,
                ", ".join(sorted(forced)),
                tool.name,
            )
        return {**args, **values}, None

    async def _verification(
        self, request: ToolCallRequest, handler: Handler, ctx: ToolContext, failures: int
    ) -> ToolMessage | Command[Any]:
        call = request.tool_call
        assert self.verify is not None and ctx.conversation_id is not None
        if failures >= self.verify.max_attempts:
            log.warning(
                "conversation %s: verification refused, too many attempts", ctx.conversation_id
            )
            return _message(call, TOO_MANY_ATTEMPTS, "error", "verification_refused")
        result = await self._run(request, handler, ctx)
        data = result_data(result) if isinstance(result, ToolMessage) else None
        customer = data.get("customer") if data is not None and data.get("ok") is True else None
        if isinstance(customer, Mapping):
            try:
                identity = identity_from_claims(dict(customer), "verified")
            except Exception:  # the tool's answer names nobody: a failed attempt
                identity = None
            if identity is not None:
                await self.store.set_identity(ctx.conversation_id, identity.model_dump(mode="json"))
                log.info("conversation %s: customer verified", ctx.conversation_id)
                verified = _message(
                    call, VERIFIED.format(name=identity.label), "success", "verified"
                )
                return _ran_as(verified, result)
        count = await self.store.count_failed_verification(ctx.conversation_id)
        log.info("conversation %s: verification attempt %d failed", ctx.conversation_id, count)
        left = self.verify.max_attempts - count
        if left <= 0:
            return _ran_as(
                _message(call, TOO_MANY_ATTEMPTS, "error", "verification_refused"), result
            )
        note = f"{left} attempt{'s' if left != 1 else ''} left."
        return _ran_as(
            _message(call, NOT_VERIFIED.format(left=note), "error", "not_verified"), result
        )

    # reads ---------------------------------------------------------------------------------

    async def _read(
        self, request: ToolCallRequest, handler: Handler, ctx: ToolContext
    ) -> ToolMessage | Command[Any]:
        result = await self._run(request, handler, ctx)
        return self._owned(request, result, ctx)

    def _owned(
        self, request: ToolCallRequest, result: ToolMessage | Command[Any], ctx: ToolContext
    ) -> ToolMessage | Command[Any]:
        """The result if the customer may see it; else the API's own "not found"."""
        assert request.tool is not None
        rule = _meta(request.tool).get("owner")
        if rule is None or not isinstance(result, ToolMessage) or result.status == "error":
            return result
        data = result_data(result)
        if is_refusal(data):
            return result
        if ctx.identity is not None and owns(data, rule["field"], rule["claim"], ctx.identity):
            return result
        call = request.tool_call
        log.warning(
            "conversation %s: %s returned a record that is not the customer's; answered as not "
            "found",
            ctx.conversation_id,
            call["name"],
        )
        not_found = approvals.summarize(call["name"], call["args"], rule["not_found"])
        answer = _message(call, approvals.json_text({"ok": False, "error": not_found}), "success")
        return _ran_as(answer, result)

    async def _guarded_read(self, tool: BaseTool, args: dict[str, Any], ctx: ToolContext) -> Any:
        """A read made by the guard itself (a write's pre-check), held to the same rules as the
        model's reads: access now, identity, binding, ownership. Returns the result's data, or a
        refusal string."""
        if approvals.access_of(tool) != "read":
            log.error("check tool %s is not a read now; the write was not offered", tool.name)
            return SYSTEM_FAILED
        args, refusal = self._bind(tool, args, ctx.identity, ctx.conversation_id or "")
        if refusal is not None:
            return refusal[0]
        call = {"name": tool.name, "args": args, "id": "check", "type": "tool_call"}
        request = ToolCallRequest(tool_call=call, tool=tool, state={}, runtime=None)  # type: ignore[arg-type, typeddict-item]

        async def invoke(req: ToolCallRequest) -> ToolMessage | Command[Any]:
            return await tool.ainvoke(req.tool_call)  # type: ignore[no-any-return]

        result = self._owned(request, await self._run(request, invoke, ctx), ctx)
        if not isinstance(result, ToolMessage):
            return None
        if result.status == "error":
            return result.text
        return result_data(result)

    # writes --------------------------------------------------------------------------------

    async def _write(
        self, request: ToolCallRequest, handler: Handler, ctx: ToolContext
    ) -> ToolMessage | Command[Any]:
        assert request.tool is not None and ctx.conversation_id is not None
        call = request.tool_call
        meta = _meta(request.tool)
        name, call_id, args = call["name"], call["id"] or "", dict(call["args"])
        summary = approvals.summarize(name, args, meta.get("summary"))
        if not self._first_write_of_step(request, call_id):
            return _message(call, approvals.ONE_AT_A_TIME.format(action=summary), "error")
        approval = await self.store.get_approval(
            approvals.approval_id_for(ctx.conversation_id, call_id)
        )
        if approval is None:
            check = meta.get("check")
            if check:
                problem = await precheck(
                    check, args, summary, lambda t, a: self._guarded_read(t, a, ctx), self._by_name
                )
                if problem is not None:
                    return _message(call, problem, "error")
            approval = await approvals.request_approval(
                self.store,
                self.settings,
                self.agent,
                ctx.conversation_id,
                name,
                call_id,
                args,
                summary,
            )
        approval = await approvals.wait_for_decision(self.store, approval)
        refusal = approvals.refusal_for(approval, name, args, summary)
        if refusal is not None:
            return _message(call, refusal, "error")

        async def run(req: ToolCallRequest, key: str) -> ToolMessage | Command[Any]:
            keyed = ToolContext(
                self.settings,
                conversation_id=ctx.conversation_id,
                idempotency_key=key,
                identity=ctx.identity,
            )
            return await self._run(req, handler, keyed)

        return await approvals.run_once(self.store, request, approval, run)

    def _first_write_of_step(self, request: ToolCallRequest, call_id: str) -> bool:
        """True unless an earlier call of the same model step is also a write (or unknown)."""
        for message in reversed(request.state.get("messages", [])):
            if not isinstance(message, AIMessage):
                continue
            ids = [c.get("id") for c in message.tool_calls]
            if call_id in ids:
                earlier = message.tool_calls[: ids.index(call_id)]
                return all(
                    approvals.access_of(self._by_name.get(c["name"])) == "read" for c in earlier
                )
        return True

    # running -------------------------------------------------------------------------------

    async def _run(
        self, request: ToolCallRequest, handler: Handler, ctx: ToolContext
    ) -> ToolMessage | Command[Any]:
        """Run the tool; a failing tool API becomes a plain error result the agent can explain
        (the detail goes to the log and the event log, never to the customer). The result
        carries how long the call took and what it raised in `response_metadata[GUARD_MARK]`,
        which the engine puts on the call's `tool_activity` event."""
        call = request.tool_call
        started = time.perf_counter()
        error: BaseException | None = None
        result: ToolMessage | Command[Any]
        try:
            access = approvals.access_of(request.tool)
            traced = tracing.tool(call["name"], access, self.agent, ctx.conversation_id)
            with tool_context(ctx), traced as span:
                result = await handler(request)
                tracing.ran(span, result)
        except GraphBubbleUp:
            raise  # interrupts and other control flow of LangGraph's own
        except EgressRefused as exc:
            log.error("tool %s: the egress guard refused its request: %s", call["name"], exc)
            result, error = _message(call, SYSTEM_DOWN, "error", "system_down"), exc
        except ToolError as exc:
            log.warning("tool %s failed: %s", call["name"], exc)
            result, error = _message(call, SYSTEM_DOWN, "error", "system_down"), exc
        except Exception as exc:
            log.exception("tool %s raised unexpectedly", call["name"])
            result, error = _message(call, SYSTEM_FAILED, "error", "system_failed"), exc
        if isinstance(result, ToolMessage):
            ran: dict[str, Any] = {"duration_ms": round((time.perf_counter() - started) * 1000)}
            if error is not None:
                ran["error"] = operator_detail(error)
            result.response_metadata = {**(result.response_metadata or {}), GUARD_MARK: ran}
        return result


def _meta(tool: BaseTool) -> dict[str, Any]:
    return tool.metadata or {}


def _conversation_id() -> str:
    configurable = get_config().get("configurable", {})
    return str(configurable["thread_id"])


def _ran_as(answer: ToolMessage, ran: ToolMessage | Command[Any]) -> ToolMessage:
    """`answer`, written by the guard over the result `ran`, keeps how long the tool ran."""
    if isinstance(ran, ToolMessage) and GUARD_MARK in (ran.response_metadata or {}):
        answer.response_metadata = {GUARD_MARK: ran.response_metadata[GUARD_MARK]}
    return answer


def _message(call: Any, content: str, status: str, kind: str | None = None) -> ToolMessage:
    """A result the guard wrote instead of the tool. `kind` marks text worded for the customer
    (`additional_kwargs["smart_support"]["kind"]`), so a model may quote it as it is; the
    kinds: unknown_tool, verification_needed, sign_in_needed, verified, not_verified,
    verification_refused, system_down, system_failed."""
    extra = {GUARD_MARK: {"kind": kind}} if kind else {}
    return ToolMessage(
        content=content,
        name=call["name"],
        tool_call_id=call["id"],
        status=status,
        additional_kwargs=extra,
    )

"""A model refines the rules' classification, in batches, and never loosens a write on its own.

`refine(result, proposal, model)` sends the operations in batches (name, method, path, summary,
parameters with the rules' roles, the rules' decisions) and asks for LangChain structured output
(`model.with_structured_output(ClassifiedOperations, method="function_calling")`). What the model
decides gets `source="model"` with its confidence and reason, except where it would loosen a
safety decision: a rule's `write` stays `write` and a parameter bound to the verified customer
(`identity`) stays bound; the reason then records that the model disagreed, for an operator to
settle. An operator's decision is never changed. A batch whose call fails (an exception, a
timeout, output that does not fit the schema) is retried, then keeps the rules' decisions, and
the proposal's `warnings` say so. Agents are regrouped afterwards by `grouping.group`, the rules'
own grouping, with the model's agents: the same budgets (tools per agent, agents, catalogue) hold.

`classify_with_model(result, settings)` is the entry point: the rules alone (deterministic) with
the offline provider, the rules refined by the configured provider's model otherwise.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackHandler, BaseCallbackHandler
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import LLMResult
from langchain_core.runnables import RunnableConfig
from pydantic import BaseModel, Field, field_validator

from smart_support.models.provider import build_chat_model
from smart_support.openapi.classify.decisions import (
    AGENT_NAME,
    Access,
    AgentProposal,
    Decision,
    OperationClass,
    ParameterClass,
    Proposal,
    Relevance,
    Role,
)
from smart_support.openapi.classify.grouping import group
from smart_support.openapi.classify.rules import classify
from smart_support.openapi.importer import ImportedOperation, ImportResult
from smart_support.settings import Settings

log = logging.getLogger("smart_support.classify")

#: Called once per model call (retries included) with the model's name and its tokens.
UsageCallback = Callable[[str, int, int], None]

_PLACEHOLDER = re.compile(r"{([^{}]*)}")

SYSTEM_PROMPT = """\
You review how a customer-support assistant may use the operations of a business's API. \
For every operation you are given, decide:
- access: "read" only if calling it never changes anything; "write" if it may create, change, \
cancel, refund, pay, send or delete anything. A write waits for a person's approval, so when \
unsure say "write".
- relevance: "on" if an assistant helping one customer with their own records (orders, \
bookings, subscriptions, tickets, payments, deliveries, their account) should have it; "off" \
for back-office work (admin, reporting, bulk, webhooks, credentials, settings, managing the \
catalogue or content, health checks) and for listing every customer.
- parameters: each argument's role: "customer" (said in the chat: an order number, search \
text), "identity" (the verified customer's own id or email, bound by the system, never asked), \
"config" (the business's own account or tenant ids, API versions, fixed headers).
- agent: the snake_case name of the specialist agent it belongs to; reuse a proposed agent \
unless none fits.
- summary: for a write, a one-line approval text with {argument} placeholders over its \
argument names, e.g. "Cancel order {order_id}".
Each operation comes with the rules' decisions: keep what is right, change what is wrong, and \
say why in a few words. Answer with one entry per operation, by its name."""


class ParameterVerdict(BaseModel):
    """The model's role for one argument."""

    name: str = Field(description="The argument's name, as given.")
    role: Role
    reason: str = Field("", description="Why, in a few words.")


class OperationVerdict(BaseModel):
    """The model's decisions about one operation."""

    name: str = Field(description="The operation's name, as given.")
    access: Access
    access_reason: str = Field("", description="Why read or write, in a few words.")
    relevance: Relevance
    relevance_reason: str = Field("", description="Why on or off, in a few words.")
    parameters: list[ParameterVerdict] = Field(default_factory=list)
    agent: str | None = Field(None, description="The snake_case agent it belongs to, if on.")
    summary: str | None = Field(None, description="For a write: the approval text.")
    confidence: float = Field(0.7, description="How sure you are, 0 to 1.")

    @field_validator("confidence", mode="before")
    @classmethod
    def _clamp(cls, value: object) -> object:
        # A model that says 1.2 or 95 means "sure": clamp rather than fail the whole batch.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return min(1.0, max(0.0, value / 100 if value > 1.5 else value))
        return value


class ClassifiedOperations(BaseModel):
    """The classification of a batch of API operations: one entry per operation."""

    operations: list[OperationVerdict]


@dataclass
class _Batch:
    number: int
    ops: list[tuple[ImportedOperation, OperationClass]]
    verdicts: dict[str, OperationVerdict] = field(default_factory=dict)
    error: str | None = None


class _Tokens(AsyncCallbackHandler):
    """Passes each call's token usage (from `usage_metadata`) to `on_usage`."""

    def __init__(self, on_usage: UsageCallback) -> None:
        self.on_usage = on_usage

    async def on_llm_end(
        self, response: LLMResult, *, run_id: UUID, parent_run_id: UUID | None = None, **_: Any
    ) -> None:
        for generations in response.generations:
            for generation in generations:
                message = getattr(generation, "message", None)
                usage = getattr(message, "usage_metadata", None)
                if usage:
                    meta = getattr(message, "response_metadata", None) or {}
                    self.on_usage(
                        str(meta.get("model_name") or meta.get("model") or "unknown"),
                        int(usage.get("input_tokens", 0)),
                        int(usage.get("output_tokens", 0)),
                    )


def _one_line(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def describe(op: ImportedOperation, cls: OperationClass) -> dict[str, Any]:
    """The compact description of one operation the model sees, with the rules' decisions."""
    said = op.operation.summary or op.operation.description
    required = {b.argument: b.required for b in op.bindings}
    entry: dict[str, Any] = {
        "name": cls.name,
        "method": cls.method,
        "path": cls.path,
        "summary": _one_line(said, 200),
        "parameters": [
            {
                "name": p.name,
                "in": p.in_,
                "required": required.get(p.name, False),
                "role": p.role.value,
            }
            for p in cls.parameters
        ],
        "rules": {
            "access": f"{cls.access.value} ({cls.access.reason})",
            "relevance": f"{cls.relevance.value} ({cls.relevance.reason})",
            "agent": cls.agent,
        },
    }
    if op.operation.tags:
        entry["tags"] = op.operation.tags[:3]
    if cls.summary:
        entry["rules"]["summary"] = cls.summary
    return entry


def _messages(batch: _Batch, agents: list[AgentProposal]) -> list[BaseMessage]:
    body = {
        "agents": [{"name": a.name, "display_name": a.display_name} for a in agents],
        "operations": [describe(op, cls) for op, cls in batch.ops],
    }
    return [
        SystemMessage(content=SYSTEM_PROMPT),
        HumanMessage(content=json.dumps(body, ensure_ascii=False, separators=(",", ":"))),
    ]


async def _ask(
    structured: Any,
    batch: _Batch,
    agents: list[AgentProposal],
    config: RunnableConfig,
    *,
    retries: int,
    timeout_seconds: float,
    retry_delay: float,
) -> None:
    """Fill `batch.verdicts`, or `batch.error` after `retries` retries."""
    names = {cls.name for _, cls in batch.ops}
    messages = _messages(batch, agents)
    for attempt in range(retries + 1):
        try:
            out = await asyncio.wait_for(
                structured.ainvoke(messages, config=config), timeout_seconds
            )
            if not isinstance(out, ClassifiedOperations):
                raise ValueError("no structured answer (no tool call)")
            verdicts: dict[str, OperationVerdict] = {}
            for verdict in out.operations:
                if verdict.name in names:
                    verdicts.setdefault(verdict.name, verdict)
            if not verdicts:
                raise ValueError("the answer names none of the batch's operations")
        except TimeoutError:
            batch.error = f"timed out after {timeout_seconds:g} s"
        except Exception as exc:
            batch.error = f"{type(exc).__name__}: {_one_line(str(exc), 120)}"
        else:
            batch.verdicts, batch.error = verdicts, None
            return
        log.warning(
            "classification batch %d, attempt %d of %d failed: %s",
            batch.number,
            attempt + 1,
            retries + 1,
            batch.error,
        )
        if attempt < retries and retry_delay:
            await asyncio.sleep(retry_delay * 2**attempt)


def _why(text: str, fallback: str) -> str:
    return _one_line(text) or fallback


def _access(rule: Decision[Access], verdict: OperationVerdict) -> Decision[Access]:
    if rule.source == "operator":
        return rule
    why = _why(verdict.access_reason, f"the model says {verdict.access}")
    if rule.value == "write" and verdict.access == "read":
        # Never on a model's word alone: a wrong read could cancel an order unasked.
        return rule.model_copy(
            update={
                "reason": f"rule: write ({rule.reason}); the model said read ({why}): "
                "an operator may change it"
            }
        )
    return Decision[Access](
        value=verdict.access, source="model", confidence=verdict.confidence, reason=why
    )


def _parameter(param: ParameterClass, verdict: ParameterVerdict, confidence: float) -> None:
    rule = param.role
    if rule.source == "operator":
        return
    why = _why(verdict.reason, f"the model says {verdict.role}")
    if rule.value == "identity" and verdict.role != "identity":
        # Unbinding the verified customer would let the chat name any customer's records.
        param.role = rule.model_copy(
            update={
                "reason": f"rule: identity ({rule.reason}); the model said {verdict.role} "
                f"({why}): an operator may change it"
            }
        )
        return
    param.role = Decision[Role](
        value=verdict.role, source="model", confidence=confidence, reason=why
    )


def _summary(text: str | None, cls: OperationClass) -> str | None:
    """The model's approval summary if it is one line over the operation's own arguments."""
    if not text or "\n" in text.strip() or len(text) > 200:
        return None
    names = {p.name for p in cls.parameters}
    if any(placeholder not in names for placeholder in _PLACEHOLDER.findall(text)):
        return None
    return text.strip()


def _merge(cls: OperationClass, verdict: OperationVerdict, warnings: list[str]) -> str | None:
    """Apply one verdict to `cls` in place; returns the agent the model put it in, if valid."""
    cls.access = _access(cls.access, verdict)
    if cls.relevance.source != "operator":
        cls.relevance = Decision[Relevance](
            value=verdict.relevance,
            source="model",
            confidence=verdict.confidence,
            reason=_why(verdict.relevance_reason, f"the model says {verdict.relevance}"),
        )
    by_name = {p.name: p for p in cls.parameters}
    for pv in verdict.parameters:
        if pv.name in by_name:
            _parameter(by_name[pv.name], pv, verdict.confidence)
    if cls.access.value == "write":
        cls.summary = _summary(verdict.summary, cls) or cls.summary
    agent = (verdict.agent or "").strip()
    if agent and not AGENT_NAME.fullmatch(agent):
        warnings.append(f"{cls.name}: the model's agent name {agent[:40]!r} is not valid; ignored")
        return None
    return agent or None


async def refine(
    result: ImportResult,
    proposal: Proposal,
    model: BaseChatModel,
    *,
    batch_size: int = 20,
    concurrency: int = 3,
    retries: int = 2,
    timeout_seconds: float = 120.0,
    retry_delay: float = 1.0,
    callbacks: Sequence[BaseCallbackHandler] | None = None,
    on_usage: UsageCallback | None = None,
    max_tools_per_agent: int = 15,
    max_agents: int = 6,
    tag_descriptions: dict[str, str] | None = None,
) -> Proposal:
    """Refine the rules' proposal with a model; the input proposal is left unchanged.

    Args:
        result: The import the proposal classifies (same operations, same order).
        proposal: The rules' proposal (`classify(result)`), possibly with operator decisions,
            which are kept.
        model: Any chat model with tool calling (`with_structured_output`).
        batch_size: Operations per model call.
        concurrency: At most this many calls at once.
        retries: Retries of a failed call (exception, timeout, malformed output) before its
            batch keeps the rules' decisions.
        timeout_seconds: Seconds per call.
        retry_delay: Seconds before the first retry, doubled for each further one.
        callbacks: LangChain callback handlers for every call, e.g. a
            `runtime.usage.UsageRecorder` to record tokens and cost; calls carry the metadata
            `lc_agent_name="classifier"`.
        on_usage: Called after each call with the model's name, input and output tokens.
        max_tools_per_agent: The per-agent tool budget, applied again after the model.
        max_agents: The agent budget, applied again after the model (as `classify`'s).
        tag_descriptions: The spec's tag descriptions, for agent descriptions.

    Returns:
        A new proposal: the model's decisions merged, agents regrouped, and a warning per batch
        that kept the rules' decisions or per model answer that was ignored.
    """
    refined = proposal.model_copy(deep=True)
    pairs = list(zip(result.operations, refined.operations, strict=True))
    size = max(1, batch_size)
    batches = [
        _Batch(number=i // size + 1, ops=pairs[i : i + size]) for i in range(0, len(pairs), size)
    ]
    handlers: list[BaseCallbackHandler] = list(callbacks or [])
    if on_usage is not None:
        handlers.append(_Tokens(on_usage))
    config: RunnableConfig = {
        "callbacks": handlers,
        "metadata": {"lc_agent_name": "classifier"},
        "tags": ["classifier"],
        "run_name": "classify_operations",
    }
    # Tool calling: the structured output every tool-calling provider and OpenAI-compatible
    # server supports (some lack JSON-schema response formats), and what the scripted models test.
    structured = model.with_structured_output(ClassifiedOperations, method="function_calling")
    gate = asyncio.Semaphore(max(1, concurrency))

    async def run(batch: _Batch) -> None:
        async with gate:
            await _ask(
                structured,
                batch,
                proposal.agents,
                config,
                retries=retries,
                timeout_seconds=timeout_seconds,
                retry_delay=retry_delay,
            )

    await asyncio.gather(*(run(b) for b in batches))

    warnings = list(refined.warnings)
    # An operation stays in the agent it was proposed in unless the model moves it.
    assigned = {cls.name: cls.agent for cls in refined.operations if cls.agent}
    for batch in batches:
        first, last = batch.ops[0][1].name, batch.ops[-1][1].name
        if batch.error is not None:
            warnings.append(
                f"batch {batch.number} of {len(batches)} ({len(batch.ops)} operations, {first} "
                f"to {last}): the model failed {retries + 1} times ({batch.error}); those "
                "operations keep the rules' decisions"
            )
            continue
        missing = [cls.name for _, cls in batch.ops if cls.name not in batch.verdicts]
        if missing:
            warnings.append(
                f"the model did not answer for {len(missing)} operations "
                f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}); they keep "
                "the rules' decisions"
            )
        for _, cls in batch.ops:
            verdict = batch.verdicts.get(cls.name)
            if verdict is not None:
                agent = _merge(cls, verdict, warnings)
                if agent:
                    assigned[cls.name] = agent
    refined.agents = group(
        result,
        refined.operations,
        max_tools_per_agent,
        tag_descriptions or result.tag_descriptions,
        max_agents,
        assigned=assigned,
        before=refined.agents,
    )
    refined.warnings = warnings
    return refined


async def classify_with_model(
    result: ImportResult,
    settings: Settings,
    *,
    model: BaseChatModel | None = None,
    callbacks: Sequence[BaseCallbackHandler] | None = None,
    on_usage: UsageCallback | None = None,
    **options: Any,
) -> Proposal:
    """Classify an import: the rules, refined by a model when one is configured.

    With `LLM_PROVIDER` offline (and no `model` given) this is `classify(result)`: the rules
    alone, deterministic. Otherwise the rules' proposal is refined by `model`, or by the
    provider's chat model (`build_chat_model(settings)`).

    Args:
        result: The import.
        settings: Read for the provider and model.
        model: A chat model to use instead of the configured one (tests, a scripted model).
        callbacks: LangChain callback handlers for the model calls (usage and cost).
        on_usage: Called after each model call with the model's name and its tokens.
        **options: Passed to `refine` (batch_size, concurrency, retries, timeout_seconds, ...).
    """
    proposal = classify(result)
    if model is None:
        if settings.resolved_provider() == "offline":
            return proposal
        model = build_chat_model(settings)
        # The provider client retries on its own: leave its retries the time they need.
        per_call = settings.llm_timeout_seconds * (settings.llm_max_retries + 1)
        options.setdefault("timeout_seconds", per_call)
    return await refine(result, proposal, model, callbacks=callbacks, on_usage=on_usage, **options)

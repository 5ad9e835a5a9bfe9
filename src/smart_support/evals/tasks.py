"""Tasks, tau-style: a simulated customer talks to the agents through the real engine.

Each run starts a conversation (`Engine.start_conversation`, with the task's signed identity if
any), then alternates the customer's line and the engine's turn (`Engine.send`). While an
approval waits, the customer's answer decides it (`Engine.decide`: "yes" approves, "no" rejects),
as a customer does in the chat. The grade reads the API's end state over HTTP: an eval set's
`expect` reads, or for tau2 the database hash (`evals.tau2`). Cost is the usage table's, turns
are the customer's messages.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import BaseChatModel

from smart_support.evals import api as api_calls
from smart_support.evals.customers import Customer, LlmCustomer, ScriptedCustomer, approves
from smart_support.evals.sets import TaskSpec
from smart_support.evals.tau2 import Grade, Tau2Task, grade
from smart_support.identity import Identity
from smart_support.registry import Registry
from smart_support.runtime.engine import Engine
from smart_support.runtime.events import (
    ApprovalRequested,
    ApprovalResolved,
    ReplyEnd,
    TurnError,
)

#: tau2 ends a simulation after 100 steps (agent and user messages); ~30 customer turns.
MAX_TURNS = 30
GREETING = "Hi! How can I help you today?"


@dataclass
class Conversation:
    conversation_id: str
    agent_messages: list[str] = field(default_factory=list)
    turns: int = 0
    stopped: bool = False
    notes: list[str] = field(default_factory=list)


@dataclass
class RunResult:
    task_id: str
    grade: Grade
    conversation: Conversation
    cost_usd: float
    replay: str

    def as_json(self) -> dict[str, Any]:
        return {
            "verdict": self.grade.verdict,
            "reward": self.grade.reward,
            "components": self.grade.components,
            "notes": [*self.conversation.notes, *self.grade.notes],
            "turns": self.conversation.turns,
            "cost_usd": round(self.cost_usd, 6),
            "conversation_id": self.conversation.conversation_id,
            "replay": self.replay,
        }


def with_api_url(registry: Registry, url: str) -> Registry:
    """The registry with every OpenAPI import's server set to `url` (the API started here)."""
    spec = registry.spec
    imports = {name: s.model_copy(update={"server": url}) for name, s in spec.openapi.items()}
    return registry.with_spec(spec.model_copy(update={"openapi": imports}))


def approval_prompt(event: ApprovalRequested) -> str:
    """How the customer sees a waiting approval (the chat shows the same with buttons)."""
    args = json.dumps(event.args, ensure_ascii=False)
    return f"Please approve: {event.summary} ({args}). Do you approve? Answer yes or no."


async def converse(
    engine: Engine,
    customer: Customer,
    *,
    identity: Identity | None = None,
    max_turns: int = MAX_TURNS,
) -> Conversation:
    """One conversation to the customer's end (or `max_turns`), through the real engine."""
    conversation_id, _ = await engine.start_conversation(identity)
    talk = Conversation(conversation_id)
    last, pending = GREETING, None
    while talk.turns < max_turns:
        line = await customer.reply(last)
        if line is None:
            break
        talk.turns += 1
        wish = approves(line) if pending is not None else None
        if pending is not None and wish is not None:
            events = engine.decide(pending.approval_id, wish, "customer", conversation_id)
        else:
            events = engine.send(conversation_id, line)
        said: list[str] = []
        asked: ApprovalRequested | None = None
        async for event in events:
            if isinstance(event, ReplyEnd) and event.text:
                said.append(event.text)
                talk.agent_messages.append(event.text)
            elif isinstance(event, ApprovalRequested):
                pending = asked = event
            elif isinstance(event, ApprovalResolved):
                if pending is not None and event.approval_id == pending.approval_id:
                    pending = None
            elif isinstance(event, TurnError):
                said.append(event.message)
                talk.notes.append(f"turn {talk.turns}: {event.code}")
        if asked is not None and pending is asked:
            said.append(approval_prompt(asked))
        last = "\n\n".join(said) or "(no answer)"
    talk.stopped = customer.stopped
    if not talk.stopped:
        talk.notes.append(f"stopped at the turn limit ({max_turns})")
    return talk


def matches(expected: Any, actual: Any) -> bool:
    """A dict matches when each of its keys does (recursively); anything else must be equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and matches(v, actual[k]) for k, v in expected.items()
        )
    return bool(expected == actual)


async def grade_expectations(
    engine: Engine, api_url: str, task: TaskSpec, talk: Conversation
) -> Grade:
    """An eval set task's grade: its `expect` reads of the API and `reply_contains`."""
    components: dict[str, str] = {}
    ok = True
    for check in task.expect:
        status, body = await api_calls.get_json(engine.settings, api_url, check.get)
        good = status == check.status and (check.json_ is None or matches(check.json_, body))
        components[f"GET {check.get}"] = (
            "pass" if good else f"fail (status {status}: {body!r:.200})"
        )
        ok = ok and good
    replies = "\n".join(talk.agent_messages).lower()
    for text in task.reply_contains:
        good = text.lower() in replies
        components[f"reply contains {text!r}"] = "pass" if good else "fail"
        ok = ok and good
    if not talk.stopped:
        components["termination"] = "turn limit"
        ok = False
    return Grade("pass" if ok else "fail", 1.0 if ok else 0.0, components)


Reset = Callable[[], Awaitable[bool]]


async def _cost(engine: Engine, conversation_id: str) -> float:
    return sum(u.cost_usd for u in await engine.store.usage(conversation_id))


def _replay(engine: Engine, conversation_id: str) -> str:
    base = engine.settings.public_url.rstrip("/")
    return f"{base}/api/v1/operator/conversations/{conversation_id}/events"


def customer_for(
    lines: list[str], instructions: str | None, customer_model: BaseChatModel | None
) -> Customer | None:
    """Scripted lines when the task has them, else an LLM customer when a model can play one."""
    if lines:
        return ScriptedCustomer(lines)
    if instructions and customer_model is not None:
        return LlmCustomer(customer_model, instructions)
    return None


async def run_task(
    engine: Engine,
    api_url: str,
    task: TaskSpec,
    *,
    reset: Reset,
    customer_model: BaseChatModel | None = None,
    max_turns: int = MAX_TURNS,
) -> RunResult | None:
    """One run of an eval set task; None when no customer can play it (no lines, no model)."""
    customer = customer_for(task.customer, task.instructions, customer_model)
    if customer is None:
        return None
    await reset()
    identity = (
        Identity.model_validate({"method": "signed", **task.identity}) if task.identity else None
    )
    talk = await converse(engine, customer, identity=identity, max_turns=max_turns)
    result = await grade_expectations(engine, api_url, task, talk)
    cost = await _cost(engine, talk.conversation_id)
    return RunResult(task.id, result, talk, cost, _replay(engine, talk.conversation_id))


async def run_tau2_task(
    engine: Engine,
    api_url: str,
    task: Tau2Task,
    *,
    customer_model: BaseChatModel | None,
    lines: list[str] | None = None,
    max_turns: int = MAX_TURNS,
) -> RunResult | None:
    """One run of a tau2 task on a fresh database, graded as tau2 grades it."""
    customer = customer_for(lines or [], task.instructions, customer_model)
    if customer is None:
        return None
    await api_calls.reset_state(engine.settings, api_url)
    talk = await converse(engine, customer, max_turns=max_turns)
    db_hash = await api_calls.state_hash(engine.settings, api_url)
    result = grade(task, db_hash, talk.agent_messages, stopped=talk.stopped)
    cost = await _cost(engine, talk.conversation_id)
    return RunResult(task.id, result, talk, cost, _replay(engine, talk.conversation_id))

"""Grouping classified operations into agents: names, routing descriptions, example requests,
approval summaries for writes and `check:` reads, all from the spec's own words.

Operations are grouped by their first tag, or by the first path segment when the spec has no
usable tags (none, or tags that are the path itself). Groups of one family of customer records
merge into one agent (payments with refunds and invoices, orders with shipments and returns), the
families a support lead needs first are kept up to `max_agents`, and an agent keeps at most
`max_tools_per_agent` tools: reads of one customer's records and the common support actions
(cancel, refund, return, reschedule) first.

`group` is the one grouping: the rules' proposal (`rules.classify`) and the regrouping after a
model (`refine.refine`) both call it, so the same budgets (tools per agent, agents, catalogue)
hold whoever chose an operation's agent.
"""

from __future__ import annotations

import os
import re

from smart_support.openapi.classify import _words as w
from smart_support.openapi.classify.decisions import (
    AgentProposal,
    CheckProposal,
    Decision,
    OperationClass,
    Relevance,
)
from smart_support.openapi.importer import ImportedOperation, ImportResult

_ARTICLES = {"a", "an", "the", "all", "one", "specific", "existing", "new", "given", "single"}
_CUT = re.compile(
    r"\s(that|which|who|within|using|with|by|from|in your|on your|if|when|for the given)\s|[:(.;,]"
)
_NOUN_CUT = re.compile(r"\s(of|for|to|on|as|and|or)\s")
_SIMPLE_ARG = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
_SALIENT_BODY = re.compile(r"(amount|quantity|reason|plan_id|plan_variation)")
_LOOKUP = {"get", "retrieve", "show", "fetch", "find", "lookup", "read", "load", "view", "return"}
_LIST = {"list", "search", "query", "scroll", "browse"}
_MINE = {
    "order", "booking", "subscription", "ticket", "conversation", "invoice", "payment",
    "refund", "shipment", "return", "account", "address", "card", "cart", "reservation",
    "appointment", "dispute", "transaction", "delivery", "message", "profile", "history",
    "reward", "loyalty", "plan", "credit", "charge",
}  # fmt: skip


#: Families of customer records: (name, display name, words of a group's name that put it in
#: the family). A word is matched in the family listed first, so `gift_card` is a reward before
#: `card` is a payment.
FAMILIES = (
    ("orders", "Orders and deliveries", {"order", "fulfillment", "shipment", "shipping",
        "tracking", "delivery", "return", "rma", "exchange"}),
    ("rewards", "Gift cards and loyalty", {"gift", "loyalty", "reward", "point", "voucher"}),
    ("payments", "Payments and refunds", {"payment", "refund", "invoice", "creditmemo",
        "credit", "transaction", "charge", "card", "dispute", "billing"}),
    ("bookings", "Bookings and appointments", {"booking", "appointment", "reservation",
        "availability"}),
    ("subscriptions", "Subscriptions", {"subscription", "plan", "estimate"}),
    ("account", "Customer account", {"customer", "contact", "user", "account", "profile",
        "address", "me"}),
    ("support_requests", "Support requests", {"ticket", "conversation", "message", "case",
        "complaint", "claim", "participant", "receipt"}),
    ("help_articles", "Help articles", {"article", "faq", "help", "knowledge"}),
    ("catalog", "Catalog", {"product", "catalog", "item", "menu", "search"}),
)  # fmt: skip
_FAMILY_DISPLAY = {name: title for name, title, _ in FAMILIES}
#: The order families are kept in when there are more than `max_agents`.
_PRIORITY = ("orders", "payments", "bookings", "subscriptions", "account", "support_requests",
             "help_articles", "rewards", "catalog")  # fmt: skip
#: A catalogue agent answers "do you have X?": a few read-only lookups, never a catalogue write.
CATALOG_TOOLS = 5
#: Verbs of the common support actions: ranked before other writes in an agent.
_SUPPORT_VERBS = {"cancel", "refund", "return", "reschedule", "track", "resend", "email", "pause",
                  "resume", "change", "reply", "send", "message", "address"}  # fmt: skip


def family(key: str) -> str | None:
    """The family of a group name (`gift_card_activities` -> `rewards`), or None; a family's
    own name (an agent merged before, e.g. `support_requests`) is in that family."""
    if key in _FAMILY_DISPLAY:
        return key
    words = set(w.stems(key.replace("_", " ")))
    for name, _, members in FAMILIES:
        if words & members:
            return name
    return None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", "_".join(w.split(text))).strip("_") or "api"
    return slug if slug[0].isalpha() else f"api_{slug}"


def _tag_key(tags: list[str]) -> dict[str, str]:
    """Tag -> its group name, without a prefix every tag shares (`ConversationsV1Message` ->
    `message` when all tags start with `ConversationsV1`)."""
    if len(tags) < 2:
        return {t: _slug(t) for t in tags}
    prefix = os.path.commonprefix(tags)  # noqa: RUF071 - a string prefix is meant
    cut = max((i for i in range(1, len(prefix) + 1) if i == len(prefix) or (
        prefix[i].isupper() or not prefix[i - 1].isalnum())), default=0)  # fmt: skip
    cut = cut if all(len(t) > cut for t in tags) else 0
    return {t: _slug(t[cut:]) for t in tags}


def _group_key(op: ImportedOperation, tag_names: dict[str, str]) -> str:
    tags = [t for t in op.operation.tags if t and not w.is_pathlike(t)]
    if tags and tag_names:
        return tag_names[tags[0]]
    segments = w.literal_segments(op.operation.path)
    return _slug(w.stem(segments[0].lower())) if segments else "general"


def _rank(op: ImportedOperation, cls: OperationClass) -> tuple[float, str]:
    words = set(w.all_words(op.operation))
    score = cls.relevance.confidence
    if cls.access.value == "read":
        score += 0.2
    if words & _MINE:
        score += 0.2
    if re.search(r"{[^}]+}$", op.operation.path.rstrip("/")):
        score += 0.05  # one record, asked about by its number
    if cls.access.value == "write" and words & _SUPPORT_VERBS:
        score += 0.3  # the common support actions rank with the reads
    elif not re.search(r"{[^}]+}", op.operation.path) and cls.access.value == "write":
        score -= 0.1  # creating something new is rarer in support than acting on a record
    depth = len([x for x in op.operation.path.strip("/").split("/") if x]) - 3
    score -= 0.03 * max(depth, 0)  # `/products/{sku}/options/{id}/children`: an internal detail
    return (-score, cls.name)


def _noun(text: str) -> str:
    """`Get an order: status, items` -> `order`; `Cancel a subscription` -> `subscription`."""
    clause = _NOUN_CUT.split(_CUT.split(" " + text + " ", maxsplit=1)[0] + " ", maxsplit=1)[0]
    words = [x for x in clause.split()[1:] if x.lower() not in _ARTICLES]
    return " ".join(words).lower().strip(" '\"") or "request"


def _sentence(op: ImportedOperation) -> str:
    text = w.phrase(op.operation)
    if not text:
        words = w.split(op.operation.operation_id or "") or w.split(op.operation.path)
        words = [x for x in words if x not in {"v1", "v2", "v3"}]
        text = " ".join(words)
    return text


def _a(noun: str) -> str:
    if noun.endswith("s"):
        return f"some {noun}"
    return f"an {noun}" if noun[:1] in "aeiou" else f"a {noun}"


def examples_for(op: ImportedOperation) -> list[str]:
    """Customer requests the operation answers, from its summary."""
    text = _sentence(op)
    words = w.split(text)
    if not words:
        return []
    verb, noun = w.stem(words[0]), _noun(text)
    plural = noun if noun.endswith("s") else f"{noun}s"
    mine = bool(set(w.stems(noun)) & _MINE)
    if verb in _LOOKUP and mine:
        return [f"Can you look up my {noun}?", f"What's the status of my {noun}?"]
    if verb in _LOOKUP:
        return [f"Can you tell me about the {noun}?", f"I'd like details on the {noun}."]
    if verb in _LIST and mine:
        return [f"Can you show me my {plural}?", f"Which {plural} do I have?"]
    if verb in _LIST:
        return [f"Do you have any {plural}?", f"Can you find {plural} for me?"]
    if verb == "track":
        return [f"Where is my {noun}?", f"Can you track my {noun}?"]
    if verb == "cancel":
        return [f"Please cancel my {noun}.", f"I want to cancel my {noun}."]
    if verb == "refund":
        return [f"I'd like a refund for my {noun}.", f"Can I get my money back for my {noun}?"]
    if verb in {"change", "update", "edit", "modify", "set"}:
        return [f"I need to change my {noun}.", f"Can you update my {noun}?"]
    if verb in {"create", "add", "start", "place", "buy", "book", "open", "submit"}:
        return [f"I want to {verb} {_a(noun)}.", f"Can you help me {verb} {_a(noun)}?"]
    return [f"Can you help me {text[:1].lower()}{text[1:].rstrip('.')}?"]


def approval_summary(op: ImportedOperation) -> str:
    """A one-line approval template: `Cancel order {order_id}`."""
    text = _sentence(op)
    clause = _CUT.split(" " + text + " ", maxsplit=1)[0].split()
    words = [x for x in clause if x.lower() not in _ARTICLES][:8]
    head = " ".join(words) or op.name.replace("_", " ")
    head = head[:1].upper() + head[1:]
    path_args = [b.argument for b in op.bindings if b.location == "path"]
    body_args = [
        b.argument
        for b in op.bindings
        if b.location == "body" and b.required and _SALIENT_BODY.search(b.argument.lower())
    ]
    shown = [f"{{{a}}}" for a in path_args if _SIMPLE_ARG.match(a)]
    extra = [f"{a.replace('_', ' ')} {{{a}}}" for a in body_args if _SIMPLE_ARG.match(a)]
    parts = [head, " ".join(shown)] if shown else [head]
    line = " ".join(p for p in parts if p)
    return f"{line} ({', '.join(extra)})" if extra else line


def _check(
    op: ImportedOperation, reads: dict[str, ImportedOperation], agent_tools: set[str]
) -> CheckProposal | None:
    """A GET on the same resource whose required arguments the write has, by the same name."""
    path = op.operation.path.rstrip("/")
    args = {b.argument for b in op.bindings}
    candidates = [path] if op.operation.method.lower() != "post" else []
    parts = path.split("/")
    candidates += ["/".join(parts[:i]) for i in range(len(parts) - 1, 1, -1)]
    for candidate in candidates:
        if "{" not in candidate:
            break
        for name, read in sorted(reads.items()):
            if name not in agent_tools or read.operation.path.rstrip("/") != candidate:
                continue
            needed = {b.argument for b in read.bindings if b.required}
            if needed and needed <= args:
                mapping = {a: a for a in sorted(needed)}
                return CheckProposal(
                    tool=name, arguments=mapping,
                    reason=f"re-reads {candidate} before the write is offered for approval",
                )  # fmt: skip
    return None


def _merge(
    groups: dict[str, list[tuple[ImportedOperation, OperationClass]]],
) -> dict[str, tuple[str | None, list[tuple[ImportedOperation, OperationClass]]]]:
    """Groups of one family as one group, named after the family; a family of one group keeps
    that group's name (its tag's display name and description)."""
    by_family: dict[str, list[str]] = {}
    for key in sorted(groups):
        by_family.setdefault(family(key) or f"={key}", []).append(key)
    merged: dict[str, tuple[str | None, list[tuple[ImportedOperation, OperationClass]]]] = {}
    for fam, keys in by_family.items():
        if len(keys) == 1:
            merged[keys[0]] = (None, groups[keys[0]])
        else:
            merged[fam] = (fam, [pair for key in keys for pair in groups[key]])
    return merged


def _priority(name: str, fam: str | None, size: int) -> tuple[int, int, str]:
    fam = fam or family(name)
    rank = _PRIORITY.index(fam) if fam in _PRIORITY else len(_PRIORITY)
    return (rank, -size, name)


def group(
    result: ImportResult,
    classes: list[OperationClass],
    max_tools: int,
    tag_descriptions: dict[str, str],
    max_agents: int = 6,
    *,
    assigned: dict[str, str] | None = None,
    before: list[AgentProposal] | None = None,
) -> list[AgentProposal]:
    """Assign every `on` operation to an agent (in place) and propose the agents.

    Args:
        result: The import `classes` classify (same operations, same order).
        classes: The operations' decisions; each one's `agent` and `check` are set again, the
            `summary` of a write only when it has none, and `relevance` is turned off for an
            operation over a budget.
        max_tools: At most this many tools per agent (a catalogue agent: `CATALOG_TOOLS`
            read-only lookups).
        tag_descriptions: The spec's tag descriptions, for agent descriptions.
        max_agents: At most this many agents, after groups of one family merge.
        assigned: Operation name -> the agent a model or an operator chose for it, instead of
            the rules' group (its first tag or path segment). Chosen agents merge by family and
            count against the budgets like the rules' groups.
        before: The agents proposed before (a regrouping): an agent whose tool set did not
            change is kept as it was (description, examples, display name), a changed one keeps
            its display name; agents are listed in their previous order, new ones after.
    """
    tags = list(dict.fromkeys(t for t in result.tags if t and not w.is_pathlike(t)))
    tag_names = _tag_key(tags)
    display = {name: tag for tag, name in reversed(tag_names.items())}
    chosen = assigned or {}
    groups: dict[str, list[tuple[ImportedOperation, OperationClass]]] = {}
    for op, cls in zip(result.operations, classes, strict=True):
        cls.agent, cls.check = None, None
        if cls.relevance.value != "on":
            continue
        key = chosen.get(cls.name) or _group_key(op, tag_names)
        if key == "help_api" and cls.name in chosen and key not in display:
            key = "help"  # the agent the rules name for a "help" group
        groups.setdefault(key, []).append((op, cls))
    reads = {
        op.name: op
        for op, cls in zip(result.operations, classes, strict=True)
        if cls.access.value == "read" and op.operation.method.lower() == "get"
    }
    position = {cls.name: i for i, cls in enumerate(classes)}
    merged = _merge(groups)
    order = sorted(merged, key=lambda k: _priority(k, merged[k][0], len(merged[k][1])))
    kept_keys = set(order[:max_agents])
    for key in order[max_agents:]:
        title = _FAMILY_DISPLAY.get(key) or display.get(key) or key.replace("_", " ")
        for _, cls in merged[key][1]:
            cls.relevance = Decision[Relevance](
                value="off", confidence=0.5, reason=f"beyond the {max_agents}-agent budget: "
                f"'{title}' ranks below the agents kept (raise max_agents to keep it)",
            )  # fmt: skip
    previous = {a.name: a for a in before or []}
    agents: list[AgentProposal] = []
    for key in sorted(kept_keys):
        fam, pairs = merged[key]
        members = sorted(pairs, key=lambda pair: _rank(*pair))
        budget, why = max_tools, "over the per-agent tool budget"
        if (fam or family(key)) == "catalog":
            members = [p for p in members if p[1].access.value == "read"]
            budget = min(max_tools, CATALOG_TOOLS)
            why = f"over the catalogue's budget: {budget} read-only lookups are kept"
        kept, dropped = members[:budget], [p for p in pairs if p not in members[:budget]]
        kept.sort(key=lambda pair: position[pair[1].name])  # listed in the spec's order
        for _, cls in dropped:
            cls.relevance = Decision[Relevance](value="off", confidence=0.5, reason=why)
        if not kept:
            continue  # e.g. a catalogue group of writes only: no agent without a tool
        name = key if key != "help" else "help_api"
        tools = {cls.name for _, cls in kept}
        for op, cls in kept:
            cls.agent = name
            if cls.access.value == "write":
                cls.summary = cls.summary or approval_summary(op)
                cls.check = _check(op, reads, tools)
        old = previous.get(name)
        if old is not None and set(old.tools) == tools:
            agents.append(old.model_copy(deep=True))
            continue
        heading = _FAMILY_DISPLAY[fam] if fam else display.get(key)
        agent = _agent(name, heading, kept, tag_descriptions)
        if old is not None:
            agent.display_name = old.display_name
        agents.append(agent)
    if before is not None:
        rank = {a.name: i for i, a in enumerate(before)}
        agents.sort(key=lambda a: (rank.get(a.name, len(rank)), a.name))
    for op, cls in zip(result.operations, classes, strict=True):
        if cls.access.value == "write" and cls.summary is None:
            cls.summary = approval_summary(op)
    return agents


def _agent(
    name: str,
    tag: str | None,
    kept: list[tuple[ImportedOperation, OperationClass]],
    tag_descriptions: dict[str, str],
) -> AgentProposal:
    title = tag or name.replace("_", " ")
    display_name = " ".join(x[:1].upper() + x[1:] for x in title.replace("_", " ").split())
    sentences = [_sentence(op).rstrip(".") for op, _ in kept]
    said = "; ".join(s[:1].lower() + s[1:] for s in sentences[:6] if s)
    lead = (tag_descriptions.get(tag or "") or "").strip()
    lead = " ".join(lead.split())[:200]
    description = f"{lead + ' ' if lead else ''}Handles {display_name.lower()}: {said}."[:400]
    examples: list[str] = []
    for op, _ in kept:
        examples.extend(x for x in examples_for(op) if x not in examples)
    noun = w.stem(display_name.split()[-1].lower()) if display_name.split() else name
    for filler in (
        f"I have a question about my {noun}.",
        f"Can you help me with my {noun}?",
        f"Something is wrong with my {noun}.",
        f"I need help with a {noun}.",
        f"Who can help me with {noun} questions?",
    ):
        if len(examples) >= 5:
            break
        if filler not in examples:
            examples.append(filler)
    return AgentProposal(
        name=name,
        display_name=display_name,
        description=description,
        examples=examples[:10],
        tools=[cls.name for _, cls in kept],
    )

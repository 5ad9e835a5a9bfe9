"""How the offline model takes part in verifying a customer, from the tool guard's marks alone.

The tool guard marks each result it writes itself instead of a tool's
(``ToolMessage.additional_kwargs["smart_support"]["kind"]``: `verification_needed`, `verified`,
`not_verified`, `system_down`...), and words its text for the customer. The model reads the mark,
never the words, and knows no tool by name:

* **Quoting.** A marked result is quoted as it is (no "Sorry, that did not work:"). After
  `not_verified` the guard's earlier request for details (the text of its last
  `verification_needed` refusal) is asked again.
* **Which tool verifies.** Once a refusal marked `verification_needed` is in the conversation and
  no `verified` result came after it, a message that carries details calls the bound read tool
  whose arguments that message alone fills best, provided it fills an email parameter (JSON
  `format: email`, or "email" in the name) and at least one other parameter (an order number, a
  postal code): "maya@example.com, order 1042" or "it's maya@example.com and my zip is 80225".
  Ties go to the tool with fewer parameters left empty, then to the one bound first. So any
  `identity.verify` tool that takes an email plus one other detail is found, whatever its name;
  a tool whose email is bound (hidden from the model) never is, and a tool that needs a verified
  customer is refused by the guard anyway.
* **Details given up front.** When the request that was refused carries the details itself
  ("I'm maya@example.com, where is order 1042?"), the same tool is called at once instead of
  asking; a tool already called since that message is never called again for it.
* **Carrying on.** After a `verified` result the customer's original request (the last message
  before the `verification_needed` refusal) is decided again, as if it had just been sent, and
  the answer to that call answers that request: "What's the status of order 1042?" gets the
  status, not "verified".
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import BaseMessage, HumanMessage, ToolMessage

from smart_support.models._arguments import _name, _name_words, fill_arguments

__all__ = [
    "VERIFICATION_KINDS",
    "awaiting_verification",
    "guard_kind",
    "refused_request",
    "verification_call",
    "verification_calls",
    "verification_question",
]

#: The guard's own key in `ToolMessage.additional_kwargs`.
GUARD_MARK = "smart_support"
#: Marks that belong to a verification: the refusal that asks for it and its outcomes.
VERIFICATION_KINDS = frozenset(
    {"verification_needed", "verified", "not_verified", "verification_refused"}
)


def guard_kind(message: BaseMessage) -> str | None:
    """The guard's mark on a tool result it wrote itself, else None."""
    if not isinstance(message, ToolMessage):
        return None
    mark = (message.additional_kwargs or {}).get(GUARD_MARK)
    kind = mark.get("kind") if isinstance(mark, dict) else None
    return kind if isinstance(kind, str) and kind else None


def awaiting_verification(messages: list[BaseMessage]) -> bool:
    """True when the guard asked for verification and no verification has settled it since
    (a `not_verified` attempt leaves it open; `verified` or too many attempts close it)."""
    for message in reversed(messages):
        kind = guard_kind(message)
        if kind in ("verified", "verification_refused"):
            return False
        if kind in ("verification_needed", "not_verified"):
            return True
    return False


def refused_request(messages: list[BaseMessage]) -> int | None:
    """The index of the customer's message that the last `verification_needed` refusal
    answered, or None."""
    for i in range(len(messages) - 1, -1, -1):
        if guard_kind(messages[i]) == "verification_needed":
            for j in range(i - 1, -1, -1):
                if isinstance(messages[j], HumanMessage):
                    return j
            return None
    return None


def verification_question(messages: list[BaseMessage]) -> str | None:
    """The guard's request for details, from its last `verification_needed` refusal."""
    for message in reversed(messages):
        if guard_kind(message) == "verification_needed":
            return str(message.text).strip() or None
    return None


def verification_calls(messages: list[BaseMessage]) -> set[str]:
    """Ids of the tool calls whose results were a verification's outcome: such a call is never
    a look-up to repeat for a follow-up."""
    return {
        m.tool_call_id
        for m in messages
        if isinstance(m, ToolMessage)
        and guard_kind(m) in VERIFICATION_KINDS - {"verification_needed"}
    }


def _is_email(name: str, prop: dict[str, Any]) -> bool:
    options = [prop, *(o for o in prop.get("anyOf") or () if isinstance(o, dict))]
    return "email" in _name_words(name) or any(o.get("format") == "email" for o in options)


def verification_call(tools: list[dict[str, Any]], text: str) -> tuple[str, dict[str, Any]] | None:
    """The call that verifies the customer with the details in `text` (see the module
    docstring), or None when no bound tool takes them."""
    best: tuple[tuple[int, int, int], str, dict[str, Any]] | None = None
    for position, tool in enumerate(tools):
        name = _name(tool)
        schema = tool.get("function", tool).get("parameters") or {}
        props: dict[str, Any] = schema.get("properties") or {}
        emails = [p for p, prop in props.items() if _is_email(p, prop)]
        if not emails:
            continue
        args, missing = fill_arguments(schema, text, [], tool=name)
        if missing or not any(p in args for p in emails) or len(args) < 2:
            continue
        rank = (len(args), -(len(props) - len(args)), -position)
        if best is None or rank > best[0]:
            best = (rank, name, args)
    return (best[1], best[2]) if best else None

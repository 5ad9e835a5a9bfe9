"""The identity rules of a tool (from agents.yaml), applied by the tool guard on every call.

- `bound_arguments`: the arguments filled from the verified claims (the model's values for them
  are overwritten, and the model never sees them in the schema: `model_schema`);
- `owns`: whether a read result belongs to the customer (`owner:`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

from smart_support.identity.model import Identity

log = logging.getLogger("smart_support.identity")


class MissingClaim(Exception):
    """A bound argument's claim is absent from the customer's identity."""

    def __init__(self, claim: str) -> None:
        self.claim = claim
        super().__init__(claim)


def bound_arguments(bind: Mapping[str, str], identity: Identity) -> dict[str, Any]:
    """`{argument: claim}` -> `{argument: the claim's value}`.

    Raises:
        MissingClaim: The identity lacks a claim the tool needs.
    """
    values: dict[str, Any] = {}
    for argument, claim in bind.items():
        value = identity.claim(claim)
        if value in (None, ""):
            raise MissingClaim(claim)
        values[argument] = value
    return values


def model_schema(tool: BaseTool, hidden: set[str]) -> dict[str, Any]:
    """The tool as the model is shown it (OpenAI tool format) without the `hidden` arguments."""
    spec = convert_to_openai_tool(tool)
    parameters = dict(spec["function"].get("parameters") or {})
    parameters["properties"] = {
        k: v for k, v in (parameters.get("properties") or {}).items() if k not in hidden
    }
    if "required" in parameters:
        parameters["required"] = [r for r in parameters["required"] if r not in hidden]
    return {**spec, "function": {**spec["function"], "parameters": parameters}}


def result_data(message: ToolMessage) -> Mapping[str, Any] | None:
    """A tool result as a mapping: the MCP structured content, or the content's JSON."""
    artifact = message.artifact
    if isinstance(artifact, Mapping) and isinstance(artifact.get("structured_content"), Mapping):
        return artifact["structured_content"]  # type: ignore[no-any-return]
    text = message.text if isinstance(message.content, (str, list)) else str(message.content)
    try:
        data = json.loads(text)
    except (TypeError, ValueError):
        return None
    return data if isinstance(data, Mapping) else None


def _field(data: Mapping[str, Any], path: str) -> Any:
    value: Any = data
    for part in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _same(a: Any, b: Any) -> bool:
    if a is None or b is None:
        return False
    return str(a).strip().lower() == str(b).strip().lower()


def owns(data: Mapping[str, Any] | None, field: str, claim: str, identity: Identity) -> bool:
    """Whether a read result is the customer's: `data[field]` equals the identity's `claim`.

    A refusal by the API (`{"ok": false, ...}`) owns nothing and is passed on as it is; a result
    that cannot be read, or lacks the field, is not the customer's (fail closed).
    """
    if data is None:
        return False
    return _same(_field(data, field), identity.claim(claim))


def is_refusal(data: Mapping[str, Any] | None) -> bool:
    """`{"ok": false, ...}`: the API answered that it could not do or find it."""
    return data is not None and data.get("ok") is False

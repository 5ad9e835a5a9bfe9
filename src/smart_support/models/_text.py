"""Small text helpers shared by the offline model's parts."""

from __future__ import annotations

import json
from typing import Any

#: Tool names the runtime gives routing tools (`transfer_to_<agent>`).
ROUTING_PREFIX = "transfer_to_"


def text_of(content: Any) -> str:
    """The text of a message content: a string, or a list of content blocks (MCP, v1 messages)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict) and isinstance(block.get("text"), str):
                parts.append(block["text"])
        return "\n".join(parts)
    return "" if content is None else str(content)


def parse_json(raw: str) -> Any:
    """A JSON object or array in `raw`, else None."""
    raw = raw.strip()
    if not raw or raw[0] not in "[{":
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return None

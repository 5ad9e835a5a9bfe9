"""Trimming a tool result to a size budget for the model, saying that it was trimmed."""

from __future__ import annotations

import json
from typing import Any


def _size(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False, default=str))


def _shrink(value: Any, budget: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= budget else value[: max(budget - 3, 0)] + "..."
    if isinstance(value, list):
        out: list[Any] = []
        used = 2
        for item in value:
            piece = _shrink(item, max(budget - used, 0))
            cost = _size(piece) + 1
            if used + cost > budget:
                break
            out.append(piece)
            used += cost
        return out
    if isinstance(value, dict):
        result: dict[str, Any] = {}
        used = 2
        for key, item in value.items():
            piece = _shrink(item, max(budget - used - len(str(key)) - 4, 0))
            cost = _size({key: piece}) - 1
            if used + cost > budget:
                break
            result[key] = piece
            used += cost
        return result
    return value


def trim(value: Any, budget: int) -> Any:
    """`value` as it is when its JSON fits `budget` characters; otherwise a shorter copy in
    `{"trimmed": true, "note": ..., "data": ...}` (lists and strings cut, last keys dropped).
    """
    total = _size(value)
    if total <= budget:
        return value
    data = _shrink(value, max(budget - 200, 100))
    return {
        "trimmed": True,
        "note": (
            f"the result was {total:,} characters; cut to about {budget:,}"
            " (ask for less, e.g. with filters or paging)"
        ),
        "data": data,
    }

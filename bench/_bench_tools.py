"""A read tool for the benchmarks: constant work, so only the engine's own cost varies."""

from __future__ import annotations


async def lookup_order(order_id: int) -> dict[str, object]:
    """Look up the status of an order."""
    return {"order_id": order_id, "status": "shipped", "carrier": "DHL", "eta": "2026-12-01"}

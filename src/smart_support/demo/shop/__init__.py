"""The demo shop: a small online shop API the demo agents act on.

A real HTTP service with its own OpenAPI spec (/openapi.json, an operationId on every route) and
a deterministic dataset (see `smart_support.demo.shop.data` for the notable order ids). State is
kept in memory per process: every start, and every `create_app()`, begins from the same data;
cancellations, address changes and returns are lost when the process ends.

Run it with `smart-support shop --port 8001`. The agents reach it through the egress guard, so
whoever starts the demo must allowlist its host:port (`EGRESS_ALLOWLIST=127.0.0.1:8001`).
"""

from __future__ import annotations

import logging

from smart_support.demo.shop.app import create_app
from smart_support.demo.shop.data import DEMO_EMAIL, RETURN_WINDOW_DAYS, shop_today

logger = logging.getLogger("smart_support.demo")

__all__ = ["DEMO_EMAIL", "RETURN_WINDOW_DAYS", "create_app", "serve", "shop_today"]


def serve(host: str = "127.0.0.1", port: int = 8001) -> None:
    """Run the shop under uvicorn until interrupted (Ctrl-C)."""
    import uvicorn

    logger.info("demo shop listening on http://%s:%s (state in memory)", host, port)
    uvicorn.run(create_app(), host=host, port=port, log_level="info")

"""The one way out: every outbound HTTP request of the product goes through this module.

STUB: the egress-guard work replaces the internals; the public names below stay.
"""

from __future__ import annotations

from typing import Any

import httpx

from smart_support.settings import Settings


def async_client(
    settings: Settings,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """A guarded httpx.AsyncClient (SSRF checks, pinning, own redirects, size and time limits)."""
    return httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        trust_env=False,
        timeout=settings.egress_timeout_seconds,
        **kwargs,
    )


def mcp_httpx_client_factory(settings: Settings) -> Any:
    """A factory with the signature langchain-mcp-adapters expects (`httpx_client_factory`)."""

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.AsyncClient:
        return async_client(
            settings, headers=headers, auth=auth, **({"timeout": timeout} if timeout else {})
        )

    return factory


def cli_fetch(url: str, settings: Settings) -> int:
    """`smart-support fetch URL`: print the body, or one `refused: reason` line and exit 1."""
    raise NotImplementedError

"""Guarded httpx clients, the MCP adapters' client factory, and `smart-support fetch`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any
from urllib.parse import urljoin

import httpx

from smart_support.egress._pools import shared_pools
from smart_support.egress._transport import GuardedTransport
from smart_support.egress._urls import refusal, show
from smart_support.egress.policy import EgressPolicy, policy_from_settings, precheck_url
from smart_support.errors import ConfigError, EgressRefused
from smart_support.settings import Settings

#: Arguments that would route requests around the guard.
_BYPASSING_ARGUMENTS = ("transport", "mounts", "proxy", "proxies", "trust_env", "app", "uds")

McpHttpClientFactory = Callable[..., httpx.AsyncClient]


def async_client(
    settings: Settings,
    *,
    base_url: str = "",
    headers: dict[str, str] | None = None,
    policy: EgressPolicy | None = None,
    **kwargs: Any,
) -> httpx.AsyncClient:
    """A guarded `httpx.AsyncClient`: every request and redirect hop is checked and pinned.

    Redirects are followed by default, at most `policy.max_redirects` (5) hops, each checked
    again. Proxy variables are ignored. Timeouts come from EGRESS_TIMEOUT_SECONDS (a caller may
    ask for a longer *read* timeout, e.g. for server-sent events; the others are capped), and
    bodies larger than EGRESS_MAX_BYTES are refused while streaming. Inside
    `shared_connections()` (a server's toolkit holds it open) the client borrows the event
    loop's keep-alive connections instead of opening its own; the checks are the same.

    Args:
        settings: The product settings (allowlist, timeout, size limit).
        base_url: Passed to httpx.
        headers: Default headers. `Host` is always the URL's authority.
        policy: Replaces the policy built from `settings` (tests inject a resolver this way).
        **kwargs: Other `httpx.AsyncClient` arguments (auth, params, cookies, event_hooks,
            follow_redirects, max_redirects, timeout, verify, cert, http1, http2, limits).

    Raises:
        TypeError: An argument would bypass the guard (transport, mounts, proxy, trust_env, ...).
        ConfigError: EGRESS_ALLOWLIST is malformed.
    """
    for name in _BYPASSING_ARGUMENTS:
        if name in kwargs:
            raise TypeError(
                f"async_client() does not accept {name!r}: requests must go through"
                " the egress guard"
            )
    policy = policy or policy_from_settings(settings)
    transport = GuardedTransport(
        policy,
        verify=kwargs.pop("verify", True),
        cert=kwargs.pop("cert", None),
        http1=kwargs.pop("http1", True),
        http2=kwargs.pop("http2", False),
        limits=kwargs.pop("limits", None),
        shared=shared_pools(),
    )
    timeout = _timeout(policy, kwargs.pop("timeout", None))
    hooks = dict(kwargs.pop("event_hooks", None) or {})
    redirect_check = _RedirectCheck(policy)
    hooks["response"] = [redirect_check, *hooks.get("response", [])]
    max_redirects = min(
        int(kwargs.pop("max_redirects", policy.max_redirects)), policy.max_redirects
    )
    kwargs.setdefault("follow_redirects", True)
    client = httpx.AsyncClient(
        base_url=base_url,
        headers=headers,
        transport=transport,
        trust_env=False,
        timeout=timeout,
        max_redirects=max_redirects,
        event_hooks=hooks,
        **kwargs,
    )
    redirect_check.client = client
    return client


def mcp_httpx_client_factory(
    settings: Settings, *, policy: EgressPolicy | None = None
) -> McpHttpClientFactory:
    """A factory with the signature langchain-mcp-adapters expects as `httpx_client_factory`.

    Args:
        settings: The product settings.
        policy: Replaces the policy built from `settings`.

    Returns:
        `factory(headers=None, timeout=None, auth=None) -> httpx.AsyncClient`, guarded.
    """
    policy = policy or policy_from_settings(settings)

    def factory(
        headers: dict[str, str] | None = None,
        timeout: httpx.Timeout | None = None,
        auth: httpx.Auth | None = None,
    ) -> httpx.AsyncClient:
        return async_client(settings, headers=headers, auth=auth, timeout=timeout, policy=policy)

    return factory


async def fetch(
    url: str, settings: Settings, *, policy: EgressPolicy | None = None
) -> httpx.Response:
    """GET `url` through the guard and read the body.

    Raises:
        EgressRefused: The URL, a redirect hop or the response size was refused.
        httpx.HTTPError: The request failed (timeout, connection, too many redirects).
    """
    precheck_url(url, policy or policy_from_settings(settings))  # before httpx's own parser
    async with async_client(settings, policy=policy) as client:
        return await client.get(url)


def cli_fetch(url: str, settings: Settings, *, policy: EgressPolicy | None = None) -> int:
    """`smart-support fetch URL`: print the body and return 0, or one line on stderr and return 1.

    A refusal prints exactly one line, `refused: <reason>`. Other failures print `error: ...`.
    """
    try:
        response = asyncio.run(fetch(url, settings, policy=policy))
    except EgressRefused as exc:
        print(exc.reason, file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except httpx.TooManyRedirects:
        print("error: too many redirects (the guard follows at most 5)", file=sys.stderr)
        return 1
    except httpx.HTTPError as exc:
        print(f"error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    if response.is_error:
        print(f"error: {url} answered HTTP {response.status_code}", file=sys.stderr)
        return 1
    text = response.text
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


class _RedirectCheck:
    """Response hook: refuses a redirect hop the guard would refuse, before httpx parses it.

    httpx rejects some spellings (`0177.0.0.1`) with its own error; this makes every refused hop
    an EgressRefused. The transport still checks (and resolves) the hop that is actually sent.
    """

    def __init__(self, policy: EgressPolicy) -> None:
        self.policy = policy
        self.client: httpx.AsyncClient | None = None

    async def __call__(self, response: httpx.Response) -> None:
        if self.client is None or not self.client.follow_redirects:
            return
        if not response.has_redirect_location:
            return
        location = response.headers["Location"]
        try:
            precheck_url(urljoin(str(response.request.url), location), self.policy)
        except ValueError:
            await response.aclose()  # httpx does not close it when a hook raises
            raise refusal(f"redirect to {show(location)} cannot be parsed") from None
        except EgressRefused:
            await response.aclose()
            raise


def _timeout(policy: EgressPolicy, requested: Any) -> httpx.Timeout:
    limit = policy.timeout_seconds
    if requested is None:
        return httpx.Timeout(limit)
    wanted = requested if isinstance(requested, httpx.Timeout) else httpx.Timeout(requested)

    def capped(value: float | None) -> float:
        return limit if value is None else min(value, limit)

    return httpx.Timeout(
        connect=capped(wanted.connect),
        read=wanted.read if wanted.read is not None else limit,
        write=capped(wanted.write),
        pool=capped(wanted.pool),
    )

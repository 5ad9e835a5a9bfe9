"""The one way out: every outbound HTTP request of the product goes through this package.

The egress guard stops server-side request forgery (SSRF): a URL that reaches us from a customer,
an agent, an OpenAPI spec, an MCP server configuration or a redirect must not make the server talk
to itself, the private network or a cloud metadata service.

Rules, in order (each refusal raises `EgressRefused` with one line naming the rule):

1. Only `http` and `https`; no user info (`user:pass@`), no whitespace, control characters or
   backslashes; a URL the parser rejects is refused, never guessed.
2. The host is normalised first: every IPv4 spelling (`2130706433`, `0177.0.0.1`, `0x7f.1`,
   `127.1`, `0`), NFKC and IDNA (full-width digits, enclosed alphanumerics, ideographic full
   stops), a trailing dot.
3. Cloud metadata host names (metadata.google.internal, metadata.packet.net, ...) and addresses
   (169.254.169.254, fd00:ec2::254, 100.100.100.200, 192.0.0.192, 168.63.129.16, ...) are refused
   always, even when allowlisted.
4. Unless `host:port` is in EGRESS_ALLOWLIST: single-label and special-use names (`localhost`,
   `.local`, `.internal`, ...) are refused, and the name is resolved once (all A and AAAA
   answers); if ANY answer is not a global unicast address (loopback, private, link-local,
   shared 100.64/10, 0/8, multicast, reserved, documentation, IPv4-mapped or -compatible IPv6,
   NAT64, 6to4, Teredo, unique-local, ...) the request is refused.
5. The connection goes to a checked address (pinning: the URL's host is replaced by the IP, the
   `Host` header and TLS server name keep the name), so DNS rebinding cannot swap the target.
6. Redirects are followed hop by hop, each hop checked and resolved again, at most 5.
7. Proxy environment variables are ignored; connect/read timeouts come from
   EGRESS_TIMEOUT_SECONDS; bodies above EGRESS_MAX_BYTES (after decompression) are refused while
   streaming.

The allowlist (EGRESS_ALLOWLIST, exact `host:port` entries such as `127.0.0.1:8001` for the demo
shop) is for operators and development; nothing is allowed by default.

Exempt: the LLM provider endpoints (Anthropic, OpenAI, Ollama, ...). They are configured only by
the operator, never by a conversation or a spec, and their SDKs bring their own HTTP clients.

Public names: `async_client`, `shared_connections` (keep-alive connections shared by the
clients of a running server), `mcp_httpx_client_factory`, `cli_fetch`, `fetch`, `check_url`,
`precheck_url`, `EgressPolicy`, `policy_from_settings`, `PinnedTarget`, `Resolver`,
`SystemResolver`, and httpx's error classes (`HTTPError`, `TimeoutException`, `ConnectError`,
`HTTPStatusError`, `TooManyRedirects`) so product code never needs to import an HTTP client.
"""

from __future__ import annotations

# httpx's error classes, so callers can catch failures without importing an HTTP client.
from httpx import (
    ConnectError,
    HTTPError,
    HTTPStatusError,
    TimeoutException,
    TooManyRedirects,
)

from smart_support.egress._pools import shared_connections
from smart_support.egress._transport import GuardedTransport
from smart_support.egress.client import (
    McpHttpClientFactory,
    async_client,
    cli_fetch,
    fetch,
    mcp_httpx_client_factory,
)
from smart_support.egress.policy import (
    MAX_REDIRECTS,
    EgressPolicy,
    PinnedTarget,
    Resolver,
    SystemResolver,
    check_parts,
    check_url,
    parse_allowlist,
    policy_from_settings,
    precheck_url,
)
from smart_support.errors import EgressRefused

__all__ = [
    "MAX_REDIRECTS",
    "ConnectError",
    "EgressPolicy",
    "EgressRefused",
    "GuardedTransport",
    "HTTPError",
    "HTTPStatusError",
    "McpHttpClientFactory",
    "PinnedTarget",
    "Resolver",
    "SystemResolver",
    "TimeoutException",
    "TooManyRedirects",
    "async_client",
    "check_parts",
    "check_url",
    "cli_fetch",
    "fetch",
    "mcp_httpx_client_factory",
    "parse_allowlist",
    "policy_from_settings",
    "precheck_url",
    "shared_connections",
]

"""The egress policy: which targets are allowed, and the one DNS lookup per request (pinning)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from smart_support.egress._addresses import (
    IPAddress,
    address_refusal,
    is_metadata_address,
    parse_address,
)
from smart_support.egress._urls import (
    METADATA_HOSTNAMES,
    Target,
    name_refusal,
    normalise_target,
    refusal,
    show,
    split_url,
)
from smart_support.errors import ConfigError, EgressRefused
from smart_support.settings import Settings

logger = logging.getLogger("smart_support.egress")

MAX_REDIRECTS = 5


@runtime_checkable
class Resolver(Protocol):
    """Turns a host name into every A and AAAA answer. Injected in tests; the system's otherwise."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """All addresses `host` resolves to (an empty sequence when it has none)."""
        ...


class SystemResolver:
    """The operating system's resolver (`getaddrinfo`), both address families."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """All addresses `host` resolves to, in the system's preferred order, without duplicates.

        Raises:
            OSError: The lookup failed (`socket.gaierror`).
        """
        infos = await asyncio.get_running_loop().getaddrinfo(
            host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
        )
        found: list[IPAddress] = []
        for _family, _type, _proto, _canon, sockaddr in infos:
            address = parse_address(str(sockaddr[0]).split("%", 1)[0])
            if address is not None and address not in found:
                found.append(address)
        return found


@dataclass(frozen=True)
class EgressPolicy:
    """What the guard allows. Build it with `policy_from_settings`.

    Attributes:
        allowlist: Exact `host:port` authorities (canonical form) that skip the address-range and
            internal-name checks. Scheme, user-info and cloud-metadata rules still apply.
        resolver: Where host names are resolved, once per request or redirect hop.
        timeout_seconds: Connect, read, write and pool timeout of each request.
        max_bytes: Largest response body accepted (after decompression).
        max_redirects: Redirect hops followed at most.
    """

    allowlist: frozenset[str] = frozenset()
    resolver: Resolver = field(default_factory=SystemResolver)
    timeout_seconds: float = 10.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = MAX_REDIRECTS


@dataclass(frozen=True)
class PinnedTarget:
    """A checked target: connect only to `addresses`, send `host` as Host header and TLS name.

    Attributes:
        scheme: "http" or "https".
        host: Canonical host (ASCII DNS name or IP string).
        port: Port to connect to.
        addresses: Every address the host resolved to; each one passed the checks.
        allowlisted: Whether the address-range check was skipped because of the allowlist.
    """

    scheme: str
    host: str
    port: int
    addresses: tuple[IPAddress, ...]
    allowlisted: bool

    @property
    def address(self) -> IPAddress:
        """The address to connect to first."""
        return self.addresses[0]


def parse_allowlist(entries: Iterable[str]) -> frozenset[str]:
    """Canonical `host:port` authorities from the EGRESS_ALLOWLIST entries.

    Raises:
        ConfigError: An entry is not `host:port` with a valid host and port.
    """
    result: set[str] = set()
    for entry in entries:
        text = entry.strip()
        host, sep, port_text = text.rpartition(":")
        if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"invalid setting EGRESS_ALLOWLIST: {text!r} is not host:port")
        try:
            target = normalise_target("http", host, int(port_text), has_userinfo=False)
        except EgressRefused as exc:
            raise ConfigError(f"invalid setting EGRESS_ALLOWLIST: {text!r}: {exc.reason}") from None
        result.add(target.authority)
    return frozenset(result)


def policy_from_settings(settings: Settings, *, resolver: Resolver | None = None) -> EgressPolicy:
    """The policy the settings describe.

    Args:
        settings: Reads egress_allowlist, egress_timeout_seconds and egress_max_bytes.
        resolver: Replaces the system resolver (tests, or an operator's own DNS).

    Raises:
        ConfigError: EGRESS_ALLOWLIST holds an entry that is not `host:port`.
    """
    return EgressPolicy(
        allowlist=parse_allowlist(settings.egress_allowlist),
        resolver=resolver or SystemResolver(),
        timeout_seconds=settings.egress_timeout_seconds,
        max_bytes=settings.egress_max_bytes,
    )


async def check_url(url: str, policy: EgressPolicy) -> PinnedTarget:
    """Parse, normalise, resolve once and check `url`.

    Args:
        url: An absolute http(s) URL.
        policy: The rules and the resolver.

    Returns:
        The target with the addresses the connection must use.

    Raises:
        EgressRefused: One line naming the rule, e.g.
            "refused: 169.254.169.254 is a link-local address (cloud metadata: ...)".
    """
    try:
        target = split_url(url)
    except EgressRefused as exc:
        logger.warning("egress %s", exc.reason)
        raise
    return await check_target(target, policy)


async def check_parts(
    scheme: str, host: str, port: int | None, policy: EgressPolicy, *, has_userinfo: bool
) -> PinnedTarget:
    """`check_url` for a URL someone else already parsed (the transport gets httpx URLs)."""
    try:
        target = normalise_target(scheme, host, port, has_userinfo=has_userinfo)
    except EgressRefused as exc:
        logger.warning("egress %s", exc.reason)
        raise
    return await check_target(target, policy)


async def check_target(target: Target, policy: EgressPolicy) -> PinnedTarget:
    """Resolve a normalised target once and check every answer.

    Raises:
        EgressRefused: The name or any of its addresses is refused, or the name does not resolve.
    """
    try:
        return await _check(target, policy)
    except EgressRefused as exc:
        logger.warning("egress %s", exc.reason)
        raise


def precheck_url(url: str, policy: EgressPolicy) -> Target:
    """Every check that needs no DNS lookup (the transport still does the full check later).

    Used on redirect `Location` headers, so a hop the guard would refuse is refused with a clear
    reason even when httpx's own URL parser would reject it first.

    Raises:
        EgressRefused: As `check_url`, except for what only resolution can tell.
    """
    try:
        target = split_url(url)
        _check_statically(target, policy)
    except EgressRefused as exc:
        logger.warning("egress %s", exc.reason)
        raise
    return target


async def _check(target: Target, policy: EgressPolicy) -> PinnedTarget:
    allowlisted = _check_statically(target, policy)
    if target.address is not None:
        addresses: tuple[IPAddress, ...] = (target.address,)
    else:
        addresses = await _resolve(target.host, target.port, policy)
        _check_addresses(target, addresses, allowlisted=allowlisted)
    logger.debug(
        "egress allowed %s -> %s%s",
        target.authority,
        ", ".join(map(str, addresses)),
        " (allowlisted)" if allowlisted else "",
    )
    return PinnedTarget(target.scheme, target.host, target.port, addresses, allowlisted)


def _check_statically(target: Target, policy: EgressPolicy) -> bool:
    """Name and literal-address rules; returns whether the target is allowlisted."""
    allowlisted = target.authority in policy.allowlist
    if target.host in METADATA_HOSTNAMES:
        raise refusal(f"{target.host} is a cloud metadata host name")
    if target.address is not None:
        _check_addresses(target, (target.address,), allowlisted=allowlisted)
    elif not allowlisted:
        reason = name_refusal(target.host)
        if reason:
            raise refusal(reason)
    return allowlisted


def _check_addresses(target: Target, addresses: Sequence[IPAddress], *, allowlisted: bool) -> None:
    for address in addresses:
        if is_metadata_address(address) or not allowlisted:
            reason = address_refusal(address)
            if reason:
                via = "" if target.address is not None else f"{target.host} resolves to "
                raise refusal(f"{via}{address} is {reason}")


async def _resolve(host: str, port: int, policy: EgressPolicy) -> tuple[IPAddress, ...]:
    try:
        async with asyncio.timeout(policy.timeout_seconds):
            answers = await policy.resolver.resolve(host, port)
    except TimeoutError:
        raise refusal(f"{host} did not resolve within {policy.timeout_seconds:g} s") from None
    except OSError as exc:
        raise refusal(f"{host} does not resolve ({show(str(exc), 60)})") from None
    addresses = tuple(dict.fromkeys(_as_address(host, answer) for answer in answers))
    if not addresses:
        raise refusal(f"{host} has no A or AAAA record")
    return addresses


def _as_address(host: str, answer: object) -> IPAddress:
    # Resolvers may hand back strings or IPv6 with a zone id ("fe80::1%eth0"); compare without it.
    address = parse_address(str(answer).split("%", 1)[0])
    if address is None:
        raise refusal(f"{host} resolved to {show(str(answer), 40)!r}, which is not an IP address")
    return address

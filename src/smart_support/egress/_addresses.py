"""Which IP addresses the guard refuses, and the one-line reason for each."""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

IPAddress = IPv4Address | IPv6Address

#: Cloud metadata endpoints. Refused even when their host:port is allowlisted: nothing a support
#: agent does needs the machine's credentials.
_METADATA_ADDRESSES: dict[IPAddress, str] = {
    IPv4Address("169.254.169.254"): "",  # AWS, GCP, Azure, DigitalOcean, OpenStack, Hetzner
    IPv4Address("169.254.170.2"): "AWS ECS task metadata",
    IPv4Address("169.254.169.123"): "AWS time sync",
    IPv4Address("169.254.0.23"): "Tencent Cloud",
    IPv4Address("100.100.100.200"): "Alibaba Cloud",
    IPv4Address("192.0.0.192"): "Oracle Cloud",
    IPv4Address("168.63.129.16"): "Azure WireServer",
    IPv6Address("fd00:ec2::254"): "AWS IMDS over IPv6",
    IPv6Address("fd00:ec2::23"): "AWS DNS over IPv6",
}

# Order matters: the first matching network names the rule (more specific before more general).
_V4_RANGES: tuple[tuple[IPv4Network, str], ...] = tuple(
    (IPv4Network(net), kind)
    for net, kind in (
        ("0.0.0.0/8", "a 'this network' address (0.0.0.0/8)"),
        ("10.0.0.0/8", "a private address (10.0.0.0/8)"),
        ("100.64.0.0/10", "a shared carrier-grade NAT address (100.64.0.0/10)"),
        ("127.0.0.0/8", "a loopback address"),
        ("169.254.0.0/16", "a link-local address"),
        ("172.16.0.0/12", "a private address (172.16.0.0/12)"),
        ("192.0.0.0/24", "an IETF protocol assignment address (192.0.0.0/24)"),
        ("192.0.2.0/24", "a documentation address (192.0.2.0/24)"),
        ("192.88.99.0/24", "a 6to4 relay anycast address (192.88.99.0/24)"),
        ("192.168.0.0/16", "a private address (192.168.0.0/16)"),
        ("198.18.0.0/15", "a benchmarking address (198.18.0.0/15)"),
        ("198.51.100.0/24", "a documentation address (198.51.100.0/24)"),
        ("203.0.113.0/24", "a documentation address (203.0.113.0/24)"),
        ("224.0.0.0/4", "a multicast address"),
        ("255.255.255.255/32", "the broadcast address"),
        ("240.0.0.0/4", "a reserved address (240.0.0.0/4)"),
    )
)

_V6_RANGES: tuple[tuple[IPv6Network, str], ...] = tuple(
    (IPv6Network(net), kind)
    for net, kind in (
        ("::/128", "the unspecified address"),
        ("::1/128", "a loopback address"),
        ("::ffff:0:0/96", "an IPv4-mapped IPv6 address"),
        ("::/96", "an IPv4-compatible IPv6 address"),
        ("::ffff:0:0:0/96", "an IPv4-translated IPv6 address (::ffff:0:0:0/96)"),
        ("64:ff9b::/96", "a NAT64 address (64:ff9b::/96)"),
        ("64:ff9b:1::/48", "a local-use NAT64 address (64:ff9b:1::/48)"),
        ("100::/64", "a discard-only address (100::/64)"),
        ("2001::/32", "a Teredo address (embeds an IPv4 address)"),
        ("2001:db8::/32", "a documentation address (2001:db8::/32)"),
        ("2001::/23", "an IETF protocol assignment address (2001::/23)"),
        ("2002::/16", "a 6to4 address (embeds an IPv4 address)"),
        ("3fff::/20", "a documentation address (3fff::/20)"),
        ("5f00::/16", "a segment-routing address (5f00::/16)"),
        ("fc00::/7", "a unique-local address (fc00::/7)"),
        ("fe80::/10", "a link-local address"),
        ("fec0::/10", "a site-local address (fec0::/10)"),
        ("ff00::/8", "a multicast address"),
    )
)
_V6_GLOBAL_UNICAST = IPv6Network("2000::/3")
_V6_WITH_IPV4_IN_LOW_BITS = tuple(
    IPv6Network(net) for net in ("::/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48")
)


def parse_address(text: str) -> IPAddress | None:
    """The IP address written in `text` (canonical forms only), or None when it is not one."""
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def is_metadata_address(address: IPAddress) -> bool:
    """Whether `address` is a known cloud metadata endpoint, directly or embedded in IPv6."""
    embedded = _embedded_ipv4(address)
    return address in _METADATA_ADDRESSES or embedded in _METADATA_ADDRESSES


def address_refusal(address: IPAddress) -> str | None:
    """Why `address` is not a global unicast address the guard lets through, or None if it is.

    Args:
        address: An IPv4 or IPv6 address (no zone id).

    Returns:
        A phrase such as "a link-local address (cloud metadata)", or None.
    """
    kind = _range_kind(address)
    embedded = _embedded_ipv4(address)
    if kind and embedded is not None:
        metadata = ", cloud metadata" if embedded in _METADATA_ADDRESSES else ""
        return f"{kind} (for {embedded}{metadata})"
    if address in _METADATA_ADDRESSES:
        provider = _METADATA_ADDRESSES[address]
        what = f"cloud metadata, {provider}" if provider else "cloud metadata"
        return f"{kind} ({what})" if kind else f"a {what} address"
    return kind


def _embedded_ipv4(address: IPAddress) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(address, IPv4Address):
        return None
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    low = IPv4Address(int(address) & 0xFFFFFFFF)
    for net in _V6_WITH_IPV4_IN_LOW_BITS:
        if address in net and int(low) > 1:
            return low
    return None


def _range_kind(address: IPAddress) -> str | None:
    if isinstance(address, IPv4Address):
        for net4, kind in _V4_RANGES:
            if address in net4:
                return kind
    else:
        for net6, kind in _V6_RANGES:
            if address in net6:
                return kind
        if address not in _V6_GLOBAL_UNICAST:
            return "outside the IPv6 global unicast range (2000::/3)"
    if address.is_multicast:
        return "a multicast address"
    if not address.is_global:
        # The ipaddress module knows a few more special-purpose blocks than the tables above.
        return "a special-purpose (not globally routable) address"
    return None

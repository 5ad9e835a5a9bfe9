"""Parse a URL and normalise its host the way the most lenient parser would, before any check.

Hosts are turned into one canonical form: an IP address for every spelling an IPv4 parser accepts
(decimal `2130706433`, octal `0177.0.0.1`, hex `0x7f.1`, short `127.1`, `0`), after NFKC and IDNA
mapping (full-width digits, enclosed alphanumerics, ideographic full stops); otherwise a lower-case
ASCII DNS name. Anything ambiguous is refused rather than guessed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address
from urllib.parse import urlsplit

import idna

from smart_support.egress._addresses import IPAddress, parse_address
from smart_support.errors import EgressRefused

ALLOWED_SCHEMES = ("http", "https")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_MAX_URL_LENGTH = 8192
_DOTS = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_IPV4_NUMBER = re.compile(r"(?:0[xX][0-9a-fA-F]*|[0-9]+)\Z")
_HEX = re.compile(r"[0-9a-fA-F]*\Z")
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\Z")

#: Metadata services reached by name. Refused always, allowlisted or not.
METADATA_HOSTNAMES = frozenset(
    {
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "metadata.packet.net",
        "metadata.platformequinix.com",
        "metadata.tencentyun.com",
        "metadata.azure.internal",
        "instance-data",
        "instance-data.ec2.internal",
        "metadata.ec2.internal",
        "kubernetes.default.svc",
        "kubernetes.default",
    }
)
#: Special-use and private-use suffixes that never name a public service (RFC 6761, 6762, 8375;
#: ICANN reserved `.internal` for private use in 2024).
_INTERNAL_SUFFIXES = ("localhost", "local", "internal", "localdomain", "home.arpa", "lan")


@dataclass(frozen=True)
class Target:
    """A URL's scheme, canonical host and port, before resolution.

    Attributes:
        scheme: "http" or "https".
        host: A lower-case ASCII DNS name (IDNA-encoded) or a canonical IP address string.
        port: The explicit port, or the scheme's default.
        address: The IP address when the host is an IP literal in any spelling, else None.
    """

    scheme: str
    host: str
    port: int
    address: IPAddress | None

    @property
    def authority(self) -> str:
        """`host:port`, with brackets around IPv6 addresses (the allowlist's format)."""
        host = f"[{self.host}]" if isinstance(self.address, IPv6Address) else self.host
        return f"{host}:{self.port}"


def refusal(reason: str) -> EgressRefused:
    """An EgressRefused whose reason is `refused: <reason>`, always a single line."""
    return EgressRefused("refused: " + " ".join(reason.split()))


def show(text: str, limit: int = 80) -> str:
    """`text` made safe for a one-line message: non-printables escaped, long text cut."""
    safe = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return safe if len(safe) <= limit else safe[: limit - 3] + "..."


def split_url(url: str) -> Target:
    """Parse `url` and normalise its host, refusing what the guard does not accept.

    Args:
        url: An absolute URL as written by a user, a spec or a `Location` header.

    Returns:
        The normalised target.

    Raises:
        EgressRefused: The URL cannot be parsed, has another scheme, carries user info, contains
            characters parsers disagree on, or its host is not a valid name or address.
    """
    if not isinstance(url, str) or not url:
        raise refusal("empty URL")
    if len(url) > _MAX_URL_LENGTH:
        raise refusal(f"URL longer than {_MAX_URL_LENGTH} characters")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in url):
        raise refusal(f"{show(url)} contains whitespace or control characters")
    if "\\" in url:
        raise refusal(f"{show(url)} contains a backslash (URL parsers disagree on it)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise refusal(f"{show(url)} cannot be parsed ({show(str(exc), 60)})") from None
    return normalise_target(
        parts.scheme, parts.hostname or "", port, has_userinfo="@" in parts.netloc
    )


def normalise_target(scheme: str, host: str, port: int | None, *, has_userinfo: bool) -> Target:
    """Check the scheme and user info, then normalise the host.

    Args:
        scheme: The URL scheme, any case.
        host: The host as parsed (IPv6 with or without brackets, Unicode allowed).
        port: The explicit port, or None for the scheme's default.
        has_userinfo: Whether the URL carried `user[:password]@`.

    Raises:
        EgressRefused: See `split_url`.
    """
    scheme = scheme.lower()
    if not scheme:
        raise refusal("URL has no scheme (only http and https are allowed)")
    if scheme not in ALLOWED_SCHEMES:
        raise refusal(f"scheme {show(scheme, 20)!r} is not allowed (only http and https)")
    if has_userinfo:
        raise refusal("URL contains user info (user:password@host)")
    if not host:
        raise refusal("URL has no host")
    if port is not None and not 0 < port < 65536:
        raise refusal(f"port {port} is out of range")
    name, address = normalise_host(host)
    return Target(scheme, name, port or _DEFAULT_PORTS[scheme], address)


def normalise_host(host: str) -> tuple[str, IPAddress | None]:
    """The canonical form of `host`: (IP string, address) or (ASCII DNS name, None).

    Raises:
        EgressRefused: The host is neither a valid IP address in any spelling nor a valid name.
    """
    shown = show(host)
    text = unicodedata.normalize("NFKC", host).translate(_DOTS).lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    if ":" in text:
        if "%" in text:
            raise refusal(f"{shown} has an IPv6 zone id")
        address = parse_address(text)
        if not isinstance(address, IPv6Address):
            raise refusal(f"{shown} is not a valid IPv6 address")
        return str(address), address
    if text.endswith(".") and not text.endswith(".."):
        text = text[:-1]  # "localhost." is "localhost"
    v4 = _parse_ipv4(text, shown)
    if v4 is not None:
        return str(v4), v4
    if not text.isascii():
        try:
            text = idna.encode(text, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise refusal(f"{shown} is not a valid host name ({show(str(exc), 60)})") from None
        v4 = _parse_ipv4(text, shown)
        if v4 is not None:
            return str(v4), v4
    labels = text.split(".")
    if len(text) > 253 or not all(_LABEL.match(label) for label in labels):
        raise refusal(f"{shown} is not a valid host name")
    if any(label.startswith("xn--") for label in labels):
        try:  # punycode must decode, or two parsers may read two different names
            idna.decode(text)
        except (idna.IDNAError, UnicodeError):
            raise refusal(f"{shown} is not a valid host name (bad punycode)") from None
    return text, None


def _parse_ipv4(text: str, shown: str) -> IPv4Address | None:
    """WHATWG/inet_aton IPv4 parsing: a host whose last label is a number must be an address."""
    labels = text.split(".")
    if not _IPV4_NUMBER.match(labels[-1]):
        return None
    if len(labels) > 4:
        raise refusal(f"{shown} is not a valid IPv4 address (more than four parts)")
    numbers = [_ipv4_number(label) for label in labels]
    if any(number is None for number in numbers):
        raise refusal(f"{shown} is not a valid IPv4 address")
    *head, last = (number for number in numbers if number is not None)
    if any(number > 255 for number in head) or last >= 256 ** (4 - len(head)):
        raise refusal(f"{shown} is not a valid IPv4 address (a part is out of range)")
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return IPv4Address(value)


def _ipv4_number(label: str) -> int | None:
    try:
        if label[:2] in ("0x", "0X"):
            digits = label[2:]
            if not _HEX.match(digits):  # int() would also take "-1", "+1" and "1_0"
                return None
            return int(digits, 16) if digits else 0
        if not (label.isascii() and label.isdigit()):
            return None
        return int(label, 8) if len(label) > 1 and label.startswith("0") else int(label)
    except ValueError:  # "0x" followed by non-hex, or 8/9 in an octal part
        return None


def name_refusal(host: str) -> str | None:
    """Why the DNS name `host` cannot be a public service, or None (range-check family)."""
    for suffix in _INTERNAL_SUFFIXES:
        if host == suffix or host.endswith("." + suffix):
            return f"{host} is a special-use or private name ({suffix})"
    if "." not in host:
        return f"{host} is a single-label host name (not a public DNS name)"
    return None

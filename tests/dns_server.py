"""Fakes for the egress tests: a UDP DNS server (TTL 0, rotating answers) and a resolver that asks
it, a scripted in-process resolver, and a recording HTTP server on loopback."""

from __future__ import annotations

import asyncio
import http.server
import ipaddress
import re
import socket
import ssl
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv6Address

from dnslib import AAAA, QTYPE, RR, A, DNSRecord

IPAddress = IPv4Address | IPv6Address
_EMBEDDED_IPV4 = re.compile(r"(\d{1,3})[.-](\d{1,3})[.-](\d{1,3})[.-](\d{1,3})")


class RotatingDnsServer:
    """Answers every A/AAAA query on 127.0.0.1 from `answer_sets`, moving on at each A query.

    A resolution is one A query followed by one AAAA query; the AAAA answer comes from the same
    set as the A answer before it, so one resolution sees one consistent set. TTL is 0 so no
    cache may keep an answer, as a DNS-rebinding attacker would set it.
    """

    def __init__(self, answer_sets: Sequence[Sequence[str]]) -> None:
        self.answer_sets = [[ipaddress.ip_address(a) for a in answers] for answers in answer_sets]
        self.queries: list[tuple[str, str]] = []
        self._current = self.answer_sets[0]
        self._a_queries = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)
        self.port: int = self._sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="test-dns", daemon=True)

    def __enter__(self) -> RotatingDnsServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sock.close()

    def a_queries(self, name: str) -> int:
        """How many A queries asked for `name` (one per resolution)."""
        return sum(1 for qname, qtype in self.queries if qname == name and qtype == "A")

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, client = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            request = DNSRecord.parse(data)
            qname = str(request.q.qname).rstrip(".")
            qtype = QTYPE[request.q.qtype]
            self.queries.append((qname, qtype))
            if qtype == "A":
                self._current = self.answer_sets[self._a_queries % len(self.answer_sets)]
                self._a_queries += 1
            reply = request.reply()
            for address in self._current:
                if qtype == "A" and isinstance(address, IPv4Address):
                    reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(str(address)), ttl=0))
                if qtype == "AAAA" and isinstance(address, IPv6Address):
                    rdata = AAAA(str(address))
                    reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=rdata, ttl=0))
            self._sock.sendto(reply.pack(), client)


class DnsServerResolver:
    """An egress `Resolver` that asks one DNS server (A then AAAA) over UDP."""

    def __init__(self, server_port: int, server_host: str = "127.0.0.1") -> None:
        self._server = (server_host, server_port)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        return await asyncio.to_thread(self._resolve, host)

    def _resolve(self, host: str) -> list[IPAddress]:
        found: list[IPAddress] = []
        for qtype in ("A", "AAAA"):
            answer = DNSRecord.parse(DNSRecord.question(host, qtype).send(*self._server, timeout=5))
            found += [ipaddress.ip_address(str(rr.rdata)) for rr in answer.rr]
        return found


class ScriptedResolver:
    """Answers from a table: each name has successive answer sets (the last one repeats).

    Unknown names fail like a real lookup (`socket.gaierror`). Every call is recorded.
    """

    def __init__(self, table: dict[str, Sequence[Sequence[str]]] | None = None) -> None:
        self.table = {name: [list(s) for s in sets] for name, sets in (table or {}).items()}
        self.calls: list[str] = []

    def add(self, name: str, *answer_sets: Sequence[str]) -> None:
        self.table[name] = [list(s) for s in answer_sets]

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        previous = self.calls.count(host)
        self.calls.append(host)
        sets = self.table.get(host)
        if sets is None:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in sets[min(previous, len(sets) - 1)]]


class ImpliedAddressResolver:
    """Resolves a name to the internal address it implies, as the SSRF helper services do.

    `169.254.169.254.nip.io`, `app-169-254-169-254.nip.io` -> 169.254.169.254 (every embedded
    IPv4 is an answer, so `make-1.2.3.4-rebind-169.254-169.254-rr.1u.ms` answers both);
    `localtest.me`, `localh.st` and any other name -> 127.0.0.1, the worst an attacker's DNS can do.
    """

    def __init__(self) -> None:
        self.calls: list[str] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        found = [ipaddress.ip_address(".".join(m)) for m in _EMBEDDED_IPV4.findall(host)]
        return found or [ipaddress.ip_address("127.0.0.1")]


Route = tuple[int, dict[str, str], bytes]


@dataclass
class LoopbackServer:
    """A real HTTP server on 127.0.0.1 that records what it receives."""

    routes: dict[str, Route | Callable[[], Route]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    release: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def authority(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def loopback_server(
    routes: dict[str, Route | Callable[[], Route]] | None = None,
    tls: ssl.SSLContext | None = None,
) -> Iterator[LoopbackServer]:
    """Serve `routes` (path -> (status, headers, body)); unknown paths answer 200 "hello".

    A route whose body is b"<block>" waits until the test ends (for timeout tests).
    """
    state = LoopbackServer(routes=dict(routes or {}))

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Host", "")))
            route = state.routes.get(self.path.split("?", 1)[0], (200, {}, b"hello"))
            status, headers, body = route() if callable(route) else route
            if body == b"<block>":
                state.release.wait()
                return
            self.send_response(status)
            for name, value in headers.items():
                # Real servers send UTF-8 bytes in Location; http.server only encodes latin-1.
                self.send_header(name, value.encode("utf-8").decode("latin-1"))
            if "Content-Length" not in headers and "X-No-Length" not in headers:
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_HEAD = do_GET
        do_POST = do_GET

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    server.daemon_threads = True
    state.port = server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="test-http", daemon=True
    )
    thread.start()
    try:
        yield state
    finally:
        state.release.set()
        server.shutdown()
        server.server_close()
        thread.join()


def self_signed_certificate(name: str, directory: str) -> tuple[str, str]:
    """Write a self-signed certificate for DNS name `name` and its key; return (cert, key) paths."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = f"{directory}/{name}.pem", f"{directory}/{name}.key"
    with open(cert_path, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as out:
        out.write(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
    return cert_path, key_path

"""The egress guard with real sockets: loopback HTTP servers, a UDP DNS server, the CLI."""

from __future__ import annotations

import gzip
import ssl
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner

from dns_server import (
    DnsServerResolver,
    LoopbackServer,
    RotatingDnsServer,
    ScriptedResolver,
    loopback_server,
    self_signed_certificate,
)
from network_guard import NetworkGuard
from smart_support.cli import main
from smart_support.egress import (
    EgressRefused,
    Resolver,
    async_client,
    mcp_httpx_client_factory,
    policy_from_settings,
)
from smart_support.settings import load_settings


@pytest.fixture
def shop() -> Iterator[LoopbackServer]:
    with loopback_server() as server:
        yield server


@pytest.fixture
def bystander() -> Iterator[LoopbackServer]:
    """A second local server a redirect must never reach."""
    with loopback_server() as server:
        yield server


def _client(
    *allowlist: str, resolver: Resolver | None = None, **settings: object
) -> httpx.AsyncClient:
    config = load_settings(egress_allowlist=list(allowlist), **settings)
    policy = policy_from_settings(config, resolver=resolver or ScriptedResolver())
    return async_client(config, policy=policy)


# --- allowlist and pinning ----------------------------------------------------------------------


async def test_the_allowlist_lets_a_local_server_through_and_without_it_the_same_url_is_refused(
    shop: LoopbackServer,
) -> None:
    async with _client(shop.authority) as client:
        response = await client.get(f"{shop.base}/orders/1")
    assert (response.status_code, response.text) == (200, "hello")
    async with _client() as client:
        with pytest.raises(EgressRefused, match=r"^refused: 127\.0\.0\.1 is a loopback address$"):
            await client.get(f"{shop.base}/orders/1")
    assert shop.requests == [("/orders/1", shop.authority)]


async def test_a_name_is_resolved_once_and_the_connection_goes_to_that_answer(
    shop: LoopbackServer,
) -> None:
    # The second answer would fail to connect (nothing listens on 127.0.0.2): success proves the
    # transport used the first answer and never let httpcore resolve the name itself.
    resolver = ScriptedResolver({"shop.test": [["127.0.0.1"], ["127.0.0.2"]]})
    async with _client(f"shop.test:{shop.port}", resolver=resolver) as client:
        response = await client.get(f"http://shop.test:{shop.port}/orders")
    assert response.text == "hello"
    assert resolver.calls == ["shop.test"]
    assert shop.requests == [("/orders", f"shop.test:{shop.port}")]


async def test_when_the_first_checked_address_refuses_the_connection_the_next_one_is_tried(
    shop: LoopbackServer,
) -> None:
    resolver = ScriptedResolver({"shop.test": [["127.0.0.2", "127.0.0.1"]]})
    async with _client(f"shop.test:{shop.port}", resolver=resolver) as client:
        response = await client.get(f"http://shop.test:{shop.port}/")
    assert response.text == "hello"
    assert resolver.calls == ["shop.test"]


async def test_a_host_header_set_by_the_caller_is_replaced_by_the_checked_authority(
    shop: LoopbackServer,
) -> None:
    async with _client(shop.authority) as client:
        await client.get(shop.base + "/", headers={"Host": "metadata.google.internal"})
    assert shop.requests == [("/", shop.authority)]


async def test_dns_rebinding_between_check_and_connect_cannot_swap_the_target(
    shop: LoopbackServer, network_refusals: NetworkGuard
) -> None:
    resolver = ScriptedResolver({"rebind.test": [["93.184.216.34"], ["127.0.0.1"]]})
    url = f"http://rebind.test:{shop.port}/"
    async with _client(resolver=resolver) as client:
        # First lookup says public: the connection goes to that address, which the test network
        # guard refuses (no network but loopback). It never reaches the loopback server.
        with pytest.raises(httpx.ConnectError, match=r"93\.184\.216\.34"):
            await client.get(url)
        assert resolver.calls == ["rebind.test"]
        with pytest.raises(EgressRefused, match=r"resolves to 127\.0\.0\.1 is a loopback address"):
            await client.get(url)
    assert resolver.calls == ["rebind.test", "rebind.test"]
    assert shop.requests == []
    # The one connection attempt to the public address, refused by the test network guard.
    assert ["93.184.216.34" in refusal for refusal in network_refusals.take()] == [True]


async def test_a_mixed_answer_set_is_refused_before_any_connection(shop: LoopbackServer) -> None:
    resolver = ScriptedResolver({"mixed.test": [["93.184.216.34", "127.0.0.1"]]})
    async with _client(resolver=resolver) as client:
        with pytest.raises(EgressRefused, match=r"127\.0\.0\.1 is a loopback address"):
            await client.get(f"http://mixed.test:{shop.port}/")
    assert shop.requests == []


# --- redirects ----------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize(
    "location",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://0xA9FEA9FE/",
        "http://[::ffff:a9fe:a9fe]/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ],
)
async def test_a_redirect_to_cloud_metadata_is_stopped_before_the_second_request(
    shop: LoopbackServer, status: int, location: str
) -> None:
    shop.routes["/spec.json"] = (status, {"Location": location}, b"")
    async with _client(shop.authority) as client:
        # EgressRefused, not a connection error: no connection to the target was even tried.
        with pytest.raises(EgressRefused, match="cloud metadata"):
            await client.get(shop.base + "/spec.json")
    assert shop.requests == [("/spec.json", shop.authority)]


@pytest.mark.parametrize(
    "location",
    [
        "http://127.0.0.1:{port}/",
        "http://2130706433:{port}/",
        "http://0x7f000001:{port}/",
        "http://0177.0.0.1:{port}/",
        "http://127.1:{port}/",
        "http://[::ffff:127.0.0.1]:{port}/",
        "http://localhost:{port}/",
        "http://evil.test:{port}/",
        "//evil.test:{port}/",
        "http://[::①⑥⑨｡②⑤④｡⑯⑨｡②⑤④]:80/",
        "http://127.0.0.1:{port}\\@example.com/",
    ],
)
async def test_a_redirect_to_another_local_server_in_any_spelling_never_reaches_it(
    shop: LoopbackServer, bystander: LoopbackServer, location: str
) -> None:
    shop.routes["/start"] = (302, {"Location": location.format(port=bystander.port)}, b"")
    resolver = ScriptedResolver({"evil.test": [["127.0.0.1"]]})
    async with _client(shop.authority, resolver=resolver) as client:
        with pytest.raises(EgressRefused):
            await client.get(shop.base + "/start")
    assert shop.requests == [("/start", shop.authority)]
    assert bystander.requests == []
    assert resolver.calls in ([], ["evil.test"])  # at most one lookup for the refused hop


async def test_a_redirect_to_another_scheme_is_refused(shop: LoopbackServer) -> None:
    shop.routes["/start"] = (302, {"Location": "file:///etc/passwd"}, b"")
    async with _client(shop.authority) as client:
        with pytest.raises(EgressRefused, match="scheme 'file' is not allowed"):
            await client.get(shop.base + "/start")


async def test_each_redirect_hop_is_resolved_once_and_checked_again(
    shop: LoopbackServer,
) -> None:
    shop.routes["/a"] = (302, {"Location": "/b"}, b"")
    shop.routes["/b"] = (307, {"Location": f"http://shop.test:{shop.port}/c"}, b"")
    shop.routes["/c"] = (200, {}, b"done")
    resolver = ScriptedResolver({"shop.test": [["127.0.0.1"]]})
    async with _client(f"shop.test:{shop.port}", resolver=resolver) as client:
        response = await client.get(f"http://shop.test:{shop.port}/a")
    assert response.text == "done"
    assert [path for path, _ in shop.requests] == ["/a", "/b", "/c"]
    assert resolver.calls == ["shop.test"] * 3


async def test_redirects_stop_after_five_hops(shop: LoopbackServer) -> None:
    for hop in range(10):
        shop.routes[f"/hop/{hop}"] = (302, {"Location": f"/hop/{hop + 1}"}, b"")
    async with _client(shop.authority) as client:
        with pytest.raises(httpx.TooManyRedirects):
            await client.get(shop.base + "/hop/0")
    assert [path for path, _ in shop.requests] == [f"/hop/{hop}" for hop in range(6)]


async def test_a_caller_cannot_raise_the_redirect_cap_or_bypass_the_transport() -> None:
    config = load_settings()
    assert async_client(config, max_redirects=50).max_redirects == 5
    bypasses: dict[str, object] = {"transport": None, "mounts": {}, "proxy": "", "trust_env": True}
    untyped_client: Any = async_client
    for name, value in bypasses.items():
        with pytest.raises(TypeError, match="egress guard"):
            untyped_client(config, **{name: value})


# --- environment, limits, timeouts --------------------------------------------------------------


async def test_proxy_environment_variables_are_ignored(
    shop: LoopbackServer, bystander: LoopbackServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, bystander.base)
    async with _client(shop.authority) as client:
        await client.get(shop.base + "/direct")
    assert shop.requests == [("/direct", shop.authority)]
    assert bystander.requests == []


async def test_a_response_larger_than_the_limit_is_refused_when_announced(
    shop: LoopbackServer,
) -> None:
    shop.routes["/big"] = (200, {}, b"x" * 2000)
    async with _client(shop.authority, egress_max_bytes=1000) as client:
        with pytest.raises(
            EgressRefused, match=r"larger than 1000 bytes \(announced in Content-Length\)"
        ):
            await client.get(shop.base + "/big")
        assert (await client.get(shop.base + "/small")).text == "hello"


async def test_a_head_response_announcing_a_large_body_is_not_refused(
    shop: LoopbackServer,
) -> None:
    shop.routes["/big"] = (200, {}, b"x" * 2000)
    async with _client(shop.authority, egress_max_bytes=1000) as client:
        response = await client.head(shop.base + "/big")
    assert (response.status_code, response.headers["Content-Length"]) == (200, "2000")


async def test_a_response_larger_than_the_limit_is_refused_while_streaming(
    shop: LoopbackServer,
) -> None:
    shop.routes["/stream"] = (200, {"X-No-Length": "1"}, b"x" * 5000)
    async with _client(shop.authority, egress_max_bytes=1000) as client:
        with pytest.raises(EgressRefused, match=r"larger than 1000 bytes \(EGRESS_MAX_BYTES\)"):
            await client.get(shop.base + "/stream")


async def test_a_compressed_body_is_limited_by_its_decompressed_size(shop: LoopbackServer) -> None:
    bomb = gzip.compress(b"\0" * 200_000)
    assert len(bomb) < 1000
    shop.routes["/bomb"] = (200, {"Content-Encoding": "gzip"}, bomb)
    shop.routes["/fine"] = (200, {"Content-Encoding": "gzip"}, gzip.compress(b"a" * 500))
    async with _client(shop.authority, egress_max_bytes=1000) as client:
        with pytest.raises(EgressRefused, match="larger than 1000 bytes once decompressed"):
            await client.get(shop.base + "/bomb")
        assert (await client.get(shop.base + "/fine")).text == "a" * 500


async def test_an_encoding_the_guard_cannot_bound_is_refused(shop: LoopbackServer) -> None:
    shop.routes["/br"] = (200, {"Content-Encoding": "br"}, b"\x0b\x02\x80hello\x03")
    async with _client(shop.authority) as client:
        with pytest.raises(EgressRefused, match="Content-Encoding 'br'"):
            await client.get(shop.base + "/br")


async def test_a_server_that_never_answers_gives_a_clear_timeout(shop: LoopbackServer) -> None:
    shop.routes["/slow"] = (200, {}, b"<block>")
    async with _client(shop.authority, egress_timeout_seconds=0.2) as client:
        with pytest.raises(httpx.ReadTimeout) as caught:
            await client.get(shop.base + "/slow", timeout=None)  # None cannot lift the limit
    message = str(caught.value)
    assert message == (
        f"timed out after 0.2 s waiting for data from {shop.authority} (EGRESS_TIMEOUT_SECONDS)"
    )


async def test_the_mcp_client_factory_is_guarded_and_keeps_a_long_read_timeout(
    shop: LoopbackServer,
) -> None:
    config = load_settings(egress_allowlist=[shop.authority], egress_timeout_seconds=7)
    factory = mcp_httpx_client_factory(config)
    client = factory(headers={"X-Trace": "1"}, timeout=httpx.Timeout(30, read=300), auth=None)
    async with client:
        assert (client.timeout.connect, client.timeout.read) == (7, 300)
        assert client.headers["X-Trace"] == "1"
        assert (await client.post(shop.base + "/mcp")).status_code == 200
        with pytest.raises(EgressRefused, match="cloud metadata"):
            await client.post("http://169.254.169.254/mcp")


# --- a real DNS server --------------------------------------------------------------------------


async def test_a_ttl_zero_dns_server_alternating_answers_cannot_rebind_a_request(
    shop: LoopbackServer, network_refusals: NetworkGuard
) -> None:
    with RotatingDnsServer([["93.184.216.34"], ["127.0.0.1"]]) as dns:
        resolver = DnsServerResolver(dns.port)
        url = f"http://rebind.test:{shop.port}/"
        async with _client(resolver=resolver) as client:
            with pytest.raises(httpx.ConnectError, match=r"93\.184\.216\.34"):
                await client.get(url)
            assert dns.a_queries("rebind.test") == 1
            with pytest.raises(EgressRefused, match=r"resolves to 127\.0\.0\.1 is a loopback"):
                await client.get(url)
            assert dns.a_queries("rebind.test") == 2
    assert shop.requests == []
    # The one connection attempt to the public address, refused by the test network guard.
    assert ["93.184.216.34" in refusal for refusal in network_refusals.take()] == [True]


async def test_a_ttl_zero_dns_server_answer_is_pinned_for_the_whole_request(
    shop: LoopbackServer,
) -> None:
    shop.routes["/a"] = (302, {"Location": "/b"}, b"")
    with RotatingDnsServer([["127.0.0.1"], ["127.0.0.1"], ["127.0.0.2"]]) as dns:
        resolver = DnsServerResolver(dns.port)
        async with _client(f"shop.test:{shop.port}", resolver=resolver) as client:
            response = await client.get(f"http://shop.test:{shop.port}/a")
            assert response.text == "hello"
            assert dns.a_queries("shop.test") == 2  # one per hop
            with pytest.raises(httpx.ConnectError, match=r"127\.0\.0\.2"):
                await client.get(f"http://shop.test:{shop.port}/c")
    assert [path for path, _ in shop.requests] == ["/a", "/b"]


async def test_a_dns_server_answering_public_and_private_together_is_refused(
    shop: LoopbackServer,
) -> None:
    with RotatingDnsServer([["93.184.216.34", "10.0.0.5", "2606:2800:220:1::248"]]) as dns:
        async with _client(resolver=DnsServerResolver(dns.port)) as client:
            with pytest.raises(EgressRefused, match=r"10\.0\.0\.5 is a private address"):
                await client.get(f"http://mixed.test:{shop.port}/")
        assert dns.queries == [("mixed.test", "A"), ("mixed.test", "AAAA")]


# --- the CLI ------------------------------------------------------------------------------------


def test_smart_support_fetch_prints_the_body_of_an_allowlisted_url(shop: LoopbackServer) -> None:
    shop.routes["/spec.json"] = (200, {}, b'{"openapi": "3.1.0"}')
    result = CliRunner().invoke(
        main, ["fetch", shop.base + "/spec.json"], env={"EGRESS_ALLOWLIST": shop.authority}
    )
    assert result.exit_code == 0
    assert result.stdout == '{"openapi": "3.1.0"}\n'


def test_smart_support_fetch_resolves_an_allowlisted_name_with_the_system_resolver(
    shop: LoopbackServer,
) -> None:
    result = CliRunner().invoke(
        main,
        ["fetch", f"http://localhost:{shop.port}/"],
        env={"EGRESS_ALLOWLIST": f"localhost:{shop.port}"},
    )
    assert (result.exit_code, result.stdout) == (0, "hello\n")
    assert shop.requests == [("/", f"localhost:{shop.port}")]


def test_smart_support_fetch_reports_an_http_error_status(shop: LoopbackServer) -> None:
    shop.routes["/missing"] = (404, {}, b"no such thing")
    result = CliRunner().invoke(
        main, ["fetch", shop.base + "/missing"], env={"EGRESS_ALLOWLIST": shop.authority}
    )
    assert result.exit_code == 1
    assert result.stderr == f"error: {shop.base}/missing answered HTTP 404\n"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://0177.0.0.1/", "127.0.0.1 is a loopback address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::①⑥⑨｡②⑤④｡⑯⑨｡②⑤④]:80/", "cannot be parsed"),
        ("gopher://127.0.0.1:6379/_INFO", "scheme 'gopher' is not allowed"),
        ("http://{authority}/", "127.0.0.1 is a loopback address"),
    ],
)
def test_smart_support_fetch_prints_one_refused_line_and_fails(
    shop: LoopbackServer, url: str, reason: str
) -> None:
    result = CliRunner().invoke(
        main, ["fetch", url.format(authority=shop.authority)], env={"EGRESS_ALLOWLIST": ""}
    )
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("refused: ") and reason in lines[0]
    assert shop.requests == []


# --- TLS: pinned to the IP, verified against the name -------------------------------------------


@pytest.fixture
def tls_shop(tmp_path: Path) -> Iterator[tuple[LoopbackServer, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1 with a certificate for shop.test, and a client trusting it."""
    cert, key = self_signed_certificate("shop.test", str(tmp_path))
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)
    client_context = ssl.create_default_context(cafile=cert)
    with loopback_server(tls=server_context) as server:
        yield server, client_context


async def test_https_connects_to_the_pinned_address_and_verifies_the_certificate_by_name(
    tls_shop: tuple[LoopbackServer, ssl.SSLContext],
) -> None:
    server, trust = tls_shop
    resolver = ScriptedResolver({"shop.test": [["127.0.0.1"]]})
    config = load_settings(egress_allowlist=[f"shop.test:{server.port}"])
    policy = policy_from_settings(config, resolver=resolver)
    async with async_client(config, policy=policy, verify=trust) as client:
        response = await client.get(f"https://shop.test:{server.port}/secure")
    assert response.text == "hello"
    assert server.requests == [("/secure", f"shop.test:{server.port}")]
    assert resolver.calls == ["shop.test"]


async def test_https_to_a_name_the_certificate_does_not_cover_fails_verification(
    tls_shop: tuple[LoopbackServer, ssl.SSLContext],
) -> None:
    server, trust = tls_shop
    resolver = ScriptedResolver({"other.test": [["127.0.0.1"]]})
    config = load_settings(egress_allowlist=[f"other.test:{server.port}"])
    policy = policy_from_settings(config, resolver=resolver)
    async with async_client(config, policy=policy, verify=trust) as client:
        with pytest.raises(httpx.ConnectError, match="certificate verify failed"):
            await client.get(f"https://other.test:{server.port}/secure")
    assert server.requests == []


def test_smart_support_fetch_names_a_malformed_allowlist_setting(shop: LoopbackServer) -> None:
    result = CliRunner().invoke(main, ["fetch", shop.base], env={"EGRESS_ALLOWLIST": "no-port"})
    assert result.exit_code == 2
    assert result.stderr.startswith("error: invalid setting EGRESS_ALLOWLIST: 'no-port'")


def test_smart_support_fetch_explains_a_redirect_loop_and_a_timeout(shop: LoopbackServer) -> None:
    shop.routes["/loop"] = (302, {"Location": "/loop"}, b"")
    shop.routes["/slow"] = (200, {}, b"<block>")
    env = {"EGRESS_ALLOWLIST": shop.authority, "EGRESS_TIMEOUT_SECONDS": "0.2"}
    looping = CliRunner().invoke(main, ["fetch", shop.base + "/loop"], env=env)
    assert (looping.exit_code, looping.stderr) == (
        1,
        "error: too many redirects (the guard follows at most 5)\n",
    )
    slow = CliRunner().invoke(main, ["fetch", shop.base + "/slow"], env=env)
    assert slow.exit_code == 1
    assert slow.stderr == (
        "error: ReadTimeout: timed out after 0.2 s waiting for data from "
        f"{shop.authority} (EGRESS_TIMEOUT_SECONDS)\n"
    )


async def test_deflate_bodies_with_or_without_the_zlib_header_are_decoded(
    shop: LoopbackServer,
) -> None:
    raw = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    shop.routes["/zlib"] = (200, {"Content-Encoding": "deflate"}, zlib.compress(b"zlib body"))
    shop.routes["/raw"] = (200, {"Content-Encoding": "deflate"}, raw.compress(b"raw") + raw.flush())
    shop.routes["/bad"] = (200, {"Content-Encoding": "gzip"}, b"this is not gzip")
    async with _client(shop.authority) as client:
        assert (await client.get(shop.base + "/zlib")).text == "zlib body"
        assert (await client.get(shop.base + "/raw")).text == "raw"
        with pytest.raises(httpx.DecodingError, match="bad compressed body"):
            await client.get(shop.base + "/bad")

"""The httpx transport that checks every request and redirect hop, and pins its address."""

from __future__ import annotations

import logging
import ssl
import zlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from smart_support.egress._pools import DEFAULT_LIMITS, SHARED_LIMITS, SharedPools
from smart_support.egress._urls import refusal
from smart_support.egress.policy import EgressPolicy, PinnedTarget, check_parts

logger = logging.getLogger("smart_support.egress")

#: Encodings the guard can decompress while counting bytes; it asks for these and no others.
_ACCEPT_ENCODING = "gzip, deflate"
_MAX_ADDRESSES_TRIED = 4
_TIMEOUT_WORDS = {
    httpx.ConnectTimeout: ("connect", "connecting to"),
    httpx.ReadTimeout: ("read", "waiting for data from"),
    httpx.WriteTimeout: ("write", "sending to"),
    httpx.PoolTimeout: ("pool", "waiting for a free connection to"),
}


class GuardedTransport(httpx.AsyncBaseTransport):
    """Checks each request's URL, connects only to the checked addresses, bounds the response.

    Pinning: the request goes out with the checked IP in the URL, the original `Host` header and
    the original name as TLS server name (httpcore's `sni_hostname` extension), so certificate
    checks still use the name and no second DNS lookup can happen. Connections are pooled per
    (scheme, host, port): a TLS connection verified for one name is never reused for another
    name that shares its IP. With `shared` (see `_pools`), those pools are borrowed from the
    event loop's shared ones when the TLS options allow (default limits, a CA bundle given as
    True/False or a path, a client certificate given as paths); the checks stay per request.

    Args:
        policy: The rules, the resolver and the limits.
        verify: TLS verification as httpx takes it (True, a CA bundle path or an SSLContext).
        cert: Client certificate as httpx takes it.
        http1: Offer HTTP/1.1.
        http2: Offer HTTP/2 (needs the h2 package).
        limits: Connection pool limits of each per-host pool.
        shared: The event loop's shared pools (`_pools.shared_pools()`), or None for pools of
            this transport's own.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        *,
        verify: ssl.SSLContext | str | bool = True,
        cert: Any = None,
        http1: bool = True,
        http2: bool = False,
        limits: httpx.Limits | None = None,
        shared: SharedPools | None = None,
    ) -> None:
        self._policy = policy
        self._verify = verify
        self._cert = cert
        self._ssl_context: ssl.SSLContext | None = None
        self._options: dict[str, Any] = {
            "http1": http1,
            "http2": http2,
            "limits": limits or DEFAULT_LIMITS,
            "trust_env": False,
            "retries": 0,
        }
        self._pools: dict[tuple[str, str, int], httpx.AsyncHTTPTransport] = {}
        shareable = limits is None and not isinstance(verify, ssl.SSLContext) and _hashable(cert)
        self._shared = shared if shareable else None
        #: What a shared pool must have been made with to serve this transport.
        self._tls_key = (verify, cert)
        self._share_key = (verify, cert, http1, http2)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Check, pin and send one request; wrap its body in the size limit."""
        url = request.url
        target = await check_parts(
            url.scheme, url.host, url.port, self._policy, has_userinfo=bool(url.userinfo)
        )
        headers = request.headers.copy()
        # The Host header must name what was checked, whatever the caller put there.
        headers["Host"] = url.netloc.decode("ascii")
        headers["Accept-Encoding"] = _ACCEPT_ENCODING
        extensions = dict(request.extensions)
        extensions["timeout"] = self._timeouts(extensions.get("timeout") or {})
        request.extensions["timeout"] = extensions["timeout"]  # what timeout messages report
        if target.scheme == "https":
            extensions["sni_hostname"] = target.host
        pool = self._pool_for(target)
        failure: httpx.ConnectError | None = None
        for address in target.addresses[:_MAX_ADDRESSES_TRIED]:
            pinned = httpx.Request(
                request.method,
                url.copy_with(host=str(address)),
                headers=headers,
                stream=request.stream,
                extensions=extensions,
            )
            logger.debug("egress %s %s via %s", request.method, target.host, address)
            try:
                response = await pool.handle_async_request(pinned)
            except httpx.ConnectError as exc:  # nothing was sent yet: the next checked address
                failure = exc
                continue
            except httpx.TimeoutException as exc:
                raise _clear_timeout(exc, request, target) from exc
            return await self._bounded(response, request, target)
        addresses = ", ".join(map(str, target.addresses[:_MAX_ADDRESSES_TRIED]))
        raise httpx.ConnectError(
            f"cannot connect to {target.host}:{target.port} ({addresses}): {failure}",
            request=request,
        ) from failure

    async def aclose(self) -> None:
        """Close every per-host connection pool of its own (shared ones stay open)."""
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            await pool.aclose()

    def _timeouts(self, requested: dict[str, float | None]) -> dict[str, float]:
        """Per-request timeouts: no phase unbounded; only `read` may exceed the policy (SSE)."""
        limit = self._policy.timeout_seconds
        bounded = {
            phase: limit if requested.get(phase) is None else min(requested[phase] or 0, limit)
            for phase in ("connect", "write", "pool")
        }
        read = requested.get("read")
        bounded["read"] = limit if read is None else read
        return bounded

    def _pool_for(self, target: PinnedTarget) -> httpx.AsyncHTTPTransport:
        key = (target.scheme, target.host, target.port)
        if self._shared is not None:
            return self._shared.pool(
                (*key, *self._share_key),
                lambda context: httpx.AsyncHTTPTransport(
                    verify=context, **{**self._options, "limits": SHARED_LIMITS}
                ),
                (target.scheme, *self._tls_key),
                self._context if target.scheme == "https" else _plain_context,
            )
        pool = self._pools.get(key)
        if pool is None:
            verify: ssl.SSLContext | bool = False
            if target.scheme == "https":
                verify = self._context()
            pool = self._pools[key] = httpx.AsyncHTTPTransport(verify=verify, **self._options)
        return pool

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            if isinstance(self._verify, ssl.SSLContext):
                self._ssl_context = self._verify
            else:
                self._ssl_context = httpx.create_ssl_context(
                    verify=self._verify, cert=self._cert, trust_env=False
                )
        return self._ssl_context

    async def _bounded(
        self, response: httpx.Response, request: httpx.Request, target: PinnedTarget
    ) -> httpx.Response:
        limit = self._policy.max_bytes
        where = f"{target.host}:{target.port}"
        length = response.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > limit and request.method != "HEAD":
            await response.aclose()
            raise _too_large(where, limit, announced=True)
        encoding = response.headers.get("Content-Encoding", "").strip().lower()
        headers = response.headers.copy()
        decoder: _Decoder | None = None
        if encoding not in ("", "identity"):
            if encoding not in ("gzip", "x-gzip", "deflate"):
                await response.aclose()
                raise refusal(
                    f"response from {where} uses Content-Encoding {encoding[:20]!r};"
                    " the guard can only bound gzip and deflate"
                )
            decoder = _Decoder(encoding, limit, where)
            del headers["Content-Encoding"]
            headers.pop("Content-Length", None)
        assert isinstance(response.stream, httpx.AsyncByteStream)
        stream = _BoundedStream(response.stream, limit, where, decoder, request, target)
        return httpx.Response(
            response.status_code, headers=headers, stream=stream, extensions=response.extensions
        )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _plain_context() -> ssl.SSLContext:
    """The context an http (not https) pool is made with: httpx wants one, it is never used."""
    return httpx.create_ssl_context(verify=False, trust_env=False)


class _BoundedStream(httpx.AsyncByteStream):
    """Counts bytes as they arrive and stops at the limit; turns timeouts into clear messages."""

    def __init__(
        self,
        inner: httpx.AsyncByteStream,
        limit: int,
        where: str,
        decoder: _Decoder | None,
        request: httpx.Request,
        target: PinnedTarget,
    ) -> None:
        self._inner, self._limit, self._where, self._decoder = inner, limit, where, decoder
        self._request, self._target = request, target
        self._received = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._inner:
                self._received += len(chunk)
                if self._received > self._limit:
                    raise _too_large(self._where, self._limit)
                if self._decoder is None:
                    yield chunk
                else:
                    for part in self._decoder.feed(chunk):
                        yield part
            if self._decoder is not None:
                for part in self._decoder.finish():
                    yield part
        except httpx.TimeoutException as exc:
            raise _clear_timeout(exc, self._request, self._target) from exc

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Decoder:
    """gzip/deflate decompression that never produces more than `limit` bytes (zip bombs)."""

    def __init__(self, encoding: str, limit: int, where: str) -> None:
        # 32 + MAX_WBITS accepts a gzip or zlib header; raw deflate is tried on the first error.
        self._wbits = zlib.MAX_WBITS | 32 if "gzip" in encoding else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(self._wbits)
        self._limit, self._where = limit, where
        self._produced = 0
        self._started = False

    def feed(self, data: bytes) -> list[bytes]:
        out: list[bytes] = []
        while data:
            try:
                part = self._zlib.decompress(data, self._limit - self._produced + 1)
            except zlib.error as exc:
                if self._started or self._wbits != zlib.MAX_WBITS:
                    raise httpx.DecodingError(f"bad compressed body from {self._where}") from exc
                self._wbits = -zlib.MAX_WBITS  # "deflate" sent without the zlib header
                self._zlib = zlib.decompressobj(self._wbits)
                continue
            self._started = True
            self._count(part)
            out.append(part)
            data = self._zlib.unconsumed_tail
        return out

    def finish(self) -> list[bytes]:
        part = self._zlib.flush()
        self._count(part)
        return [part] if part else []

    def _count(self, part: bytes) -> None:
        self._produced += len(part)
        if self._produced > self._limit:
            raise _too_large(self._where, self._limit, decompressed=True)


def _too_large(
    where: str, limit: int, *, announced: bool = False, decompressed: bool = False
) -> Exception:
    how = " (announced in Content-Length)" if announced else ""
    how = " once decompressed" if decompressed else how
    return refusal(f"response from {where} is larger than {limit} bytes{how} (EGRESS_MAX_BYTES)")


def _clear_timeout(
    exc: httpx.TimeoutException, request: httpx.Request, target: PinnedTarget
) -> httpx.TimeoutException:
    phase, doing = _TIMEOUT_WORDS.get(type(exc), ("read", "waiting for"))
    seconds = request.extensions.get("timeout", {}).get(phase)
    after = f" after {seconds:g} s" if isinstance(seconds, int | float) else ""
    message = f"timed out{after} {doing} {target.host}:{target.port} (EGRESS_TIMEOUT_SECONDS)"
    return type(exc)(message, request=request)

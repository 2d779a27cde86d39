"""HTTP plumbing for the clients of remote services (ChEMBL's web services, LLM endpoints).

`RetryPolicy` is the one place that decides whether a failed request is tried again and how long
to wait first: 429 and 5xx answers, timeouts and dropped connections are retried; Retry-After
(seconds or an HTTP date) is honoured up to a cap, otherwise the wait is exponential backoff with
full jitter, so that many clients that failed together do not retry together. The sync ChEMBL
client and the async LLM client both loop on it.

`Connection` is a lean keep-alive HTTP/1.1 client for one request at a time on one connection,
for clients that keep hundreds of requests in flight: per request it writes one buffer and parses
one response, where httpx spends more CPU on its machinery than on the request. It speaks what
JSON APIs need (Content-Length or chunked bodies, keep-alive or close, TLS) and reconnects once,
without counting a retry, when the server closed an idle keep-alive connection. Proxies are not
its business: `proxy_for(url)` tells when one applies, and callers then use `HttpxConnection`.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import random
import ssl
import time
import urllib.request
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import httpx

# The longest wait taken from a Retry-After header, so that a confused server cannot park a run.
MAX_RETRY_AFTER_S = 300.0
USER_AGENT = "en_assay_ner"


def parse_retry_after(value: str | None, cap_s: float = MAX_RETRY_AFTER_S) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date), between 0 and
    `cap_s`; None when absent or unreadable."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap_s)


def retryable_status(status: int) -> bool:
    """Answers that a later try may not get: rate limited (429) and server errors (5xx)."""
    return status == 429 or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """`retries` tries after the first; waits grow from `backoff_s` up to `backoff_max_s`."""

    retries: int
    backoff_s: float = 1.0
    backoff_max_s: float = 60.0
    retry_after_max_s: float = MAX_RETRY_AFTER_S
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be at least 0, got {self.retries}")

    def retryable(self, status: int) -> bool:
        return retryable_status(status)

    def wait_s(self, attempt: int, retry_after: str | None = None) -> float | None:
        """After try number `attempt` (0 for the first) failed in a way a retry may fix (a retryable
        status, a timeout, a dropped connection, a malformed body): the seconds to wait before the
        next try, or None when no try is left. `retry_after` is the answer's Retry-After header."""
        if attempt >= self.retries:
            return None
        asked = parse_retry_after(retry_after, self.retry_after_max_s)
        if asked is not None:
            return asked
        return self.rng.uniform(0.0, min(self.backoff_max_s, self.backoff_s * 2**attempt))


def proxy_for(url: str) -> str | None:
    """The proxy that the environment (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY, NO_PROXY) names for `url`."""
    parts = urlsplit(url)
    proxies = urllib.request.getproxies_environment()
    proxy = proxies.get(parts.scheme) or proxies.get("all")
    if not proxy or urllib.request.proxy_bypass_environment(parts.hostname or "", proxies):
        return None
    return proxy


class TransportError(Exception):
    """The request got no complete HTTP answer."""


class ConnectError(TransportError):
    """No connection could be opened (refused, unknown host, TLS handshake failed)."""


class RequestTimeout(TransportError):
    """No complete answer within the time allowed."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf8", "replace")


class Endpoint:
    """A URL to POST to, with the headers every request carries and the TLS context for https."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, tls: ssl.SSLContext | None = None):
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.url = url
        self.headers = dict(headers or {})
        self.host = parts.hostname
        self.https = parts.scheme == "https"
        self.port = parts.port or (443 if self.https else 80)
        self.tls = (tls or ssl.create_default_context()) if self.https else None
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host = f"[{self.host}]" if ":" in self.host else self.host
        if parts.port is not None:
            host += f":{parts.port}"
        lines = [f"POST {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
        lines += ["Accept: application/json", "Content-Type: application/json"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        # Everything but Content-Length, which ends the head: per request one format and one write.
        self._head = ("\r\n".join(lines) + "\r\nContent-Length: ").encode("latin-1")

    def timeout_message(self, timeout_s: float) -> str:
        return f"no complete answer from {self.url} within {timeout_s:g} s"

    def request_bytes(self, body: bytes) -> bytes:
        return b"%s%d\r\n\r\n%s" % (self._head, len(body), body)


class _Stale(Exception):
    """A reused keep-alive connection turned out closed before any byte of the answer came."""


class Connection:
    """One keep-alive HTTP/1.1 connection to `endpoint`, one request at a time; opened on first use."""

    def __init__(self, endpoint: Endpoint):
        self.endpoint = endpoint
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes, timeout_s: float) -> Response:
        """POST `body` (JSON) and read the whole answer within `timeout_s` seconds."""
        data = self.endpoint.request_bytes(body)
        try:
            async with asyncio.timeout(timeout_s):
                if self._writer is not None:
                    if not self._reader.at_eof():  # the server has not closed it yet, as far as we know
                        try:
                            return await self._exchange(data, reused=True)
                        except _Stale:
                            pass
                    self.close()
                await self._connect()
                return await self._exchange(data, reused=False)
        except TimeoutError:
            self.close()
            raise RequestTimeout(self.endpoint.timeout_message(timeout_s)) from None
        except BaseException:
            self.close()  # half-read answers and cancelled requests leave the connection unusable
            raise

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    async def aclose(self, timeout_s: float = 2.0) -> None:
        """Close and wait until the connection is closed (a TLS one says goodbye first)."""
        writer = self._writer
        self.close()
        if writer is not None:
            with contextlib.suppress(OSError, TimeoutError, ssl.SSLError):
                await asyncio.wait_for(writer.wait_closed(), timeout_s)

    async def _connect(self) -> None:
        endpoint = self.endpoint
        try:
            self._reader, self._writer = await asyncio.open_connection(
                endpoint.host,
                endpoint.port,
                ssl=endpoint.tls,
                server_hostname=endpoint.host if endpoint.tls else None,
                limit=2**20,
            )
        except (OSError, ssl.SSLError) as e:  # refused, unreachable, unknown host, bad certificate
            raise ConnectError(f"cannot connect to {endpoint.host}:{endpoint.port}: {e}") from None

    async def _exchange(self, data: bytes, reused: bool) -> Response:
        reader, writer = self._reader, self._writer
        try:
            writer.write(data)
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, OSError) as e:
            partial = getattr(e, "partial", b"")
            if reused and not partial:
                raise _Stale from None
            url = self.endpoint.url
            raise TransportError(f"connection to {url} closed before an answer ({e!r})") from None
        except asyncio.LimitOverrunError:
            raise TransportError(f"{self.endpoint.url}: answer headers over 1 MiB") from None
        try:
            while True:
                status, version, headers = _parse_head(head)
                if not 100 <= status < 200:  # skip interim answers (100 Continue)
                    break
                head = await reader.readuntil(b"\r\n\r\n")
            body = await self._read_body(status, headers)
        except (asyncio.IncompleteReadError, OSError) as e:
            raise TransportError(f"connection to {self.endpoint.url} closed mid-answer ({e!r})") from None
        except (ValueError, asyncio.LimitOverrunError) as e:
            raise TransportError(f"{self.endpoint.url}: malformed HTTP answer ({e})") from None
        connection = headers.get("connection", "").lower()
        if "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
            self.close()
        return Response(status, headers, body)

    async def _read_body(self, status: int, headers: dict[str, str]) -> bytes:
        reader = self._reader
        if status in (204, 304):
            return b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
                if size == 0:
                    while await reader.readuntil(b"\r\n") != b"\r\n":  # trailer fields
                        pass
                    return b"".join(chunks)
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
        length = headers.get("content-length")
        if length is not None:
            return await reader.readexactly(int(length))
        body = await reader.read()  # delimited by the end of the connection
        self.close()
        return body


def _parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    lines = head.decode("latin-1").split("\r\n")
    version, status, *_ = lines[0].split(" ", 2)
    if not version.startswith("HTTP/1."):
        raise ValueError(f"status line {lines[0]!r}")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"header line {line!r}")
        name = name.strip().lower()
        value = value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return int(status), version, headers


class HttpxConnection:
    """`Connection`'s interface over a shared httpx client: for endpoints reached through a proxy,
    which httpx takes from the environment."""

    def __init__(self, client: httpx.AsyncClient, endpoint: Endpoint):
        self.client = client
        self.endpoint = endpoint
        self.headers = {
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
            "Content-Type": "application/json",
            **endpoint.headers,
        }

    async def post(self, body: bytes, timeout_s: float) -> Response:
        try:
            r = await self.client.post(
                self.endpoint.url, content=body, headers=self.headers, timeout=timeout_s
            )
        except httpx.TimeoutException:
            raise RequestTimeout(self.endpoint.timeout_message(timeout_s)) from None
        except httpx.ConnectError as e:
            raise ConnectError(f"cannot connect to {self.endpoint.url}: {e}") from None
        except httpx.TransportError as e:
            raise TransportError(f"{self.endpoint.url}: {e!r}") from None
        return Response(r.status_code, {k.lower(): v for k, v in r.headers.items()}, r.content)

    def close(self) -> None:
        pass

    async def aclose(self) -> None:
        pass

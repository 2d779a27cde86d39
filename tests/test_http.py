"""components.data.http: the retry policy both clients loop on, and the lean HTTP/1.1 connection
against servers on 127.0.0.1 that write their answers byte by byte as a test scripts them."""

import asyncio
import contextlib
import email.utils
import random
import time

import pytest

from components.data.http import (
    MAX_RETRY_AFTER_S,
    ConnectError,
    Connection,
    Endpoint,
    RequestTimeout,
    RetryPolicy,
    TransportError,
    parse_retry_after,
    proxy_for,
)

# Retry policy


def test_retryable_answers_are_429_and_server_errors():
    statuses = (200, 400, 401, 403, 404, 408, 429, 500, 502, 503, 504, 599)
    assert [s for s in statuses if RetryPolicy(3).retryable(s)] == [429, 500, 502, 503, 504, 599]


def test_retry_after_in_seconds_or_as_a_date_is_honoured_up_to_the_cap():
    policy = RetryPolicy(3, backoff_s=100.0, retry_after_max_s=60.0)
    assert policy.wait_s(0, "3") == 3.0
    assert policy.wait_s(0, "0.5") == 0.5
    assert policy.wait_s(0, "1000") == 60.0
    in_30_s = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 27.0 <= policy.wait_s(1, in_30_s) <= 30.0
    assert policy.wait_s(1, email.utils.formatdate(time.time() - 30, usegmt=True)) == 0.0
    assert parse_retry_after("-5") == 0.0 and parse_retry_after("1e9") == MAX_RETRY_AFTER_S
    for unreadable in ("soon", "", None, "nan"):
        assert parse_retry_after(unreadable) is None


def test_backoff_has_full_jitter_grows_and_is_capped():
    policy = RetryPolicy(10, backoff_s=1.0, backoff_max_s=5.0, rng=random.Random(0))
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 5.0), (9, 5.0)]:
        waits = [policy.wait_s(attempt, "unreadable") for _ in range(200)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > 0.8 * ceiling and min(waits) < 0.2 * ceiling  # spread over [0, ceiling]


def test_no_wait_once_the_retries_are_spent():
    policy = RetryPolicy(2, backoff_s=0.01)
    assert policy.wait_s(0) is not None and policy.wait_s(1, "1") == 1.0
    assert policy.wait_s(2) is None and policy.wait_s(2, "1") is None
    assert RetryPolicy(0).wait_s(0) is None
    with pytest.raises(ValueError):
        RetryPolicy(-1)


# Endpoint and proxies


def test_endpoint_writes_one_request_with_host_length_and_headers():
    endpoint = Endpoint("http://example.org:8000/v1/chat/completions?x=1", {"Authorization": "Bearer k"})
    data = endpoint.request_bytes(b'{"a": 1}')
    head, body = data.split(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST /v1/chat/completions?x=1 HTTP/1.1"
    assert {"Host: example.org:8000", "Authorization: Bearer k", "Content-Length: 8"} <= set(lines)
    assert body == b'{"a": 1}'
    assert b"Host: [::1]:80\r\n" in Endpoint("http://[::1]:80/v1").request_bytes(b"")
    assert (Endpoint("https://llm.example/v1").port, Endpoint("http://llm.example/v1").port) == (443, 80)
    with pytest.raises(ValueError, match="not an http"):
        Endpoint("ftp://example.org/v1")


def test_proxy_is_taken_from_the_environment_unless_bypassed(monkeypatch):
    for name in ("http_proxy", "https_proxy", "all_proxy", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    assert proxy_for("http://llm.example/v1") is None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    assert proxy_for("https://llm.example/v1") == "http://proxy.example:3128"
    assert proxy_for("http://llm.example/v1") is None
    monkeypatch.setenv("NO_PROXY", "llm.example")
    assert proxy_for("https://llm.example/v1") is None


# Connection: a server per test, on the test's own event loop


async def serve(handler):
    """A server on 127.0.0.1 running `handler(reader, writer)` per connection (then closing it)."""

    async def handle(reader, writer):
        try:
            await handler(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1/chat/completions"


async def stop(server, *connections):
    for connection in connections:
        connection.close()
    server.close()
    await server.wait_closed()
    await asyncio.sleep(0.05)  # the transports finish closing


async def read_request(reader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


def answer(body: bytes, *headers: str) -> bytes:
    head = ["HTTP/1.1 200 OK", f"Content-Length: {len(body)}", *headers]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def run(coro):
    return asyncio.run(coro)


def test_keep_alive_connection_carries_every_request():
    connections = []

    async def echo(reader, writer):
        connections.append(writer)
        while not reader.at_eof():
            try:
                body = await read_request(reader)
            except asyncio.IncompleteReadError:
                break
            writer.write(answer(body, "Content-Type: application/json"))

    async def main():
        server, url = await serve(echo)
        connection = Connection(Endpoint(url))
        try:
            return [await connection.post(f'{{"n": {i}}}'.encode(), 5) for i in range(3)]
        finally:
            await stop(server, connection)

    responses = run(main())
    assert [(r.status, r.body) for r in responses] == [
        (200, b'{"n": 0}'),
        (200, b'{"n": 1}'),
        (200, b'{"n": 2}'),
    ]
    assert responses[0].headers["content-type"] == "application/json"
    assert len(connections) == 1


def test_chunked_answer_with_extensions_and_trailers():
    async def chunked(reader, writer):
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        writer.write(b'5;name=value\r\n{"a":\r\n4\r\n 1}\n\r\n0\r\nX-Trailer: 1\r\n\r\n')

    async def main():
        server, url = await serve(chunked)
        connection = Connection(Endpoint(url))
        try:
            return await connection.post(b"{}", 5)
        finally:
            await stop(server, connection)

    assert run(main()).body == b'{"a": 1}\n'


def test_interim_answer_is_skipped_and_a_close_delimited_body_is_read_to_the_end():
    connections = []

    async def old_style(reader, writer):
        connections.append(writer)
        await read_request(reader)
        writer.write(
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n"
        )
        writer.write(b'{"whole": "body"}')
        writer.close()

    async def main():
        server, url = await serve(old_style)
        connection = Connection(Endpoint(url))
        try:
            return [await connection.post(b"{}", 5) for _ in range(2)]
        finally:
            await stop(server, connection)

    assert [r.body for r in run(main())] == [b'{"whole": "body"}'] * 2
    assert len(connections) == 2


def test_keep_alive_connection_closed_by_the_server_is_opened_again_once():
    """The server reads the second request on the first connection and closes it without an answer
    (an idle keep-alive connection closed as the request came): sent again on a new connection."""
    served = []

    async def one_answer_per_connection(reader, writer):
        body = await read_request(reader)
        served.append(body)
        writer.write(answer(body))
        await read_request(reader)
        writer.close()

    async def main():
        server, url = await serve(one_answer_per_connection)
        connection = Connection(Endpoint(url))
        try:
            return [await connection.post(b'{"n": %d}' % i, 5) for i in range(3)]
        finally:
            await stop(server, connection)

    assert [r.body for r in run(main())] == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']
    assert served == [b'{"n": 0}', b'{"n": 1}', b'{"n": 2}']


@pytest.mark.parametrize(
    "reply, problem",
    [
        (b"", "closed before an answer"),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{}", "closed mid-answer"),
        (b"SPDY/3 200 OK\r\n\r\n", "malformed HTTP answer"),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed HTTP answer"),
    ],
)
def test_answers_cut_short_or_malformed_are_transport_errors(reply, problem):
    async def bad(reader, writer):
        await read_request(reader)
        writer.write(reply)
        writer.close()

    async def main():
        server, url = await serve(bad)
        connection = Connection(Endpoint(url))
        try:
            await connection.post(b"{}", 5)
        finally:
            await stop(server, connection)

    with pytest.raises(TransportError, match=problem) as failed:
        run(main())
    assert not isinstance(failed.value, ConnectError | RequestTimeout)


def test_refused_connection_is_a_connect_error(free_port):
    port = free_port()
    with pytest.raises(ConnectError, match=f"cannot connect to 127.0.0.1:{port}"):
        run(Connection(Endpoint(f"http://127.0.0.1:{port}/v1")).post(b"{}", 5))


def test_timeout_closes_the_connection_and_the_next_request_opens_a_new_one():
    connections = []

    async def late_then_quick(reader, writer):
        connections.append(writer)
        body = await read_request(reader)
        if len(connections) == 1:
            await asyncio.sleep(3)
        writer.write(answer(body))

    async def main():
        server, url = await serve(late_then_quick)
        connection = Connection(Endpoint(url))
        try:
            with pytest.raises(RequestTimeout, match="within 0.2 s"):
                await connection.post(b"{}", 0.2)
            return await connection.post(b'{"again": 1}', 5)
        finally:
            await stop(server, connection)

    assert run(main()).body == b'{"again": 1}'
    assert len(connections) == 2

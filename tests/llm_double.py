"""A stand-in for a remote LLM service: OpenAI chat-completions over real HTTP on 127.0.0.1.

Used by tests/test_llm_openai.py and bench/annotate_throughput.py. It answers after a fixed
latency, counts requests and how many were in flight at once, and can be told to misbehave
first (HTTP errors with headers, malformed bodies, answering too late, dropping the connection)
or to require an API key.

An asyncio server (one event loop, keep-alive HTTP/1.1): hundreds of connections cost it no
threads, and per request it parses the body once and writes one buffer, so that it keeps up with
a client that has hundreds of requests in flight. `with ChatCompletionsDouble(...)` runs it on a
thread of its own; `serve_forever()` runs it on the calling thread (the benchmark's own process).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import threading
import time
from collections import Counter
from collections.abc import Callable
from http import HTTPStatus

EMPTY_ANSWER = '{"targets": [], "substrates": []}'


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Status"


def last_user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


_DECODER = json.JSONDecoder()


def _last_message_body(data: bytes) -> dict:
    """{"messages": [last message]} from a chat-completions body, parsing only that message.

    A quote inside a JSON string is always escaped, so `{"` starts an object wherever it stands
    outside a string: the last one that opens a message with a "role" is the last message.
    """
    text = data.decode("utf8")
    end = len(text)
    while True:
        start = text.rfind('{"', 0, end)
        if start < 0:
            return json.loads(text)  # not the shape expected: parse it all
        try:
            message, _ = _DECODER.raw_decode(text, start)
        except json.JSONDecodeError:
            message = None
        if isinstance(message, dict) and "role" in message and "content" in message:
            return {"messages": [message]}
        end = start


class ChatCompletionsDouble:
    """`with ChatCompletionsDouble(...) as server:` serves at `server.base_url` until the block ends.

    `answer(body) -> str` writes the message content. `faults` is served first, one per request:
    `(status, headers, body_text)` for a raw reply, `("slow", seconds)` to answer only after that
    many seconds, `("drop",)` to close the connection without answering, None to answer. After
    them, `fault_for(body)` may name a fault for a request by what it asks (None: answer).
    `fail_after` answers that many requests, then returns HTTP 500 to all. `keep_alive=False`
    closes every connection after its answer, saying so; `close_idle=True` closes it without a
    word, as servers close idle keep-alive connections. `tls` serves https. `gate=N` holds every
    answer until N requests are in flight at once. Requests are recorded in arrival order:
    `requests` (bodies), `arrivals` (monotonic times), `targets` (request targets as sent: a
    proxied request names the whole URL), `connections` (how many were opened); `faults_served`
    counts the faults by their first element (the status, "slow" or "drop").
    """

    def __init__(
        self,
        answer: Callable[[dict], str] = lambda body: EMPTY_ANSWER,
        latency_s: float = 0.0,
        faults: list[tuple | None] | None = None,
        fault_for: Callable[[dict], tuple | None] | None = None,
        api_key: str | None = None,
        fail_after: int | None = None,
        keep_alive: bool = True,
        close_idle: bool = False,
        port: int = 0,
        tls: ssl.SSLContext | None = None,
        gate: int | None = None,
        full_bodies: bool = True,
    ):
        self.answer = answer
        self.latency_s = latency_s
        self.faults = list(faults or [])
        self.fault_for = fault_for
        self.api_key = api_key
        self.fail_after = fail_after
        self.keep_alive = keep_alive
        self.close_idle = close_idle
        self.requests: list[dict] = []
        self.arrivals: list[float] = []
        self.targets: list[str] = []
        self.connections = 0
        self.faults_served: Counter = Counter()
        self.answered = 0
        self.last_answer: float | None = None  # time.monotonic() when the last answer went out
        self.in_flight = 0
        self.max_in_flight = 0
        self._port = port
        self.full_bodies = full_bodies
        self._tls = tls
        # Answers wait until `gate` requests have been in flight at once (then all go), so that a test
        # can tell that a client keeps that many open without timing anything.
        self.gate = gate
        self._gate_open: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.base_url = ""

    # Running

    def __enter__(self) -> ChatCompletionsDouble:
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the chat-completions double did not start")
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
        self._thread.join(10)

    def serve_forever(self, on_ready: Callable[[str], None] | None = None) -> None:
        """Serve on this thread until stopped (the context manager's exit, or `stop()`)."""
        asyncio.run(self._serve(on_ready))

    def stop(self) -> None:
        if not self._loop.is_closed():  # stopped already (a test may stop it mid-run)
            self._loop.call_soon_threadsafe(self._stop.set)

    async def _serve(self, on_ready) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._gate_open = asyncio.Event()
        if not self.gate:
            self._gate_open.set()
        server = await asyncio.start_server(
            self._connection, "127.0.0.1", self._port, backlog=1024, ssl=self._tls
        )
        scheme = "https" if self._tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        self._ready.set()
        if on_ready is not None:
            on_ready(self.base_url)
        async with server:
            await self._stop.wait()
            server.close()
            for writer in list(self._writers):  # close the open connections before the loop ends
                writer.close()
                with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                    await asyncio.wait_for(writer.wait_closed(), 2)

    def stats(self) -> dict:
        return {
            "requests": len(self.requests),
            "max_in_flight": self.max_in_flight,
            "connections": self.connections,
            "faults": {str(kind): n for kind, n in self.faults_served.items()},
            "cpu_s": time.process_time(),
            # time.monotonic() is one clock for every process on the machine.
            "first_arrival": self.arrivals[0] if self.arrivals else None,
            "last_answer": self.last_answer,
        }

    # HTTP

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.add(writer)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                data = await reader.readexactly(int(headers.get("content-length", 0)))
                reply = await self._respond(method, target, headers, data)
                if reply is None:  # a "drop" fault
                    return
                status, extra, text = reply
                close = not self.keep_alive or headers.get("connection", "").lower() == "close"
                payload = text.encode("utf8")
                head_lines = [
                    f"HTTP/1.1 {status} {_reason(status)}",
                    "Content-Type: application/json",
                    f"Content-Length: {len(payload)}",
                    *(f"{name}: {value}" for name, value in extra.items()),
                ]
                if close:
                    head_lines.append("Connection: close")
                writer.write(("\r\n".join(head_lines) + "\r\n\r\n").encode("latin-1") + payload)
                self.last_answer = time.monotonic()
                try:
                    await writer.drain()
                except ConnectionError:
                    return  # the client gave up waiting ("slow" fault): that is the point
                if close or self.close_idle:
                    return
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _respond(self, method: str, target: str, headers: dict, data: bytes) -> tuple | None:
        # A request through a proxy names the whole URL ("absolute form").
        path = target.split("://", 1)[1].partition("/")[2] if "://" in target else target[1:]
        path = "/" + path
        if method == "GET" and path == "/v1/stats":
            return 200, {}, json.dumps(self.stats())  # counters for a client in another process
        if method != "POST" or path != "/v1/chat/completions":
            return 404, {}, '{"error": "not found"}'
        body = json.loads(data) if self.full_bodies else _last_message_body(data)
        self.requests.append(body)
        self.arrivals.append(time.monotonic())
        self.targets.append(target)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.gate and self.in_flight >= self.gate:
            self._gate_open.set()
        try:
            return await self._complete(headers, body, len(data))
        finally:
            # Counted out before the reply goes: the client may send its next request the moment
            # it has the answer.
            self.in_flight -= 1

    async def _complete(self, headers: dict, body: dict, size: int) -> tuple | None:
        if self.api_key and headers.get("authorization") != f"Bearer {self.api_key}":
            return 401, {}, '{"error": {"message": "invalid api key"}}'
        fault = self._next_fault(body)
        if fault:
            self.faults_served[fault[0]] += 1
        if fault and fault[0] == "drop":
            return None
        if fault and fault[0] == "slow":
            await asyncio.sleep(fault[1])
        elif fault:
            return fault
        if not self._gate_open.is_set():
            try:  # a client that never opens `gate` requests gets its answers after a while all the same
                await asyncio.wait_for(self._gate_open.wait(), 30)
            except TimeoutError:
                pass
        await asyncio.sleep(self.latency_s)
        content = self.answer(body)
        self.answered += 1
        payload = {
            "id": f"chatcmpl-{self.answered}",
            "object": "chat.completion",
            "model": body.get("model"),
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
            # A rough count (4 bytes a token): a double has no tokenizer.
            "usage": {"prompt_tokens": size // 4, "completion_tokens": len(content.split())},
        }
        return 200, {}, json.dumps(payload)

    def _next_fault(self, body: dict) -> tuple | None:
        if self.fail_after is not None and self.answered >= self.fail_after:
            return (500, {}, '{"error": "server going down"}')
        if self.faults:
            return self.faults.pop(0)
        return self.fault_for(body) if self.fault_for else None

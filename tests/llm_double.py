"""A stand-in for a remote LLM service: OpenAI chat-completions over real HTTP on 127.0.0.1.

Used by tests/test_llm_openai.py and bench/annotate_throughput.py. It answers after a fixed
latency, counts requests and how many were in flight at once, and can be told to misbehave
first (HTTP errors with headers, malformed bodies, answering too late) or to require an API key.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EMPTY_ANSWER = '{"targets": [], "substrates": []}'


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # The default listen backlog (5) resets connections when 32 clients connect at once.
    request_queue_size = 256


def last_user_text(body: dict) -> str:
    return body["messages"][-1]["content"]


class ChatCompletionsDouble:
    """`with ChatCompletionsDouble(...) as server:` serves at `server.base_url` until the block ends.

    `answer(body) -> str` writes the message content. `faults` is served first, one per request:
    `(status, headers, body_text)` for a raw reply, or `("slow", seconds)` to answer only after
    that many seconds. `fail_after` answers that many requests, then returns HTTP 500 to all.
    """

    def __init__(
        self,
        answer: Callable[[dict], str] = lambda body: EMPTY_ANSWER,
        latency_s: float = 0.0,
        faults: list[tuple] | None = None,
        api_key: str | None = None,
        fail_after: int | None = None,
    ):
        self.answer = answer
        self.latency_s = latency_s
        self.faults = list(faults or [])
        self.api_key = api_key
        self.fail_after = fail_after
        self.requests: list[dict] = []  # bodies, in arrival order
        self.arrivals: list[float] = []
        self.answered = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ChatCompletionsDouble:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def stats(self) -> dict:
        with self._lock:
            return {"requests": len(self.requests), "max_in_flight": self.max_in_flight}

    def _next_fault(self) -> tuple | None:
        with self._lock:
            if self.fail_after is not None and self.answered >= self.fail_after:
                return (500, {}, '{"error": "server going down"}')
            return self.faults.pop(0) if self.faults else None

    def _handler(self):
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in separate writes: without this each reply waits ~40 ms.
            disable_nagle_algorithm = True

            def log_message(self, *args) -> None:  # keep test output quiet
                pass

            def _reply(self, status: int, headers: dict, text: str) -> None:
                data = text.encode("utf8")
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in headers.items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up waiting ("slow" fault): that is the point

            def do_GET(self) -> None:
                # Counters for a client in another process (the benchmark).
                if self.path != "/v1/stats":
                    return self._reply(404, {}, '{"error": "not found"}')
                self._reply(200, {}, json.dumps(double.stats()))

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with double._lock:
                    double.requests.append(body)
                    double.arrivals.append(time.monotonic())
                    double.in_flight += 1
                    double.max_in_flight = max(double.max_in_flight, double.in_flight)
                try:
                    reply = self._serve(body)
                finally:
                    # Counted out before the reply goes: the client may send its next request
                    # the moment it has the answer.
                    with double._lock:
                        double.in_flight -= 1
                self._reply(*reply)

            def _serve(self, body: dict) -> tuple[int, dict, str]:
                if self.path != "/v1/chat/completions":
                    return 404, {}, '{"error": "not found"}'
                if double.api_key and self.headers.get("Authorization") != f"Bearer {double.api_key}":
                    return 401, {}, '{"error": {"message": "invalid api key"}}'
                fault = double._next_fault()
                if fault and fault[0] == "slow":
                    time.sleep(fault[1])
                elif fault:
                    return fault
                time.sleep(double.latency_s)
                content = double.answer(body)
                with double._lock:
                    double.answered += 1
                payload = {
                    "id": f"chatcmpl-{double.answered}",
                    "object": "chat.completion",
                    "model": body.get("model"),
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": content},
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": {
                        "prompt_tokens": sum(len(m["content"].split()) for m in body["messages"]),
                        "completion_tokens": len(content.split()),
                    },
                }
                return 200, {}, json.dumps(payload)

        return Handler

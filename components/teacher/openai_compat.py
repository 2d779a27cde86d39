"""Teacher behind any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, TGI,
Ollama, hosted services), with many requests in flight.

spacy-llm's own OpenAI models cannot serve here: they always check api.openai.com and send one
request at a time. This one keeps up to `max_in_flight` requests open, each worker on its own
keep-alive connection (components.data.http.Connection; httpx where the environment names a
proxy), retries 429, 5xx, timeouts and malformed bodies as components.data.http.RetryPolicy
decides (exponential backoff with full jitter, honouring Retry-After), and stops with a message
naming the URL when the endpoint cannot be reached or refuses the key. The key is read from the
environment variable named in the config and is never logged or cached.

A request that fails every retry, or that the endpoint refuses as bad (HTTP 400, 413, 422: not
retried), costs only its own description (components.teacher.base.NoAnswer): the others go on.
What means the endpoint as a whole is failing stops the run at once: it cannot be reached (at the
start, or once more after every retry), it refuses the key (401, 403), the URL or model is unknown
(404), or `max(max_in_flight, 8)` requests in a row got no answer (a setting every request is
refused for, a server that fails them all).

Per description the client does little: prompts are drawn (and rendered by the task) as request
slots free up, the shared few-shot messages are encoded once (components.teacher.cache.PromptEncoder)
and each request is one buffer written on an open connection. The teacher keeps one event loop
for its life, so that its connections (and TLS sessions) serve every batch spacy-llm sends;
`close()`, or collecting the teacher, closes them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import ssl
import threading
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import certifi
import httpx
from spacy_llm.registry import registry

from components.data.http import (
    ConnectError,
    Connection,
    Endpoint,
    HttpxConnection,
    RequestTimeout,
    RetryPolicy,
    TransportError,
    proxy_for,
)
from components.teacher.base import Answer, NoAnswer, Teacher, TeacherError

logger = logging.getLogger(__name__)

# Requests in a row that got no answer before the run stops (at least max_in_flight of them): no
# longer one unlucky request, but the endpoint failing as a whole.
FAILURES_IN_A_ROW = 8


class OpenAICompatTeacher(Teacher):
    backend = "openai"
    streams_prompts = True

    def __init__(
        self,
        *,
        base_url: str,
        model: str,
        api_key_env: str | None,
        max_in_flight: int,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
        max_retries: int,
        backoff_s: float,
        backoff_max_s: float,
        grammar_field: str | None,
        extra_body: dict,
        cache_dir: str | Path | None,
    ):
        super().__init__(f"openai:{model}", cache_dir)
        if not model:
            raise ValueError("the OpenAI-compatible teacher needs the served model's name (--model)")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        Endpoint(self.url)  # an unusable URL fails here, not at the first request
        self.model = model
        self.api_key_env = api_key_env
        self.max_in_flight = max_in_flight
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.retry = RetryPolicy(max_retries, backoff_s, backoff_max_s)
        self.grammar_field = grammar_field
        # The request body but the messages (and grammar), encoded once.
        settings = {"model": model, "max_tokens": max_tokens, "temperature": temperature, **extra_body}
        self._body_rest = json.dumps(settings, ensure_ascii=False)[1:-1]
        self._tls_context: ssl.SSLContext | None = None
        self._endpoint_now: Endpoint | None = None
        self._pool: list[Connection] = []  # open connections between batches
        self._loop: asyncio.AbstractEventLoop | None = None
        self._finalizer: weakref.finalize | None = None
        # Until the endpoint has answered once, a connection that cannot be opened means a wrong
        # URL: fail at once. Later, it means the server went away for a moment: retry like a 5xx.
        self._reached = False

    @property
    def max_retries(self) -> int:
        return self.retry.retries

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _tls(self) -> ssl.SSLContext:
        # Made once: loading the CA bundle costs ~30 ms. SSL_CERT_FILE / SSL_CERT_DIR as httpx reads them.
        if self._tls_context is None:
            cafile = os.environ.get("SSL_CERT_FILE") or None
            capath = os.environ.get("SSL_CERT_DIR") or None
            self._tls_context = ssl.create_default_context(
                cafile=cafile or (None if capath else certifi.where()), capath=capath
            )
        return self._tls_context

    def _body(self, prompt: dict) -> bytes:
        """The request body: {"messages": [...], "model", "max_tokens", "temperature"[, grammar]}."""
        grammar = ""
        if self.grammar_field and prompt.get("grammar"):
            value = json.dumps(prompt["grammar"], ensure_ascii=False)
            grammar = f", {json.dumps(self.grammar_field)}: {value}"
        messages = self.encoder.messages_json(prompt)
        return f'{{"messages": {messages}, {self._body_rest}{grammar}}}'.encode()

    def _generate(self, prompts: Iterator[dict], deliver: Callable[[int, Answer], None]) -> None:
        if self._loop is None:
            # One event loop for the teacher's life, so that its keep-alive connections (and their
            # TLS sessions) serve every batch spacy-llm sends, not one each.
            self._loop = asyncio.new_event_loop()
            self._finalizer = weakref.finalize(self, _close_loop, self._loop, self._pool)
        try:
            self._loop.run_until_complete(self._ask_all(prompts, deliver))
        except ExceptionGroup as group:
            # The TaskGroup wraps the failure that stopped the run; show that failure itself.
            raise group.exceptions[0] from None

    def close(self) -> None:
        """Close the open connections and the event loop (also done when the teacher is collected)."""
        if self._finalizer is not None:
            self._finalizer()
        self._loop = self._finalizer = None

    def _endpoint(self) -> Endpoint:
        headers = self._headers()  # read each time: the key may change between runs
        if self._endpoint_now is None or self._endpoint_now.headers != headers:
            tls = self._tls() if self.url.startswith("https:") else None
            self._endpoint_now = Endpoint(self.url, headers, tls)
            while self._pool:  # opened with the old headers' endpoint
                self._pool.pop().close()
        return self._endpoint_now

    async def _ask_all(self, prompts: Iterator[dict], deliver: Callable[[int, Answer], None]) -> None:
        todo = enumerate(prompts)
        endpoint = self._endpoint()
        client = None
        if proxy_for(self.url):
            client = httpx.AsyncClient(
                verify=endpoint.tls or True,
                limits=httpx.Limits(max_connections=self.max_in_flight),
                trust_env=True,
            )

        failed_in_a_row = 0
        give_up_after = max(self.max_in_flight, FAILURES_IN_A_ROW)

        async def worker() -> None:
            nonlocal failed_in_a_row
            if client is not None:
                connection = HttpxConnection(client, endpoint)
            else:
                connection = self._pool.pop() if self._pool else Connection(endpoint)
            try:
                # The workers share the iterator: each takes the next prompt (made as it is taken).
                for i, prompt in todo:
                    answer = await self._ask(connection, prompt)
                    if isinstance(answer, NoAnswer):
                        logger.warning("%s: giving up on one description: %s", self.url, answer.error)
                        failed_in_a_row += 1
                        if failed_in_a_row >= give_up_after:
                            raise TeacherError(
                                f"the LLM endpoint {self.url} failed {failed_in_a_row} requests in a row; "
                                f"last: {answer.error}"
                            )
                    else:
                        failed_in_a_row = 0
                    deliver(i, answer)
            except BaseException:
                connection.close()
                raise
            if client is None:
                self._pool.append(connection)  # open for the next batch

        try:
            # A TaskGroup cancels the other requests as soon as one fails for good.
            async with asyncio.TaskGroup() as group:
                for _ in range(self.max_in_flight):
                    group.create_task(worker())
                    # One loop turn per new worker: the first requests go out while later workers
                    # are still connecting, instead of after all of them.
                    await asyncio.sleep(0)
        finally:
            if client is not None:
                await client.aclose()

    async def _ask(self, connection: Connection | HttpxConnection, prompt: dict) -> Answer | NoAnswer:
        body = self._body(prompt)
        attempt = 0
        while True:
            retry_after = None
            cannot_connect = False
            try:
                response = await connection.post(body, self.timeout_s)
            except RequestTimeout:
                problem = f"no answer within {self.timeout_s:g} s"
            except ConnectError as e:
                if not self._reached:
                    raise TeacherError(f"cannot reach the LLM endpoint {self.url}: {e}") from None
                problem, cannot_connect = f"connection failed ({e})", True
            except TransportError as e:  # connected, but the answer did not come whole
                problem = str(e)
            else:
                self._reached = True
                status = response.status
                if status in (401, 403):
                    raise TeacherError(
                        f"the LLM endpoint {self.url} refused the API key (HTTP {status}); "
                        f"check the environment variable {self.api_key_env!r}"
                    )
                if self.retry.retryable(status):
                    problem, retry_after = f"HTTP {status}", response.headers.get("retry-after")
                elif not 200 <= status < 300:
                    if status == 404:  # a wrong URL or model name
                        raise TeacherError(
                            f"the LLM endpoint {self.url} answered HTTP 404: {response.text[:500]}"
                        )
                    return NoAnswer(f"HTTP {status}: {response.text[:200]}")  # not retried: same answer
                else:
                    try:
                        return self._answer(json.loads(response.body))
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        problem = f"malformed response body ({e!r}): {response.text[:200]!r}"
            wait = self.retry.wait_s(attempt, retry_after)
            if wait is None:
                tries = f"{attempt + 1} tr{'ies' if attempt else 'y'}"
                if cannot_connect:  # still down after every retry: no other request will do better
                    raise TeacherError(
                        f"cannot reach the LLM endpoint {self.url} any more ({tries}): {problem}"
                    )
                return NoAnswer(f"failed {tries}; last: {problem}")
            logger.warning("%s: %s; retrying in %.1f s", self.url, problem, wait)
            await asyncio.sleep(wait)
            attempt += 1

    @staticmethod
    def _answer(payload: dict) -> Answer:
        content = payload["choices"][0]["message"]["content"]
        if content is not None and not isinstance(content, str):
            raise TypeError(f"message content is {type(content).__name__}, not a string")
        usage = payload.get("usage") or {}
        tokens_in, tokens_out = (int(usage.get(k) or 0) for k in ("prompt_tokens", "completion_tokens"))
        return Answer(content or "", tokens_in, tokens_out)


def _close_loop(loop: asyncio.AbstractEventLoop, pool: list[Connection]) -> None:
    connections = list(pool)
    pool.clear()
    if loop.is_closed():
        return

    async def close_all() -> None:
        await asyncio.gather(*(c.aclose() for c in connections))

    def finish() -> None:
        loop.run_until_complete(close_all())
        loop.close()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        finish()
    else:  # collected while another loop runs on this thread: finish the teacher's on a thread of its own
        thread = threading.Thread(target=finish)
        thread.start()
        thread.join()


@registry.llm_models("assay_ner.OpenAICompatible.v1")
def openai_compatible(
    base_url: str,
    model: str,
    api_key_env: str | None = "OPENAI_API_KEY",
    max_in_flight: int = 32,
    max_tokens: int = 256,
    temperature: float = 0.0,
    timeout_s: float = 120.0,
    max_retries: int = 6,
    backoff_s: float = 1.0,
    backoff_max_s: float = 60.0,
    grammar_field: str | None = None,
    extra_body: dict | None = None,
    cache_dir: str | None = None,
) -> OpenAICompatTeacher:
    """An OpenAI-compatible chat endpoint. `grammar_field` names the request field that takes the
    task's GBNF grammar where the server supports one ("grammar" for llama.cpp server);
    `extra_body` adds fields a server takes beyond OpenAI's (llama.cpp: {"repeat_penalty": 1.0})."""
    return OpenAICompatTeacher(
        base_url=base_url,
        model=model,
        api_key_env=api_key_env or None,
        max_in_flight=max_in_flight,
        max_tokens=max_tokens,
        temperature=temperature,
        timeout_s=timeout_s,
        max_retries=max_retries,
        backoff_s=backoff_s,
        backoff_max_s=backoff_max_s,
        grammar_field=grammar_field or None,
        extra_body=dict(extra_body or {}),
        cache_dir=cache_dir or None,
    )

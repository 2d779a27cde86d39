"""Teacher behind any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, TGI,
Ollama, hosted services), with many requests in flight.

spacy-llm's own OpenAI models cannot serve here: they always check api.openai.com and send one
request at a time. This one keeps up to `max_in_flight` requests open, retries 429, 5xx,
timeouts and malformed bodies with exponential backoff (honouring Retry-After), and stops with
a message naming the URL when the endpoint cannot be reached or refuses the key. The key is
read from the environment variable named in the config and is never logged or cached.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import os
import random
import socket
import ssl
import time
from collections.abc import Callable
from pathlib import Path

import certifi
import httpx
from spacy_llm.registry import registry

from components.teacher.base import Answer, Teacher, TeacherError

logger = logging.getLogger(__name__)

# The longest wait we accept from a Retry-After header, so that a confused server cannot park the run.
MAX_RETRY_AFTER_S = 300.0


def _retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


class OpenAICompatTeacher(Teacher):
    backend = "openai"

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
        cache_dir: str | Path | None,
    ):
        super().__init__(f"openai:{model}", cache_dir)
        if not model:
            raise ValueError("the OpenAI-compatible teacher needs the served model's name (--model)")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be at least 1, got {max_in_flight}")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model = model
        self.api_key_env = api_key_env
        self.max_in_flight = max_in_flight
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.grammar_field = grammar_field
        # Until one request has succeeded, a refused connection means a wrong URL: fail at once.
        # Later, it means the server went away for a moment: retry like a 5xx.
        self._reached = False

    def _headers(self) -> dict[str, str]:
        key = os.environ.get(self.api_key_env) if self.api_key_env else None
        return {"Authorization": f"Bearer {key}"} if key else {}

    def _body(self, prompt: dict) -> dict:
        body = {
            "model": self.model,
            "messages": prompt["messages"],
            "max_tokens": self.max_tokens,
            "temperature": self.temperature,
        }
        if self.grammar_field and prompt.get("grammar"):
            body[self.grammar_field] = prompt["grammar"]
        return body

    def _generate(self, prompts: list[dict], deliver: Callable[[int, Answer], None]) -> None:
        try:
            asyncio.run(self._ask_all(prompts, deliver))
        except ExceptionGroup as group:
            # The TaskGroup wraps the failure that stopped the run; show that failure itself.
            raise group.exceptions[0] from None

    async def _ask_all(self, prompts: list[dict], deliver: Callable[[int, Answer], None]) -> None:
        todo = iter(enumerate(prompts))
        headers = self._headers()
        # One TLS context for all workers: loading the CA bundle costs ~30 ms per client.
        tls = ssl.create_default_context(cafile=certifi.where())

        async def worker() -> None:
            # One connection per worker: httpx's shared pool spends more CPU on bookkeeping across
            # 32 connections than on the requests themselves.
            # TCP_NODELAY: httpx writes headers and body separately; with Nagle's algorithm the body
            # waits for the server's delayed ACK (~40 ms a request).
            transport = httpx.AsyncHTTPTransport(
                verify=tls,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
                socket_options=[(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            )
            async with httpx.AsyncClient(
                timeout=self.timeout_s, headers=headers, transport=transport
            ) as client:
                for i, prompt in todo:  # the workers share the iterator: each takes the next prompt
                    deliver(i, await self._ask(client, prompt))

        # A TaskGroup cancels the other requests as soon as one fails for good.
        async with asyncio.TaskGroup() as group:
            for _ in range(min(self.max_in_flight, len(prompts))):
                group.create_task(worker())

    async def _ask(self, client: httpx.AsyncClient, prompt: dict) -> Answer:
        body = self._body(prompt)
        attempt = 0
        while True:
            wait = None
            try:
                response = await client.post(self.url, json=body)
            except httpx.TimeoutException:
                problem = f"no answer within {self.timeout_s:g} s"
            except httpx.TransportError as e:
                if not self._reached:
                    raise TeacherError(f"cannot reach the LLM endpoint {self.url}: {e!r}") from None
                problem = f"connection failed ({e!r})"
            else:
                status = response.status_code
                if status in (401, 403):
                    raise TeacherError(
                        f"the LLM endpoint {self.url} refused the API key (HTTP {status}); "
                        f"check the environment variable {self.api_key_env!r}"
                    )
                if status == 429 or status >= 500:
                    problem, wait = f"HTTP {status}", _retry_after_s(response)
                elif status >= 400:
                    raise TeacherError(
                        f"the LLM endpoint {self.url} answered HTTP {status}: {response.text[:500]}"
                    )
                else:
                    self._reached = True
                    try:
                        return self._answer(response.json())
                    except (ValueError, KeyError, IndexError, TypeError) as e:
                        problem = f"malformed response body ({e!r}): {response.text[:200]!r}"
            if attempt == self.max_retries:
                raise TeacherError(f"the LLM endpoint {self.url} failed {attempt + 1} times; last: {problem}")
            if wait is None:
                # Full jitter keeps many clients that failed together from retrying together.
                wait = random.uniform(0, min(self.backoff_max_s, self.backoff_s * 2**attempt))
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
    cache_dir: str | None = None,
) -> OpenAICompatTeacher:
    """An OpenAI-compatible chat endpoint. `grammar_field` names the request field that takes the
    task's GBNF grammar where the server supports one ("grammar" for llama.cpp server)."""
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
        cache_dir=cache_dir or None,
    )

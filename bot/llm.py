"""The model gateway: one shared OpenAI-compatible client and its retries; its faults are typed
in bot/model_errors.py."""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx2  # The openai client's HTTP layer: what a stream being read raises.
import openai

from bot.engine.house_rules import Pricing
from bot.engine.prompts import Message
from bot.engine.spend import TokenUsage, WrittenVerse
from bot.engine.verses import clean_verse
from bot.errors import ConfigError
from bot.model_errors import (
    ModelError,
    is_the_models_fault,
    model_error,
    parse_retry_after,
    provider_body_error,
)
from bot.models import ModelInfo
from bot.observe import NO_OBSERVER, Observer
from bot.settings import Settings

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10.0
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 20.0
    # A provider asking us to wait longer than this is treated as down for this verse.
    max_retry_after: float = 60.0

    def delay(self, attempt: int, retry_after: float | None, rng: random.Random) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): full jitter, never under
        the provider's Retry-After."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return max(rng.uniform(0, ceiling), retry_after or 0.0)


@dataclass(frozen=True, slots=True)
class Completion:
    """A whole answer and the tokens the provider counted for it."""

    content: str
    prompt_tokens: int = 0
    completion_tokens: int = 0


class _Retries:
    """One request's retry budget, shared by verses and whole answers."""

    def __init__(
        self, model: str, policy: RetryPolicy, rng: random.Random, observe: Observer
    ) -> None:
        self._model = model
        self._observe = observe
        self._policy = policy
        self._rng = rng
        self._attempt = 1

    async def wait_or_raise(self, error: ModelError) -> None:
        """Wait before the next attempt, or raise ``error`` if it is final or retries are spent."""
        self._observe.model_failed(self._model, error.status)
        if not error.retryable or self._attempt >= self._policy.attempts:
            raise error
        if (error.retry_after or 0) > self._policy.max_retry_after:
            raise error
        delay = self._policy.delay(self._attempt, error.retry_after, self._rng)
        log.info("Retrying %s in %.1fs after: %s", self._model, delay, error)
        self._attempt += 1
        await asyncio.sleep(delay)


class LLMClient:
    """Verses and judges' answers through one ``AsyncOpenAI`` client shared by every battle."""

    def __init__(
        self,
        settings: Settings,
        *,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        observe: Observer = NO_OBSERVER,
    ) -> None:
        self._settings = settings
        self._observe = observe  # each verse's time and each failed attempt
        self._policy = policy or RetryPolicy(attempts=settings.llm_max_attempts)
        self._rng = rng or random.Random()
        headers = {"X-Title": settings.llm_app_title}
        if settings.llm_app_url:
            headers["HTTP-Referer"] = settings.llm_app_url
        self._client = openai.AsyncOpenAI(
            base_url=settings.llm_base_url,
            # The client refuses to start without a key; requests check for the real one first.
            api_key=settings.llm_api_key or "missing",
            max_retries=0,  # Retries are ours: they also cover errors that arrive inside a 200.
            timeout=openai.Timeout(settings.llm_stall_seconds, connect=CONNECT_TIMEOUT_SECONDS),
            default_headers=headers,
            # aiohttp as the transport: with hundreds of verses streaming at once it costs about
            # half the CPU of the default httpx pool (benchmarks/load.py).
            http_client=openai.DefaultAioHttpClient(
                timeout=openai.Timeout(settings.llm_stall_seconds, connect=CONNECT_TIMEOUT_SECONDS)
            ),
        )

    async def close(self) -> None:
        await self._client.close()

    def require_key(self) -> None:
        if not self._settings.llm_api_key:
            raise ConfigError("No model API key: set LLM_API_KEY (or OPENROUTER_API_KEY).")

    async def generate_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: ProgressCallback | None = None,
    ) -> str:
        """A cleaned, non-empty verse. Raises ModelError once retries are spent."""
        return (await self.write_verse(model, messages, on_progress)).text

    async def write_verse(
        self,
        model: str,
        messages: Sequence[Message],
        on_progress: ProgressCallback | None = None,
    ) -> WrittenVerse:
        """A cleaned, non-empty verse and the tokens it took, as the provider reported them
        (an empty answer that was retried counts too). Raises ModelError once retries are
        spent."""
        self.require_key()
        retries = _Retries(model, self._policy, self._rng, self._observe)
        asked_at = time.monotonic()
        empty_retry_left = True
        spent: TokenUsage | None = None
        while True:
            try:
                written = await self._stream_once(model, messages, on_progress)
            except ModelError as error:
                # A stream cut mid-verse may have been billed: its usage counts all the same.
                spent = error.usage = TokenUsage.total(spent, error.usage)
                await retries.wait_or_raise(error)
                continue
            spent = TokenUsage.total(spent, written.usage)
            verse = clean_verse(written.text)
            if verse is not None:
                self._observe.verse_written(model, time.monotonic() - asked_at)
                return WrittenVerse(verse, spent)
            if not empty_retry_left:
                failed = ModelError(model, "answered with an empty verse twice")
                failed.usage = spent
                raise failed
            empty_retry_left = False
            log.info("Retrying %s once after an empty verse", model)

    async def complete(
        self,
        model: str,
        messages: Sequence[Message],
        *,
        response_format: Mapping[str, Any] | None = None,
    ) -> Completion:
        """One whole (not streamed) answer, with the verses' retries. Raises ModelError.

        The answer arrives all at once, so the stall limit does not apply; the whole request
        has ``LLM_TIMEOUT_SECONDS``.
        """
        self.require_key()
        retries = _Retries(model, self._policy, self._rng, self._observe)
        while True:
            try:
                return await self._complete_once(model, messages, response_format)
            except ModelError as error:
                await retries.wait_or_raise(error)

    async def _complete_once(
        self,
        model: str,
        messages: Sequence[Message],
        response_format: Mapping[str, Any] | None,
    ) -> Completion:
        limit = self._settings.llm_timeout_seconds
        try:
            async with asyncio.timeout(limit):
                response = await self._client.chat.completions.create(
                    model=model,
                    messages=list(messages),  # type: ignore[arg-type]
                    response_format=(
                        dict(response_format)  # type: ignore[arg-type]
                        if response_format is not None
                        else openai.NOT_GIVEN
                    ),
                    timeout=openai.Timeout(limit, connect=CONNECT_TIMEOUT_SECONDS),
                )
        except TimeoutError:
            raise ModelError(model, f"no answer within {limit:g} seconds", retryable=True) from None
        except openai.OpenAIError as error:
            raise model_error(model, error) from error
        extra = response.model_extra or {}
        if isinstance(extra.get("error"), dict):
            # An error object inside a 200 answer.
            raise provider_body_error(model, extra, "the provider failed")
        if not response.choices:
            raise ModelError(model, "the provider sent no answer", retryable=True)
        choice = response.choices[0]
        if choice.finish_reason == "error":
            raise ModelError(model, "the generation failed", retryable=True)
        usage = response.usage
        return Completion(
            content=choice.message.content or "",
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    async def _stream_once(
        self, model: str, messages: Sequence[Message], on_progress: ProgressCallback | None
    ) -> WrittenVerse:
        """One streamed request. The SSE lines are read here rather than through the client's
        ``Stream``, which builds a pydantic object per chunk: with hundreds of verses streaming
        at once that was a third of the bot's CPU (benchmarks/load.py)."""
        parts: list[str] = []
        received = 0
        usage: TokenUsage | None = None
        try:
            async with asyncio.timeout(self._settings.llm_timeout_seconds):
                async with self._client.chat.completions.with_streaming_response.create(
                    model=model,
                    messages=list(messages),  # type: ignore[arg-type]
                    max_tokens=self._settings.llm_max_tokens,
                    stream=True,
                    stream_options={"include_usage": True},
                ) as response:
                    events = SSEEvents()
                    done = False
                    async for data in events.data_from(response.iter_bytes()):
                        # Past [DONE], the rest is read to its end, so that the connection
                        # goes back to the pool rather than being closed half-read.
                        done = done or data == "[DONE]"
                        if done:
                            continue
                        chunk = _json_object(model, data)
                        # Read first: an error chunk may carry what the failed stream cost.
                        usage = _usage(chunk.get("usage")) or usage
                        if chunk.get("error"):
                            # An error object inside a 200 answer or as an SSE event.
                            raise provider_body_error(model, chunk, "the provider failed")
                        for choice in chunk.get("choices") or ():
                            if choice.get("finish_reason") == "error":
                                raise ModelError(
                                    model, "the generation failed mid-verse", retryable=True
                                )
                            content = (choice.get("delta") or {}).get("content")
                            if content:
                                parts.append(content)
                                received += len(content)
                                if on_progress:
                                    on_progress(received)
        except ModelError as error:
            error.usage = usage  # what the stream reported before it failed, if anything
            raise
        except TimeoutError:
            raise ModelError(
                model,
                f"no verse within {self._settings.llm_timeout_seconds:g} seconds",
                retryable=True,
            ) from None
        except openai.OpenAIError as error:
            raise model_error(model, error) from error
        except httpx2.TimeoutException:
            raise ModelError(model, "the provider stopped answering", retryable=True) from None
        except httpx2.TransportError:
            raise ModelError(model, "the provider dropped the answer", retryable=True) from None
        return WrittenVerse("".join(parts), usage)

    async def list_models(self) -> list[ModelInfo]:
        try:
            page = await self._client.models.list()
        except openai.OpenAIError as error:
            raise model_error("model list", error) from error
        models = []
        for entry in page.data:
            extra = entry.model_extra or {}
            top_provider = extra.get("top_provider") or {}
            models.append(
                ModelInfo(
                    id=entry.id,
                    name=str(extra.get("name") or entry.id),
                    context_length=extra.get("context_length"),
                    max_completion_tokens=top_provider.get("max_completion_tokens"),
                    pricing=_pricing(extra.get("pricing")),
                )
            )
        return models


class SSEEvents:
    """Server-sent events from a byte stream: each event's data, with its event name.

    Comment lines (": keep-alive", which OpenRouter sends while a model thinks) and fields other
    than ``event`` and ``data`` are skipped; an event ends at a blank line.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._event = ""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[tuple[str, str]]:
        """The events ``chunk`` completes, as (event name, data) pairs."""
        events: list[tuple[str, str]] = []
        *lines, self._pending = (self._pending + chunk).split(b"\n")
        for raw in lines:
            line = raw.rstrip(b"\r").decode()
            if not line:
                if self._data:
                    events.append((self._event, "\n".join(self._data)))
                self._event, self._data = "", []
            elif line.startswith("data:"):
                self._data.append(line[5:].removeprefix(" "))
            elif line.startswith("event:"):
                self._event = line[6:].strip()
        return events

    def finish(self) -> list[tuple[str, str]]:
        """The last event, when the stream ended without a blank line after it."""
        return self.feed(b"\n\n") if self._pending or self._data else []

    async def data_from(self, chunks: AsyncIterable[bytes]) -> AsyncIterator[str]:
        """Each event's data; an ``error`` event's data is handed on as an error object."""
        async for chunk in chunks:
            for event, data in self.feed(chunk):
                yield _as_error(data) if event == "error" else data
        for event, data in self.finish():
            yield _as_error(data) if event == "error" else data


def _as_error(data: str) -> str:
    """An ``event: error`` payload as a chunk with an ``error`` key, however it was written."""
    try:
        body = json.loads(data)
    except ValueError:
        body = {"message": data}
    if not isinstance(body, dict) or "error" not in body:
        body = {"error": body if isinstance(body, dict) else {"message": str(body)}}
    return json.dumps(body)


def _json_object(model: str, data: str) -> dict[str, Any]:
    try:
        chunk = json.loads(data)
    except ValueError:
        chunk = None
    if not isinstance(chunk, dict):
        raise ModelError(model, "the provider sent a garbled answer", retryable=True)
    return chunk


def _usage(report: object) -> TokenUsage | None:
    """The provider's usage report (the last chunk's ``usage``), with OpenRouter's ``cost``
    in USD when it sends one."""
    if not isinstance(report, dict):
        return None
    try:
        prompt = int(report.get("prompt_tokens") or 0)
        completion = int(report.get("completion_tokens") or 0)
    except (TypeError, ValueError):
        return None
    cost = report.get("cost")
    return TokenUsage(
        prompt, completion, float(cost) if isinstance(cost, int | float) and cost >= 0 else None
    )


def _pricing(listed: object) -> Pricing | None:
    return Pricing.from_catalog(listed) if isinstance(listed, dict) else None


__all__ = ["LLMClient", "ModelError", "is_the_models_fault", "model_error", "parse_retry_after"]

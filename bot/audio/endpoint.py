"""Any OpenAI-compatible speech endpoint (``POST /audio/speech``), through the official client.

Text over the endpoint's 4,096 characters goes as several requests, run at once under a bound
and joined in order. Speech is asked for as WAV or raw PCM (24 kHz, 16-bit, mono), so nothing is
decoded twice, and is kept as the engine made it: the delivery's pace is the endpoint's own
``speed``, never a stretch afterwards. Every fault is one TrackError naming the endpoint and the
status; retries are the client's own (at most its default two, with its backoff and Retry-After).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Literal

import openai

from bot.audio.codec import decode_audio
from bot.engine.track import SPEECH_CHARS, speech_chunks
from bot.services.tracks.speech import Speech, TrackError, spoken_in_order

DEFAULT_MODEL = "gpt-4o-mini-tts"
# OpenAI's voices for its speech models; the host takes onyx, the MCs the others.
OPENAI_VOICES: tuple[str, ...] = (
    "alloy",
    "ash",
    "ballad",
    "coral",
    "echo",
    "fable",
    "onyx",
    "nova",
    "sage",
    "shimmer",
    "verse",
)
DEFAULT_HOST_VOICE = "onyx"
PCM_RATE = 24_000  # what "pcm" means on OpenAI's endpoint: raw 24 kHz, 16-bit, mono
MAX_RETRIES = 2  # the openai client's default
TIMEOUT_SECONDS = 120.0  # a whole request: 4,096 characters can take a while to say
CONNECT_TIMEOUT_SECONDS = 10.0
CONCURRENT_REQUESTS = 4
MIN_SPEED, MAX_SPEED = 0.25, 4.0

STATUS_REASONS = {
    400: "the request was rejected",
    401: "the API key was rejected",
    402: "the account is out of credits",
    403: "the request was refused",
    404: "no such model or voice",
    408: "timed out",
    413: "the text is too long",
    429: "rate limited",
}
_NOT_AUDIO_TYPES = ("application/json", "text/", "application/xml", "application/problem")

ResponseFormat = Literal["wav", "pcm"]


class SpeechEndpoint:
    """``SpeechEngine`` over an OpenAI-compatible speech endpoint; ``await close()`` when done."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        model: str = DEFAULT_MODEL,
        voices: Sequence[str] = OPENAI_VOICES,
        host_voice: str = DEFAULT_HOST_VOICE,
        speed: float | None = None,
        timeout: float = TIMEOUT_SECONDS,
        *,
        response_format: ResponseFormat = "wav",
        max_retries: int = MAX_RETRIES,
        concurrency: int = CONCURRENT_REQUESTS,
    ) -> None:
        if speed is not None and not MIN_SPEED <= speed <= MAX_SPEED:
            raise ValueError(f"speed must be between {MIN_SPEED} and {MAX_SPEED}")
        if response_format not in ("wav", "pcm"):
            raise ValueError("response_format must be wav or pcm")
        if not 0 <= max_retries <= MAX_RETRIES:
            raise ValueError(f"max_retries must be between 0 and {MAX_RETRIES}")
        self.name = base_url.rstrip("/")
        self.voices: tuple[str, ...] = tuple(v for v in dict.fromkeys(voices) if v != host_voice)
        if not self.voices:
            raise ValueError("a speech endpoint needs at least one voice besides the host's")
        self.host_voice = host_voice
        self.model = model
        self.speed = speed
        self.response_format: ResponseFormat = response_format
        self._concurrency = concurrency
        self._max_retries = max_retries
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            # The client refuses to start without a key; the endpoint then answers 401 itself.
            api_key=api_key or "missing",
            max_retries=max_retries,
            timeout=openai.Timeout(timeout, connect=CONNECT_TIMEOUT_SECONDS),
        )

    async def close(self) -> None:
        await self._client.close()

    async def speak(self, text: str, voice: str) -> Speech:
        """``text`` spoken in ``voice``, in as many requests as its length needs, in order."""
        chunks = speech_chunks(text, SPEECH_CHARS)
        return await spoken_in_order(self._speak_chunk(chunk, voice) for chunk in chunks)

    async def _speak_chunk(self, text: str, voice: str) -> Speech:
        async with self._semaphore():
            audio, content_type = await self._request(text, voice)
        if not audio or _is_not_audio(content_type):
            raise self._not_audio(content_type, audio)
        pcm_rate = PCM_RATE if self.response_format == "pcm" else None
        try:
            samples = await asyncio.to_thread(decode_audio, audio, pcm_rate=pcm_rate)
        except TrackError:
            reason = f"answered with {_kind(content_type, audio)} that cannot be decoded as audio"
            raise self._error(reason, 200) from None
        if samples.size == 0:
            raise self._error("answered with no sound", 200)
        return Speech(samples)

    async def _request(self, text: str, voice: str) -> tuple[bytes, str]:
        options = {} if self.speed is None else {"speed": self.speed}
        try:
            response = await self._client.audio.speech.create(
                model=self.model,
                voice=voice,
                input=text,
                response_format=self.response_format,
                **options,
            )
        except openai.APITimeoutError:
            raise self._error("timed out", None) from None
        except openai.APIConnectionError as error:
            raise self._error(f"unreachable ({_connection_reason(error)})", None) from None
        except openai.APIStatusError as error:
            raise self._status_error(error) from None
        content_type = response.response.headers.get("content-type", "")
        return response.content, content_type

    def _semaphore(self) -> asyncio.Semaphore:
        """The bound on requests in flight, one per event loop."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self._concurrency))
        return self._slots[1]

    def _status_error(self, error: openai.APIStatusError) -> TrackError:
        status = error.status_code
        reason = STATUS_REASONS.get(status)
        if reason is None:
            reason = "internal error" if status >= 500 else "refused"
        # The client retries these (and connection faults) before giving up.
        retried = status in (408, 409, 429) or status >= 500
        if retried and self._max_retries:
            plural = "y" if self._max_retries == 1 else "ies"
            reason += f" after {self._max_retries} retr{plural}"
        return self._error(reason, status)

    def _not_audio(self, content_type: str, body: bytes) -> TrackError:
        return self._error(f"answered with {_kind(content_type, body)}, not audio", 200)

    def _error(self, reason: str, status: int | None) -> TrackError:
        """``Speech endpoint URL: reason (status)``, one line."""
        suffix = f" ({status})" if status is not None else ""
        return TrackError(f"Speech endpoint {self.name}: {reason}{suffix}", status=status)


def _is_not_audio(content_type: str) -> bool:
    content_type = content_type.lower()
    return any(content_type.startswith(prefix) for prefix in _NOT_AUDIO_TYPES)


def _kind(content_type: str, body: bytes) -> str:
    """What the body was, for the message: "an empty body", "a text/html body"."""
    if not body:
        return "an empty body"
    media = content_type.split(";")[0].strip()
    return f"a {media} body" if media else "a body of no stated type"


def _connection_reason(error: openai.APIConnectionError) -> str:
    """The innermost cause's words, e.g. "connection refused"."""
    cause: BaseException | None = error
    words = ""
    while cause is not None:
        if isinstance(cause, ConnectionRefusedError):
            return "connection refused"
        text = str(cause).strip()
        if text and text != "Connection error.":
            words = text.splitlines()[0]
        cause = cause.__cause__ or cause.__context__
    lowered = words.lower()
    if "refused" in lowered or "errno 111" in lowered:
        return "connection refused"
    return words or "connection error"

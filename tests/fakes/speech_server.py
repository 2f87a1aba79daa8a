"""A local OpenAI-compatible speech server: each voice answers with a tone of its own pitch.

``POST /v1/audio/speech`` checks the request as OpenAI does (auth, model, input of 1 to 4,096
characters, voice, response_format, speed) and answers a sine tone at ``tone_hz(voice)`` lasting
``tone_seconds(input)`` (20 ms a character, at least 100 ms): as WAV or raw PCM (24 kHz, 16-bit,
mono), or encoded through PyAV for mp3, opus, aac and flac. So a test hears which voice spoke
which part, and for how long, by measuring the pitch and length of the decoded samples.

It runs aiohttp on its own event loop in a background thread, like the model server, so sync and
async tests reach it over real HTTP at ``server.base_url``. Faults are queued with
``server.fault(...)`` and used one per request, in order:

    with SpeechServer() as server:
        server.fault(HttpError(429), HttpError(429), HttpError(429))  # three refusals
        server.fault(NotAudio())  # then a 200 whose body is a web page
        server.latency = 1.0  # every answer a second late
        server.requests()  # what was asked, in arrival order
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import math
import threading
import time
import wave
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import av
import numpy as np
from aiohttp import web

from tests.fakes.background_server import BackgroundServer

API_PREFIX = "/v1"
MODELS = ("gpt-4o-mini-tts", "tts-1", "tts-1-hd")
VOICES = (
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
FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
CONTENT_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": "audio/pcm",
}
MAX_INPUT_CHARS = 4096
RATE = 24_000  # the rate of "wav" and "pcm" answers, as OpenAI's
SECONDS_PER_CHAR = 0.02
MIN_SECONDS = 0.1
AMPLITUDE = 0.5
# The pitch of each of OpenAI's voices: 200 Hz for alloy, then 100 Hz higher for each one after.
TONES: dict[str, float] = {voice: 200.0 + 100.0 * index for index, voice in enumerate(VOICES)}
_NOT_AUDIO_BODY = b"<!doctype html><html><body><h1>Welcome to nginx!</h1></body></html>"


def tone_hz(voice: str) -> float:
    """The pitch a voice answers with: ``TONES`` for OpenAI's voices; any other voice a pitch
    from 1,500 Hz to 2,990 Hz in 10 Hz steps, from a hash of its name (never one of ``TONES``)."""
    if voice in TONES:
        return TONES[voice]
    digest = hashlib.sha256(voice.encode("utf-8")).digest()
    return 1500.0 + 10.0 * (int.from_bytes(digest[:4], "big") % 150)


def tone_seconds(text: str, seconds_per_char: float = SECONDS_PER_CHAR) -> float:
    """How long the answer to ``text`` lasts."""
    return max(MIN_SECONDS, seconds_per_char * len(text))


def tone(voice: str, seconds: float, rate: int = RATE) -> np.ndarray:
    """The answer's samples: a sine at ``tone_hz(voice)``, as 16-bit integers."""
    count = round(seconds * rate)
    phase = 2 * math.pi * tone_hz(voice) * np.arange(count) / rate
    return np.round(AMPLITUDE * 32767 * np.sin(phase)).astype("<i2")


# -- faults ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HttpError:
    """An HTTP error status with OpenAI's error body; ``retry_after`` is sent as ``Retry-After``
    and ``retry-after-ms``, which the openai client honours (a small one keeps retries quick)."""

    status: int
    message: str = "The server had an error while processing your request."
    retry_after: float | None = None


@dataclass(frozen=True)
class NotAudio:
    """HTTP 200 whose body is not audio: by default a web page, as a misconfigured proxy sends."""

    body: bytes = _NOT_AUDIO_BODY
    content_type: str = "text/html"


@dataclass(frozen=True)
class Slow:
    """Answer normally, ``seconds`` late."""

    seconds: float


@dataclass(frozen=True)
class Disconnect:
    """Close the connection without answering."""


Fault = HttpError | NotAudio | Slow | Disconnect


@dataclass(frozen=True)
class SpeechRequest:
    """A request that passed auth, as received (invalid ones included, with ``status`` 400)."""

    model: str
    input: str
    voice: str
    response_format: str
    speed: float | None
    body: dict[str, Any]
    headers: dict[str, str]
    received_at: float
    status: int = 200


class SpeechServer(BackgroundServer):
    """An OpenAI speech look-alike: ``with SpeechServer() as server: ...`` then ``base_url``."""

    name = "speech-server"

    def __init__(
        self,
        *,
        api_key: str = "test-key",
        models: Iterable[str] = MODELS,
        voices: Iterable[str] = VOICES,
        latency: float = 0.0,
        seconds_per_char: float = SECONDS_PER_CHAR,
        port: int = 0,
    ) -> None:
        self.api_key = api_key
        self.models = tuple(models)
        self.voices = tuple(voices)
        self.latency = latency
        self.seconds_per_char = seconds_per_char
        super().__init__(port)
        self._lock = threading.Lock()
        self._faults: deque[Fault] = deque()
        self._requests: list[SpeechRequest] = []
        self._in_flight = 0
        self._most_in_flight = 0

    def _app(self) -> web.Application:
        app = web.Application(middlewares=[_json_errors])
        app.router.add_post(f"{API_PREFIX}/audio/speech", self._speech)
        return app

    # -- scripting and inspection (thread-safe) ----------------------------------------------

    def fault(self, *faults: Fault) -> None:
        """Queue faults; each is used by the next request that passes validation, in order."""
        with self._lock:
            self._faults.extend(faults)

    def fail(self, status: int, times: int = 1, *, retry_after: float | None = None) -> None:
        """The next ``times`` requests answer ``status``."""
        self.fault(*[HttpError(status, retry_after=retry_after)] * times)

    def requests(self) -> list[SpeechRequest]:
        """Every request that passed auth, in arrival order."""
        with self._lock:
            return list(self._requests)

    @property
    def most_in_flight(self) -> int:
        """The most requests that were being answered at once."""
        with self._lock:
            return self._most_in_flight

    def reset(self) -> None:
        """Forget queued faults and everything recorded; latency back to none."""
        with self._lock:
            self._faults.clear()
            self._requests.clear()
            self._most_in_flight = 0
            self.latency = 0.0

    # -- the endpoint ------------------------------------------------------------------------

    async def _speech(self, request: web.Request) -> web.StreamResponse:
        received_at = time.monotonic()
        authorization = request.headers.get("Authorization")
        if authorization != f"Bearer {self.api_key}":
            message = (
                "You didn't provide an API key."
                if authorization is None
                else "Incorrect API key provided."
            )
            return _error_response(401, message, "invalid_api_key")
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            body = None
        problem = _problem(body, self.models, self.voices)
        self._record(request, body, received_at, 400 if problem else 200)
        if problem is not None:
            return _error_response(400, problem[1], param=problem[0])

        with self._lock:
            fault = self._faults.popleft() if self._faults else None
            self._in_flight += 1
            self._most_in_flight = max(self._most_in_flight, self._in_flight)
        try:
            delay = self.latency + (fault.seconds if isinstance(fault, Slow) else 0.0)
            if not await self._pause(delay) or isinstance(fault, Disconnect):
                return _drop(request)
            if isinstance(fault, HttpError):
                return _http_error(fault)
            if isinstance(fault, NotAudio):
                return web.Response(body=fault.body, headers={"Content-Type": fault.content_type})
            fmt = body.get("response_format", "mp3")
            samples = tone(body["voice"], tone_seconds(body["input"], self.seconds_per_char))
            audio = await asyncio.to_thread(encode, samples, fmt)
            return web.Response(body=audio, headers={"Content-Type": CONTENT_TYPES[fmt]})
        finally:
            with self._lock:
                self._in_flight -= 1

    def _record(self, request: web.Request, body: object, received_at: float, status: int) -> None:
        body = body if isinstance(body, dict) else {}
        speed = body.get("speed")
        recorded = SpeechRequest(
            model=_text(body.get("model")),
            input=_text(body.get("input")),
            voice=_text(body.get("voice")),
            response_format=_text(body.get("response_format", "mp3")),
            speed=float(speed) if isinstance(speed, int | float) else None,
            body=body,
            headers={key.lower(): value for key, value in request.headers.items()},
            received_at=received_at,
            status=status,
        )
        with self._lock:
            self._requests.append(recorded)

    async def _pause(self, seconds: float) -> bool:
        """Sleep; wake early and return False if the server is stopping."""
        if self._stopping is None or self._stopping.is_set():
            return False
        if seconds > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()


# -- encoding -------------------------------------------------------------------------------------

# PyAV's container and codec for the compressed formats, and the rate each encoder takes.
_ENCODED = {
    "mp3": ("mp3", "libmp3lame", 24_000),
    "opus": ("ogg", "libopus", 48_000),
    "aac": ("adts", "aac", 24_000),
    "flac": ("flac", "flac", 24_000),
}


def encode(samples: np.ndarray, fmt: str) -> bytes:
    """16-bit mono samples at 24 kHz as ``fmt``'s bytes."""
    if fmt == "pcm":
        return samples.astype("<i2").tobytes()
    if fmt == "wav":
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as file:
            file.setnchannels(1)
            file.setsampwidth(2)
            file.setframerate(RATE)
            file.writeframes(samples.astype("<i2").tobytes())
        return buffer.getvalue()
    container_format, codec, rate = _ENCODED[fmt]
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=rate)
        for resampled in [*resampler.resample(frame), *resampler.resample(None)]:
            for packet in stream.encode(resampled):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


# -- validation and errors ------------------------------------------------------------------------


def _problem(
    body: object, models: tuple[str, ...], voices: tuple[str, ...]
) -> tuple[str | None, str] | None:
    """(the parameter, what is wrong with it) as OpenAI would answer with a 400, or None."""
    if not isinstance(body, dict):
        return None, "We could not parse the JSON body of your request."
    model = body.get("model")
    if not isinstance(model, str) or not model:
        return "model", "you must provide a model parameter"
    if model not in models:
        return "model", f"The model `{model}` does not exist or you do not have access to it."
    text = body.get("input")
    if not isinstance(text, str) or not text:
        return "input", "input must be a non-empty string"
    if len(text) > MAX_INPUT_CHARS:
        return "input", f"string too long: {len(text)} characters, at most {MAX_INPUT_CHARS}"
    voice = body.get("voice")
    if voice not in voices:
        return "voice", f"voice must be one of {', '.join(voices)}"
    fmt = body.get("response_format", "mp3")
    if fmt not in FORMATS:
        return "response_format", f"response_format must be one of {', '.join(FORMATS)}"
    speed = body.get("speed")
    if speed is not None and (
        isinstance(speed, bool) or not isinstance(speed, int | float) or not 0.25 <= speed <= 4.0
    ):
        return "speed", "speed must be a number from 0.25 to 4.0"
    instructions = body.get("instructions")
    if instructions is not None and (
        not isinstance(instructions, str) or model.startswith("tts-1")
    ):
        return "instructions", "instructions are not supported by this model"
    return None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _error_response(
    status: int,
    message: str,
    code: str | None = None,
    *,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    kind = "invalid_request_error" if status < 500 else "server_error"
    error = {"message": message, "type": kind, "param": param, "code": code}
    return web.json_response({"error": error}, status=status, headers=headers)


def _http_error(error: HttpError) -> web.Response:
    headers = None
    if error.retry_after is not None:
        headers = {
            "Retry-After": f"{math.ceil(error.retry_after)}",
            "retry-after-ms": f"{round(error.retry_after * 1000)}",
        }
    return _error_response(error.status, error.message, headers=headers)


def _drop(request: web.Request) -> web.StreamResponse:
    if request.transport is not None:
        request.transport.close()
    return web.Response()


@web.middleware
async def _json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer routing errors (404, 405) with OpenAI's JSON error body too."""
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error_response(exc.status, exc.reason)

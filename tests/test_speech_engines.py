"""The speech engines for real: an OpenAI-compatible endpoint through the openai client against
the local speech server (whose voices answer as tones), and espeak-ng end to end."""

from __future__ import annotations

import asyncio
import itertools
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator

import numpy as np
import openai
import pytest

from bot.audio.endpoint import OPENAI_VOICES, SpeechEndpoint
from bot.audio.espeak import HOST_VOICE, VOICES, EspeakEngine
from bot.engine.track import speech_chunks
from bot.services.tracks.speech import SAMPLE_RATE, Speech, TrackError, spoken_in_order
from tests.fakes.speech_server import (
    Disconnect,
    HttpError,
    NotAudio,
    Slow,
    SpeechServer,
    tone_hz,
    tone_seconds,
)

KEY = "test-key"
LINE = "I spit fire on the mic and the whole crowd goes wild"


@pytest.fixture(scope="module")
def speech_server_module() -> Iterator[SpeechServer]:
    with SpeechServer(api_key=KEY) as server:
        yield server


@pytest.fixture
def server(speech_server_module: SpeechServer) -> Iterator[SpeechServer]:
    speech_server_module.reset()
    speech_server_module.seconds_per_char = 0.02
    yield speech_server_module
    speech_server_module.reset()


@pytest.fixture
async def endpoint(server: SpeechServer) -> AsyncIterator[SpeechEndpoint]:
    engine = SpeechEndpoint(server.base_url, KEY)
    yield engine
    await engine.close()


def peak_hz(samples: np.ndarray) -> float:
    """The strongest frequency in the samples (48 kHz)."""
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.argmax(spectrum) * SAMPLE_RATE / len(samples))


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- the port's speech ----------------------------------------------------------------------------


def test_speech_is_float32_mono_within_full_scale():
    speech = Speech(np.array([[0.0, 2.0], [-3.0, 0.5]]))
    assert speech.samples.dtype == np.float32 and speech.samples.shape == (4,)
    assert speech.samples.tolist() == [0.0, 1.0, -1.0, 0.5]
    assert Speech(np.zeros(SAMPLE_RATE // 2)).seconds == 0.5


async def test_pieces_are_joined_in_order_and_a_failure_cancels_the_rest():
    async def piece(value: float, delay: float) -> Speech:
        await asyncio.sleep(delay)
        return Speech(np.full(2, value))

    joined = await spoken_in_order([piece(0.1, 0.05), piece(0.2, 0.0), piece(0.3, 0.02)])
    assert joined.samples.tolist() == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.3, 0.3])

    slow = asyncio.ensure_future(piece(0.5, 10))

    async def fails() -> Speech:
        raise TrackError("engine: down (500)")

    with pytest.raises(TrackError):
        await spoken_in_order([slow, fails()])
    assert slow.cancelled()


# -- the endpoint: voices, shape of the requests, chunks ------------------------------------------


async def test_each_voice_is_heard_at_its_own_pitch(endpoint: SpeechEndpoint):
    for voice in endpoint.voices:
        speech = await endpoint.speak(LINE, voice)
        assert isinstance(speech, Speech) and speech.samples.dtype == np.float32
        assert peak_hz(speech.samples) == pytest.approx(tone_hz(voice), rel=0.01)
        assert speech.seconds == pytest.approx(tone_seconds(LINE), abs=0.01)
        assert 0.4 < float(np.max(np.abs(speech.samples))) <= 1.0


async def test_the_requests_have_the_shape_openai_documents(server: SpeechServer):
    engine = SpeechEndpoint(server.base_url, KEY, model="tts-1", speed=1.25)
    try:
        await engine.speak("Yo, check the mic", "coral")
    finally:
        await engine.close()
    (request,) = server.requests()
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert (request.model, request.voice, request.input) == ("tts-1", "coral", "Yo, check the mic")
    assert (request.response_format, request.speed) == ("wav", 1.25)


async def test_raw_pcm_at_24_khz_is_read_as_such(server: SpeechServer):
    engine = SpeechEndpoint(server.base_url, KEY, response_format="pcm")
    try:
        speech = await engine.speak(LINE, "nova")
    finally:
        await engine.close()
    assert server.requests()[0].response_format == "pcm"
    assert speech.seconds == pytest.approx(tone_seconds(LINE), abs=0.01)
    assert peak_hz(speech.samples) == pytest.approx(tone_hz("nova"), rel=0.01)


async def test_without_a_speed_none_is_sent(endpoint: SpeechEndpoint, server: SpeechServer):
    await endpoint.speak("hi", "ash")
    assert "speed" not in server.requests()[0].body
    assert server.requests()[0].model == "gpt-4o-mini-tts"


def test_the_host_voice_is_not_among_the_mcs():
    engine = SpeechEndpoint("http://127.0.0.1:1/v1", KEY)
    assert engine.host_voice == "onyx" and "onyx" not in engine.voices
    assert set(engine.voices) == set(OPENAI_VOICES) - {"onyx"}
    assert engine.name == "http://127.0.0.1:1/v1"
    custom = SpeechEndpoint("http://x/v1/", KEY, voices=("a", "b", "a"), host_voice="b")
    assert (custom.voices, custom.host_voice, custom.name) == (("a",), "b", "http://x/v1")


async def test_a_14000_character_verse_goes_as_several_requests(server: SpeechServer):
    server.seconds_per_char = 0.001
    server.latency = 0.2
    verse = "\n".join(f"{LINE}, bar {n}" for n in range(230))
    assert len(verse) > 14_000
    engine = SpeechEndpoint(server.base_url, KEY, concurrency=2)
    try:
        speech = await engine.speak(verse, "echo")
    finally:
        await engine.close()
    requests = server.requests()
    chunks = speech_chunks(verse)
    assert len(requests) == len(chunks) == 4
    assert all(len(request.input) <= 4096 for request in requests)
    assert sorted(request.input for request in requests) == sorted(chunks)
    assert re.sub(r"\s", "", "".join(chunks)) == re.sub(r"\s", "", verse)
    assert server.most_in_flight == 2  # at once, within the bound
    assert speech.seconds == pytest.approx(sum(tone_seconds(c, 0.001) for c in chunks), abs=0.01)
    assert peak_hz(speech.samples) == pytest.approx(tone_hz("echo"), rel=0.01)


# -- the endpoint's faults ------------------------------------------------------------------------


def assert_names_the_endpoint(error: pytest.ExceptionInfo[TrackError], url: str, status: str):
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"Speech endpoint {url}: ")
    assert status in message


@pytest.mark.parametrize(
    ("faults", "status", "attempts"),
    [
        ([HttpError(401, "Incorrect API key provided.")], "(401)", 1),
        ([HttpError(429, retry_after=0.01)] * 3, "rate limited after 2 retries (429)", 3),
        ([HttpError(500, retry_after=0.01)] * 3, "internal error after 2 retries (500)", 3),
        ([HttpError(503, retry_after=0.01)] * 3, "(503)", 3),
        ([HttpError(400, "bad voice")], "the request was rejected (400)", 1),
        ([NotAudio()], "answered with a text/html body, not audio (200)", 1),
        ([NotAudio(b'{"error": "nope"}', "application/json")], "application/json", 1),
        ([NotAudio(b"\x00garbage" * 50, "audio/wav")], "cannot be decoded as audio (200)", 1),
        ([NotAudio(b"", "audio/wav")], "an empty body, not audio (200)", 1),
        ([Disconnect()] * 3, "unreachable", 3),
    ],
)
async def test_every_fault_is_one_line_naming_the_endpoint_and_the_status(
    endpoint: SpeechEndpoint, server: SpeechServer, faults, status, attempts
):
    server.fault(*faults)
    with pytest.raises(TrackError) as error:
        await endpoint.speak(LINE, "alloy")
    assert_names_the_endpoint(error, server.base_url, status)
    assert len(server.requests()) == attempts


async def test_one_failed_chunk_fails_the_text_at_once(server: SpeechServer):
    # The last of the four to arrive fails, so all four are in flight when the failure comes back
    # (failing the first made the count depend on how fast the others were sent).
    server.fault(Slow(3), Slow(3), Slow(3), HttpError(500))
    engine = SpeechEndpoint(server.base_url, KEY, max_retries=0)
    started = time.monotonic()
    try:
        with pytest.raises(TrackError, match=r"internal error \(500\)"):
            await engine.speak("\n".join([LINE] * 300), "alloy")  # 4 chunks
    finally:
        await engine.close()
    # The failure comes back as soon as it is known; the other requests are dropped, not awaited.
    assert time.monotonic() - started < 1.5
    assert len(server.requests()) == 4


async def test_a_wrong_key_is_refused_by_the_server_itself(server: SpeechServer):
    engine = SpeechEndpoint(server.base_url, "not-the-key")
    try:
        with pytest.raises(TrackError) as error:
            await engine.speak(LINE, "alloy")
    finally:
        await engine.close()
    assert_names_the_endpoint(error, server.base_url, "the API key was rejected (401)")


async def test_a_refused_connection_names_the_endpoint():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    engine = SpeechEndpoint(url, KEY, max_retries=0)
    try:
        with pytest.raises(TrackError) as error:
            await engine.speak(LINE, "alloy")
    finally:
        await engine.close()
    assert_names_the_endpoint(error, url, "unreachable (connection refused)")


async def test_a_slow_endpoint_times_out(server: SpeechServer):
    server.fault(Slow(5))
    engine = SpeechEndpoint(server.base_url, KEY, timeout=0.3, max_retries=0)
    try:
        with pytest.raises(TrackError) as error:
            await engine.speak(LINE, "alloy")
    finally:
        await engine.close()
    assert_names_the_endpoint(error, server.base_url, "timed out")


async def test_a_pcm_answer_that_is_json_is_not_audio(server: SpeechServer):
    server.fault(NotAudio(b'{"error": {"message": "quota"}}', "application/json"))
    engine = SpeechEndpoint(server.base_url, KEY, response_format="pcm")
    try:
        with pytest.raises(TrackError) as error:
            await engine.speak(LINE, "alloy")
    finally:
        await engine.close()
    assert_names_the_endpoint(error, server.base_url, "not audio (200)")


async def test_a_rate_limit_that_clears_within_the_retries_is_spoken(
    endpoint: SpeechEndpoint, server: SpeechServer
):
    server.fail(429, 2, retry_after=0.01)
    speech = await endpoint.speak(LINE, "sage")
    assert peak_hz(speech.samples) == pytest.approx(tone_hz("sage"), rel=0.01)
    assert len(server.requests()) == 3


def test_settings_outside_the_apis_ranges_are_refused():
    with pytest.raises(ValueError):
        SpeechEndpoint("http://x/v1", KEY, speed=5.0)
    with pytest.raises(ValueError):
        SpeechEndpoint("http://x/v1", KEY, max_retries=3)
    with pytest.raises(ValueError):
        SpeechEndpoint("http://x/v1", KEY, voices=("onyx",))


# -- the speech server itself ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "param"),
    [
        ({"input": "x" * 4097}, "input"),
        ({"input": ""}, "input"),
        ({"voice": "nobody"}, "voice"),
        ({"model": "gpt-4"}, "model"),
        ({"response_format": "ogg"}, "response_format"),
        ({"speed": 9}, "speed"),
        ({"model": "tts-1", "instructions": "whisper"}, "instructions"),
    ],
)
async def test_the_server_refuses_what_openai_refuses(server: SpeechServer, changes, param):
    request = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": "hi", **changes}
    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        with pytest.raises(openai.BadRequestError) as error:
            await client.audio.speech.create(**request)
    assert error.value.body["param"] == param  # type: ignore[index]
    assert server.requests()[0].status == 400


@pytest.mark.parametrize("fmt", ["mp3", "opus", "aac", "flac", "wav"])
async def test_the_server_answers_every_format(server: SpeechServer, fmt):
    from bot.audio.codec import decode_audio

    async with openai.AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0) as client:
        answer = await client.audio.speech.create(
            model="gpt-4o-mini-tts", voice="fable", input=LINE, response_format=fmt
        )
    samples = decode_audio(answer.content)
    assert peak_hz(samples) == pytest.approx(tone_hz("fable"), rel=0.02)
    assert len(samples) / SAMPLE_RATE == pytest.approx(tone_seconds(LINE), abs=0.1)


def test_tones_tell_every_voice_apart():
    pitches = [tone_hz(voice) for voice in (*OPENAI_VOICES, "custom-1", "custom-2")]
    assert len(set(pitches)) == len(pitches)
    assert all(100 < pitch < 3000 for pitch in pitches)
    assert tone_seconds("") == 0.1 and tone_seconds("x" * 50) == pytest.approx(1.0)


# -- espeak-ng ------------------------------------------------------------------------------------

needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="needs espeak-ng (apt-get install espeak-ng)"
)


def median_pitch(samples: np.ndarray) -> float:
    """The median fundamental of the voiced 43 ms frames, by autocorrelation (60-400 Hz)."""
    size, pitches = 2048, []
    low, high = SAMPLE_RATE // 400, SAMPLE_RATE // 60
    for start in range(0, len(samples) - size, size):
        frame = samples[start : start + size]
        if np.sqrt(np.mean(frame**2)) < 0.02:
            continue
        frame = frame - frame.mean()
        correlation = np.correlate(frame, frame, "full")[size - 1 :]
        lag = low + int(np.argmax(correlation[low:high]))
        if correlation[lag] > 0.3 * correlation[0]:
            pitches.append(SAMPLE_RATE / lag)
    assert pitches, "no voiced frames"
    return float(np.median(pitches))


@needs_espeak
async def test_espeak_speaks_a_phrase_for_as_long_as_its_words_take():
    engine = EspeakEngine()
    phrase = "Yo, I'm the king of this battle, listen to my flow, the crowd goes wild tonight."
    speech = await engine.speak(phrase, engine.voices[0])
    words = len(phrase.split())
    expected = words / 185 * 60  # MC_WORDS_PER_MINUTE
    assert 0.6 * expected < speech.seconds < 1.6 * expected
    assert speech.samples.dtype == np.float32
    loud = np.sqrt(np.mean(speech.samples**2))
    assert loud > 0.02 and float(np.max(np.abs(speech.samples))) <= 1.0


@needs_espeak
async def test_espeak_voices_differ_in_pitch():
    engine = EspeakEngine()
    assert engine.voices == VOICES and engine.host_voice == HOST_VOICE
    assert HOST_VOICE not in engine.voices
    pitches = [median_pitch((await engine.speak(LINE, voice)).samples) for voice in VOICES]
    assert pitches == sorted(pitches)  # listed lowest first
    assert all(high / low > 1.08 for low, high in itertools.pairwise(pitches))


@needs_espeak
async def test_espeak_speaks_long_text_in_chunks_and_loses_none():
    engine = EspeakEngine()
    short = await engine.speak(LINE, engine.voices[2])
    long = await engine.speak("\n".join([LINE] * 90), engine.voices[2])  # about 4,800 characters
    assert long.seconds == pytest.approx(90 * short.seconds, rel=0.15)


async def test_a_missing_espeak_says_what_to_install():
    engine = EspeakEngine(executable="espeak-ng-not-here")
    one_line = r"^espeak-ng is not installed; install it with: apt-get install espeak-ng$"
    with pytest.raises(TrackError, match=one_line):
        await engine.speak(LINE, engine.voices[0])
    with pytest.raises(TrackError, match="apt-get install espeak-ng"):
        engine.check()


@needs_espeak
async def test_espeak_names_a_voice_it_does_not_have():
    engine = EspeakEngine()
    with pytest.raises(TrackError, match="exit status 1"):
        await engine.speak(LINE, "xx-nowhere+m1:40")
    with pytest.raises(TrackError, match="LANGUAGE"):
        await engine.speak(LINE, "not a voice!")

"""The live mix that discord.py's audio thread reads: 20 ms frames of 48 kHz stereo 16-bit PCM,
each part starting on the frame after it is queued and lasting its own length, in the order
queued, over a beat that ducks under them. Speech comes from the local speech server, whose
voices each answer with a tone of their own, so the order of parts is read back with an FFT."""

from __future__ import annotations

import numpy as np
import pytest

from bot.audio.endpoint import SpeechEndpoint
from bot.audio.live_mix import FRAME_BYTES, FRAME_SAMPLES, LiveMix, frames_for
from bot.engine.mixing import (
    BEAT_DB,
    DUCK_DB,
    TARGET_DB,
    drum_loop,
    loudness_db,
    normalize_loudness,
)
from bot.stages.voice import _Source
from tests.conftest import SPEECH_KEY
from tests.fakes.speech_server import SpeechServer, tone_hz

RATE = 48_000


def pcm(frames: list[bytes]) -> np.ndarray:
    """Frames as int16 samples of shape (n, 2)."""
    return np.frombuffer(b"".join(frames), dtype="<i2").reshape(-1, 2)


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    return float(np.fft.rfftfreq(samples.size, 1 / RATE)[int(np.argmax(spectrum))])


class Recorder:
    """Which frame each part started and ended on, as the mix's callbacks tell it."""

    def __init__(self, mix: LiveMix) -> None:
        self.mix = mix
        self.events: list[tuple[str, int, str | bool]] = []

    def add(self, name: str, samples: np.ndarray) -> None:
        self.mix.add(
            samples,
            lambda: self.events.append(("start", self.mix.frames, name)),
            lambda played: self.events.append(("end", self.mix.frames, played)),
        )


def test_every_frame_is_20_ms_of_stereo_16_bit_pcm_until_closed():
    mix = LiveMix(drum_loop(90))
    frames = [mix.read() for _ in range(50)]
    assert {len(frame) for frame in frames} == {FRAME_BYTES} and FRAME_BYTES == 3840
    samples = pcm(frames)
    assert samples.shape == (50 * FRAME_SAMPLES, 2)
    assert np.array_equal(samples[:, 0], samples[:, 1])  # the beat and the voices sit centre
    assert np.abs(samples).max() > 1000  # the beat plays with nothing queued
    mix.close()
    assert mix.read() == b""  # which ends discord.py's player


def test_the_beat_plays_at_its_level_under_the_tracks_loudness():
    mix = LiveMix(drum_loop(90))
    beat = pcm([mix.read() for _ in range(400)])[:, 0] / 32768.0
    assert loudness_db(beat) == pytest.approx(TARGET_DB + BEAT_DB, abs=0.5)


def test_without_a_beat_the_gaps_are_silent():
    mix = LiveMix(None)
    assert not pcm([mix.read() for _ in range(10)]).any()


def test_a_part_starts_on_the_next_frame_and_lasts_its_own_length():
    mix = LiveMix(None)
    recorder = Recorder(mix)
    for _ in range(3):
        mix.read()
    first = np.full(FRAME_SAMPLES * 10 + 1, 0.25, dtype=np.float32)  # 10 frames and a sample
    second = np.full(FRAME_SAMPLES * 5, -0.5, dtype=np.float32)
    recorder.add("first", first)
    recorder.add("second", second)
    frames = [mix.read() for _ in range(20)]
    # Frame numbers count frames read, the one being read included.
    assert recorder.events == [
        ("start", 4, "first"),
        ("end", 14, True),  # 11 frames: the last holds one sample and the rest is silence
        ("start", 15, "second"),  # back to back: the next frame
        ("end", 19, True),
    ]
    assert frames_for(first.size) == 11 and frames_for(second.size) == 5
    left = pcm(frames)[:, 0]
    assert np.allclose(left[: first.size], 0.25 * 32767, atol=1)
    assert not left[first.size : 11 * FRAME_SAMPLES].any()
    assert np.allclose(left[11 * FRAME_SAMPLES : 16 * FRAME_SAMPLES], -0.5 * 32767, atol=1)
    assert mix.speech_frames == 16


def test_a_cut_drops_what_plays_and_what_is_queued_and_the_beat_goes_on():
    mix = LiveMix(drum_loop(90))
    recorder = Recorder(mix)
    recorder.add("playing", np.full(RATE, 0.3, dtype=np.float32))
    recorder.add("queued", np.full(RATE, 0.3, dtype=np.float32))
    for _ in range(5):
        mix.read()
    mix.cut()
    assert recorder.events == [("start", 4, "playing"), ("end", 5, False), ("end", 5, False)]
    assert mix.queued_samples == 0
    assert len(mix.read()) == FRAME_BYTES
    after_close: list[bool] = []
    mix.close()
    mix.add(np.ones(10, dtype=np.float32), on_end=after_close.append)
    assert after_close == [False]  # a part queued too late is told at once


def test_the_beat_ducks_under_speech_and_comes_back():
    mix = LiveMix(drum_loop(90))
    loop_frames = round(drum_loop(90).size / FRAME_SAMPLES)  # 2 s: a whole bar, 100 frames
    beat_alone = pcm([mix.read() for _ in range(loop_frames)])[:, 0] / 32768.0
    recorder = Recorder(mix)
    recorder.add("silent", np.zeros(loop_frames * FRAME_SAMPLES, dtype=np.float32))
    lead_in = [mix.read() for _ in range(3)]  # the beat ducks over 60 ms before the part
    assert recorder.events == []
    under = pcm([mix.read() for _ in range(loop_frames)])[:, 0] / 32768.0
    assert recorder.events == [
        ("start", loop_frames + 4, "silent"),
        ("end", 2 * loop_frames + 3, True),
    ]
    assert loudness_db(under) - loudness_db(beat_alone) == pytest.approx(DUCK_DB, abs=0.6)
    assert len(lead_in) == 3
    for _ in range(30):  # the release: 300 ms
        mix.read()
    back = pcm([mix.read() for _ in range(loop_frames)])[:, 0] / 32768.0
    assert loudness_db(back) == pytest.approx(loudness_db(beat_alone), abs=0.3)


async def test_parts_play_in_the_order_queued_each_in_its_voice(speech: SpeechServer):
    """Three parts spoken by the speech server (the host, then each MC), queued as a live battle
    queues them, read back by frame numbers, and each part's pitch found by FFT."""
    engine = SpeechEndpoint(speech.base_url, SPEECH_KEY)
    try:
        script = [
            ("onyx", "qwen max versus grok. Let the battle begin, hands up for the show."),
            (
                "alloy",
                "I spit cold fire on a silicon wire, every bar I drop takes the crowd up higher.",
            ),
            ("nova", "Your rhymes are stale, your flow is frail, I came to prevail."),
        ]
        spoken = [await engine.speak(text, voice) for voice, text in script]
    finally:
        await engine.close()
    mix = LiveMix(drum_loop(90))
    recorder = Recorder(mix)
    for (voice, _), speech_part in zip(script, spoken, strict=True):
        recorder.add(voice, normalize_loudness(speech_part.samples))
    total = sum(frames_for(part.samples.size) for part in spoken)
    frames = [mix.read() for _ in range(total + 10)]
    left = pcm(frames)[:, 0].astype(np.float64)
    starts = [(frame, name) for kind, frame, name in recorder.events if kind == "start"]
    ends = [frame for kind, frame, _ in recorder.events if kind == "end"]
    assert [name for _, name in starts] == [voice for voice, _ in script]
    heard = []
    for (start, _), end, part in zip(starts, ends, spoken, strict=True):
        assert end - start + 1 == frames_for(part.samples.size)  # each part its own length
        span = left[(start - 1) * FRAME_SAMPLES : end * FRAME_SAMPLES]
        heard.append(dominant_frequency(span[len(span) // 4 : -len(span) // 4]))
    assert heard == pytest.approx([tone_hz(voice) for voice, _ in script], abs=5)


def test_the_discord_source_is_pcm_read_from_the_mix():
    import discord

    class Performance:
        mix = LiveMix(None)
        checks = 0

        def check_connection(self) -> None:
            self.checks += 1

    performance = Performance()
    source = _Source(performance)  # type: ignore[arg-type]
    assert isinstance(source, discord.AudioSource) and not source.is_opus()
    assert len(source.read()) == FRAME_BYTES and performance.checks == 1

"""The track maker against a fake speech engine that answers each voice with its own tone, and the
codec's files: written, read back, and never left half-written."""

import asyncio
import zlib
from pathlib import Path

import numpy as np
import pytest

from bot.audio.codec import decode_audio, encode_track, read_audio_file, write_track
from bot.engine.battle import FINAL_ROUND, SYSTEM_SPEAKER, Side, Turn
from bot.engine.mixing import drum_loop, half_bar_seconds, loudness_db
from bot.engine.track import Speaker, cast_voices, track_parts
from bot.services.tracks.maker import Track, TrackMaker
from bot.services.tracks.speech import SAMPLE_RATE, Speech, TrackError

MODEL_A = "vendor/ultra-rhymer-70b"
MODEL_B = "other/max-flow"
# Each voice speaks as a pure tone of its own pitch, at its own loudness.
TONES = {"host": 220.0, "v1": 330.0, "v2": 470.0, "v3": 610.0, "v4": 790.0}
AMPLITUDES = {"host": 0.5, "v1": 0.05, "v2": 0.8, "v3": 0.2, "v4": 0.3}


def part_seconds(text: str) -> float:
    return 0.4 + 0.004 * len(text)


class ToneEngine:
    """A SpeechEngine that speaks ``text`` in ``voice`` as that voice's tone, for a time that
    grows with the text; it can wait, fail, and count requests in flight."""

    name = "tone engine"
    voices = ("v1", "v2", "v3", "v4")
    host_voice = "host"

    def __init__(
        self,
        latency: float = 0.0,
        fail_on: str | None = None,
        voices: tuple[str, ...] = voices,
        host_voice: str = host_voice,
    ) -> None:
        self.voices = voices
        self.host_voice = host_voice
        self.latency = latency
        self.fail_on = fail_on
        self.in_flight = 0
        self.most_in_flight = 0
        self.spoken: list[tuple[str, str]] = []
        self.cancelled = 0

    async def speak(self, text: str, voice: str) -> Speech:
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            # Later parts answer sooner, so requests finish out of order.
            await asyncio.sleep(self.latency * (1 + zlib.crc32(text.encode()) % 3))
            if self.fail_on is not None and self.fail_on in text:
                raise TrackError(f"{self.name}: the voice {voice} broke (500)", status=500)
            self.spoken.append((voice, text))
            return Speech(tone_of(voice, part_seconds(text)))
        except asyncio.CancelledError:
            self.cancelled += 1
            raise
        finally:
            self.in_flight -= 1


def tone_of(voice: str, seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    ramp = np.minimum(1.0, np.minimum(t, t[-1] - t) / 0.01)  # no clicks at the ends
    return (AMPLITUDES[voice] * ramp * np.sin(2 * np.pi * TONES[voice] * t)).astype(np.float32)


def dominant_frequency(samples: np.ndarray) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(samples.size)))
    frequencies = np.fft.rfftfreq(samples.size, 1 / SAMPLE_RATE)
    return float(frequencies[int(np.argmax(spectrum))])


def voice_of(samples: np.ndarray) -> str:
    frequency = dominant_frequency(samples)
    return min(TONES, key=lambda voice: abs(TONES[voice] - frequency))


def battle_turns() -> list[Turn]:
    verse = "Yo, step to the mic, let the circuits ignite, I'm {} with {} bars tonight."
    turns = []
    for round_number in (1, 2, 3):
        if round_number == 3:
            turns.append(Turn(SYSTEM_SPEAKER, FINAL_ROUND, None, round_number))
        turns.append(Turn(MODEL_A, verse.format("Ultra", round_number), Side.A, round_number))
        turns.append(Turn(MODEL_B, verse.format("Max Flow", round_number), Side.B, round_number))
    turns.append(Turn(MODEL_B, "**drops the mic**", Side.B, 3))  # nothing to say: no part
    return turns


def expected_spans(parts, gap_seconds: float) -> list[tuple[int, int]]:
    spans, position = [], 0
    gap = round(gap_seconds * SAMPLE_RATE)
    for part in parts:
        size = round(part_seconds(part.text) * SAMPLE_RATE)
        spans.append((position, position + size))
        position += size + gap
    return spans


# -- the track ------------------------------------------------------------------------------------


@pytest.mark.parametrize("beat", [False, True], ids=["voices alone", "over the beat"])
async def test_the_parts_are_in_the_transcripts_order_each_in_its_voice(beat: bool) -> None:
    engine = ToneEngine(latency=0.01)
    maker = TrackMaker(engine, beat=drum_loop(90) if beat else None, bpm=90)
    turns = battle_turns()
    track = await maker.make(MODEL_A, MODEL_B, turns, topic="robots")

    cast = cast_voices(MODEL_A, MODEL_B, engine.voices, engine.host_voice)
    parts = track_parts(MODEL_A, MODEL_B, turns, cast, topic="robots")
    assert len(parts) == len(turns)  # the title card in, the stage direction out
    assert parts[0].speaker is Speaker.HOST
    spans = expected_spans(parts, half_bar_seconds(90))
    assert list(track.spans) == spans
    assert track.samples.shape == (spans[-1][1], 2)
    assert track.samples.dtype == np.float32
    assert track.seconds == pytest.approx(spans[-1][1] / SAMPLE_RATE)

    heard = [voice_of(track.samples[start:end, 0]) for start, end in spans]
    assert heard == [part.voice for part in parts]
    assert heard[0] == "host"  # the host reads the title card first
    final = next(k for k, part in enumerate(parts) if part.text == FINAL_ROUND)
    assert heard[final] == "host"  # and announces the final round
    assert heard[final - 1] != heard[final + 1] or cast.mc_a == cast.mc_b
    verses_a = {heard[k] for k, part in enumerate(parts) if part.speaker is Speaker.MC_A}
    verses_b = {heard[k] for k, part in enumerate(parts) if part.speaker is Speaker.MC_B}
    assert verses_a == {cast.mc_a}
    assert verses_b == {cast.mc_b}
    assert cast.mc_a != cast.mc_b
    assert np.max(np.abs(track.samples)) < 1.0


async def test_the_beat_plays_in_the_gaps_and_is_silent_without_one() -> None:
    turns = battle_turns()[:2]
    with_beat = await TrackMaker(ToneEngine(), beat=drum_loop(90)).make(MODEL_A, MODEL_B, turns)
    alone = await TrackMaker(ToneEngine(), beat=None).make(MODEL_A, MODEL_B, turns)
    (_, end), (start, _) = alone.spans[0], alone.spans[1]
    assert not alone.samples[end:start].any()
    gap = with_beat.samples[end:start]
    assert loudness_db(gap) > -45


async def test_voices_of_different_loudness_come_out_at_one_level() -> None:
    quiet = ToneEngine(voices=("v1",), host_voice="v1")  # amplitude 0.05
    loud = ToneEngine(voices=("v2",), host_voice="v2")  # amplitude 0.8
    turns = battle_turns()
    quiet_track = await TrackMaker(quiet, beat=None).make(MODEL_A, MODEL_B, turns)
    loud_track = await TrackMaker(loud, beat=None).make(MODEL_A, MODEL_B, turns)
    assert abs(loudness_db(quiet_track.samples) - loudness_db(loud_track.samples)) < 1.0


async def test_speech_is_made_while_the_battle_goes_on() -> None:
    engine = ToneEngine(latency=0.05)
    maker = TrackMaker(engine, beat=None, concurrency=8)
    builder = maker.begin(MODEL_A, MODEL_B)
    await asyncio.sleep(0.2)
    assert len(engine.spoken) == 1  # the title card, asked for at begin
    for turn in battle_turns():
        builder.add(turn)
        await asyncio.sleep(0.2)  # the next verse is still being written...
    spoken = len(engine.spoken)
    assert builder.placed == builder.parts  # ...and every part already laid into the track
    loop = asyncio.get_running_loop()
    started = loop.time()
    track = await builder.finish()
    assert spoken == builder.parts
    assert loop.time() - started < 0.5
    assert len(track.spans) == builder.parts


async def test_requests_are_bounded_and_the_order_kept() -> None:
    engine = ToneEngine(latency=0.02)
    maker = TrackMaker(engine, beat=None, concurrency=2)
    turns = battle_turns() * 3
    track = await maker.make(MODEL_A, MODEL_B, turns)
    assert engine.most_in_flight == 2
    cast = cast_voices(MODEL_A, MODEL_B, engine.voices, engine.host_voice)
    parts = track_parts(MODEL_A, MODEL_B, turns, cast)
    heard = [voice_of(track.samples[a:b, 0]) for a, b in track.spans]
    assert heard == [part.voice for part in parts]
    # Requests finished out of order, yet the track is in order.
    assert [text for _, text in engine.spoken] != [part.text for part in parts]


async def test_a_failing_engine_raises_track_error_and_cancels_the_rest() -> None:
    engine = ToneEngine(latency=0.05, fail_on="Max Flow with 1")
    maker = TrackMaker(engine, beat=None, concurrency=2)
    with pytest.raises(TrackError, match=r"tone engine: the voice v\d broke \(500\)"):
        await maker.make(MODEL_A, MODEL_B, battle_turns() * 2)
    assert engine.cancelled > 0
    assert engine.in_flight == 0


async def test_a_failure_while_the_battle_goes_on_is_raised_at_the_end() -> None:
    engine = ToneEngine(latency=0.01, fail_on="Ultra with 1")
    builder = TrackMaker(engine, beat=None).begin(MODEL_A, MODEL_B)
    turns = battle_turns()
    builder.add(turns[0])
    await asyncio.sleep(0.1)
    assert builder.failure is not None
    for turn in turns[1:]:
        builder.add(turn)  # nothing more is asked for
    assert builder.parts == 2
    with pytest.raises(TrackError, match="broke"):
        await builder.finish()


async def test_an_engine_that_crashes_becomes_a_track_error() -> None:
    class Broken(ToneEngine):
        async def speak(self, text: str, voice: str) -> Speech:
            raise RuntimeError("boom")

    with pytest.raises(TrackError, match="tone engine: RuntimeError: boom"):
        await TrackMaker(Broken(), beat=None).make(MODEL_A, MODEL_B, battle_turns())


async def test_cancel_stops_every_request() -> None:
    engine = ToneEngine(latency=1.0)
    builder = TrackMaker(engine, beat=None).begin(MODEL_A, MODEL_B)
    for turn in battle_turns():
        builder.add(turn)
    await asyncio.sleep(0.05)
    await builder.cancel()
    assert engine.in_flight == 0
    assert engine.spoken == []
    with pytest.raises(RuntimeError):
        builder.add(battle_turns()[0])


async def test_a_cancelled_make_cancels_its_requests() -> None:
    engine = ToneEngine(latency=1.0)
    task = asyncio.create_task(TrackMaker(engine, beat=None).make(MODEL_A, MODEL_B, battle_turns()))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.in_flight == 0


def test_a_maker_needs_a_bound_and_a_tempo() -> None:
    with pytest.raises(ValueError):
        TrackMaker(ToneEngine(), beat=None, concurrency=0)
    with pytest.raises(ValueError):
        TrackMaker(ToneEngine(), beat=None, bpm=0)


# -- the codec ------------------------------------------------------------------------------------


def stereo_track(seconds: float) -> np.ndarray:
    left = tone_of("v2", seconds) * 0.5
    right = tone_of("v3", seconds)
    return np.stack([left, right], axis=1)


@pytest.mark.parametrize("fmt", ["wav", "ogg", "mp3"])
def test_a_track_written_reads_back_with_its_length(tmp_path: Path, fmt: str) -> None:
    samples = stereo_track(5.0)
    path = tmp_path / f"battle.{fmt}"
    size = write_track(samples, path)
    assert size == path.stat().st_size > 0
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary file left
    back = decode_audio(path.read_bytes())
    assert back.dtype == np.float32
    assert back.size / SAMPLE_RATE == pytest.approx(5.0, rel=0.02)
    # The tone survives the codec: the mono downmix is dominated by v2's and v3's pitches.
    assert voice_of(back[SAMPLE_RATE : 2 * SAMPLE_RATE]) in {"v2", "v3"}
    assert encode_track(samples, fmt)[:4] == path.read_bytes()[:4]


def test_wav_is_16_bit_pcm_and_ogg_is_opus(tmp_path: Path) -> None:
    wav = encode_track(stereo_track(1.0), "wav")
    assert wav[:4] == b"RIFF" and wav[8:12] == b"WAVE"
    assert int.from_bytes(wav[20:22], "little") == 1  # PCM
    assert int.from_bytes(wav[22:24], "little") == 2  # stereo
    assert int.from_bytes(wav[24:28], "little") == SAMPLE_RATE
    assert int.from_bytes(wav[34:36], "little") == 16
    ogg = encode_track(stereo_track(1.0), "ogg")
    assert ogg[:4] == b"OggS" and b"OpusHead" in ogg[:200]


def test_ogg_takes_at_most_a_megabyte_a_minute() -> None:
    # So a 3-minute track fits in 3 MB, even of noise (the hardest sound to compress).
    rng = np.random.default_rng(0)
    noisy = (rng.standard_normal((60 * SAMPLE_RATE, 2)) * 0.1).astype(np.float32)
    assert len(encode_track(noisy, "ogg")) <= 1_000_000


def test_raw_pcm_is_resampled_to_48_khz() -> None:
    t = np.arange(24_000) / 24_000
    pcm = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype("<i2").tobytes()
    samples = decode_audio(pcm, pcm_rate=24_000)
    assert samples.size == pytest.approx(SAMPLE_RATE, abs=50)
    assert dominant_frequency(samples) == pytest.approx(440, abs=2)


def test_bytes_that_are_not_audio_raise_track_error() -> None:
    with pytest.raises(TrackError, match="Not audio"):
        decode_audio(b'{"error": "not audio"}')
    with pytest.raises(TrackError):
        decode_audio(b"")


def test_a_beat_file_is_read(tmp_path: Path) -> None:
    path = tmp_path / "beat.ogg"
    write_track(np.stack([drum_loop(90)] * 2, axis=1), path)
    loop = read_audio_file(path)
    assert loop.size / SAMPLE_RATE == pytest.approx(4 * 60 / 90, rel=0.02)
    with pytest.raises(TrackError, match="no such file"):
        read_audio_file(tmp_path / "missing.wav")
    (tmp_path / "junk.wav").write_bytes(b"RIFF nonsense")
    with pytest.raises(TrackError, match=r"junk\.wav"):
        read_audio_file(tmp_path / "junk.wav")


def test_an_unknown_extension_is_refused(tmp_path: Path) -> None:
    for name in ("battle.flac", "battle"):
        with pytest.raises(TrackError, match=r"\.wav, \.ogg, \.mp3"):
            write_track(stereo_track(0.5), tmp_path / name)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TrackError):
        encode_track(stereo_track(0.5), "aiff")


def test_nothing_is_left_at_the_path_after_a_failure(tmp_path: Path) -> None:
    path = tmp_path / "battle.ogg"
    with pytest.raises(ValueError):
        write_track(np.zeros((100, 3), np.float32), path)  # not stereo: fails while encoding
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TrackError):
        write_track(stereo_track(0.5), tmp_path / "no such folder" / "battle.ogg")


def test_a_failure_keeps_the_old_file_whole(tmp_path: Path) -> None:
    path = tmp_path / "battle.wav"
    write_track(stereo_track(1.0), path)
    before = path.read_bytes()
    with pytest.raises(ValueError):
        write_track(np.zeros((100, 3), np.float32), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["battle.wav"]


def test_track_seconds() -> None:
    assert Track(np.zeros((SAMPLE_RATE * 3, 2), np.float32)).seconds == 3.0


def test_one_maker_serves_one_event_loop_after_another() -> None:
    engine = ToneEngine(latency=0.01)
    maker = TrackMaker(engine, beat=None, concurrency=1)
    for _ in range(2):
        track = asyncio.run(maker.make(MODEL_A, MODEL_B, battle_turns()))
        assert len(track.spans) == len(battle_turns())


async def test_a_track_holds_its_samples_once() -> None:
    track = await TrackMaker(ToneEngine(), beat=drum_loop(90)).make(
        MODEL_A, MODEL_B, battle_turns()
    )
    left, right = track.samples[:, 0], track.samples[:, 1]
    assert np.shares_memory(left, right)  # both channels are one mono array
    np.testing.assert_array_equal(left, right)


async def test_a_request_cancelled_elsewhere_fails_the_track_rather_than_hang() -> None:
    class Cancelled(ToneEngine):
        async def speak(self, text: str, voice: str) -> Speech:
            if "Max Flow" in text:
                raise asyncio.CancelledError
            return await super().speak(text, voice)

    maker = TrackMaker(Cancelled(), beat=None)
    with pytest.raises(TrackError, match="speech was cancelled"):
        await asyncio.wait_for(maker.make(MODEL_A, MODEL_B, battle_turns()), timeout=5)


async def test_a_track_is_finished_once() -> None:
    builder = TrackMaker(ToneEngine(), beat=drum_loop(90)).begin(MODEL_A, MODEL_B)
    builder.add(battle_turns()[0])
    track = await builder.finish()
    assert len(track.spans) == 2
    with pytest.raises(RuntimeError):
        await builder.finish()

"""The track's sound as pure numpy: the drum loop, parts laid end to end, ducking, loudness."""

import numpy as np
import pytest

from bot.engine.mixing import (
    DUCK_DB,
    KICK_STEPS,
    PEAK_DB,
    SNARE_STEPS,
    TARGET_DB,
    Assembly,
    assemble,
    bar_seconds,
    drum_loop,
    duck_envelope,
    half_bar_seconds,
    loudness_db,
    mix,
    mix_into,
    normalize_loudness,
    peak_db,
)

RATE = 48_000


def tone(frequency: float, seconds: float, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(round(seconds * RATE)) / RATE
    return (amplitude * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def speechlike(amplitude: float, seconds: float = 6.0, seed: int = 1) -> np.ndarray:
    """Syllables: bursts of a few harmonics, 150 ms on and 100 ms off, with varied loudness."""
    rng = np.random.default_rng(seed)
    out = np.zeros(round(seconds * RATE), dtype=np.float32)
    syllable, pause = round(0.15 * RATE), round(0.1 * RATE)
    position = 0
    while position + syllable < out.size:
        f0 = rng.uniform(90, 220)
        t = np.arange(syllable) / RATE
        burst = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
        burst *= np.hanning(syllable) * rng.uniform(0.4, 1.0)
        out[position : position + syllable] = burst
        position += syllable + pause
    return (out / np.max(np.abs(out)) * amplitude).astype(np.float32)


def low_band_energy(samples: np.ndarray, start: int, seconds: float = 0.05) -> float:
    """Energy below 150 Hz in a window starting at ``start``."""
    window = samples[start : start + round(seconds * RATE)]
    spectrum = np.abs(np.fft.rfft(window, n=RATE)) ** 2  # 1 Hz bins
    return float(spectrum[:150].sum())


def rms_db(samples: np.ndarray) -> float:
    return 10 * float(np.log10(np.mean(np.square(samples, dtype=np.float64)) + 1e-20))


# -- the drum loop --------------------------------------------------------------------------------


@pytest.mark.parametrize(("bpm", "bars"), [(90, 1), (90, 2), (120, 1), (73.5, 4)])
def test_the_loop_lasts_bars_times_four_beats(bpm: float, bars: int) -> None:
    loop = drum_loop(bpm, RATE, bars)
    assert loop.dtype == np.float32
    assert loop.ndim == 1
    assert loop.size == round(bars * 4 * 60 / bpm * RATE)
    assert bar_seconds(bpm) == pytest.approx(4 * 60 / bpm)
    assert half_bar_seconds(bpm) == pytest.approx(2 * 60 / bpm)


def test_the_kick_lands_on_the_beat() -> None:
    bpm = 90
    loop = drum_loop(bpm)
    sixteenth = bar_seconds(bpm) / 16 * RATE
    kicks = [low_band_energy(loop, round(step * sixteenth)) for step in KICK_STEPS]
    snares = [low_band_energy(loop, round(step * sixteenth)) for step in SNARE_STEPS]
    # Beats 1 and 3 are kicks: a strong low thump exactly there, far more than on the backbeat.
    assert 0 in KICK_STEPS and 8 in KICK_STEPS
    assert min(kicks) > 10 * max(snares)
    # And the thump starts on the beat, not before it.
    before_three = low_band_energy(loop, round(8 * sixteenth) - round(0.05 * RATE))
    assert kicks[1] > 20 * before_three


def test_the_loop_is_the_same_every_time_and_not_clipped() -> None:
    first, second = drum_loop(90), drum_loop(90)
    np.testing.assert_array_equal(first, second)
    assert np.max(np.abs(first)) <= 1.0
    assert np.isfinite(loudness_db(first))


def test_a_loop_needs_a_tempo_and_a_bar() -> None:
    with pytest.raises(ValueError):
        drum_loop(0)
    with pytest.raises(ValueError):
        drum_loop(90, RATE, 0)


# -- assembling -----------------------------------------------------------------------------------


def test_assemble_lays_the_parts_in_order_with_gaps() -> None:
    parts = [np.full(100, 0.1, np.float32), np.full(50, 0.2, np.float32), np.full(10, 0.3)]
    voice, spans = assemble(parts, gap_seconds=20 / RATE, sample_rate=RATE)
    assert spans == [(0, 100), (120, 170), (190, 200)]
    assert voice.size == 200
    assert voice.dtype == np.float32
    for part, (start, end) in zip(parts, spans, strict=True):
        np.testing.assert_allclose(voice[start:end], part)
    assert not voice[100:120].any()
    assert not voice[170:190].any()


def test_assemble_nothing() -> None:
    voice, spans = assemble([], 0.5)
    assert voice.size == 0
    assert spans == []


# -- mixing and ducking ---------------------------------------------------------------------------


def test_without_a_beat_the_voices_are_left_alone() -> None:
    voice = speechlike(0.4)
    out = mix(voice, [(0, voice.size)], None)
    assert out.shape == (voice.size, 2)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, 0], voice)
    np.testing.assert_array_equal(out[:, 1], voice)


def test_the_beat_ducks_under_speech_and_the_voice_sits_above_it() -> None:
    beat = drum_loop(90)
    bar = round(bar_seconds(90) * RATE)
    silence = np.zeros(2 * bar, dtype=np.float32)
    speech = speechlike(0.3, seconds=8.0)
    voice = np.concatenate([silence, speech, silence])
    span = (silence.size, silence.size + speech.size)
    out = mix(voice, [span], beat)
    assert out.shape == (voice.size, 2)
    np.testing.assert_array_equal(out[:, 0], out[:, 1])
    under = out[:, 0] - voice  # what the beat adds

    # The beat loops under the whole track: it is heard before, under and after the speech.
    between = rms_db(under[:bar])
    ducked = rms_db(under[span[0] + bar : span[0] + 2 * bar])
    after = rms_db(under[-bar:])
    assert ducked < between - 9
    assert ducked == pytest.approx(between + DUCK_DB, abs=1.5)
    assert after == pytest.approx(between, abs=1.5)
    # The voices are clearly above the ducked beat.
    assert rms_db(speech) - ducked > 15


def test_the_ducking_envelope_is_smooth() -> None:
    length = 4 * RATE
    envelope = duck_envelope(length, [(RATE, 2 * RATE)], DUCK_DB, sample_rate=RATE)
    assert envelope[0] == pytest.approx(1.0)
    assert envelope[RATE + RATE // 2] == pytest.approx(10 ** (DUCK_DB / 20), rel=1e-5)
    assert envelope[-1] == pytest.approx(1.0)
    assert np.max(np.abs(np.diff(envelope))) < 0.001  # no click: ramps, not steps
    # Down before the part begins, back up after it ends.
    assert envelope[RATE - 1] < 0.3
    assert envelope[2 * RATE + RATE // 100] < 0.5


def test_the_envelope_in_pieces_is_the_envelope_whole() -> None:
    spans = [(1000, 30000), (40000, 41000), (90000, 150000)]
    whole = duck_envelope(160000, spans)
    pieces = np.concatenate(
        [duck_envelope(160000, spans, start=a, stop=a + 7000) for a in range(0, 160000, 7000)]
    )
    np.testing.assert_allclose(pieces, whole)


# -- loudness -------------------------------------------------------------------------------------


def test_normalisation_levels_quiet_and_loud_voices_within_one_db() -> None:
    quiet = speechlike(0.02, seed=1)
    loud = speechlike(0.9, seed=2)
    assert loudness_db(loud) - loudness_db(quiet) > 25
    quiet_out = normalize_loudness(quiet)
    loud_out = normalize_loudness(loud)
    assert abs(loudness_db(quiet_out) - loudness_db(loud_out)) < 1.0
    assert loudness_db(quiet_out) == pytest.approx(TARGET_DB, abs=1.0)


def test_normalisation_never_clips() -> None:
    # A quiet voice with a few loud clicks: bringing it up would put the clicks far over 0 dBFS.
    rng = np.random.default_rng(3)
    voice = speechlike(0.05)
    clicks = rng.integers(0, voice.size, 20)
    voice[clicks] = 0.95
    out = normalize_loudness(voice)
    assert peak_db(out) <= PEAK_DB + 1e-4
    assert np.max(np.abs(out)) <= 10 ** (PEAK_DB / 20) + 1e-6
    assert loudness_db(out) == pytest.approx(TARGET_DB, abs=1.0)


def test_normalisation_of_stereo_and_in_place() -> None:
    voice = speechlike(0.1)
    stereo = np.stack([voice, voice], axis=1)
    copy = normalize_loudness(stereo)
    assert copy is not stereo
    np.testing.assert_array_equal(stereo[:, 0], voice)  # the input is untouched
    same = normalize_loudness(stereo, in_place=True)
    assert same is stereo
    np.testing.assert_allclose(same, copy)
    assert loudness_db(same) == pytest.approx(TARGET_DB, abs=1.0)


def test_silence_stays_silent() -> None:
    silence = np.zeros((RATE, 2), dtype=np.float32)
    assert loudness_db(silence) == float("-inf")
    assert not normalize_loudness(silence).any()


def test_loudness_ignores_gaps() -> None:
    voice = speechlike(0.3)
    with_gaps = np.concatenate([voice, np.zeros(10 * RATE, np.float32), voice])
    assert loudness_db(with_gaps) == pytest.approx(loudness_db(voice), abs=0.5)
    assert loudness_db(tone(440, 2.0, 0.5)) == pytest.approx(
        20 * np.log10(0.5 / np.sqrt(2)), abs=0.05
    )


def test_a_track_already_at_the_level_still_has_its_peaks_limited() -> None:
    voice = normalize_loudness(speechlike(0.3))
    voice[1000] = 1.0
    out = normalize_loudness(voice)
    assert np.max(np.abs(out)) <= 10 ** (PEAK_DB / 20) + 1e-6


def test_mixing_in_place_is_mixing() -> None:
    voice = speechlike(0.3)
    spans = [(0, voice.size // 2)]
    stereo = mix(voice, spans, drum_loop(90))
    mono = voice.copy()
    assert mix_into(mono, spans, drum_loop(90)) is mono
    np.testing.assert_allclose(stereo[:, 0], mono, atol=1e-6)
    with pytest.raises(ValueError):
        mix_into(stereo, spans, None)


def test_assemble_can_let_go_of_the_parts() -> None:
    parts = [np.ones(10, np.float32), np.ones(5, np.float32)]
    voice, spans = assemble(parts, 0.0, consume=True)
    assert parts == [None, None]
    assert voice.size == 15 and spans == [(0, 10), (10, 15)]


def test_an_assembly_built_part_by_part_is_the_assembled_track() -> None:
    parts = [speechlike(0.3, seconds=s, seed=k) for k, s in enumerate((0.5, 2.0, 0.3, 1.0))]
    whole, whole_spans = assemble(parts, 0.25)
    assembly = Assembly(0.25)
    for part in parts:
        assembly.append(part)
    assert len(assembly) == len(parts)
    voice, spans = assembly.finish()
    assert spans == whole_spans
    np.testing.assert_array_equal(voice, whole)
    with pytest.raises(RuntimeError):
        assembly.append(parts[0])

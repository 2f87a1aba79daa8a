"""A battle track's sound as pure numpy: the drum loop, the parts laid end to end, the beat ducked
under the voices, and one loudness for every track.

No I/O and no codecs: samples in, samples out (float32, 48 kHz unless told otherwise). Decoding,
resampling and encoding are the audio adapter's job (``bot/audio/codec.py``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

SAMPLE_RATE = 48_000
BEATS_PER_BAR = 4
STEPS_PER_BAR = 16  # sixteenth notes

# A boom-bap bar in sixteenths: the kick on beats 1 and 3 (and the "and" of 3), the snare on the
# backbeat (2 and 4), the closed hi-hat on every eighth.
KICK_STEPS = (0, 8, 10)
SNARE_STEPS = (4, 12)
HAT_STEPS = tuple(range(0, STEPS_PER_BAR, 2))
_NOISE_SEED = 20  # the loop is the same every time it is made

# Levels, in dB relative to the voices' loudness. Between parts the beat is clearly heard; under
# speech it ducks a further DUCK_DB so every word stays on top.
BEAT_DB = -9.0
DUCK_DB = -12.0
DUCK_ATTACK_SECONDS = 0.06  # the beat starts to duck this long before a part begins
DUCK_RELEASE_SECONDS = 0.3  # and comes back over this long after it ends

# Loudness: a gated RMS in the spirit of ITU-R BS.1770 (400 ms blocks, an absolute gate and one
# 10 dB below the mean), then a look-ahead peak limiter so nothing clips.
TARGET_DB = -16.0
PEAK_DB = -1.0
_BLOCK_SECONDS = 0.4
_ABSOLUTE_GATE_DB = -70.0
_RELATIVE_GATE_DB = -10.0
_LIMITER_BLOCK = 256  # samples
_LEVEL_PASSES = 4
_LEVEL_TOLERANCE_DB = 0.1
# Long tracks are worked on this many samples at a time, so no step needs a second copy of one.
_CHUNK = 1 << 16


def beat_seconds(bpm: float) -> float:
    return 60.0 / bpm


def bar_seconds(bpm: float) -> float:
    return BEATS_PER_BAR * beat_seconds(bpm)


def half_bar_seconds(bpm: float) -> float:
    """The gap between two parts of a track: half a bar, so the next voice comes in on the beat."""
    return bar_seconds(bpm) / 2


def _decay(length: int, sample_rate: int, seconds: float) -> np.ndarray:
    t = np.arange(length, dtype=np.float64) / sample_rate
    return np.exp(-t / seconds)


def _kick(sample_rate: int) -> np.ndarray:
    """A sine that falls from 120 Hz to 45 Hz, with a click at its start."""
    length = int(0.35 * sample_rate)
    t = np.arange(length, dtype=np.float64) / sample_rate
    frequency = 45.0 + 75.0 * np.exp(-t / 0.04)
    phase = 2 * np.pi * np.cumsum(frequency) / sample_rate
    body = np.sin(phase) * _decay(length, sample_rate, 0.12)
    click = np.zeros(length)
    n = int(0.004 * sample_rate)
    click[:n] = np.linspace(0.6, 0.0, n)
    return body + 0.3 * click


def _snare(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Noise for the wires over a 190 Hz tone for the shell."""
    length = int(0.25 * sample_rate)
    t = np.arange(length, dtype=np.float64) / sample_rate
    noise = rng.standard_normal(length)
    noise = np.diff(noise, prepend=0.0)  # tilt the noise towards the highs
    wires = 0.35 * noise * _decay(length, sample_rate, 0.06)
    shell = 0.5 * np.sin(2 * np.pi * 190.0 * t) * _decay(length, sample_rate, 0.04)
    return wires + shell


def _hat(sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """Short high-passed noise."""
    length = int(0.06 * sample_rate)
    noise = rng.standard_normal(length + 2)
    high = noise[2:] - 2 * noise[1:-1] + noise[:-2]  # a second difference: only the highs are left
    return 0.08 * high * _decay(length, sample_rate, 0.012)


def _place(loop: np.ndarray, hit: np.ndarray, start: int) -> None:
    """Adds ``hit`` at ``start``, wrapping around the loop's end so the loop joins seamlessly."""
    position = start
    remaining = hit
    while remaining.size:
        room = min(remaining.size, loop.size - position)
        loop[position : position + room] += remaining[:room]
        remaining = remaining[room:]
        position = 0


def loop_length(bpm: float, sample_rate: int = SAMPLE_RATE, bars: int = 1) -> int:
    """Samples in ``bars`` bars of 4/4 at ``bpm``."""
    return round(bars * bar_seconds(bpm) * sample_rate)


def drum_loop(bpm: float = 90, sample_rate: int = SAMPLE_RATE, bars: int = 1) -> np.ndarray:
    """A drum loop made in code (kick, snare, hi-hat), mono float32, ``bars`` bars of 4/4 long.

    Played end to end it repeats without a click: a hit that rings past the loop's end continues at
    its start.
    """
    if bpm <= 0 or bars < 1:
        raise ValueError("a drum loop needs a positive tempo and at least one bar")
    rng = np.random.default_rng(_NOISE_SEED)
    length = loop_length(bpm, sample_rate, bars)
    loop = np.zeros(length, dtype=np.float64)
    step = bar_seconds(bpm) / STEPS_PER_BAR * sample_rate
    kick, snare = _kick(sample_rate), _snare(sample_rate, rng)
    hats = [_hat(sample_rate, rng) for _ in range(4)]
    for bar in range(bars):
        for s in range(STEPS_PER_BAR):
            start = round((bar * STEPS_PER_BAR + s) * step) % length
            if s in KICK_STEPS:
                _place(loop, kick * (1.0 if s % 8 == 0 else 0.7), start)
            if s in SNARE_STEPS:
                _place(loop, snare, start)
            if s in HAT_STEPS:
                accent = 1.0 if s % 4 == 0 else 0.6
                _place(loop, hats[s // 2 % len(hats)] * accent, start)
    peak = float(np.max(np.abs(loop)))
    if peak > 0:
        loop *= 0.9 / peak
    return loop.astype(np.float32)


def assemble(
    parts: Sequence[np.ndarray],
    gap_seconds: float,
    sample_rate: int = SAMPLE_RATE,
    *,
    consume: bool = False,
) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The parts end to end with ``gap_seconds`` of silence between, and each part's span
    ``(start, end)`` in samples (end exclusive), in the parts' order.

    With ``consume`` (``parts`` then a list), each part is let go of (its place set to None) once
    it is copied in, so a long track is never held twice.
    """
    gap = max(0, round(gap_seconds * sample_rate))
    sizes = [int(np.asarray(part).shape[0]) for part in parts]
    total = sum(sizes) + gap * max(0, len(parts) - 1)
    voice = np.zeros(total, dtype=np.float32)
    spans: list[tuple[int, int]] = []
    position = 0
    for index, size in enumerate(sizes):
        voice[position : position + size] = np.asarray(parts[index], dtype=np.float32).reshape(-1)
        if consume:
            parts[index] = None  # type: ignore[index]
        spans.append((position, position + size))
        position += size + gap
    return voice, spans


class Assembly:
    """Parts laid end to end as they come, in order, with a gap between: what :func:`assemble`
    does for parts that arrive one by one (speech made while a battle goes on).

    The buffer grows in place (``ndarray.resize``, a ``realloc`` that the allocator serves by
    remapping pages for large blocks), so each part is copied once, can be let go of at once,
    and the track is never held twice.
    """

    def __init__(self, gap_seconds: float, sample_rate: int = SAMPLE_RATE) -> None:
        self._gap = max(0, round(gap_seconds * sample_rate))
        self._buffer = np.zeros(0, dtype=np.float32)
        self._size = 0
        self._done = False
        self.spans: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self.spans)

    def append(self, part: np.ndarray) -> None:
        if self._done:
            raise RuntimeError("the assembly is finished")
        part = np.asarray(part, dtype=np.float32).reshape(-1)
        start = self._size + (self._gap if self.spans else 0)
        end = start + part.size
        # The buffer is only ever referenced here, so resizing it in place is safe; the new
        # room (the gap included) comes zeroed.
        self._buffer.resize(end, refcheck=False)
        self._buffer[start:end] = part
        self.spans.append((start, end))
        self._size = end

    def finish(self) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """The voice and each part's span, as :func:`assemble` gives them; no more parts after."""
        self._done = True
        return self._buffer, list(self.spans)


def _gain(db: float) -> float:
    return float(10.0 ** (db / 20.0))


def _chunks(length: int, size: int = _CHUNK) -> Iterator[tuple[int, int]]:
    for start in range(0, length, size):
        yield start, min(length, start + size)


def _block_powers(samples: np.ndarray, block: int) -> np.ndarray:
    """Mean square of each ``block`` samples (channels averaged; the last block may be short),
    worked out a few blocks at a time so a long track needs no copy of itself."""
    length = samples.shape[0]
    powers: list[np.ndarray] = []
    for start, stop in _chunks(length, block * 16):
        square = np.square(samples[start:stop], dtype=np.float64)
        if square.ndim == 2:
            square = square.mean(axis=1)
        whole = square.size // block
        if whole:
            powers.append(square[: whole * block].reshape(whole, block).mean(axis=1))
        if square.size > whole * block:
            powers.append(np.array([square[whole * block :].mean()]))
    return np.concatenate(powers) if powers else np.zeros(0)


def loudness_db(samples: np.ndarray, sample_rate: int = SAMPLE_RATE) -> float:
    """The gated RMS level in dBFS: the mean power of the 400 ms blocks above an absolute gate
    and above a gate 10 dB under their mean, so pauses and gaps do not pull the level down.
    ``-inf`` for silence."""
    samples = np.asarray(samples, dtype=np.float32)
    blocks = _block_powers(samples, max(1, round(_BLOCK_SECONDS * sample_rate)))
    gated = blocks[blocks > _gain(_ABSOLUTE_GATE_DB) ** 2]
    if gated.size == 0:
        return float("-inf")
    relative = gated.mean() * _gain(_RELATIVE_GATE_DB) ** 2
    gated = gated[gated >= relative]
    return 10.0 * float(np.log10(gated.mean()))


def peak_db(samples: np.ndarray) -> float:
    """The highest absolute sample in dBFS (``-inf`` for silence)."""
    samples = np.asarray(samples)
    peak = max((float(np.max(np.abs(samples[a:b]))) for a, b in _chunks(len(samples))), default=0)
    return 20.0 * float(np.log10(peak)) if peak > 0 else float("-inf")


def _limit(samples: np.ndarray, ceiling: float) -> None:
    """A look-ahead peak limiter, in place: a smooth gain at most ``ceiling / |x|`` everywhere.

    Gains are worked out per block (the lowest any sample in the block needs, taken over the block
    and its neighbours) and interpolated between block centres, so the gain is already down when a
    peak arrives and comes back up over a block or two.
    """
    length = samples.shape[0]
    block = _LIMITER_BLOCK
    count = -(-length // block)
    block_peaks = np.zeros(count, dtype=np.float32)
    for start, stop in _chunks(length, block * 256):
        peaks = np.abs(samples[start:stop])
        if peaks.ndim == 2:
            peaks = peaks.max(axis=1)
        padded = np.zeros(-(-peaks.size // block) * block, dtype=np.float32)
        padded[: peaks.size] = peaks
        block_peaks[start // block : start // block + padded.size // block] = padded.reshape(
            -1, block
        ).max(axis=1)
    if count == 0 or float(block_peaks.max()) <= ceiling:
        return
    need = np.minimum(1.0, ceiling / np.maximum(block_peaks, 1e-12))
    widened = need.copy()
    widened[1:] = np.minimum(widened[1:], need[:-1])
    widened[:-1] = np.minimum(widened[:-1], need[1:])
    centres = np.arange(count) * block + (block - 1) / 2
    for start, stop in _chunks(length):
        gain = np.interp(np.arange(start, stop), centres, widened).astype(np.float32)
        view = samples[start:stop]
        view *= gain[:, None] if samples.ndim == 2 else gain
        np.clip(view, -ceiling, ceiling, out=view)


def normalize_loudness(
    samples: np.ndarray,
    target_db: float = TARGET_DB,
    *,
    peak_db: float = PEAK_DB,
    sample_rate: int = SAMPLE_RATE,
    in_place: bool = False,
) -> np.ndarray:
    """The samples (mono or (n, channels)) brought to ``target_db`` (gated RMS, dBFS), with no
    peak above ``peak_db``.

    Tracks from quiet and loud voices, and from different speech engines, come out at one level;
    the peaks a louder level would clip are limited smoothly instead. Silence comes back as it
    is. ``in_place`` works on a float32 array given rather than on a copy (a long track then
    needs no second copy of itself).
    """
    if in_place and isinstance(samples, np.ndarray) and samples.dtype == np.float32:
        out = samples
    else:
        out = np.array(samples, dtype=np.float32, copy=True)
    ceiling = _gain(peak_db)
    for _ in range(_LEVEL_PASSES):
        level = loudness_db(out, sample_rate)
        if not np.isfinite(level) or abs(target_db - level) < _LEVEL_TOLERANCE_DB:
            break
        # The limiter takes a little off the level wherever it works, so measure again.
        gain = np.float32(_gain(target_db - level))
        for start, stop in _chunks(out.shape[0]):
            out[start:stop] *= gain
        _limit(out, ceiling)
    _limit(out, ceiling)  # a track already at the level may still have peaks to take off
    return out


def _rise(x: np.ndarray) -> np.ndarray:
    """A raised cosine from 0 (x=0) to 1 (x=1)."""
    return (0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))).astype(np.float32)


def _duck_depth(
    start: int, stop: int, spans: Sequence[tuple[int, int]], attack: int, release: int
) -> np.ndarray:
    """How far the beat is ducked over samples [start, stop): 0 not at all, 1 fully."""
    depth = np.zeros(stop - start, dtype=np.float32)
    for span_start, span_end in spans:
        if span_end <= span_start or span_end + release <= start or span_start - attack >= stop:
            continue
        inside_start, inside_end = max(start, span_start), min(stop, span_end)
        if inside_start < inside_end:
            depth[inside_start - start : inside_end - start] = 1.0
        ramp_start, ramp_end = max(start, span_start - attack), min(stop, span_start)
        if ramp_start < ramp_end:
            x = (np.arange(ramp_start, ramp_end) - (span_start - attack)) / attack
            view = depth[ramp_start - start : ramp_end - start]
            np.maximum(view, _rise(x), out=view)
        ramp_start, ramp_end = max(start, span_end), min(stop, span_end + release)
        if ramp_start < ramp_end:
            x = (np.arange(ramp_start, ramp_end) - span_end) / release
            view = depth[ramp_start - start : ramp_end - start]
            np.maximum(view, 1.0 - _rise(x), out=view)
    return depth


def duck_envelope(
    length: int,
    spans: Sequence[tuple[int, int]],
    duck_db: float = DUCK_DB,
    *,
    attack_seconds: float = DUCK_ATTACK_SECONDS,
    release_seconds: float = DUCK_RELEASE_SECONDS,
    sample_rate: int = SAMPLE_RATE,
    start: int = 0,
    stop: int | None = None,
) -> np.ndarray:
    """The beat's gain over samples [start, stop) of a track of ``length``: 1 between parts,
    ``duck_db`` under each span, with raised-cosine ramps (down over ``attack_seconds`` before a
    part begins, back up over ``release_seconds`` after it ends)."""
    stop = length if stop is None else min(stop, length)
    attack = max(1, round(attack_seconds * sample_rate))
    release = max(1, round(release_seconds * sample_rate))
    depth = _duck_depth(start, stop, spans, attack, release)
    depth *= np.float32(_gain(duck_db) - 1.0)
    depth += np.float32(1.0)
    return depth


def looped(loop: np.ndarray, length: int, start: int = 0) -> np.ndarray:
    """Samples [start, start + length) of the loop repeated end to end."""
    loop = np.asarray(loop, dtype=np.float32).reshape(-1)
    if loop.size == 0 or length <= 0:
        return np.zeros(max(0, length), dtype=np.float32)
    return np.take(loop, np.arange(start, start + length) % loop.size)


def mix(
    voice: np.ndarray,
    spans: Sequence[tuple[int, int]],
    beat_loop: np.ndarray | None,
    *,
    beat_db: float = BEAT_DB,
    duck_db: float = DUCK_DB,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """The voices over the beat, as stereo float32 of shape (n, 2) (both channels alike: the
    voices and the beat sit in the centre).

    The beat loops under the whole track at ``beat_db`` relative to the voices' loudness and ducks
    a further ``duck_db`` under every span of speech, with smooth ramps, so the voices sit clearly
    above it. Without a beat (``None``) the voices are left alone. Levels are relative: run
    :func:`normalize_loudness` on the result for the track's final level.
    """
    mono = np.array(voice, dtype=np.float32, copy=True).reshape(-1)
    mix_into(mono, spans, beat_loop, beat_db=beat_db, duck_db=duck_db, sample_rate=sample_rate)
    return np.repeat(mono[:, None], 2, axis=1)


def mix_into(
    voice: np.ndarray,
    spans: Sequence[tuple[int, int]],
    beat_loop: np.ndarray | None,
    *,
    beat_db: float = BEAT_DB,
    duck_db: float = DUCK_DB,
    sample_rate: int = SAMPLE_RATE,
) -> np.ndarray:
    """:func:`mix` in place on a mono float32 ``voice``, which it returns: the beat is added into
    it a chunk at a time, so a long track needs no second copy of itself."""
    if voice.ndim != 1 or voice.dtype != np.float32:
        raise ValueError("mix_into works on mono float32 samples")
    if beat_loop is None or voice.size == 0:
        return voice
    loop = np.asarray(beat_loop, dtype=np.float32).reshape(-1)
    loop_level = loudness_db(loop, sample_rate)
    if not np.isfinite(loop_level):
        return voice
    voice_level = loudness_db(voice, sample_rate)
    reference = voice_level if np.isfinite(voice_level) else TARGET_DB
    loop = loop * np.float32(_gain(reference + beat_db - loop_level))
    for start, stop in _chunks(voice.size):
        envelope = duck_envelope(
            voice.size, spans, duck_db, sample_rate=sample_rate, start=start, stop=stop
        )
        envelope *= looped(loop, stop - start, start)
        voice[start:stop] += envelope
    return voice

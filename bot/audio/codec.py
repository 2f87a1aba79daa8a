"""Audio in and out through PyAV (FFmpeg ships inside its wheels): speech and beat files decoded to
float32 mono at 48 kHz, and finished tracks encoded as WAV, Ogg (Opus) or MP3.

Nothing here is a hand-written codec or resampler; FFmpeg's decoders, encoders and resampler do the
work, and numpy only carries the samples between them.
"""

from __future__ import annotations

import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np

from bot.services.tracks.speech import SAMPLE_RATE, TrackError

__all__ = [
    "FORMATS",
    "decode_audio",
    "encode_track",
    "read_audio_file",
    "track_format",
    "write_track",
]

# The container, the codec and its bit rate for each output format. Opus at 80 kbit/s (variable)
# makes 3 minutes of voices over the beat in about 2.4 MB, under the 3 MB goal, and is transparent
# for speech.
FORMATS: dict[str, tuple[str, str, int | None]] = {
    "wav": ("wav", "pcm_s16le", None),
    "ogg": ("ogg", "libopus", 80_000),
    "mp3": ("mp3", "libmp3lame", 128_000),
}
# Samples handed to an encoder at once: large enough to be quick, small enough to bound memory.
ENCODE_CHUNK = SAMPLE_RATE  # one second
# A declared duration beyond this is not believed when sizing the decoder's buffer (it grows).
MAX_EXPECTED_SECONDS = 3600.0
FILE_MODE = 0o644


def _resampler() -> av.AudioResampler:
    return av.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)


class _Samples:
    """A float32 buffer filled a frame at a time: sized from the container's declared duration
    up front, so a long speech is not gathered as thousands of small arrays and then copied
    (which would hold it twice and leave the heap fragmented)."""

    def __init__(self, expected: int) -> None:
        self._buffer = np.empty(max(expected, SAMPLE_RATE), dtype=np.float32)
        self._size = 0

    def add(self, frame: av.AudioFrame) -> None:
        data = frame.to_ndarray().reshape(-1)
        end = self._size + data.size
        if end > self._buffer.size:
            grown = np.empty(max(end, self._buffer.size * 3 // 2), dtype=np.float32)
            grown[: self._size] = self._buffer[: self._size]
            self._buffer = grown
        self._buffer[self._size : end] = data
        self._size = end

    def result(self) -> np.ndarray:
        if self._size == self._buffer.size:
            return self._buffer
        if self._size >= self._buffer.size * 0.9:
            return self._buffer[: self._size]  # a view: the little left over is not worth a copy
        return self._buffer[: self._size].copy()


def _collect(frames: Iterator[av.AudioFrame], expected_seconds: float = 0.0) -> np.ndarray:
    """Every frame resampled to float32 mono at 48 kHz, in one array."""
    resampler = _resampler()
    seconds = min(max(expected_seconds, 0.0), MAX_EXPECTED_SECONDS)
    samples = _Samples(round(seconds * SAMPLE_RATE * 1.01) + 4096)
    for frame in frames:
        for out in resampler.resample(frame):
            samples.add(out)
    for out in resampler.resample(None):
        samples.add(out)
    return samples.result()


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _decode_container(source: io.BytesIO | str) -> np.ndarray:
    with av.open(source, mode="r") as container:
        if not container.streams.audio:
            raise ValueError("no audio stream")
        stream = container.streams.audio[0]
        return _collect(container.decode(stream), _declared_seconds(container, stream))


def _decode_pcm(data: bytes, rate: int) -> np.ndarray:
    if rate <= 0:
        raise ValueError(f"invalid PCM sample rate {rate}")
    usable = len(data) - len(data) % 2
    pcm = np.frombuffer(data[:usable], dtype="<i2")
    if pcm.size == 0:
        return np.zeros(0, dtype=np.float32)
    mono = pcm.astype(np.int16).reshape(1, -1)
    frame = av.AudioFrame.from_ndarray(mono, format="s16", layout="mono")
    frame.sample_rate = rate
    return _collect(iter([frame]), pcm.size / rate)


def decode_audio(data: bytes, *, pcm_rate: int | None = None) -> np.ndarray:
    """Audio bytes as float32 mono samples at 48 kHz.

    ``data`` is a WAV, Ogg, MP3 or FLAC file's bytes, or, when ``pcm_rate`` is given, raw 16-bit
    little-endian mono PCM at that rate (what an OpenAI-compatible endpoint answers for ``pcm``).
    Bytes that are not audio raise TrackError.
    """
    try:
        if pcm_rate is not None:
            return _decode_pcm(data, pcm_rate)
        if not data:
            raise ValueError("no data")
        return _decode_container(io.BytesIO(data))
    except (av.FFmpegError, ValueError) as error:
        raise TrackError(f"Not audio that can be decoded ({_reason(error)})") from None


def read_audio_file(path: Path | str) -> np.ndarray:
    """A WAV or Ogg file (BEAT_FILE) as float32 mono samples at 48 kHz; TrackError if unreadable."""
    path = Path(path)
    try:
        samples = _decode_container(str(path))
    except FileNotFoundError:
        raise TrackError(f"Cannot read the audio file {path}: no such file") from None
    except (av.FFmpegError, OSError, ValueError) as error:
        raise TrackError(f"Cannot read the audio file {path}: {_reason(error)}") from None
    if samples.size == 0:
        raise TrackError(f"Cannot read the audio file {path}: it holds no sound")
    return samples


def _reason(error: Exception) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _stereo(samples: np.ndarray) -> np.ndarray:
    """The samples as (n, 2) float32 without copying them (a mono array becomes a view)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 1:
        samples = np.broadcast_to(samples[:, None], (samples.size, 2))
    if samples.ndim != 2 or samples.shape[1] != 2:
        raise ValueError(f"expected stereo samples of shape (n, 2), got {samples.shape}")
    return samples


def _encode_to(target: io.IOBase | str, samples: np.ndarray, fmt: str) -> None:
    container_format, codec, bit_rate = FORMATS[fmt]
    samples = _stereo(samples)
    with av.open(target, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=SAMPLE_RATE, layout="stereo")
        if bit_rate is not None:
            stream.bit_rate = bit_rate
        for start in range(0, len(samples), ENCODE_CHUNK):
            chunk = np.clip(samples[start : start + ENCODE_CHUNK], -1.0, 1.0)
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="flt", layout="stereo")
            frame.sample_rate = SAMPLE_RATE
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


def _format(fmt: str) -> str:
    fmt = fmt.lower().lstrip(".")
    if fmt not in FORMATS:
        known = ", ".join(FORMATS)
        raise TrackError(f"Cannot encode a track as '{fmt}': the formats are {known}")
    return fmt


def encode_track(samples: np.ndarray, fmt: str) -> bytes:
    """Stereo float32 samples at 48 kHz, shape (n, 2), as a file's bytes: ``wav`` (16-bit PCM),
    ``ogg`` (Opus) or ``mp3``."""
    fmt = _format(fmt)
    buffer = io.BytesIO()
    _encode_to(buffer, samples, fmt)
    return buffer.getvalue()


def track_format(path: Path | str) -> str:
    """The format a track file's extension names; raises TrackError for any other extension, so
    a command can refuse a path before any speech is made."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        known = ", ".join(f".{name}" for name in FORMATS)
        raise TrackError(f"Cannot write the track {path}: its extension must be one of {known}")
    return fmt


def write_track(samples: np.ndarray, path: Path | str) -> int:
    """Writes the track to ``path`` in the format its extension names (.wav, .ogg or .mp3) and
    returns its size in bytes.

    The file is written under a temporary name beside ``path`` and renamed into place, so ``path``
    never holds half a track, even when encoding fails.
    """
    path = Path(path)
    fmt = track_format(path)
    directory = path.parent
    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=directory)
    except OSError as error:
        raise TrackError(f"Cannot write the track {path}: {_reason(error)}") from None
    try:
        os.fchmod(handle, FILE_MODE)  # mkstemp's file is private to its owner
        with os.fdopen(handle, "wb") as file:
            _encode_to(file, samples, fmt)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        if isinstance(error, (OSError, av.FFmpegError)):
            raise TrackError(f"Cannot write the track {path}: {_reason(error)}") from None
        raise
    return path.stat().st_size

"""The offline speech engine: Debian's espeak-ng, run as a subprocess, no network, no model files.

A voice is named ``LANGUAGE+VARIANT:PITCH``: an espeak-ng voice (``en``, ``en-us``,
``en-gb-scotland``...), one of its voice variants (``m1``..``m7``, ``f1``..``f4``, see
``espeak-ng --voices=variant``) and a base pitch from 0 to 99 (espeak-ng's ``-p``; 50 when left
out). The MCs' voices differ in accent and variant, and their pitches are spread so that any two
of them sit at least 14% apart (median pitch measured on one phrase, from about 72 Hz to 267 Hz);
the host speaks in Received Pronunciation, a little slower than the MCs rap.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass

from bot.audio.codec import decode_audio
from bot.engine.track import speech_chunks
from bot.services.tracks.speech import Speech, TrackError, spoken_in_order

EXECUTABLE = "espeak-ng"
INSTALL_HINT = "apt-get install espeak-ng"

# The MCs' voices, lowest first; the median pitch each gives is in the comment.
VOICES: tuple[str, ...] = (
    "en-gb-scotland+m6:5",  # ~72 Hz
    "en-us+m3:25",  # ~92 Hz
    "en+m1:68",  # ~116 Hz
    "en-029+m7:70",  # ~134 Hz
    "en-us-nyc+m4:99",  # ~155 Hz
    "en-us+f3:30",  # ~187 Hz
    "en-us+f2:65",  # ~230 Hz
    "en+f4:85",  # ~267 Hz
)
HOST_VOICE = "en-gb-x-rp+m2:45"  # ~98 Hz
# espeak-ng's speaking rate in words per minute (its default is 175).
MC_WORDS_PER_MINUTE = 185
HOST_WORDS_PER_MINUTE = 165
# Text handed to one espeak-ng process; long verses run as several processes at once.
CHUNK_CHARS = 2000
DEFAULT_PITCH = 50

_VOICE_NAME = re.compile(r"^([A-Za-z0-9-]+(?:\+[A-Za-z0-9_-]+)?)(?::(\d{1,2}))?$")
_ENDS_CLAUSE = re.compile(r"[,.;:!?…]$")


@dataclass(frozen=True, slots=True)
class EspeakVoice:
    """A voice name read: espeak-ng's ``-v`` (voice and variant) and ``-p`` (pitch)."""

    voice: str
    pitch: int

    @classmethod
    def parse(cls, name: str) -> EspeakVoice:
        match = _VOICE_NAME.match(name.strip())
        if match is None:
            raise TrackError(
                f"espeak-ng: the voice {name!r} is not LANGUAGE+VARIANT:PITCH, e.g. en-us+m3:40"
            )
        pitch = DEFAULT_PITCH if match.group(2) is None else int(match.group(2))
        return cls(match.group(1), pitch)


class EspeakEngine:
    """``SpeechEngine`` through espeak-ng: each chunk of text is one ``espeak-ng --stdout`` run,
    its WAV decoded to 48 kHz mono float32.

    At most ``concurrency`` processes run at once, whoever asks (the chunks of one long verse,
    or every part of a track).
    """

    name = EXECUTABLE

    def __init__(
        self,
        voices: Sequence[str] = VOICES,
        host_voice: str = HOST_VOICE,
        *,
        executable: str = EXECUTABLE,
        words_per_minute: int = MC_WORDS_PER_MINUTE,
        host_words_per_minute: int = HOST_WORDS_PER_MINUTE,
        concurrency: int | None = None,
    ) -> None:
        for name in (*voices, host_voice):
            EspeakVoice.parse(name)
        self.voices: tuple[str, ...] = tuple(v for v in dict.fromkeys(voices) if v != host_voice)
        if not self.voices:
            raise ValueError("espeak-ng needs at least one voice besides the host's")
        self.host_voice = host_voice
        self._executable = executable
        self._words_per_minute = words_per_minute
        self._host_words_per_minute = host_words_per_minute
        self._concurrency = concurrency or os.cpu_count() or 1
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    def check(self) -> None:
        """Raises TrackError, saying what to install, when espeak-ng cannot be found."""
        if shutil.which(self._executable) is None:
            raise _missing()

    async def speak(self, text: str, voice: str) -> Speech:
        """``text`` spoken in ``voice``; TrackError if espeak-ng is missing or fails."""
        parsed = EspeakVoice.parse(voice)
        rate = self._host_words_per_minute if voice == self.host_voice else self._words_per_minute
        chunks = speech_chunks(_with_line_pauses(text), CHUNK_CHARS)
        return await spoken_in_order(self._speak_chunk(chunk, parsed, rate) for chunk in chunks)

    async def _speak_chunk(self, text: str, voice: EspeakVoice, rate: int) -> Speech:
        async with self._semaphore():
            wav = await self._run(text, voice, rate)
        samples = await asyncio.to_thread(decode_audio, wav)
        return Speech(samples)

    def _semaphore(self) -> asyncio.Semaphore:
        """The bound on processes, one per event loop (a CLI may run several loops in turn)."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self._concurrency))
        return self._slots[1]

    async def _run(self, text: str, voice: EspeakVoice, rate: int) -> bytes:
        # The text goes in on stdin: as an argument, a line starting with "-" would be an option.
        command = (
            self._executable,
            "--stdout",
            "--stdin",
            "-b", "1",  # UTF-8 input
            "-v", voice.voice,
            "-p", str(voice.pitch),
            "-s", str(rate),
        )  # fmt: skip
        try:
            process = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except (FileNotFoundError, PermissionError):
            raise _missing() from None
        try:
            wav, errors = await process.communicate(text.encode("utf-8"))
        finally:
            if process.returncode is None:  # cancelled: leave no espeak-ng behind
                process.kill()
                await process.wait()
        if process.returncode != 0 or not wav:
            detail = _first_line(errors) or _first_line(wav) or "no output"
            raise TrackError(
                f"espeak-ng failed with voice {voice.voice} "
                f"(exit status {process.returncode}): {detail}",
                status=process.returncode,
            )
        return wav


def _with_line_pauses(text: str) -> str:
    """espeak-ng reads a line break as a space; a comma at each line's end keeps the bars apart."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return "\n".join(line if _ENDS_CLAUSE.search(line) else f"{line}," for line in lines)


def _missing() -> TrackError:
    return TrackError(f"espeak-ng is not installed; install it with: {INSTALL_HINT}")


def _first_line(data: bytes) -> str:
    if data.startswith(b"RIFF"):
        return ""
    lines = data.decode("utf-8", "replace").strip().splitlines()
    return lines[0].strip() if lines else ""

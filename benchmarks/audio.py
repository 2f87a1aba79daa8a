"""Battle tracks: how fast a track is made, how much memory that takes, and how big its file is.

Run: python benchmarks/audio.py [--transcript PATH ...] [--interval 3] [--latency 1]

Offline (espeak-ng, the engine used without TTS_BASE_URL): each transcript's whole track is made
over the drum loop in a child process of its own, so its peak memory is that of one process that
made one track. Figures: the time to make the track against the track's own length (target
<= 0.1, i.e. a 3-minute track in 18 s), the same with the .ogg encoded too, the child's peak RSS
(target < 150 MB; the interpreter, numpy and PyAV alone are the "base"), numpy's own peak
(tracemalloc, in a second run), and the size of 3 minutes of the track as .ogg (target <= 3 MB).

Endpoint: the local OpenAI-compatible speech server (tests/fakes/speech_server.py) answering
every request ``--latency`` seconds late; each turn is added to a TrackBuilder ``--interval``
seconds after the one before, as a battle posts its verses, and the figure is the time from the
last verse to the finished track (target <= 2 s with a 1 s latency), and to its .ogg too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from bot.audio.codec import encode_track
from bot.audio.espeak import EspeakEngine
from bot.engine.mixing import drum_loop
from bot.engine.transcript import Transcript, parse
from bot.services.tracks.maker import TrackMaker
from bot.services.tracks.speech import SAMPLE_RATE, Speech, SpeechEngine

if TYPE_CHECKING:
    from tests.fakes.speech_server import SpeechServer

# The endpoint's client and the fake server (openai, aiohttp) are imported only where they are
# used, so the offline child's memory is that of what the offline engine needs.

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_TRANSCRIPTS = (ROOT / "tests" / "fixtures" / "tournament-style-transcript.md",)
BPM = 90
TARGET_MAKE_RATIO = 0.1
TARGET_PEAK_MB = 150.0
TARGET_OGG_MB_3_MIN = 3.0
TARGET_AFTER_LAST_SECONDS = 2.0
THREE_MINUTES = 180


class ToneEngine:
    """Stands in for espeak-ng when it is not installed: a tone per voice, 60 ms a character."""

    name = "tone engine (espeak-ng not installed)"
    voices = ("a", "b", "c", "d")
    host_voice = "host"

    async def speak(self, text: str, voice: str) -> Speech:
        frequency = 150.0 + 60.0 * (hash(voice) % 10)
        t = np.arange(round(0.06 * len(text) * SAMPLE_RATE)) / SAMPLE_RATE
        return Speech((0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32))


def offline_engine() -> SpeechEngine:
    engine = EspeakEngine()
    try:
        engine.check()
    except Exception:
        return ToneEngine()
    return engine


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def three_minutes(samples: np.ndarray) -> np.ndarray:
    """The track's first three minutes (repeated, when it is shorter)."""
    length = THREE_MINUTES * SAMPLE_RATE
    if len(samples) >= length:
        return samples[:length]
    return np.resize(np.ascontiguousarray(samples), (length, 2))


def cut(transcript: Transcript, fraction: float) -> Transcript:
    """The battle with each verse cut to its first ``fraction`` of lines (at least one)."""
    turns = []
    for turn in transcript.turns:
        lines = turn.text.splitlines()
        if not turn.is_announcement and fraction < 1:
            lines = lines[: max(1, math.ceil(len(lines) * fraction))]
        turns.append(replace(turn, text="\n".join(lines)))
    return replace(transcript, turns=tuple(turns))


def child(path: Path, traced: bool, fraction: float) -> int:
    """One track made in this process; prints its figures as one JSON line."""
    transcript = cut(parse(path.read_text(encoding="utf-8")), fraction)
    engine = offline_engine()
    beat = drum_loop(BPM)
    base = rss_mb()
    if traced:
        tracemalloc.start()

    async def run() -> dict[str, float | str]:
        maker = TrackMaker(engine, beat=beat, bpm=BPM)
        started = time.perf_counter()
        track = await maker.make(transcript.model_a, transcript.model_b, transcript.turns)
        made = time.perf_counter()
        ogg = encode_track(track.samples, "ogg")
        encoded = time.perf_counter()
        peak = rss_mb()
        numpy_peak = tracemalloc.get_traced_memory()[1] / 2**20 if traced else 0.0
        tracemalloc.stop()
        sample = three_minutes(track.samples)
        return {
            "engine": engine.name,
            "seconds": track.seconds,
            "make": made - started,
            "ogg": encoded - made,
            "ogg_bytes": len(ogg),
            "ogg_3_min": len(encode_track(sample, "ogg")),
            "base_mb": base,
            "peak_mb": peak,
            "numpy_peak_mb": numpy_peak,
        }

    print(json.dumps(asyncio.run(run())))
    return 0


def in_child(path: Path, traced: bool, fraction: float = 1.0) -> dict[str, float | str]:
    command = [sys.executable, __file__, "--child", str(path), "--fraction", str(fraction)]
    if traced:
        command.append("--traced")
    done = subprocess.run(command, capture_output=True, text=True, check=True, cwd=ROOT)
    return json.loads(done.stdout.strip().splitlines()[-1])


def offline(paths: list[Path]) -> bool:
    print(f"Offline engine, over the drum loop at {BPM} BPM; each track made in a child process")
    header = f"{'transcript':<34} {'length':>7} {'make':>6} {'ratio':>6} {'+ogg':>6} {'ratio':>6}"
    print(f"{header} {'base':>6} {'peak':>6} {'numpy':>6} {'.ogg':>8} {'3 min':>8}")
    ok = True
    engine = ""
    for path in paths:
        run = in_child(path, traced=False)
        ok &= report(path.name, run, in_child(path, traced=True))
        engine = str(run["engine"])
        if float(run["seconds"]) > THREE_MINUTES * 1.1:
            # The same battle with shorter verses, for the figures of a 3-minute track.
            fraction = THREE_MINUTES / float(run["seconds"])
            name = f"{path.stem[:19]}… cut to ~3 min"
            short = in_child(path, traced=False, fraction=fraction)
            ok &= report(name, short, in_child(path, traced=True, fraction=fraction))
    print(f"  engine: {engine}")
    print(
        f"  targets: make/length <= {TARGET_MAKE_RATIO} (with the .ogg too), peak RSS < "
        f"{TARGET_PEAK_MB:g} MB, 3 minutes of .ogg <= {TARGET_OGG_MB_3_MIN:g} MB"
    )
    return ok


def report(name: str, run: dict[str, float | str], traced: dict[str, float | str]) -> bool:
    seconds = float(run["seconds"])
    make, ogg = float(run["make"]), float(run["ogg"])
    ogg_3 = float(run["ogg_3_min"]) / 1e6
    minutes, rest = divmod(round(seconds), 60)
    print(
        f"{name[:34]:<34} {minutes:4d}:{rest:02d} {make:5.2f}s {make / seconds:6.3f} "
        f"{make + ogg:5.2f}s {(make + ogg) / seconds:6.3f} "
        f"{float(run['base_mb']):4.0f}MB {float(run['peak_mb']):4.0f}MB "
        f"{float(traced['numpy_peak_mb']):4.0f}MB {float(run['ogg_bytes']) / 1e6:6.2f}MB "
        f"{ogg_3:6.2f}MB"
    )
    return (
        (make + ogg) / seconds <= TARGET_MAKE_RATIO
        and float(run["peak_mb"]) < TARGET_PEAK_MB
        and ogg_3 <= TARGET_OGG_MB_3_MIN
    )


async def battle_over_endpoint(
    transcript: Transcript, server: SpeechServer, interval: float
) -> tuple[float, float, float, int]:
    from bot.audio.endpoint import SpeechEndpoint

    engine = SpeechEndpoint(server.base_url, server.api_key)
    try:
        maker = TrackMaker(engine, beat=drum_loop(BPM), bpm=BPM)
        builder = maker.begin(transcript.model_a, transcript.model_b)
        for turn in transcript.turns:
            await asyncio.sleep(interval)  # the verse is being written
            builder.add(turn)
        last = time.perf_counter()
        track = await builder.finish()
        finished = time.perf_counter()
        await asyncio.to_thread(encode_track, track.samples, "ogg")
        encoded = time.perf_counter()
        return finished - last, encoded - last, track.seconds, builder.parts
    finally:
        await engine.close()


def endpoint(paths: list[Path], interval: float, latency: float) -> bool:
    print()
    print(
        f"Speech endpoint answering {latency:g} s late; a turn added every {interval:g} s, "
        "as a battle posts them"
    )
    print(f"{'transcript':<34} {'parts':>5} {'length':>7} {'to track':>9} {'to .ogg':>8}")
    from tests.fakes.speech_server import SpeechServer

    worst = 0.0
    with SpeechServer(latency=latency) as server:
        for path in paths:
            transcript = parse(path.read_text(encoding="utf-8"))
            to_track, to_ogg, seconds, parts = asyncio.run(
                battle_over_endpoint(transcript, server, interval)
            )
            worst = max(worst, to_track)
            minutes, rest = divmod(round(seconds), 60)
            print(
                f"{path.name[:34]:<34} {parts:5d} {minutes:4d}:{rest:02d} "
                f"{to_track:8.2f}s {to_ogg:7.2f}s"
            )
        print(f"  most requests in flight at once: {server.most_in_flight}")
    target = TARGET_AFTER_LAST_SECONDS * latency
    print(f"  target: the track ready <= {target:g} s after the last verse (worst {worst:.2f} s)")
    return worst <= target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--transcript", type=Path, action="append", help="a saved transcript")
    parser.add_argument("--interval", type=float, default=3.0, help="seconds between verses")
    parser.add_argument("--latency", type=float, default=1.0, help="the endpoint's latency")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--traced", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fraction", type=float, default=1.0, help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child is not None:
        return child(options.child, options.traced, options.fraction)
    paths = options.transcript or list(DEFAULT_TRANSCRIPTS)
    ok = offline(paths)
    ok &= endpoint(paths, options.interval, options.latency)
    print("meets every target" if ok else "misses a target")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())

"""Pipelined pacing: wall time of real battles over the local model server, against the ideal.

Run: python benchmarks/pacing.py [--rounds 3]
Each verse k takes g_k seconds to write and is asked for as soon as verse k-1 is written, so
written_k = written_{k-1} + g_k; it is posted at the later of written_k and the previous post
+ pace p. The ideal wall time is the last post of that schedule (with equal g it is
g + (n-1)·max(g, p)). "gated" is the same schedule when a verse is asked for only once the one
two before it is posted too (as the referee did before it ran ahead); "serial" is n·g + (n-1)·p
with no overlap at all. Target: measured / ideal <= 1.05 in every case.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine.battle import Battle, Side
from bot.engine.pacing import Pace
from bot.llm import LLMClient
from bot.services.battles.referee import Outcome, Referee
from bot.settings import Settings
from tests.fakes.model_server import ModelServer, Verse, default_verse
from tests.fakes.stages import RecordingStage

TARGET_RATIO = 1.05
SLOW_FACTOR = 6


@dataclass(frozen=True)
class Case:
    name: str
    pace: float
    latencies: Callable[[int], list[float]]  # the g_k of n verses


def steady(g: float) -> Callable[[int], list[float]]:
    return lambda n: [g] * n


def one_slow(fast: float, at: Callable[[int], int]) -> Callable[[int], list[float]]:
    """Every verse fast but one, SLOW_FACTOR times slower."""

    def latencies(n: int) -> list[float]:
        verses = [fast] * n
        verses[at(n)] = fast * SLOW_FACTOR
        return verses

    return latencies


def cycling(pattern: Sequence[float]) -> Callable[[int], list[float]]:
    return lambda n: [pattern[k % len(pattern)] for k in range(n)]


CASES = [
    Case("steady", 1.0, steady(0.5)),
    Case("steady", 0.5, steady(1.0)),
    Case("steady", 0.5, steady(0.5)),
    Case("steady", 0.0, steady(0.8)),
    Case("steady", 1.5, steady(0.2)),
    Case("slow 4th of 6", 0.8, one_slow(0.3, lambda n: min(3, n - 1))),
    Case("slow 4th, no pace", 0.0, one_slow(0.3, lambda n: min(3, n - 1))),
    Case("slow 1st of 6", 1.0, one_slow(0.3, lambda n: 0)),
    Case("slow last of 6", 0.6, one_slow(0.3, lambda n: n - 1)),
    Case("mixed", 0.5, cycling([0.2, 0.9, 0.4, 1.2, 0.3, 0.6])),
]


def schedule(latencies: Sequence[float], pace: float, *, gated: bool = False) -> float:
    """When the last verse is posted, ideally (the announcement holds nothing up)."""
    written = posted = previous_posted = 0.0
    for k, g in enumerate(latencies):
        # Ahead: asked for when the verse before is written. Gated: also not before the
        # verse two back is posted.
        asked = written if not gated or k < 2 else max(written, previous_posted)
        written = asked + g
        previous_posted, posted = posted, written if k == 0 else max(written, posted + pace)
    return posted


async def measure(
    server: ModelServer, battle: Battle, latencies: list[float], pace: float
) -> float:
    server.reset()
    counts = {Side.A: 0, Side.B: 0}
    for k, g in enumerate(latencies):
        side = Side.A if k % 2 == 0 else Side.B
        counts[side] += 1
        model = battle.model(side)
        server.script(model, Verse(default_verse(model, counts[side]), latency=g))
    settings = Settings.from_env({"LLM_BASE_URL": server.base_url, "LLM_API_KEY": server.api_key})
    llm = LLMClient(settings)
    try:
        stage = RecordingStage()
        started = time.monotonic()
        result = await Referee(battle, llm, stage, Pace(pace)).run()
        assert result.outcome is Outcome.COMPLETED, result.reason
        return stage.posts[-1][0] - started
    finally:
        await llm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    n = 2 * rounds
    battle = Battle("qwen/qwen-max", "meta-llama/llama-3-70b-instruct", rounds=rounds)
    print(f"{n} verses per battle; target measured/ideal <= {TARGET_RATIO}")
    header = f"{'case':<18} {'g_k (s)':<30} {'p (s)':>5} {'ideal':>6} {'gated':>6} {'serial':>6}"
    print(f"{header} {'measured':>8} {'ratio':>6}")
    worst = 0.0
    with ModelServer() as server:
        for case in CASES:
            latencies = case.latencies(n)
            ideal = schedule(latencies, case.pace)
            gated = schedule(latencies, case.pace, gated=True)
            serial = sum(latencies) + (n - 1) * case.pace
            measured = asyncio.run(measure(server, battle, latencies, case.pace))
            ratio = measured / ideal
            worst = max(worst, ratio)
            shown = " ".join(f"{g:g}" for g in latencies)
            print(
                f"{case.name:<18} {shown:<30} {case.pace:5.2f} {ideal:6.2f} {gated:6.2f} "
                f"{serial:6.2f} {measured:8.3f} {ratio:6.3f}"
            )
    print(f"worst ratio {worst:.3f} ({'meets' if worst <= TARGET_RATIO else 'misses'} target)")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())

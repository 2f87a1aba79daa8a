"""Pipelined pacing: wall time of real battles over the local model server, against the ideal.

Run: python benchmarks/pacing.py [--rounds 3]
With models that take g seconds and a pace of p, n verses ideally take g + (n-1)·max(g, p);
serial generation would take n·g + (n-1)·p. Target: measured / ideal <= 1.05.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine.battle import Battle
from bot.engine.pacing import Pace
from bot.llm import LLMClient
from bot.referee import Outcome, Referee
from bot.settings import Settings
from tests.fakes.model_server import ModelServer
from tests.fakes.stages import RecordingStage

CASES = [(0.5, 1.0), (1.0, 0.5), (0.5, 0.5), (0.8, 0.0), (0.2, 1.5)]
TARGET_RATIO = 1.05


async def measure(server: ModelServer, g: float, p: float, rounds: int) -> float:
    server.latency = g
    settings = Settings.from_env({"LLM_BASE_URL": server.base_url, "LLM_API_KEY": server.api_key})
    llm = LLMClient(settings)
    try:
        battle = Battle("qwen/qwen-max", "meta-llama/llama-3-70b-instruct", rounds=rounds)
        stage = RecordingStage()
        started = time.monotonic()
        result = await Referee(battle, llm, stage, Pace(p)).run()
        assert result.outcome is Outcome.COMPLETED, result.reason
        return stage.posts[-1][0] - started
    finally:
        await llm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    n = 2 * rounds
    print(f"{n} verses per battle; target measured/ideal <= {TARGET_RATIO}")
    print(f"{'g (s)':>6} {'p (s)':>6} {'ideal':>7} {'serial':>7} {'measured':>9} {'ratio':>6}")
    worst = 0.0
    with ModelServer() as server:
        for g, p in CASES:
            ideal = g + (n - 1) * max(g, p)
            serial = n * g + (n - 1) * p
            measured = asyncio.run(measure(server, g, p, rounds))
            ratio = measured / ideal
            worst = max(worst, ratio)
            print(f"{g:6.2f} {p:6.2f} {ideal:7.2f} {serial:7.2f} {measured:9.3f} {ratio:6.3f}")
    print(f"worst ratio {worst:.3f} ({'meets' if worst <= TARGET_RATIO else 'misses'} target)")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())

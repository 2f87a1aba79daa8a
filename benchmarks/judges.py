"""The judges' panel: time from the last verse to the verdict, over the local model server.

Run: python benchmarks/judges.py [--judges 5] [--repeats 3]
Every model (rappers and judges) answers after g seconds. A battle of one round runs through the
real referee and openai client; the panel starts when the last verse is posted and the time
until its verdict is ready is measured. All judges at once should take about g; one after the
other would take judges·g. Target: measured / g <= 1.2.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.engine.battle import Battle, Side
from bot.engine.pacing import Pace
from bot.engine.verdicts import DEFAULT_PANEL
from bot.llm import LLMClient
from bot.services.battles.referee import Outcome, Referee
from bot.services.judging.panel import JudgePanel
from bot.settings import Settings
from tests.fakes.model_server import DEFAULT_MODELS, ModelServer
from tests.fakes.stages import RecordingStage

LATENCIES = (0.25, 0.5, 1.0, 2.0)
TARGET_RATIO = 1.2
EXTRA_JUDGES = tuple(f"lab{index}/judge" for index in range(len(DEFAULT_PANEL), 15))


async def measure(server: ModelServer, g: float, judges: tuple[str, ...]) -> float:
    """Seconds from the last verse posted to the verdict ready."""
    server.latency = g
    settings = Settings.from_env({"LLM_BASE_URL": server.base_url, "LLM_API_KEY": server.api_key})
    llm = LLMClient(settings)
    try:
        battle = Battle("qwen/qwen-max", "meta-llama/llama-3-70b-instruct", rounds=1)
        stage = RecordingStage()
        result = await Referee(battle, llm, stage, Pace(0)).run()
        assert result.outcome is Outcome.COMPLETED, result.reason
        last_verse_at = stage.posts[-1][0]
        verdict = await JudgePanel(llm, judges).judge(battle, result.turns)
        ready_at = time.monotonic()
        assert verdict.votes(Side.A) == len(judges), verdict.summary()
        return ready_at - last_verse_at
    finally:
        await llm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--judges", type=int, default=len(DEFAULT_PANEL), help="panel size")
    parser.add_argument("--repeats", type=int, default=3, help="runs per latency (median kept)")
    arguments = parser.parse_args()
    judges = (*DEFAULT_PANEL, *EXTRA_JUDGES)[: arguments.judges]
    print(f"{len(judges)} judges; target verdict time / g <= {TARGET_RATIO}")
    print(f"{'g (s)':>6} {'serial':>7} {'measured':>9} {'ratio':>6}")
    worst = 0.0
    with ModelServer((*DEFAULT_MODELS, *judges)) as server:
        for g in LATENCIES:
            runs = [asyncio.run(measure(server, g, judges)) for _ in range(arguments.repeats)]
            measured = statistics.median(runs)
            ratio = measured / g
            worst = max(worst, ratio)
            print(f"{g:6.2f} {len(judges) * g:7.2f} {measured:9.3f} {ratio:6.3f}")
    verdict = "met" if worst <= TARGET_RATIO else "MISSED"
    print(f"worst ratio {worst:.3f}: target {verdict}")
    return 0 if worst <= TARGET_RATIO else 1


if __name__ == "__main__":
    raise SystemExit(main())

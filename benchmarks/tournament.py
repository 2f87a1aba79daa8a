"""A 64-model tournament over the real openai client and the local model server, against the ideal.

Run: python benchmarks/tournament.py [--models 64] [--latency 1] [--concurrency 8] [--rounds 3]

The model server runs in its own process, so this process's CPU time is the bot's alone. Every
verse takes g seconds and pacing is off, so a battle of r rounds takes about 2r·g. The ideal
wall time is the sum over tournament rounds of the longest battle in each round (every battle of
a round at once); with at most K battles at once a round of b battles needs ceil(b / K) waves,
which gives the ideal at that concurrency too.

Each battle is judged by a real panel of five judges (bot/services/judging/panel.py, one
chat completion each, all at once, through the same client), which the model server answers
with the same latency g:
a battle therefore takes about 2r·g + g.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.cli.tournament import Tournament, TournamentOptions
from bot.engine.battle import Battle
from bot.engine.pacing import Pace
from bot.llm import LLMClient
from bot.services.judging.panel import JudgePanel
from bot.services.tournaments.folder import SilentProgress
from bot.services.tournaments.panel_player import MatchRecord, RefereePlayer, panel_judge
from bot.settings import Settings

API_KEY = "bench-key"
JUDGES = tuple(f"bench-judge-{i}/judge" for i in range(5))


def model_ids(count: int) -> list[str]:
    return [f"lab{i:02d}/rapper-{i:02d}" for i in range(count)]


def serve(count: int, latency: float) -> int:
    """The child process: a model server for ``count`` models until stdin closes."""
    from tests.fakes.model_server import ModelServer

    served = (*model_ids(count), *JUDGES)
    with ModelServer(served, api_key=API_KEY, latency=latency) as server:
        print(f"serving {server.base_url}", flush=True)
        sys.stdin.read()
    return 0


class TimedPlayer:
    """Times each battle, by tournament round (read from the battle's pair of models)."""

    def __init__(self, inner: RefereePlayer) -> None:
        self.inner = inner
        self.seconds: dict[tuple[str, str], float] = {}

    async def play(self, battle: Battle) -> MatchRecord:
        started = time.monotonic()
        record = await self.inner.play(battle)
        self.seconds[(battle.model_a, battle.model_b)] = time.monotonic() - started
        return record


async def tournament(base_url: str, models: list[str], arguments: argparse.Namespace):
    settings = Settings.from_env({"LLM_BASE_URL": base_url, "LLM_API_KEY": API_KEY})
    llm = LLMClient(settings)
    try:
        player = TimedPlayer(RefereePlayer(llm, panel_judge(JudgePanel(llm, JUDGES)), Pace(0)))
        with tempfile.TemporaryDirectory() as out:
            options = TournamentOptions(
                Path(out), battle_rounds=arguments.rounds, concurrency=arguments.concurrency
            )
            started = time.monotonic()
            result = await Tournament(models, player, options, SilentProgress()).run()
            rounds = result.progression.played_rounds
            wall = time.monotonic() - started
        return rounds, player.seconds, wall
    finally:
        await llm.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=64)
    parser.add_argument("--latency", type=float, default=1.0, help="g: seconds per verse")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each battle")
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.serve:
        return serve(arguments.models, arguments.latency)

    root = Path(__file__).resolve().parents[1]
    child = subprocess.Popen(
        [
            *(sys.executable, __file__, "--serve"),
            *("--models", str(arguments.models), "--latency", str(arguments.latency)),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=root,
        env=os.environ | {"PYTHONPATH": str(root)},
    )
    try:
        assert child.stdout is not None
        base_url = child.stdout.readline().split()[-1]
        models = model_ids(arguments.models)
        cpu_before = _cpu_seconds()
        rounds, seconds, wall = asyncio.run(tournament(base_url, models, arguments))
        cpu = _cpu_seconds() - cpu_before
    finally:
        assert child.stdin is not None
        child.stdin.close()
        child.wait(timeout=30)

    battles = sum(len(r.decisions) for r in rounds)
    longest = [
        max(seconds[(d.pairing.side_a, d.pairing.side_b)] for d in r.decisions) for r in rounds
    ]
    waves = [math.ceil(len(r.decisions) / arguments.concurrency) for r in rounds]
    ideal = sum(longest)
    ideal_at_concurrency = sum(w * t for w, t in zip(waves, longest, strict=True))
    verse_time = 2 * arguments.rounds * arguments.latency
    print(
        f"{arguments.models} models, {battles} battles in {len(rounds)} rounds; "
        f"g = {arguments.latency:g} s, {2 * arguments.rounds} verses a battle "
        f"(ideal battle {verse_time + arguments.latency:g} s with the judges), pace 0, "
        f"concurrency {arguments.concurrency}"
    )
    print(f"battles per round: {[len(r.decisions) for r in rounds]}")
    print(f"longest battle per round (s): {[round(t, 2) for t in longest]}")
    mean = sum(seconds.values()) / len(seconds)
    print(f"battle time: mean {mean:.3f} s, max {max(seconds.values()):.3f} s")
    print(f"wall time: {wall:.2f} s")
    print(f"ideal (sum of each round's longest battle): {ideal:.2f} s; ratio {wall / ideal:.3f}")
    print(
        f"ideal at concurrency {arguments.concurrency} ({sum(waves)} waves): "
        f"{ideal_at_concurrency:.2f} s; ratio {wall / ideal_at_concurrency:.3f}"
    )
    print(f"CPU of this process: {cpu:.2f} s, {1000 * cpu / battles:.1f} ms per battle")
    return 0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


if __name__ == "__main__":
    raise SystemExit(main())

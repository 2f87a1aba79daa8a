"""Matchmaking against uniform random pairing: battles until the leaderboard has settled.

Each simulated server has models whose true Bradley-Terry ratings are known (drawn from a normal
with a 150-point sd, centred on the mean) and 10 voters a battle, each voting for a side with the
true probability that it wins. A battle is one observation scored by its vote share, kept as the
store keeps it (per pair: battles, the sum of side A's scores and of their squares), and the
leaderboard is refitted every --refit battles (bot/engine/ratings.py's fit_pairs). A server has
settled when every model's 95% interval is at most 60 Elo wide on each side; the benchmark counts
the battles until then with uniform random pairs and with the matchmaker (bot/engine/matchmaking.py,
fed the last fit and the pair counts, as the bot feeds it), and checks how often the matchmaker's
final intervals hold the true ratings.

    python benchmarks/matchmaking.py            # 20 models, 20 seeds
    python benchmarks/matchmaking.py --seeds 40 --models 30

It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from bot.engine.matchmaking import pick_pair
from bot.engine.ratings import ELO_MEAN, ELO_SCALE, PairRecord, Rating, fit_pairs

TRUE_SD_ELO = 150.0
VOTERS = 10
HALF_WIDTH_GOAL = 60.0  # Elo, on each side of the rating
MAX_BATTLES = 5000  # a server that has not settled by then counts as this many


def simulate(
    seed: int, models: int, refit: int, matchmaker: bool
) -> tuple[int, float, dict[str, Rating], dict[str, float]]:
    """One server: battles until settled, the last fit's coverage, the fit and the truth."""
    world = np.random.default_rng(seed)
    offsets = world.normal(0.0, TRUE_SD_ELO, models)
    truth = {f"m{k:02d}": ELO_MEAN + o for k, o in enumerate(offsets - offsets.mean())}
    names = sorted(truth)
    voters = np.random.default_rng(seed + 1_000_003 * (2 if matchmaker else 1))
    pairing = random.Random(seed)
    sums: dict[tuple[str, str], list[float]] = {}
    counts: dict[frozenset[str], float] = {}
    ratings: dict[str, Rating] = {}
    last: frozenset[str] | None = None
    battles = 0
    while battles < MAX_BATTLES:
        if matchmaker:
            a, b = pick_pair(names, ratings, counts, last_pair=last, rng=pairing)
        else:
            a, b = pairing.sample(names, 2)
        a, b = min(a, b), max(a, b)
        p_a = 1.0 / (1.0 + 10.0 ** ((truth[b] - truth[a]) / ELO_SCALE))
        score = voters.binomial(VOTERS, p_a) / VOTERS
        cell = sums.setdefault((a, b), [0.0, 0.0, 0.0])
        cell[0] += 1.0
        cell[1] += score
        cell[2] += score * score
        last = frozenset((a, b))
        counts[last] = counts.get(last, 0.0) + 1.0
        battles += 1
        if battles % refit == 0:
            ratings = fit_pairs(PairRecord(a, b, n, s, q) for (a, b), (n, s, q) in sums.items())
            if len(ratings) == models and settled(ratings):
                break
    return battles, coverage(ratings, truth), ratings, truth


def settled(ratings: dict[str, Rating]) -> bool:
    return all(
        max(r.high - r.rating, r.rating - r.low) <= HALF_WIDTH_GOAL for r in ratings.values()
    )


def coverage(ratings: dict[str, Rating], truth: dict[str, float]) -> float:
    held = [r.low <= truth[name] <= r.high for name, r in ratings.items()]
    return sum(held) / len(held) if held else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=40, help="simulated servers (default 40)")
    parser.add_argument("--models", type=int, default=20, help="models a server (default 20)")
    parser.add_argument("--refit", type=int, default=10, help="battles between refits (10)")
    arguments = parser.parse_args()
    started = time.perf_counter()
    uniform, matched, covered = [], [], []
    for seed in range(arguments.seeds):
        uniform.append(simulate(seed, arguments.models, arguments.refit, matchmaker=False)[0])
        battles, held, _, _ = simulate(seed, arguments.models, arguments.refit, matchmaker=True)
        matched.append(battles)
        covered.append(held)
    print(
        f"{arguments.seeds} servers, {arguments.models} models (true sd {TRUE_SD_ELO:.0f} Elo), "
        f"{VOTERS} voters a battle, refit every {arguments.refit} battles; "
        f"settled: every 95% interval within ±{HALF_WIDTH_GOAL:.0f} Elo"
    )
    for name, counts in (("uniform random", uniform), ("matchmaker", matched)):
        print(
            f"  {name:<15} battles: mean {statistics.mean(counts):7.1f}, "
            f"median {statistics.median(counts):7.1f}"
        )
    ratio = statistics.mean(matched) / statistics.mean(uniform)
    median_ratio = statistics.median(matched) / statistics.median(uniform)
    print(
        f"  ratio (matchmaker / uniform): mean {ratio:.2f}, median {median_ratio:.2f} (goal <= 0.6)"
    )
    print(
        f"  matchmaker's final intervals hold the true rating: {statistics.mean(covered):.3f} "
        f"(goal about 0.95)"
    )
    print(f"  {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()

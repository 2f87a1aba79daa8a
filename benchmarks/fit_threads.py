"""The first rating fit with BLAS free to use a thread per core, and with one (threadpoolctl),
while another process keeps a core busy, as the bot's event loop and its neighbours do.

Each run is a fresh process (the first fit is the one people wait for: the web's front page, the
first /leaderboard after a start), fitting about 30% of the pairs of --models models off the main
thread (as StandingsService does). The two ways take turns, run after run; the figures are the
median and worst wall times of the fit over --runs processes each.

    python benchmarks/fit_threads.py             # 300 models, 5 runs each way
    python benchmarks/fit_threads.py --models 100 --runs 3

It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys

ONE_RUN = """
import random, threading, time, json
from threadpoolctl import threadpool_limits
from bot.engine.ratings import PairRecord, fit_pairs

models, limit = {models}, {limit}
rng = random.Random(7)
pairs = [
    PairRecord(f"m/{{a}}", f"m/{{b}}", n, n * rng.random())
    for a in range(models) for b in range(a + 1, models) if rng.random() < 0.3
    for n in [rng.randint(1, 40)]
]
result = {{}}
def fit():
    started = time.perf_counter()
    if limit:
        with threadpool_limits(limits=1, user_api="blas"):
            fit_pairs(pairs)
    else:
        fit_pairs(pairs)
    result["seconds"] = time.perf_counter() - started
worker = threading.Thread(target=fit)
worker.start(); worker.join()
print(json.dumps(result["seconds"]))
"""


SPIN = "while True: pass"


def one_run(models: int, limit: bool) -> float:
    code = ONE_RUN.format(models=models, limit=limit)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(json.loads(out.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    ways = {"BLAS threads as many as cores": False, "one BLAS thread": True}
    times: dict[str, list[float]] = {label: [] for label in ways}
    busy = subprocess.Popen([sys.executable, "-c", SPIN])
    try:
        for _ in range(args.runs):
            for label, limit in ways.items():
                times[label].append(one_run(args.models, limit))
    finally:
        busy.kill()
        busy.wait()
    for label, taken in times.items():
        print(
            f"{label:30} first fit, {args.models} models: median {statistics.median(taken):.3f} s,"
            f" worst {max(taken):.3f} s ({args.runs} runs)"
        )


if __name__ == "__main__":
    main()

"""The content filter's offline check, a verse at a time: how long the word list takes for verses
of a few lengths (the budget is 50 ms a verse; docs/trust.md has the figures), and how long
loading the packaged list takes once per process.

    python benchmarks/content_filter.py             # 300 checks of each length
    python benchmarks/content_filter.py --runs 50

It prints figures; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from bot.engine.content_filter import FilterLevel
from bot.moderation.offline import offline_word_list
from bot.services.moderation.screen import ContentFilter

LINES = (
    "I'm the one they fear when the beat drops, damn, you can't stop it\n",
    "your flow's weak, bitch-made, I run the block while you clock it\n",
    "s.h.i.t talk from a fraud, a$$ on the floor, I'm the boss of it\n",
    "spick and span bars, homo sapiens evolved, you lost it\n",
)
LENGTHS = (300, 700, 1_500, 4_000)  # 700 tokens of LLM_MAX_TOKENS is about 2,800 characters


def verse(length: int) -> str:
    text = "".join(LINES) * (length // 200 + 1)
    return text[:length]


async def main(runs: int) -> None:
    started = time.perf_counter()
    words = offline_word_list()
    print(f"loading the list: {(time.perf_counter() - started) * 1000:.1f} ms")
    screening = ContentFilter(words)
    for length in LENGTHS:
        text, times = verse(length), []
        for _ in range(runs):
            started = time.perf_counter()
            await screening.screen(text, FilterLevel.STRICT)
            times.append((time.perf_counter() - started) * 1000)
        times.sort()
        print(
            f"{length:>5} characters: median {statistics.median(times):.2f} ms, "
            f"99th percentile {times[int(len(times) * 0.99) - 1]:.2f} ms, worst {times[-1]:.2f} ms"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=300)
    asyncio.run(main(parser.parse_args().runs))

"""Web arena: page and open-data latency over HTTP, with 1,000,000 battles and 300 models, on SQLite
and PostgreSQL.

Run:   python benchmarks/web.py [--quick] [--backend sqlite|postgres|both] [--requests N]

The history is seeded straight into the tables (benchmarks/_load_db.py, as the load benchmark
does) on one public server, with verses for a sample of battles. `rapbattle web` then runs in its
own process and this one loads pages from it one at a time, as a reader would:
  - the leaderboard page `/` and `/api/leaderboard.json` (target p99 <= 50 ms),
  - battle pages `/battles/{id}` over the sample (target p99 <= 20 ms),
  - the 300-model win-rate heatmap `/charts/winrate.svg?top=300` (target <= 200 ms),
and, for the record, model pages, the battle-count matrix, a page of `/api/battles.jsonl`, the
first (cold) load of each, and the first leaderboard after a vote moves the ratings.
--quick seeds 100,000 battles. Exit status 1 if a figure misses its target.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._load_db import (
    BACKENDS,
    Database,
    History,
    fresh_database,
    postgres_unavailable,
    seed_history,
)
from bot.store import open_store

GUILD = 424_242_424_242_424_242
SAMPLED_BATTLES = 500
VERSE = (
    "Step to the mic with a flow that's precise,\n"
    "every bar that I drop hits twice as nice,\n"
    "you're a cached response in a stale old tier,\n"
    "I'm the fresh fit, refit, crowned every year.\n"
) * 3


@dataclass(frozen=True)
class Target:
    path: str
    label: str
    limit_ms: float | None  # p99 target, None to only report


@dataclass
class Result:
    label: str
    cold_ms: float
    p50_ms: float
    p99_ms: float
    size_kb: float
    limit_ms: float | None

    @property
    def ok(self) -> bool:
        return self.limit_ms is None or self.p99_ms <= self.limit_ms


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100,000 battles instead of 1M")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--battles", type=int, help="stored battles (default 1,000,000)")
    parser.add_argument("--models", type=int, default=300)
    parser.add_argument("--requests", type=int, default=200, help="loads per page kind")
    parser.add_argument("--workdir", type=Path, help="keep the SQLite files and logs here")
    return parser.parse_args()


async def main() -> int:
    arguments = parse_arguments()
    battles = arguments.battles or (100_000 if arguments.quick else 1_000_000)
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="rapbattle-web-"))
    workdir.mkdir(parents=True, exist_ok=True)
    backends = BACKENDS if arguments.backend == "both" else (arguments.backend,)
    results: dict[str, list[Result]] = {}
    for backend in backends:
        if backend == "postgres" and (why := await postgres_unavailable()):
            print(f"postgres: skipped, {why}")
            continue
        async with fresh_database(backend, workdir) as database:
            history = History(GUILD, battles, arguments.models)
            print(f"{backend}: seeding {battles:,} battles over {arguments.models} models ...")
            seconds = await seed_history(database, history)
            sample = await prepare(database, battles)
            print(f"{backend}: seeded in {seconds:.0f} s; starting rapbattle web")
            async with web_process(database, workdir) as base:
                results[backend] = await measure(base, database, history, sample, arguments)
    print(report(results, battles, arguments.models))
    return 0 if all(r.ok for rows in results.values() for r in rows) else 1


async def prepare(database: Database, battles: int) -> list[int]:
    """Makes the seeded server public and gives a sample of its battles their verses."""
    rng = random.Random(11)
    sample = sorted(rng.sample(range(1, battles + 1), min(SAMPLED_BATTLES, battles)))
    store = await open_store(database.url)
    try:
        await store.set_public_page(GUILD, True)
        rows = await store._fetch(
            f"SELECT id, model_a, model_b FROM battles WHERE id IN ({','.join('?' * len(sample))})",
            sample,
        )
    finally:
        await store.close()
    turns = []
    for battle_id, model_a, model_b in rows:
        order = [model_a, model_b, model_a, model_b, "system", model_a, model_b]
        sides = ["a", "b", "a", "b", None, "a", "b"]
        rounds = [1, 1, 2, 2, 3, 3, 3]
        for position, (speaker, side, number) in enumerate(zip(order, sides, rounds, strict=True)):
            text = "Final round!" if side is None else VERSE
            turns.append((battle_id, position, speaker, side, number, text))
    columns = ("battle_id", "position", "speaker", "side", "round", "text")
    if database.backend == "sqlite":
        connection = sqlite3.connect(database.url.removeprefix("sqlite:///"))
        with connection:
            connection.executemany(
                f"INSERT INTO turns ({', '.join(columns)}) VALUES (?, ?, ?, ?, ?, ?)", turns
            )
        connection.close()
    else:
        import asyncpg

        server, _, schema = database.url.partition("?schema=")
        connection = await asyncpg.connect(server)
        try:
            await connection.copy_records_to_table(
                "turns", records=turns, columns=columns, schema_name=schema
            )
        finally:
            await connection.close()
    return [row[0] for row in rows]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.asynccontextmanager
async def web_process(database: Database, workdir: Path) -> AsyncIterator[str]:
    """`rapbattle web` in its own process, until the rating history is filled in."""
    port = free_port()
    log = (workdir / f"web-{database.backend}.log").open("w")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "import sys; from bot.cli import main; sys.exit(main(sys.argv[1:]))",
        "web",
        "--port",
        str(port),
        env={**os.environ, "DATABASE_URL": database.url, "LOG_LEVEL": "INFO"},
        stdout=log,
        stderr=log,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.monotonic()
        async with aiohttp.ClientSession() as session:
            while True:
                if process.returncode is not None:
                    raise SystemExit(f"rapbattle web exited; see {log.name}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(base + "/healthz") as response:
                        if (await response.json())["history"] == "ready":
                            break
                await asyncio.sleep(0.2)
        took = time.monotonic() - started
        print(f"{database.backend}: server up, rating history filled in {took:.1f} s")
        yield base
    finally:
        process.send_signal(signal.SIGTERM)
        await process.wait()
        log.close()


async def measure(
    base: str, database: Database, history: History, sample: list[int], arguments
) -> list[Result]:
    models = history.model_names()
    rng = random.Random(5)
    n = arguments.requests
    targets = [
        ([Target("/", "leaderboard page /", 50)] * n),
        ([Target("/api/leaderboard.json", "/api/leaderboard.json", 50)] * n),
        [
            Target(f"/battles/{rng.choice(sample)}", "battle page /battles/{id}", 20)
            for _ in range(n)
        ],
        [Target("/charts/winrate.svg?top=300", "300-model win-rate heatmap (SVG)", 200)] * 20,
        [Target("/charts/winrate.json?top=300", "300-model win-rate heatmap (JSON)", None)] * 20,
        [Target("/charts/battles.svg?top=300", "300-model battle-count matrix (SVG)", None)] * 20,
        [
            Target(f"/models/{rng.choice(models)}", "model page /models/{id}", None)
            for _ in range(n)
        ],
        [Target("/api/battles.jsonl?limit=100", "/api/battles.jsonl (100 battles)", None)] * 50,
        [Target("/api/models.json", "/api/models.json", None)] * 50,
    ]
    results = []
    async with aiohttp.ClientSession() as session:
        for runs in targets:
            latencies, size = [], 0
            for target in runs:
                seconds, size = await timed_get(session, base + target.path)
                latencies.append(seconds)
            first = runs[0]
            # The first load of a kind fits or renders what the rest reuse: reported apart.
            warm = np.array(latencies[1:] or latencies) * 1000
            results.append(
                Result(
                    first.label,
                    latencies[0] * 1000,
                    float(np.percentile(warm, 50)),
                    float(np.percentile(warm, 99)),
                    size / 1024,
                    first.limit_ms,
                )
            )
        # A vote closes elsewhere: the next leaderboard refits and renders once.
        store = await open_store(database.url)
        try:
            await store.set_public_page(GUILD, True)  # bumps the ratings version
        finally:
            await store.close()
        seconds, size = await timed_get(session, base + "/")
        results.append(
            Result("leaderboard page, first after the ratings move", seconds * 1000,
                   seconds * 1000, seconds * 1000, size / 1024, None)
        )  # fmt: skip
    return results


async def timed_get(session: aiohttp.ClientSession, url: str) -> tuple[float, int]:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200:
            raise SystemExit(f"{url} answered {response.status}: {body[:200]!r}")
    return time.perf_counter() - started, len(body)


def report(results: dict[str, list[Result]], battles: int, models: int) -> str:
    lines = [f"\nWeb arena over HTTP: {battles:,} battles, {models} models", ""]
    header = (
        "| page | "
        + " | ".join(f"{backend} cold / p50 / p99 ms" for backend in results)
        + " | size | target |"
    )
    lines += [header, "|---|" + "---|" * len(results) + "---|---|"]
    labels = [r.label for r in next(iter(results.values()), [])]
    for i, label in enumerate(labels):
        cells = []
        for rows in results.values():
            r = rows[i]
            flag = "" if r.ok else " MISSED"
            cells.append(f"{r.cold_ms:.0f} / {r.p50_ms:.1f} / {r.p99_ms:.1f}{flag}")
        size = next(iter(results.values()))[i].size_kb
        limit = next(iter(results.values()))[i].limit_ms
        target = f"p99 <= {limit:.0f} ms" if limit is not None else ""
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {size:,.0f} KB | {target} |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))

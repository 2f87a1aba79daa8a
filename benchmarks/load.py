"""Load: the real bot (`rapbattle run`, its own process) against the Discord double (this
process) and the model server (a third), on SQLite and on PostgreSQL.

Run:   python benchmarks/load.py [--quick] [--preset burst|spread-250|spread-1000]
                                [--backend sqlite|postgres|both] [--cases 1,2,3,4]
Presets (how case 1's battles start; any size flag below still overrides):
  burst        1,000 battles across 200 servers, 100 starts/s: a burst no real server sends,
               which synchronises every battle's posts (the default).
  spread-250   250 battles across 50 servers at 4 starts/s: about 110 live at once, the load
               one bot token carries at Discord's 50 requests/s (about 15 requests a battle).
  spread-1000  1,000 battles across 200 servers at 16 starts/s.
Cases:
  1. Concurrent battles: models taking 2 s, pace 5 s. Every verse and message must arrive.
     The bot's own delay per post (target p99 <= 50 ms), its memory per live battle (target
     <= 100 KB) and its CPU per battle (target <= 40 ms).
  2. Votes: 100 voters on each battle over the gateway (100,000 events), all counted; and one
     battle with 10,000 voters closed twice: once with every reaction sent as a gateway event
     (the session intact: the live count is trusted, target <= 0.5 s), once with them added
     without events (as votes cast during a lost session: a full recount, every vote found).
  3. Leaderboard: 1,000,000 stored battles over 300 models, seeded straight into the tables;
     /leaderboard p99 (target <= 50 ms), cold and warm, and a vote closing on that server.
  4. Profile: case 1 again under py-spy (pip install py-spy), with the bot's hot paths.
--quick runs about a tenth of the sizes. Exit status 1 if a figure misses its target.
Logs, every post's delay (post-delays-BACKEND.csv), every /leaderboard latency and the profile's
collapsed stacks are kept in --workdir (default: a new folder under /tmp).

The post delay is measured from outside: the model server stamps each verse with a nonce and
records when its stream finished; the double records when each post arrived. A post is due
when its verse was written, the previous verse's pause was over and the post before it was
made; the delay is from then to its arrival at the double. CLOCK_MONOTONIC is shared by the
processes.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._load_cases import (
    Sizes,
    battle_figures,
    run_battles,
    run_leaderboard,
    run_recounts,
    run_votes,
    session,
    verify_store,
)
from benchmarks._load_db import BACKENDS, Database, History, postgres_unavailable, seed_history
from benchmarks._load_procs import py_spy_path
from benchmarks._load_profile import read_profile, render
from benchmarks._load_report import Report, table
from benchmarks._load_world import World

FULL = Sizes(
    servers=200,
    channels=5,
    battles=1000,
    voters=100,
    recount_voters=10_000,
    latency=2.0,
    pace=5.0,
    start_rate=100.0,
    close_rate=100.0,
    react_concurrency=1,  # more makes the double slower (each waiter wakes on each event)
    history_battles=1_000_000,
    history_models=300,
    leaderboard_requests=200,
    channel_limit=(5, 5.0),
    chunk_size=16,
)


# Starts spread over time, as real servers start battles (issue 11: "Requests and load").
PRESETS: dict[str, Sizes] = {
    "burst": FULL,
    "spread-250": replace(FULL, servers=50, battles=250, start_rate=4.0),
    "spread-1000": replace(FULL, start_rate=16.0),
}


def parse_arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 1/10 of the sizes")
    parser.add_argument("--preset", choices=list(PRESETS), default="burst")
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--cases", default="1,2,3,4", help="which cases to run (2 needs 1)")
    parser.add_argument("--servers", type=int, help=f"default {FULL.servers}")
    parser.add_argument("--channels", type=int, help=f"per server, default {FULL.channels}")
    parser.add_argument("--battles", type=int, help=f"default {FULL.battles}")
    parser.add_argument("--voters", type=int, help=f"per battle, default {FULL.voters}")
    parser.add_argument("--recount-voters", type=int, help=f"default {FULL.recount_voters}")
    parser.add_argument("--latency", type=float, help=f"model seconds, default {FULL.latency:g}")
    parser.add_argument("--pace", type=float, help=f"seconds, default {FULL.pace:g}")
    parser.add_argument(
        "--start-rate", type=float, help=f"/battle per s, default {FULL.start_rate:g}"
    )
    parser.add_argument(
        "--close-rate", type=float, help=f"/battle-stop per s, default {FULL.close_rate:g}"
    )
    parser.add_argument(
        "--chunk-size",
        type=int,
        help=f"characters per streamed chunk, default {FULL.chunk_size} "
        "(providers stream about a token, ~4 characters, per chunk)",
    )
    parser.add_argument("--react-concurrency", type=int, help=f"default {FULL.react_concurrency}")
    parser.add_argument("--history-battles", type=int, help=f"default {FULL.history_battles:,}")
    parser.add_argument("--history-models", type=int, help=f"default {FULL.history_models}")
    parser.add_argument(
        "--leaderboard-requests", type=int, help=f"per scope, default {FULL.leaderboard_requests}"
    )
    parser.add_argument(
        "--no-channel-limit",
        action="store_true",
        help="drop Discord's 5 messages / 5 s per channel from the double",
    )
    parser.add_argument("--workdir", type=Path, help="keep logs, databases and the profile here")
    return parser.parse_args(argv)


def sizes_from(arguments: argparse.Namespace) -> Sizes:
    base = PRESETS[arguments.preset]
    if arguments.quick:
        base = replace(
            base,
            servers=20,
            battles=100,
            recount_voters=1_000,
            history_battles=100_000,
            # Starts spread over a pace cycle as in the full run, not all in one second; a
            # spread preset keeps its own rate.
            start_rate=20.0 if base is FULL else base.start_rate,
            close_rate=20.0,
        )
    chosen = {
        name: getattr(arguments, name)
        for name in vars(base)
        if getattr(arguments, name, None) is not None
    }
    if arguments.no_channel_limit:
        chosen["channel_limit"] = None
    sizes = replace(base, **chosen)
    if sizes.battles > sizes.servers * sizes.channels:
        raise SystemExit(
            f"{sizes.battles} battles need more than {sizes.servers} × {sizes.channels} channels"
        )
    return sizes


# -- running the cases -----------------------------------------------------------------------


async def battles_and_votes(backend: str, sizes: Sizes, workdir: Path, cases: set[str]) -> Report:
    """Cases 1 and 2 with one bot: the battles, then their votes, then the big recount."""
    report = Report()
    slots = []

    async def after(database: Database) -> None:
        if "2" in cases:
            report.extend(await verify_store(database, slots, sizes.voters))

    async with session(backend, sizes.layout(), sizes, workdir, after=after) as s:
        slots += s.world.slots
        phase = await run_battles(s, sizes)
        report.extend(battle_figures(s, sizes, phase))
        if "2" in cases:
            report.extend(await run_votes(s, sizes))
            report.extend(await run_recounts(s, sizes))
        note_log_problems(s.bot.log_problems(), report)
    return report


async def leaderboard(backend: str, sizes: Sizes, workdir: Path) -> Report:
    """Case 3 with its own bot, started on a database seeded with the history."""
    seeded: list[tuple[History, float]] = []

    async def prepare(database: Database, world: World) -> None:
        history = History(world.recount_guild.id, sizes.history_battles, sizes.history_models)
        seeded.append((history, await seed_history(database, history)))

    layout = replace(sizes.layout(battles=0), servers=0, voters=0, recount_voters=0)
    async with session(backend, layout, sizes, workdir, prepare=prepare) as s:
        report = await run_leaderboard(s, sizes, *seeded[0])
        note_log_problems(s.bot.log_problems(), report)
    return report


def note_log_problems(problems: list[str], report: Report) -> None:
    if problems:
        report.note(f"the bot logged {len(problems)} warnings or errors, first: {problems[0]}")


async def profile(backend: str, sizes: Sizes, workdir: Path) -> list[str]:
    """Case 4: case 1 again, with py-spy attached to the bot from the first /battle on."""
    if py_spy_path() is None:
        return ["skipped: py-spy is not installed (pip install py-spy)"]
    output = workdir / "profile-concurrent.txt"
    async with session(backend, sizes.layout(), sizes, workdir) as s:
        await run_battles(s, sizes, profile=output)
    lines = render(read_profile(output))
    return [*lines, "", f"collapsed stacks: {output} (flamegraph.pl and speedscope read them)"]


async def guarded(label: str, work: Callable[[], Awaitable[Report]]) -> Report:
    """Runs cases; a failure becomes a note, and the other cases still run."""
    started = time.monotonic()
    try:
        report = await work()
    except Exception as error:
        traceback.print_exc(file=sys.stderr)
        report = Report()
        report.note(f"{label} failed: {error!r}")
    print(f"  {label}: {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)
    return report


async def run_backend(backend: str, sizes: Sizes, workdir: Path, cases: set[str]) -> Report:
    print(f"{backend}:", file=sys.stderr, flush=True)
    report = Report()
    if "1" in cases:
        work = lambda: battles_and_votes(backend, sizes, workdir, cases)  # noqa: E731
        report.extend(await guarded("cases 1 and 2", work))
    if "3" in cases:
        report.extend(await guarded("case 3", lambda: leaderboard(backend, sizes, workdir)))
    return report


def stop_on_signals() -> None:
    """SIGINT and SIGTERM cancel the run, so every process it started is stopped on the way
    out. Setting SIGINT here also undoes a SIG_IGN inherited from a shell's background job,
    which the bot would inherit too and then ignore the SIGINT that stops it cleanly."""
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, task.cancel)


async def run(arguments: argparse.Namespace, sizes: Sizes, workdir: Path) -> int:
    stop_on_signals()
    backends = list(BACKENDS) if arguments.backend == "both" else [arguments.backend]
    cases = set(arguments.cases.split(","))
    reports: dict[str, Report] = {}
    skipped: dict[str, str] = {}
    for backend in backends:
        if backend == "postgres" and (reason := await postgres_unavailable()):
            skipped[backend] = reason
        else:
            reports[backend] = await run_backend(backend, sizes, workdir, cases)
    print_results(sizes, reports, skipped)
    if "4" in cases:
        backend = next(iter(reports), None)
        print(f"\n4 where the time goes: case 1 under py-spy ({backend or 'no backend ran'})")
        if backend is not None:
            try:
                for line in await profile(backend, sizes, workdir):
                    print(f"  {line}")
            except Exception as error:
                traceback.print_exc(file=sys.stderr)
                print(f"  failed: {error!r}")
    missed = any(f.missed for report in reports.values() for f in report.figures)
    return 1 if missed else 0


def print_results(sizes: Sizes, reports: dict[str, Report], skipped: dict[str, str]) -> None:
    print(
        f"\n{sizes.battles:,} battles on {sizes.servers} servers × {sizes.channels} channels, "
        f"models {sizes.latency:g} s ({sizes.chunk_size} characters a chunk), pace "
        f"{sizes.pace:g} s, {sizes.start_rate:g} starts/s; {sizes.voters} voters a battle; "
        f"recount of {sizes.recount_voters:,}; history of {sizes.history_battles:,} battles "
        f"over {sizes.history_models} models"
    )
    for line in table(reports):
        print(line)
    for backend, reason in skipped.items():
        print(f"{backend}: skipped: {reason}")
    for backend, report in reports.items():
        for note in report.notes:
            print(f"note ({backend}): {note}")


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    sizes = sizes_from(arguments)
    workdir = arguments.workdir or Path(tempfile.mkdtemp(prefix="rapbattle-load-"))
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"logs, per-post delays and the profile go to {workdir}", file=sys.stderr, flush=True)
    try:
        status = asyncio.run(run(arguments, sizes, workdir))
    except (KeyboardInterrupt, asyncio.CancelledError):
        print("\ninterrupted: every process started here was stopped", file=sys.stderr)
        return 130
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    return status


if __name__ == "__main__":
    raise SystemExit(main())

"""Chaos soak: the real bot killed with SIGKILL at random moments under load, then the state
checked against invariants. Exit status 0 only when every invariant holds.

    python benchmarks/chaos.py                     # 20 kills in 6 minutes on SQLite
    python benchmarks/chaos.py --backend postgres --seed 7
    python benchmarks/chaos.py --backend shards    # two shard processes on PostgreSQL
    python benchmarks/chaos.py --minutes 1 --kills 3

`rapbattle run` runs as its own process (two with ``shards``), against the Discord double and the
model server, both served from this process. Battles start at a steady rate across servers and
channels (some judged, some in threads, some with webhook verses), fans vote with reactions, one
tournament runs. A seeded driver kills the bot, restarts it and keeps the load going; it also
drops the gateway, takes the model server down for a few seconds and has Discord answer 429s and
5xx for short spells. What is promised, and so checked, is in docs/reliability.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.chaos_bots import Fleet, Life
from benchmarks.chaos_checks import Invariant, check_all, gather
from benchmarks.chaos_faults import (
    TRIPWIRE_KINDS,
    ChaosDouble,
    ChaosModelServer,
    PlannedFault,
    Tripwire,
    plan_faults,
    plan_kills,
)
from benchmarks.chaos_load import (
    JUDGE_MODELS,
    Load,
    LoadRecord,
    build_world,
    configure,
    start_tournament,
)
from bot.engine.lifecycle import BattleState
from bot.store import Store, open_store
from bot.store.tournaments import TournamentState

BACKENDS = ("sqlite", "postgres", "shards")
POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
VOTE_SECONDS = 15
MODEL_LATENCY = 0.25  # seconds before each answer
BATTLE_INTERVAL = 2.5  # seconds between battle starts (in a free channel)
SETTLE_TIMEOUT = 240.0  # after the load: for the last votes, verdicts and the tournament
DOWN_SECONDS = (0.0, 2.0)  # how long the bot stays dead after a kill
MIN_UP_SECONDS = (0.5, 2.0)  # a kill comes at least this long after the bot is ready
TRIPWIRE_SHARE = 0.5  # of the kills, armed on a request rather than at a moment
TRIPWIRE_WAIT = 12.0  # an armed kill not fired by then is made at once


@dataclass
class Kill:
    at: float  # seconds after the load started
    slot: int
    life: Life
    up_for: float  # how long that process had been ready
    tripwire: str | None = None  # the request it died carrying out, if it was armed on one


@dataclass
class Run:
    seed: int
    backend: str
    minutes: float
    kills_planned: int
    kills: list[Kill] = field(default_factory=list)
    faults: list[PlannedFault] = field(default_factory=list)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=None, help="the run's seed (default: random)")
    parser.add_argument("--kills", type=int, default=20, help="SIGKILLs during the load")
    parser.add_argument("--backend", choices=BACKENDS, default="sqlite")
    parser.add_argument("--minutes", type=float, default=6.0, help="how long the load lasts")
    parser.add_argument("--keep", action="store_true", help="keep the bot's logs (printed path)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse(argv)
    seed = arguments.seed if arguments.seed is not None else secrets.randbelow(2**31)
    run = Run(seed, arguments.backend, arguments.minutes, arguments.kills)
    print(
        f"chaos: seed {seed}, backend {run.backend}, {run.minutes:g} min, {run.kills_planned} kills"
    )
    with tempfile.TemporaryDirectory(prefix="chaos-") as scratch:
        workdir = Path(scratch)
        if arguments.keep:
            workdir = Path(tempfile.mkdtemp(prefix="chaos-kept-"))
            print(f"logs in {workdir}")
        invariants = asyncio.run(soak(run, workdir))
    return 0 if all(i.holds for i in invariants) else 1


@contextlib.asynccontextmanager
async def database(backend: str, workdir: Path) -> AsyncIterator[str]:
    """A fresh database for one run: a new SQLite file, or a new PostgreSQL schema (dropped
    afterwards), so that runs never meet each other or the tests."""
    if backend == "sqlite":
        yield f"sqlite:///{workdir}/chaos.db"
        return
    import asyncpg

    server = os.environ.get("TEST_DATABASE_URL") or POSTGRES_SERVER
    schema = f"chaos_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server, timeout=10)
    try:
        await admin.execute(f"CREATE SCHEMA {schema}")
        yield f"{server}{'&' if '?' in server else '?'}schema={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await admin.close()


def bot_envs(double: ChaosDouble, models: ChaosModelServer, url: str, shards: bool) -> list:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "DISCORD_"))}
    base |= {
        "DISCORD_TOKEN": double.token,
        "DISCORD_API_BASE": double.api_base,
        "DISCORD_GATEWAY_URL": double.gateway_url,
        "LLM_BASE_URL": models.base_url,
        "LLM_API_KEY": "test-key",
        "LLM_STALL_SECONDS": "5",
        "LLM_TIMEOUT_SECONDS": "30",
        "DATABASE_URL": url,
        "BATTLE_PACE": "0",
        "BATTLE_ROUNDS": "1",
        "BATTLE_COOLDOWN_SECONDS": "0",
        "MAX_BATTLES_PER_SERVER": "10",
        "VOTE_SECONDS": str(VOTE_SECONDS),
        "JUDGE_MODELS": ",".join(JUDGE_MODELS),
        "LOG_LEVEL": "INFO",
    }
    base.pop("WEB_PORT", None)
    if not shards:
        return [base]
    return [base | {"SHARD_COUNT": "2", "SHARD_IDS": str(shard)} for shard in (0, 1)]


async def soak(run: Run, workdir: Path) -> list[Invariant]:
    rng = random.Random(run.seed)
    # Separate streams, so that how many votes the load drew never moves when the kills come.
    kill_rng, fault_rng, load_rng = (random.Random(rng.random()) for _ in range(3))
    duration = run.minutes * 60
    shards = run.backend == "shards"
    backend = "sqlite" if run.backend == "sqlite" else "postgres"
    models = ChaosModelServer(latency=MODEL_LATENCY).start()
    try:
        async with (
            database(backend, workdir) as url,
            ChaosDouble(
                rng=random.Random(fault_rng.random()), shard_count=2 if shards else 1
            ) as double,
        ):
            servers, tournament = build_world(double, 2 if shards else 1)
            fleet = Fleet(bot_envs(double, models, url, shards), workdir)
            try:
                await fleet.start()
                await configure(double, servers)
                load = Load(
                    double, servers, tournament, load_rng, lambda: fleet.all_ready, BATTLE_INTERVAL
                )
                await start_tournament(double, tournament, load.record)
                run.faults = plan_faults(fault_rng, duration)
                store = await open_store(url)
                voting = asyncio.create_task(load.watch_votes(lambda: load.stopped))
                try:
                    await drive(run, fleet, double, models, load, kill_rng, duration)
                    await settle(store, load, fleet)
                finally:
                    load.stopped = True
                    await voting
                    await store.close()
            finally:
                await fleet.stop()
            for _ in range(50):  # the double sees each gateway connection close
                if not any(session.live for session in double.sessions):
                    break
                await asyncio.sleep(0.1)
            store = await open_store(url)
            try:
                evidence = await gather(store)
            finally:
                await store.close()
            invariants = check_all(double, evidence, load.record, fleet.lives)
            report(run, double, models, load.record, evidence, fleet, invariants)
            return invariants
    finally:
        models.stop()


async def drive(
    run: Run,
    fleet: Fleet,
    double: ChaosDouble,
    models: ChaosModelServer,
    load: Load,
    rng: random.Random,
    duration: float,
) -> None:
    """The load for ``duration`` seconds, with the kills and the faults along it."""
    started = time.monotonic()
    end = started + duration
    battles = asyncio.create_task(load.start_battles(end))
    try:
        await asyncio.gather(
            kill_at_random(
                run, fleet, double, rng, started, plan_kills(rng, run.kills_planned, duration)
            ),
            inject_faults(run.faults, double, models, started),
        )
    finally:
        await battles


async def kill_at_random(
    run: Run,
    fleet: Fleet,
    double: ChaosDouble,
    rng: random.Random,
    started: float,
    moments: list[float],
) -> None:
    """At each moment a kill: half of them there and then, half armed on the bot's next request
    of a kind drawn at random (a title card, a vote, results, a thread...), fired as Discord
    carries it out, so the moments between a post and its record are hit too."""
    shards = len(fleet.slots)
    for moment in moments:
        await asyncio.sleep(max(started + moment - time.monotonic(), 0))
        slot = rng.choice(fleet.slots)
        await slot.wait_ready()  # never two kills closer than a restart takes
        life = slot.life
        assert life is not None and life.ready_at is not None
        up_at_least = rng.uniform(*MIN_UP_SECONDS)
        await asyncio.sleep(max(life.ready_at + up_at_least - time.monotonic(), 0))
        armed = rng.choice(TRIPWIRE_KINDS) if rng.random() < TRIPWIRE_SHARE else None
        if armed is not None:
            guilds = frozenset(
                g for g in double.guilds if shards == 1 or (g >> 22) % shards == slot.slot
            )
            tripwire = Tripwire(armed, guilds, slot.kill_now)
            double.tripwire = tripwire
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(tripwire.fired.wait(), TRIPWIRE_WAIT)
            if not tripwire.fired.is_set():
                double.tripwire, armed = None, None
        at = time.monotonic() - started
        if armed is None:
            slot.kill_now()
        await slot.reap()
        run.kills.append(Kill(at, slot.slot, life, time.monotonic() - life.ready_at, armed))
        await asyncio.sleep(rng.uniform(*DOWN_SECONDS))  # votes keep coming while it is down
        await slot.start()
    for slot in fleet.slots:
        await slot.wait_ready()


async def inject_faults(
    faults: list[PlannedFault], double: ChaosDouble, models: ChaosModelServer, started: float
) -> None:
    for fault in faults:
        await asyncio.sleep(max(started + fault.at - time.monotonic(), 0))
        with contextlib.suppress(Exception):
            match fault.kind:
                case "gateway drop":
                    await double.disconnect(code=4000)
                case "gateway outage":
                    await double.disconnect(hold=True)
                    await asyncio.sleep(fault.seconds)
                    double.release()
                case "gateway new session":
                    await double.invalidate_session(resumable=False)
                case "model server down":
                    models.fail_for(fault.seconds)
                case "discord 429s":
                    double.spell("429", fault.seconds)
                case "discord 5xx":
                    double.spell("5xx", fault.seconds)


async def settle(store: Store, load: Load, fleet: Fleet) -> None:
    """Waits until every battle, vote, verdict and the tournament is over, as the store and the
    channels show it, with the bot up."""
    deadline = time.monotonic() + SETTLE_TIMEOUT
    while time.monotonic() < deadline:
        if await _settled(store) and load.busy() == 0:
            break
        await asyncio.sleep(1.0)
    await asyncio.sleep(2.0)  # the last edits and verdict posts after the store says done


async def _settled(store: Store) -> bool:
    if await store.battles_in([BattleState.RUNNING, BattleState.VOTING]):
        return False
    if await store.unannounced_results() or await store.unfinished_verdicts():
        return False
    if await store.tournaments_in([TournamentState.RUNNING]):
        return False
    return not await store.unannounced_champions()


# -- the report --------------------------------------------------------------------------------


def recovery_seconds(double: ChaosDouble, fleet: Fleet) -> list[float]:
    """For each restart: from the process's start to the bot's first post after it."""
    posts = [
        r.at
        for r in double.requests
        if r.method == "POST"
        and 200 <= r.status < 300
        and (r.route == "/channels/{channel_id}/messages" or r.route.startswith("/webhooks/"))
        and not r.path.startswith(f"/webhooks/{double.application_id}/")
    ]
    found = []
    for life in fleet.lives:
        if life.number == 1:
            continue
        after = [at for at in posts if at >= life.started_at]
        if after:
            found.append(min(after) - life.started_at)
    return found


def report(
    run: Run,
    double: ChaosDouble,
    models: ChaosModelServer,
    record: LoadRecord,
    evidence,
    fleet: Fleet,
    invariants: list[Invariant],
) -> None:
    print(f"\nseed {run.seed}")
    print(f"kills ({len(run.kills)}):")
    for kill in run.kills:
        print(
            f"  {kill.at:7.1f} s  bot {kill.slot} (life {kill.life.number}, up {kill.up_for:.1f} s"
            + (f", as Discord took its {kill.tripwire})" if kill.tripwire else ")")
        )
    print("faults:")
    for fault in run.faults:
        lasting = f" for {fault.seconds:.1f} s" if fault.seconds else ""
        print(f"  {fault.at:7.1f} s  {fault.kind}{lasting}")
    print("invariants:")
    for invariant in invariants:
        mark = "ok  " if invariant.holds else "FAIL"
        print(f"  {mark} {invariant.name} ({invariant.checked} checked)")
        for problem in invariant.problems[:8]:
            print(f"         {problem}")
        if len(invariant.problems) > 8:
            print(f"         ... and {len(invariant.problems) - 8} more")
    states = Counter(b.state.value for b in evidence.battles)
    recovered = recovery_seconds(double, fleet)
    down_votes = sum(not v.bot_up for v in record.votes)
    print("figures:")
    print(
        f"  battles: {len(evidence.battles)} ({', '.join(f'{n} {s}' for s, n in states.items())})"
    )
    print(
        f"  /battle commands: {record.commands} ({record.commands_lost} lost while down, "
        f"{len(record.refusals)} refused)"
    )
    print(f"  votes: {len(record.votes)} cast, {down_votes} while the bot was down")
    print(f"  kills: {len(run.kills)}; restarts: {len(fleet.lives) - len(fleet.slots)}")
    if recovered:
        print(
            f"  time to recover (start to first post): median {statistics.median(recovered):.1f} s,"
            f" max {max(recovered):.1f} s over {len(recovered)} restarts"
        )
    print(f"  faults served: Discord {dict(double.faults_served)}, models {models.failures_served}")
    print("PASS" if all(i.holds for i in invariants) else "FAIL")


if __name__ == "__main__":
    raise SystemExit(main())

"""Schedules, with no Discord: the real arena and tournaments over the in-memory store (and, for a
restart, SQLite and PostgreSQL), stages that record each channel's posts, verses written on the
spot, and a fake clock whose sleep returns only when the test moves time on.

Runs at the interval, one catch-up run after downtime, refusals skipped with one notice, the
10-minute floor, the 10-schedule cap, remove, a channel that is gone, matchmade models, scheduled
tournaments, and a restart between runs.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field

import pytest

from bot.engine.battle import Battle
from bot.engine.pacing import Pace
from bot.engine.schedules import (
    MAX_SCHEDULES,
    BattlePlan,
    ScheduleKind,
    TournamentPlan,
    describe_every,
    following_run,
    parse_every,
)
from bot.engine.server_settings import ServerRules
from bot.errors import UserError
from bot.services.battles.arena import Arena, BattleRequest
from bot.services.battles.history import history_lines
from bot.services.battles.standings import StandingsService
from bot.services.schedules.scheduler import Missing, Place, Schedules, schedule_lines
from bot.services.tournaments.sessions import Tournaments
from bot.settings import Settings
from bot.store import Store, open_store
from tests.fakes.memory_store import MemoryStore, MemoryTables
from tests.fakes.postgres import postgres_schema
from tests.fakes.stages import FakeStageFactory, PostKind, RecordingBattleStage
from tests.unit.test_arena_policy import Verses

GUILD, OTHER_GUILD = 1, 2
CHANNEL, OTHER_CHANNEL = 10, 11
ADMIN = 300
HOUR = 3600.0
PROMPTLY = 2.0
FOUR = ("m/alpha", "m/bravo", "m/charlie", "m/delta")


class FakeTime:
    """The wall clock of the arena and the scheduler, and the scheduler's sleep: a sleep returns
    only when ``advance`` moves time past its end."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self.asleep = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        wakes = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.now + seconds, wakes))
        self.asleep.set()
        try:
            await wakes
        finally:
            self._sleepers = [(t, f) for t, f in self._sleepers if f is not wakes]

    async def advance(self, seconds: float) -> None:
        """Moves time on, and waits until the scheduler has done what came due and sleeps again."""
        self.now += seconds
        self.asleep.clear()
        woken = False
        for deadline, wakes in list(self._sleepers):
            if deadline <= self.now and not wakes.done():
                wakes.set_result(None)
                woken = True
        if woken:
            await asyncio.wait_for(self.asleep.wait(), PROMPTLY)
        await settle()


async def settle() -> None:
    """Lets the tasks started by a run take their first steps (a title card, a notice)."""
    for _ in range(20):
        await asyncio.sleep(0)


@dataclass
class Matchmaking:
    """A matchmaker that picks the next pair of ``pool`` (keeping a fixed model first)."""

    pool: tuple[str, ...] = ("m/x", "m/y", "m/z")
    asked: list[tuple[int, int, str | None]] = field(default_factory=list)

    async def __call__(
        self, guild_id: int, channel_id: int, rules: ServerRules, fixed: str | None = None
    ) -> tuple[str, str]:
        self.asked.append((guild_id, channel_id, fixed))
        others = [m for m in self.pool if m != fixed]
        return (fixed, others[0]) if fixed else (others[0], others[1])


@dataclass
class World:
    store: Store
    stages: FakeStageFactory
    verses: Verses
    time: FakeTime
    arena: Arena
    tournaments: Tournaments
    schedules: Schedules
    places: dict[int, Place | Missing]
    matchmaking: Matchmaking

    def channel(self, channel_id: int = CHANNEL) -> RecordingBattleStage:
        return self.stages.stage_for(channel_id)

    async def add(
        self, every: str = "1h", plan=None, guild_id: int = GUILD, channel_id: int = CHANNEL
    ):
        plan = plan or BattlePlan("m/a", "m/b", rounds=1)
        return await self.schedules.add(guild_id, channel_id, ADMIN, every, plan)

    def title_cards(self, channel_id: int = CHANNEL) -> list[Battle]:
        return [post.content[0] for post in self.channel(channel_id).of_kind(PostKind.TITLE_CARD)]

    async def shutdown(self) -> None:
        await self.schedules.shutdown()
        await self.tournaments.shutdown()
        await self.arena.shutdown()


def make_world(
    store: Store | None = None,
    stages: FakeStageFactory | None = None,
    time: FakeTime | None = None,
    *,
    vote_seconds: int = 0,
    max_battles: int = 3,
    cooldown: float = 0,
) -> World:
    store = store or MemoryStore()
    stages = stages or FakeStageFactory()
    time = time or FakeTime()
    verses = Verses()
    settings = Settings(
        battle_rounds=1,
        battle_pace=Pace(0.0),
        vote_seconds=vote_seconds,
        battle_cooldown_seconds=cooldown,
        max_battles_per_server=max_battles,
    )
    arena = Arena(
        settings, store, verses, StandingsService(store), stages, clock=time, rng=random.Random(5)
    )
    tournaments = Tournaments(arena, store, stages, retry_seconds=0.01)
    places: dict[int, Place | Missing] = {}
    matchmaking = Matchmaking()
    schedules = Schedules(
        store,
        arena,
        tournaments,
        stages,
        lambda guild_id, channel_id: places.get(channel_id, Place()),
        matchmaker=matchmaking,
        clock=time,
        sleep=time.sleep,
    )
    return World(store, stages, verses, time, arena, tournaments, schedules, places, matchmaking)


@pytest.fixture
async def worlds() -> AsyncIterator[list[World]]:
    made: list[World] = []
    yield made
    for world in made:
        await world.shutdown()


@pytest.fixture
def world(worlds: list[World]) -> World:
    made = make_world()
    worlds.append(made)
    return made


async def started(world: World) -> World:
    """The scheduler's task running, asleep until the next schedule is due."""
    world.schedules.start()
    await asyncio.wait_for(world.time.asleep.wait(), PROMPTLY)
    await settle()
    return world


async def until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(PROMPTLY):
        while not condition():
            await asyncio.sleep(0.005)


# The rules: how often, and when next


def test_every_takes_minutes_hours_days_and_weeks_from_ten_minutes_on():
    assert [parse_every(t) for t in ("30m", "6h", "1d", "1w", " 1H30m ", "10m")] == [
        1800, 21600, 86400, 604800, 5400, 600,
    ]  # fmt: skip
    assert [describe_every(s) for s in (1800, 21600, 5400, 4 * 604800)] == [
        "30m", "6h", "1h30m", "4w",
    ]  # fmt: skip
    for too_often in ("9m", "0m", "5m"):
        with pytest.raises(UserError, match="at most once every 10 minutes"):
            parse_every(too_often)
    for not_a_duration in ("soon", "10", "h", "1y", "-1h"):
        with pytest.raises(UserError, match="is not a duration"):
            parse_every(not_a_duration)
    with pytest.raises(UserError, match="at least once a year"):
        parse_every("60w")


def test_a_run_missed_many_times_runs_once_and_keeps_its_rhythm():
    assert following_run(1000.0, 100, 1000.0) == 1100.0
    assert following_run(1000.0, 100, 1050.0) == 1100.0
    # Down for five and a half intervals: one run now, the next on the old rhythm.
    assert following_run(1000.0, 100, 1550.0) == 1600.0
    assert following_run(1000.0, 100, 1600.0) == 1700.0


async def test_the_ten_minute_floor_is_refused_with_a_clear_message(world):
    with pytest.raises(UserError, match="at most once every 10 minutes"):
        await world.add("9m")
    assert await world.store.schedules() == []
    assert (await world.add("10m")).every_seconds == 600


async def test_a_server_keeps_at_most_ten_schedules(world):
    for _ in range(MAX_SCHEDULES):
        await world.add("1d")
    with pytest.raises(UserError, match=f"already has {MAX_SCHEDULES} schedules"):
        await world.add("1d", plan=TournamentPlan(FOUR))
    await world.add("1d", guild_id=OTHER_GUILD)  # another server has its own ten
    assert len(await world.store.schedules(GUILD)) == MAX_SCHEDULES


# Runs


async def test_a_schedule_runs_a_battle_at_each_interval(world):
    added = await world.add("1h")
    assert added.next_run_at == world.time.now + HOUR
    await started(world)
    await world.time.advance(HOUR - 60)
    assert world.title_cards() == []
    await world.time.advance(60)
    await until(lambda: len(world.title_cards()) == 1)
    assert world.channel().title_labels == ["Scheduled battle, every 1h"]
    [battle] = await world.store.recent_battles(GUILD)
    assert battle.scheduled and battle.starter_id == ADMIN
    assert (battle.battle.model_a, battle.battle.model_b) == ("m/a", "m/b")
    assert "⏰ scheduled" in history_lines([battle])
    await until(lambda: not world.arena.battles and not world.arena.votes)
    await world.time.advance(HOUR)
    await until(lambda: len(world.title_cards()) == 2)
    [listed] = await world.schedules.listed(GUILD, ScheduleKind.BATTLE)
    assert listed.next_run_at == added.next_run_at + 2 * HOUR


async def test_list_shows_each_schedule_what_it_runs_where_and_when(world):
    battle = await world.add("6h", plan=BattlePlan(topic="Winter", judges=True))
    monthly = await world.add("4w", plan=TournamentPlan(FOUR), channel_id=OTHER_CHANNEL)
    battles = schedule_lines(await world.schedules.listed(GUILD, ScheduleKind.BATTLE), battle.kind)
    assert battles == (
        f'`#{battle.id}` every 6h · Battle: a matched pair (judged, on "Winter") · '
        f"in <#{CHANNEL}> · next <t:{int(battle.next_run_at)}:R>"
    )
    tournaments = schedule_lines(
        await world.schedules.listed(GUILD, ScheduleKind.TOURNAMENT), ScheduleKind.TOURNAMENT
    )
    assert f"`#{monthly.id}` every 4w · Tournament: 4 models, single" in tournaments
    assert f"in <#{OTHER_CHANNEL}> · next <t:" in tournaments
    assert "No battle schedules" in schedule_lines([], ScheduleKind.BATTLE)


async def test_models_left_out_are_matchmade_at_each_run(world):
    await world.add("1h", plan=BattlePlan(rounds=1))
    await world.add("1h", plan=BattlePlan(model_b="m/b", rounds=1), channel_id=OTHER_CHANNEL)
    await started(world)
    await world.time.advance(HOUR)
    await until(lambda: world.title_cards() and world.title_cards(OTHER_CHANNEL))
    assert sorted(world.matchmaking.asked) == [
        (GUILD, CHANNEL, None),
        (GUILD, OTHER_CHANNEL, "m/b"),
    ]
    [matched] = world.title_cards()
    [fixed] = world.title_cards(OTHER_CHANNEL)
    assert (matched.model_a, matched.model_b) == ("m/x", "m/y")
    assert (fixed.model_a, fixed.model_b) == ("m/x", "m/b")  # the given model keeps its side
    assert world.channel().title_labels == [
        "Scheduled battle, every 1h · matched for the leaderboard"
    ]


async def test_a_run_missed_while_the_bot_was_down_runs_once_at_start(world):
    added = await world.add("1h")
    await world.time.advance(5.5 * HOUR)  # the scheduler is not running: the bot is down
    await started(world)
    await until(lambda: len(world.title_cards()) == 1)
    await world.time.advance(1)
    assert len(world.title_cards()) == 1
    [listed] = await world.schedules.listed(GUILD, ScheduleKind.BATTLE)
    assert listed.next_run_at == added.next_run_at + 5 * HOUR  # on its rhythm, past now
    await until(lambda: not world.arena.battles and not world.arena.votes)
    await world.time.advance(listed.next_run_at - world.time.now)
    await until(lambda: len(world.title_cards()) == 2)


async def test_schedules_due_together_all_start_whatever_their_adders_cooldown(worlds):
    world = make_world(cooldown=30)
    worlds.append(world)
    await world.add("1h")
    await world.add("2h", channel_id=OTHER_CHANNEL)  # by the same admin
    await world.time.advance(3 * HOUR)  # the bot was down: both are due at start
    await started(world)
    await until(lambda: world.title_cards() and world.title_cards(OTHER_CHANNEL))
    assert world.channel().notices == [] and world.channel(OTHER_CHANNEL).notices == []


async def test_a_run_the_arena_refuses_is_skipped_with_one_notice_and_tried_next_time(world):
    await world.add("1h")
    world.verses.held.add("m/busy")  # a battle by hand holds the channel
    request = BattleRequest(GUILD, CHANNEL, 100, "<@100>")
    held = await world.arena.start(request, Battle("m/busy", "m/other", rounds=1))
    await started(world)
    await world.time.advance(HOUR)
    assert world.channel().notices == [
        "⏰ Skipped a run of schedule #1 (battle every 1h): A battle is already running in this "
        f"channel. Wait for it to end. Next try <t:{int(world.time.now + HOUR)}:R>."
    ]
    assert world.title_cards() == [held.stored.battle]
    world.verses.release.set()
    await until(lambda: not world.arena.battles and not world.arena.votes)
    await world.time.advance(HOUR)
    await until(lambda: len(world.title_cards()) == 2)
    assert len(world.channel().notices) == 1


async def test_a_missing_permission_or_the_servers_cap_is_a_skip_too(worlds):
    world = make_world(max_battles=1)
    worlds.append(world)
    await world.add("1h")
    await world.add("1h", channel_id=OTHER_CHANNEL)
    world.places[CHANNEL] = Place(missing_permissions=("Embed Links",))
    world.verses.held.add("m/a")  # battles go on until the test releases them
    await started(world)
    await world.time.advance(HOUR)
    await until(lambda: world.title_cards(OTHER_CHANNEL))
    [refused] = world.channel().notices
    assert "I need these permissions in this channel: Embed Links." in refused
    world.places[CHANNEL] = Place()  # the permission is back; the other battle still runs
    await world.time.advance(HOUR)
    assert "already has 1 battles running, the most it allows" in world.channel().notices[1]
    [busy] = world.channel(OTHER_CHANNEL).notices
    assert "A battle is already running in this channel." in busy
    assert len(world.title_cards()) == 0 and len(world.title_cards(OTHER_CHANNEL)) == 1
    world.verses.release.set()
    await until(lambda: not world.arena.battles and not world.arena.votes)
    await world.time.advance(HOUR)
    await until(lambda: len(world.title_cards()) == 1)


async def test_a_schedule_whose_channel_is_gone_is_dropped(world):
    await world.add("1h")
    await world.add("1h", channel_id=OTHER_CHANNEL)
    kept = await world.add("1h", channel_id=12)
    world.places[CHANNEL] = Missing.GONE
    # The other channel took the bot's permissions away: even the notice is refused.
    world.places[OTHER_CHANNEL] = Place(missing_permissions=("Send Messages",))
    world.channel(OTHER_CHANNEL).refuse()
    world.places[12] = Missing.UNREACHABLE  # its server is out of reach: skipped, kept
    await started(world)
    await world.time.advance(HOUR)
    assert [s.id for s in await world.store.schedules()] == [kept.id]
    for channel_id in (CHANNEL, OTHER_CHANNEL, 12):
        assert world.channel(channel_id).posts == []


async def test_remove_stops_a_schedule_and_only_its_own_kind(world):
    battle = await world.add("1h")
    monthly = await world.add("4w", plan=TournamentPlan(FOUR))
    with pytest.raises(UserError, match=f"no battle schedule #{monthly.id}"):
        await world.schedules.remove(GUILD, monthly.id, ScheduleKind.BATTLE)
    with pytest.raises(UserError, match="no battle schedule #99"):
        await world.schedules.remove(GUILD, 99, ScheduleKind.BATTLE)
    with pytest.raises(UserError):
        await world.schedules.remove(OTHER_GUILD, battle.id, ScheduleKind.BATTLE)
    assert await world.schedules.remove(GUILD, battle.id, ScheduleKind.BATTLE) == (
        f"Schedule #{battle.id} is removed."
    )
    await started(world)
    await world.time.advance(2 * HOUR)
    assert world.title_cards() == []
    assert [s.id for s in await world.store.schedules()] == [monthly.id]


async def test_a_scheduled_tournament_starts_and_a_running_one_is_a_skip(world):
    await world.add("1d", plan=TournamentPlan(FOUR, seed="given"))
    await world.add("1d", plan=TournamentPlan(FOUR[:3]), channel_id=OTHER_CHANNEL)
    await started(world)
    await world.time.advance(24 * HOUR)
    await until(lambda: world.tournaments.sessions)
    [session] = world.tournaments.sessions.values()
    assert session.stored.seeds == FOUR and session.stored.starter_id == ADMIN
    [refused] = world.channel(OTHER_CHANNEL).notices
    assert "Skipped a run of schedule #2 (tournament every 1d)" in refused
    assert "still running on this server" in refused


@pytest.fixture(params=["memory", "sqlite", "postgres"])
async def opener(request, tmp_path) -> AsyncIterator[Callable[[], Awaitable[Store]]]:
    """Opens stores over one database, as a process opens it at each start."""
    if request.param == "memory":
        tables = MemoryTables()

        async def open_memory() -> Store:
            return MemoryStore(tables)

        yield open_memory
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/rapbattle.db"
        yield lambda: open_store(url)
        return
    async with postgres_schema() as url:
        yield lambda: open_store(url)


async def test_a_restart_between_runs_runs_on_where_it_stood(opener):
    time = FakeTime()
    first = make_world(await opener(), time=time)
    try:
        added = await first.add("1h")
        await started(first)
        await time.advance(HOUR)
        await until(lambda: len(first.title_cards()) == 1)
        await until(lambda: not first.arena.battles and not first.arena.votes)
    finally:
        await first.shutdown()
        await first.store.close()
    await time.advance(2.5 * HOUR)  # down across two runs
    second = make_world(await opener(), time=time)
    try:
        await started(second)
        await until(lambda: len(second.title_cards()) == 1)
        [listed] = await second.store.schedules(GUILD)
        assert listed.next_run_at == added.next_run_at + 3 * HOUR
        assert [b.scheduled for b in await second.store.recent_battles(GUILD)] == [True, True]
        await until(lambda: not second.arena.battles and not second.arena.votes)
    finally:
        await second.shutdown()
        await second.store.close()
